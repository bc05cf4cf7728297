"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): the same random translation, colour and
cutout changes applied to real and generated images before the discriminator sees them, so a small data
set (the 10,000 faces) is harder to memorise, while the generator still gets gradients through them.

The random numbers come from a stateless generator keyed on a counter variable that each training step
advances (saved in checkpoints), so a resumed run draws exactly what an uninterrupted one would.
"""
import tensorflow.compat.v1 as tf

from dcgan.ops import layer_scope

TRANSLATION = 0.125   # shift by up to 1/8 of the image side (the gap is filled with zeros: mid-grey)
CUTOUT = 0.5          # a square of half the image side set to zero (mid-grey)
COUNTER = 'augment_draws'   # in the discriminator's scope: the discriminator's update ops advance it


def uniform(shape, seed, stream, low=0.0, high=1.0):
    """Stateless uniform numbers for this step (`seed`) and this use (`stream`)."""
    return tf.random.stateless_uniform(shape, tf.stack([tf.constant(stream, tf.int64), seed]), low, high)


def translation(x, seed, stream):
    """Shift each image by whole pixels, up to TRANSLATION of its side in each direction."""
    _, height, width, _ = x.shape.as_list()
    pad = int(height * TRANSLATION + 0.5)
    count = tf.shape(x)[0]
    shifts = tf.cast(tf.floor(uniform([count, 2], seed, stream, 0, 2 * pad + 1)), tf.int32)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    rows = shifts[:, :1] + tf.range(height)[None]
    cols = shifts[:, 1:] + tf.range(width)[None]
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def color(x, seed, stream):
    """Random brightness, saturation (colour images) and contrast per image; images in [-0.5, 0.5]."""
    count = tf.shape(x)[0]
    factors = uniform([count, 1, 1, 3], seed, stream)
    brightness, saturation, contrast = factors[..., :1], factors[..., 1:2], factors[..., 2:]
    x = x + (brightness - 0.5) * 0.5
    if x.shape.as_list()[-1] > 1:
        mean = tf.reduce_mean(x, axis=3, keepdims=True)
        x = (x - mean) * (saturation * 2) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (contrast + 0.5) + mean


def cutout(x, seed, stream):
    """Set a random square of CUTOUT of the image side to zero in each image."""
    _, height, width, _ = x.shape.as_list()
    size = int(height * CUTOUT + 0.5)
    centres = tf.floor(uniform([tf.shape(x)[0], 2], seed, stream) * [height + size % 2, width + size % 2])
    rows = tf.range(height, dtype=tf.float32)[None] - (centres[:, :1] - size // 2)
    cols = tf.range(width, dtype=tf.float32)[None] - (centres[:, 1:] - size // 2)
    inside_rows = tf.cast((rows >= 0) & (rows < size), tf.float32)
    inside_cols = tf.cast((cols >= 0) & (cols < size), tf.float32)
    mask = 1 - inside_rows[:, :, None] * inside_cols[:, None, :]
    return x * mask[..., None]


AUGMENTATIONS = dict(translation=translation, color=color, cutout=cutout)


def augment_pair(real, fake, names):
    """(real, fake), each augmented by `names` (in the order color, translation, cutout, as DiffAugment
    applies them) with its own random numbers; unchanged when `names` is empty."""
    if not names:
        return real, fake
    with layer_scope('discriminator', reuse=tf.AUTO_REUSE):
        counter = tf.get_variable(COUNTER, [], tf.int64, initializer=tf.zeros_initializer(), trainable=False,
                                  use_resource=True, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        seed = counter.read_value()
        outputs = []
        for which, x in enumerate((real, fake)):
            for order, name in enumerate(n for n in ('color', 'translation', 'cutout') if n in names):
                x = AUGMENTATIONS[name](x, seed, which * 8 + order)
            outputs.append(x)
        with tf.control_dependencies(outputs):   # advance the counter once this step's numbers are drawn
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, counter.assign_add(1))
    return tuple(outputs)
