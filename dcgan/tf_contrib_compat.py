"""The few tf.contrib.layers names face-generation course notebooks used, for TensorFlow 2's
tensorflow.compat.v1, which has no tf.contrib: initializers, flatten and the L2 regularizer, each mapped
to its tf.compat.v1 equivalent. install() adds them as tf.contrib.layers, only where tf.contrib is missing.
"""
import types

import numpy as np
import tensorflow.compat.v1 as tf


def variance_scaling_initializer(factor=2.0, mode='FAN_IN', uniform=False, seed=None, dtype=tf.float32):
    """tf.contrib.layers.variance_scaling_initializer: variance factor / n, n the fan-in, fan-out or their mean."""
    return tf.variance_scaling_initializer(scale=factor, mode=mode.lower(), seed=seed, dtype=dtype,
                                           distribution='uniform' if uniform else 'truncated_normal')


def xavier_initializer(uniform=True, seed=None, dtype=tf.float32):
    """tf.contrib.layers.xavier_initializer (Glorot): variance 1 / mean(fan-in, fan-out)."""
    return variance_scaling_initializer(1.0, 'FAN_AVG', uniform, seed, dtype)


def flatten(inputs):
    """tf.contrib.layers.flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...)."""
    return tf.reshape(inputs, (-1, int(np.prod(inputs.shape.as_list()[1:]))))


def l2_regularizer(scale):
    """tf.contrib.layers.l2_regularizer: weights -> scale * sum(weights ** 2) / 2."""
    return lambda weights: tf.multiply(scale, tf.nn.l2_loss(weights), name='l2_regularizer')


LAYERS = dict(xavier_initializer=xavier_initializer, xavier_initializer_conv2d=xavier_initializer,
              variance_scaling_initializer=variance_scaling_initializer, flatten=flatten,
              l2_regularizer=l2_regularizer)


def install(module=tf):
    """Give `module` (tensorflow.compat.v1) a tf.contrib.layers holding LAYERS, unless it has tf.contrib."""
    if not hasattr(module, 'contrib'):
        module.contrib = types.SimpleNamespace(layers=types.SimpleNamespace(**LAYERS))
    return module.contrib
