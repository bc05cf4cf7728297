"""Named models to compare with the notebook's default: the classic course DCGAN.

The classic course model: generator dense -> 7x7x512 -> 5x5 transposed convolutions 512 -> 256 -> C with
ReLU; discriminator 5x5 convolutions 64 -> 128 -> 256 with leaky ReLU; no label smoothing; uniform z.
`with_preset(notebook, 'classic')` returns the notebook's namespace with these swapped in, so the
notebook's own train() trains it.
"""
import functools

import tensorflow.compat.v1 as tf

from dcgan.ops import batch_norm, conv2d, deconv2d, dense, flatten, lrelu

CLASSIC_KERNEL = 5
CLASSIC_SMOOTHING = 1.0          # no label smoothing
CLASSIC_Z = 'uniform'


def classic_generator(z, out_channel_dim, is_train=True, image_size=28):
    """The classic course generator (28x28 only)."""
    assert image_size == 28, 'the classic preset makes 28x28 images'
    with tf.variable_scope('generator', reuse=not is_train):
        x = tf.reshape(dense(z, 7 * 7 * 512, 'project'), (-1, 7, 7, 512))
        x = tf.nn.relu(batch_norm(x, is_train, 'bn0'))
        x = tf.nn.relu(batch_norm(deconv2d(x, 256, 'deconv1', kernel=CLASSIC_KERNEL), is_train, 'bn1'))
        return 0.5 * tf.tanh(deconv2d(x, out_channel_dim, 'deconv2', kernel=CLASSIC_KERNEL))


def classic_discriminator(images, reuse=False):
    """The classic course discriminator."""
    with tf.variable_scope('discriminator', reuse=reuse):
        x = lrelu(conv2d(images, 64, 'conv1', kernel=CLASSIC_KERNEL))
        x = lrelu(batch_norm(conv2d(x, 128, 'conv2', kernel=CLASSIC_KERNEL), True, 'bn2'))
        x = lrelu(batch_norm(conv2d(x, 256, 'conv3', kernel=CLASSIC_KERNEL), True, 'bn3'))
        logits = dense(flatten(x), 1, 'logits')
        return tf.sigmoid(logits), logits


PRESETS = {
    'default': dict(z_distribution='normal'),
    'classic': dict(generator=classic_generator, discriminator=classic_discriminator,
                    smoothing=CLASSIC_SMOOTHING, z_distribution=CLASSIC_Z),
}


def with_preset(notebook, name):
    """(a copy of the notebook namespace whose train() uses preset `name`, that preset's z distribution)."""
    preset = PRESETS[name]
    namespace = dict(notebook)
    if 'generator' in preset:
        namespace.update(generator=preset['generator'], discriminator=preset['discriminator'])
        namespace['model_loss'] = functools.partial(rebind(notebook['model_loss'], namespace),
                                                    smoothing=preset['smoothing'])
        namespace['train'] = rebind(notebook['train'], namespace)
    return namespace, preset['z_distribution']


def rebind(function, namespace):
    """The same function, looking up its global names in `namespace`."""
    return type(function)(function.__code__, namespace, function.__name__, function.__defaults__,
                          function.__closure__)
