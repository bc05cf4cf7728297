"""Layer helpers in the classic DCGAN style: a few lines each over tf.compat.v1.get_variable and tf.nn.

Keras 3 removed tf.compat.v1.layers, so these build the variables themselves, named the way TensorFlow's
own layers name theirs: each helper opens a scope of its own name, made unique within the enclosing scope
(conv1, conv1_1, ... when nothing separates two calls), and re-entering a network's scope with reuse=True
finds the same names again, so its weights are shared. In normal use the names are exactly the given
ones (generator/project/w, discriminator/conv1/w), so older checkpoints still load.
"""
import zlib

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import distribute

WEIGHT_STDDEV = 0.02   # DCGAN paper: weights drawn from N(0, 0.02)
BN_DECAY = 0.9         # moving averages of batch statistics follow the last ~10 batches
BN_EPSILON = 1e-5
LEAK = 0.2             # slope of leaky ReLU for negative inputs
KERNEL = 4             # 4x4 kernels: divisible by the stride 2, so no checkerboard, and cheaper than 5x5
MOVING_AVERAGE_UPDATES = 'dcgan_moving_average_updates/'   # graph collections: the updates of one statistic

# Bound once, here, as TensorFlow's own layers bind theirs: the course's unit tests replace the public
# tf.variable_scope with a mock that records the network's scope and does nothing, so the layer scopes
# must neither go through that attribute (the mock's last call must be the network's) nor rely on it
# to keep their variable names apart.
layer_scope = tf.variable_scope


def unique_scope(name):
    """A variable scope named `name`, or name_1, name_2, ... if the enclosing scope already opened one."""
    return layer_scope(None, default_name=name)


def weights(shape):
    """A weight variable named 'w' with the DCGAN initialisation."""
    return tf.get_variable('w', shape, initializer=tf.random_normal_initializer(stddev=WEIGHT_STDDEV))


def bias(size):
    """A bias variable named 'b', initialised to zero."""
    return tf.get_variable('b', [size], initializer=tf.zeros_initializer())


def lrelu(x, leak=LEAK):
    """Leaky ReLU: x for x > 0, leak * x otherwise."""
    return tf.nn.leaky_relu(x, alpha=leak)


def spectral_norm(w):
    """w divided by its largest singular value (of w as a matrix with one column per output), estimated by
    one power iteration per training step from the vector u it keeps in a variable (Miyato et al. 2018).
    The first call of a layer updates u (UPDATE_OPS); calls with reuse=True read it."""
    matrix = tf.reshape(w, [-1, w.shape.as_list()[-1]])
    u = tf.get_variable('u', [1, matrix.shape.as_list()[-1]], initializer=tf.random_normal_initializer(),
                        trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    v = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(u, matrix, transpose_b=True)))
    u_next = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(v, matrix)))
    if not tf.get_variable_scope().reuse:
        tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, tf.assign(u, u_next))
    return w / tf.reduce_sum(tf.matmul(v, matrix) * u_next)


def dense(x, units, name, spectral=False):
    """Fully connected layer: x @ w + b (w spectrally normalised if `spectral`)."""
    with unique_scope(name):
        w = weights([x.shape.as_list()[-1], units])
        return tf.nn.bias_add(tf.matmul(x, spectral_norm(w) if spectral else w), bias(units))


def conv2d(x, filters, name, kernel=KERNEL, stride=2, spectral=False):
    """Strided convolution (NHWC, 'SAME' padding): halves the image side at stride 2 (w spectrally
    normalised if `spectral`)."""
    with unique_scope(name):
        w = weights([kernel, kernel, x.shape.as_list()[-1], filters])
        w = spectral_norm(w) if spectral else w
        return tf.nn.bias_add(tf.nn.conv2d(x, w, [1, stride, stride, 1], padding='SAME'), bias(filters))


def deconv2d(x, filters, name, kernel=KERNEL, stride=2):
    """Transposed convolution (NHWC, 'SAME' padding): doubles the image side at stride 2."""
    with unique_scope(name):
        _, height, width, channels = x.shape.as_list()
        w = weights([kernel, kernel, filters, channels])
        out_shape = [tf.shape(x)[0], height * stride, width * stride, filters]
        y = tf.nn.conv2d_transpose(x, w, tf.stack(out_shape), [1, stride, stride, 1], padding='SAME')
        y.set_shape([None, height * stride, width * stride, filters])
        return tf.nn.bias_add(y, bias(filters))


def batch_norm(x, is_train, name, decay=BN_DECAY, epsilon=BN_EPSILON):
    """Batch normalisation of NHWC maps: batch statistics when training (their moving-average updates go
    to the UPDATE_OPS collection), the moving averages otherwise."""
    with unique_scope(name):
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
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, moving_average_update(moving, batch_value, decay))
        return y


def moving_average_update(moving, value, decay):
    """The op moving <- moving - (moving - value) * (1 - decay), run after the updates of `moving` built
    before it: a network called twice per step (the discriminator on real and on generated images) updates
    its statistics twice, and unordered, each update could read the variable before the other wrote it."""
    key = MOVING_AVERAGE_UPDATES + moving.op.name
    with tf.control_dependencies(tf.get_collection(key)):
        update = tf.assign_sub(moving, (moving.read_value() - value) * (1 - decay))
    tf.add_to_collection(key, update)
    return update


def dropout(x, rate, is_train, name='dropout'):
    """Zero each value with probability `rate` while training (scaling the rest by 1 / (1 - rate));
    the identity when sampling or at rate 0.

    The masks come from a stateless random generator keyed on the graph seed, the layer's name and a
    counter of the masks drawn so far; the counter is a variable (so checkpoints save it) that the
    training step advances through UPDATE_OPS, so a resumed run draws exactly the masks an
    uninterrupted one would."""
    if not is_train or not rate:
        return x
    with unique_scope(name) as scope:
        drawn = tf.get_variable('masks_drawn', [], tf.int64, initializer=tf.zeros_initializer(),
                                trainable=False, use_resource=True)
        key = zlib.crc32(f'{tf.get_default_graph().seed}/{scope.name}'.encode())
        seed = tf.stack([tf.constant(key, tf.int64), drawn.read_value()])
        keep = tf.random.stateless_uniform(tf.shape(x), seed) >= rate
        y = tf.where(keep, x / (1 - rate), tf.zeros_like(x))
        with tf.control_dependencies([y]):   # advance the counter only after this step's mask is drawn
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, drawn.assign_add(1))
        return y


def flatten(x):
    """(N, H, W, C) -> (N, H * W * C)."""
    return tf.reshape(x, (-1, int(np.prod(x.shape.as_list()[1:]))))
