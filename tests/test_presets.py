"""The classic course model trains through the notebook's own train(), without changing the default."""
import numpy as np
import tensorflow.compat.v1 as tf

from dcgan.notebook import load_notebook_functions
from dcgan.presets import with_preset

NOTEBOOK = load_notebook_functions()


def train_two_steps(namespace, z_distribution):
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (8, 28, 28, 1)).astype(np.float32)

    def get_batches(batch_size):
        yield from (images[i:i + batch_size] for i in range(0, len(images), batch_size))
    with tf.Graph().as_default():
        losses, samples = namespace['train'](1, 4, 100, 0.0002, 0.5, get_batches, images.shape, 'L',
                                             show_every=10 ** 6, z_distribution=z_distribution)
        shapes = {v.name: v.shape.as_list() for v in tf.trainable_variables()}
    return losses, samples, shapes


def test_classic_preset_is_the_classic_architecture_and_trains(monkeypatch):
    monkeypatch.setattr(NOTEBOOK['helper'], 'show_images', lambda *args, **kwargs: None)
    namespace, z_distribution = with_preset(NOTEBOOK, 'classic')
    losses, samples, shapes = train_two_steps(namespace, z_distribution)
    assert z_distribution == 'uniform' and np.isfinite(losses).all() and samples.shape == (64, 28, 28, 1)
    assert shapes['generator/project/w:0'] == [100, 7 * 7 * 512]
    assert shapes['generator/deconv1/w:0'] == [5, 5, 256, 512]
    assert shapes['discriminator/conv3/w:0'] == [5, 5, 128, 256]


def test_default_preset_is_the_notebook_model_and_the_notebook_is_untouched(monkeypatch):
    monkeypatch.setattr(NOTEBOOK['helper'], 'show_images', lambda *args, **kwargs: None)
    with_preset(NOTEBOOK, 'classic')
    namespace, z_distribution = with_preset(NOTEBOOK, 'default')
    _, _, shapes = train_two_steps(namespace, z_distribution)
    assert z_distribution == 'normal'
    assert shapes['generator/project/w:0'] == [100, 7 * 7 * 256] and shapes['generator/deconv1/w:0'][:2] == [4, 4]
