"""28, 32 and 64 pixel images train end to end: the notebook's networks adapt to the image size."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from dcgan import notebook
from dcgan.config import TrainConfig
from dcgan.hooks import Hooks

MODEL = notebook.load()


def random_batches(size, channels, count=3):
    """A get_batches function over random images of the given size."""
    rng = np.random.default_rng(0)
    images = rng.uniform(-0.5, 0.5, (count * 4, size, size, channels)).astype(np.float32)

    def get_batches(batch_size):
        for start in range(0, len(images) - batch_size + 1, batch_size):
            yield images[start:start + batch_size]
    return images.shape, get_batches


@pytest.mark.parametrize('size, channels, conv_layers', [(28, 1, 3), (32, 3, 3), (64, 3, 4)])
def test_train_at_image_size(size, channels, conv_layers):
    shape, get_batches = random_batches(size, channels)
    hooks = Hooks(TrainConfig(epochs=1, batch_size=4, z_dim=16, image_size=size, print_every=1, show_every=2),
                  show=False)
    with tf.Graph().as_default():
        losses, samples = MODEL.train(1, 4, 16, 0.0004, 0.5, get_batches, shape, 'L' if channels == 1 else 'RGB',
                                      hooks=hooks)
        convs = {v.name.split('/')[1] for v in tf.trainable_variables('discriminator') if '/conv' in v.name}
    assert losses.shape == (3, 2) and np.isfinite(losses).all()
    assert samples.shape == (64, size, size, channels) and np.abs(samples).max() <= 0.5
    assert len(convs) == conv_layers


def test_unsupported_size_is_refused():
    with tf.Graph().as_default(), pytest.raises(AssertionError, match='28, 32 or 64'):
        MODEL.generator(tf.placeholder(tf.float32, (None, 16)), 3, image_size=30)
