"""Presets are named partial configurations: the classic course model trains through the notebook's own
train(), the default is the notebook's model, and unknown presets are refused."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from dcgan import config, notebook
from dcgan.errors import ConfigError
from dcgan.hooks import Hooks


def train_two_steps(run_config):
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (8, 28, 28, 1)).astype(np.float32)

    def get_batches(batch_size):
        yield from (images[i:i + batch_size] for i in range(0, len(images), batch_size))
    run_config = run_config.replace(epochs=1, batch_size=4, show_every=10 ** 6)
    with tf.Graph().as_default():
        losses, samples = notebook.load().train(1, 4, 100, 0.0004, 0.5, get_batches, images.shape, 'L',
                                                hooks=Hooks(run_config, show=False))
        shapes = {v.name: v.shape.as_list() for v in tf.trainable_variables()}
    return losses, samples, shapes


def test_classic_preset_is_the_classic_architecture_and_trains():
    classic = config.preset('classic')
    losses, samples, shapes = train_two_steps(classic)
    assert classic.z_distribution == 'uniform' and classic.smoothing == 1.0
    assert np.isfinite(losses).all() and samples.shape == (64, 28, 28, 1)
    assert shapes['generator/project/w:0'] == [100, 7 * 7 * 512]
    assert shapes['generator/deconv1/w:0'] == [5, 5, 256, 512]
    assert shapes['discriminator/conv3/w:0'] == [5, 5, 128, 256]


def test_default_preset_is_the_notebook_model():
    default = config.preset('default')
    assert default == config.TrainConfig()
    _, _, shapes = train_two_steps(default)
    assert shapes['generator/project/w:0'] == [100, 7 * 7 * 128] and shapes['generator/deconv1/w:0'][:2] == [4, 4]
    assert shapes['discriminator/conv1/w:0'] == [4, 4, 1, 32]


def test_preset_options_override_and_unknown_presets_are_refused():
    assert config.preset('classic', kernel=3).kernel == 3
    with pytest.raises(ConfigError, match="Unknown preset 'fancy'"):
        config.preset('fancy')


def test_notebook_settings_left_at_their_default_take_the_preset_value():
    values = dict(config.DEFAULTS, learning_rate=0.001)
    made = config.notebook_config('classic', values, dataset='celeba', epochs=1)
    assert (made.z_distribution, made.kernel, made.learning_rate, made.dataset) == ('uniform', 5, 0.001, 'celeba')


def test_faces64_preset_is_the_default_model_at_64x64_on_faces_and_trains():
    faces64 = config.preset('faces64')
    assert faces64 == config.TrainConfig(dataset='celeba', image_size=64, g_filters=None, d_filters=64)
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (8, 64, 64, 3)).astype(np.float32)
    with tf.Graph().as_default():
        losses, samples = notebook.load().train(
            1, 4, faces64.z_dim, faces64.learning_rate, faces64.beta1,
            lambda batch_size: (images[i:i + batch_size] for i in range(0, len(images), batch_size)), images.shape,
            'RGB', hooks=Hooks(faces64.replace(epochs=1, batch_size=4, show_every=10 ** 6), show=False))
        shapes = {v.name: v.shape.as_list() for v in tf.trainable_variables()}
    assert np.isfinite(losses).all() and samples.shape == (64, 64, 64, 3)
    assert shapes['generator/project/w:0'] == [100, 8 * 8 * 512] and shapes['discriminator/conv4/w:0'] == [4, 4, 256, 512]
