"""Layer helpers in the classic DCGAN style: a few lines each over tf.compat.v1.get_variable and tf.nn.

Keras 3 removed tf.compat.v1.layers, so these build the variables themselves. Each helper opens a
variable_scope of its own name, so calling a network again inside a reusing scope shares its weights.
"""
import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import distribute

WEIGHT_STDDEV = 0.02   # DCGAN paper: weights drawn from N(0, 0.02)
BN_DECAY = 0.9         # moving averages of batch statistics follow the last ~10 batches
BN_EPSILON = 1e-5
LEAK = 0.2             # slope of leaky ReLU for negative inputs
KERNEL = 4             # 4x4 kernels: divisible by the stride 2, so no checkerboard, and cheaper than 5x5


def weights(shape):
    """A weight variable named 'w' with the DCGAN initialisation."""
    return tf.get_variable('w', shape, initializer=tf.random_normal_initializer(stddev=WEIGHT_STDDEV))


def bias(size):
    """A bias variable named 'b', initialised to zero."""
    return tf.get_variable('b', [size], initializer=tf.zeros_initializer())


def lrelu(x, leak=LEAK):
    """Leaky ReLU: x for x > 0, leak * x otherwise."""
    return tf.nn.leaky_relu(x, alpha=leak)


def dense(x, units, name):
    """Fully connected layer: x @ w + b."""
    with tf.variable_scope(name):
        return tf.nn.bias_add(tf.matmul(x, weights([x.shape.as_list()[-1], units])), bias(units))


def conv2d(x, filters, name, kernel=KERNEL, stride=2):
    """Strided convolution (NHWC, 'SAME' padding): halves the image side at stride 2."""
    with tf.variable_scope(name):
        w = weights([kernel, kernel, x.shape.as_list()[-1], filters])
        return tf.nn.bias_add(tf.nn.conv2d(x, w, [1, stride, stride, 1], padding='SAME'), bias(filters))


def deconv2d(x, filters, name, kernel=KERNEL, stride=2):
    """Transposed convolution (NHWC, 'SAME' padding): doubles the image side at stride 2."""
    with tf.variable_scope(name):
        _, height, width, channels = x.shape.as_list()
        w = weights([kernel, kernel, filters, channels])
        out_shape = [tf.shape(x)[0], height * stride, width * stride, filters]
        y = tf.nn.conv2d_transpose(x, w, tf.stack(out_shape), [1, stride, stride, 1], padding='SAME')
        y.set_shape([None, height * stride, width * stride, filters])
        return tf.nn.bias_add(y, bias(filters))


def batch_norm(x, is_train, name, decay=BN_DECAY, epsilon=BN_EPSILON):
    """Batch normalisation of NHWC maps: batch statistics when training (their moving-average updates go
    to the UPDATE_OPS collection), the moving averages otherwise."""
    with tf.variable_scope(name):
        channels = x.shape.as_list()[-1]
        beta = tf.get_variable('beta', [channels], initializer=tf.zeros_initializer())
        gamma = tf.get_variable('gamma', [channels], initializer=tf.ones_initializer())
        moving_mean = tf.get_variable('moving_mean', [channels], initializer=tf.zeros_initializer(),
                                      trainable=False)
        moving_variance = tf.get_variable('moving_variance', [channels], initializer=tf.ones_initializer(),
                                          trainable=False)
        if not is_train:
            y, _, _ = tf.nn.fused_batch_norm(x, gamma, beta, moving_mean, moving_variance, epsilon,
                                             is_training=False)
            return y
        if distribute.replicas() > 1:   # several devices: the whole global batch's statistics (dcgan/distribute.py)
            return distribute.synchronised_batch_norm(x, gamma, beta, moving_mean, moving_variance, decay, epsilon)
        y, mean, variance = tf.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon, is_training=True)
        for moving, batch_value in ((moving_mean, mean), (moving_variance, variance)):
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS,
                                 tf.assign_sub(moving, (moving - batch_value) * (1 - decay)))
        return y


def flatten(x):
    """(N, H, W, C) -> (N, H * W * C)."""
    return tf.reshape(x, (-1, int(np.prod(x.shape.as_list()[1:]))))
