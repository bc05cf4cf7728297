"""The quality options (issue 14): each builds, trains a few steps, saves, resumes to exactly the
uninterrupted run, changes what is trained, and is recorded in the checkpoint; the generator's moving
average is what samples come from, in training and in `generate`."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from conftest import FakeData

from dcgan import augment, checkpoints, generate, notebook, pretrained, trainer, training
from dcgan.config import TrainConfig, kind
from dcgan.errors import ConfigError

MODEL = notebook.load()
OPTIONS = [dict(g_ema=0.9), dict(g_learning_rate=0.0008), dict(loss='hinge'), dict(r1_gamma=1.0),
           dict(augment='translation,color,cutout'), dict(d_norm='spectral'), dict(d_norm='none'),
           dict(loss='hinge', d_norm='spectral', g_ema=0.9, augment='translation', r1_gamma=0.5)]


def run_config(**options):
    return TrainConfig(epochs=2, batch_size=4, z_dim=16, show_every=10 ** 6, print_every=10 ** 6,
                       checkpoint_every=5, **options)


def latest_variables(run_dir):
    return checkpoints.variables_of(checkpoints.latest(str(run_dir)))


@pytest.mark.parametrize('options', OPTIONS, ids=lambda o: ','.join(f'{k}={v}' for k, v in o.items()))
def test_option_trains_saves_and_resumes_to_exactly_the_uninterrupted_run(tmp_path, options):
    config = run_config(**options)
    whole, whole_samples, _ = trainer.train(MODEL, config, FakeData(), str(tmp_path / 'whole'))
    trainer.train(MODEL, config.replace(max_steps=7), FakeData(), str(tmp_path / 'split'))
    resumed, resumed_samples, _ = trainer.train(MODEL, config, FakeData(), str(tmp_path / 'split'))
    plain, plain_samples, _ = trainer.train(MODEL, run_config(), FakeData(), str(tmp_path / 'plain'))
    assert len(whole) == len(resumed) == 12 and np.isfinite(whole).all()
    changes = 'samples' if options == dict(g_ema=0.9) else 'losses'   # the average changes only what is sampled
    assert not np.allclose(*((whole_samples, plain_samples) if changes == 'samples' else (whole, plain))), \
        f'{options} must change the {changes}'
    np.testing.assert_allclose(resumed, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed_samples, whole_samples, rtol=1e-4, atol=1e-5)
    expected, got = latest_variables(tmp_path / 'whole'), latest_variables(tmp_path / 'split')
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    saved = checkpoints.read_state(checkpoints.latest(str(tmp_path / 'split')))['config']
    assert {k: saved[k] for k in options} == options


def test_the_moving_average_is_saved_with_its_count_and_is_what_training_and_generate_sample(tmp_path):
    config = run_config(g_ema=0.9)
    _, samples, _ = trainer.train(MODEL, config, FakeData(), str(tmp_path / 'run'))
    stored = latest_variables(tmp_path / 'run')
    assert stored['generator_ema/updates'] == 12
    for name in ('project/w', 'bn0/gamma', 'bn0/moving_mean', 'bn1/moving_variance', 'deconv2/b'):
        assert ('generator_ema/' + name) in stored
        assert not np.allclose(stored['generator_ema/' + name], stored['generator/' + name]), name
    assert not any(n.startswith('generator_ema/') and '/Adam' in n for n in stored)
    loaded = generate.load_generator(str(tmp_path / 'run'))
    z = loaded_z = training.noise(np.random.default_rng(config.seed), len(samples), config.z_dim)
    np.testing.assert_allclose(loaded.sample(loaded_z), samples, rtol=1e-5, atol=1e-6)
    weights = pretrained.checkpoint_weights(checkpoints.latest(str(tmp_path / 'run')), loaded.config)
    np.testing.assert_array_equal(weights['generator/project/w'], stored['generator_ema/project/w'])
    plain = run_config()
    _, plain_samples, _ = trainer.train(MODEL, plain.replace(g_ema=0.0), FakeData(), str(tmp_path / 'plain'))
    assert not np.allclose(plain_samples, samples)
    del z


def test_the_average_starts_as_a_copy_and_then_follows_at_the_set_decay():
    with tf.Graph().as_default():
        with tf.variable_scope('generator'):
            w = tf.get_variable('w', [3], initializer=tf.constant_initializer(1.0))
        step = tf.assign_add(w, [1.0, 1.0, 1.0])
        averaged = training.average_generator(step, 0.5)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            shadow = tf.global_variables('generator_ema/w')[0]
            sess.run(averaged)
            np.testing.assert_allclose(sess.run(shadow), [2, 2, 2])   # t=0: a copy of the new value 2
            sess.run(averaged)   # w = 3, d = min(0.5, 1/11)
            np.testing.assert_allclose(sess.run(shadow), 2 / 11 + 3 * 10 / 11, rtol=1e-6)


def test_augmentations_keep_shape_and_range_change_images_and_pass_gradients():
    with tf.Graph().as_default():
        real = tf.constant(np.random.default_rng(0).uniform(-0.5, 0.5, (6, 28, 28, 3)), tf.float32)
        fake = tf.Variable(np.random.default_rng(1).uniform(-0.5, 0.5, (6, 28, 28, 3)), dtype=tf.float32)
        seen_real, seen_fake = augment.augment_pair(real, fake, ('translation', 'color', 'cutout'))
        gradient = tf.gradients(tf.reduce_sum(seen_fake), fake)[0]
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            first, grad = sess.run([seen_real, gradient])
            sess.run(updates)
            second = sess.run(seen_real)
        assert first.shape == second.shape == (6, 28, 28, 3)
        assert not np.allclose(first, sess_value(real)), 'the images must change'
        assert not np.allclose(first, second), 'each step draws new augmentations'
        assert np.abs(grad).sum() > 0, 'the generator must get gradients through the augmentations'
        assert augment.augment_pair(real, fake, ()) == (real, fake)


def sess_value(tensor):
    with tf.Session() as sess:
        return sess.run(tensor)


def test_the_options_are_validated_and_have_the_right_kinds():
    for bad, message in ((dict(g_ema=1.0), r'g_ema must be in \[0, 1\)'), (dict(g_learning_rate=0.0), 'g_learning_rate'),
                         (dict(r1_gamma=-1.0), 'r1_gamma'), (dict(augment='flip'), "augment='flip' names 'flip'"),
                         (dict(loss='wgan'), 'loss'), (dict(d_norm='layer'), 'd_norm')):
        with pytest.raises(ConfigError, match=message):
            TrainConfig(**bad).validate()
    assert kind('g_ema') == kind('d_norm') == 'model'   # they add variables: only a new run can change them
    assert kind('g_learning_rate') == kind('loss') == kind('r1_gamma') == kind('augment') == 'dynamics'
    assert TrainConfig(augment=' color, cutout').augmentations() == ('color', 'cutout')


def test_the_hinge_loss_turns_off_only_the_cross_entropy_collapse_rule():
    guard = training.DivergenceGuard(patience=2, loss='hinge')
    for step in range(5):
        guard.check(step, 0.1, 50.0, None)
    with pytest.raises(Exception, match='not finite'):
        guard.check(6, float('nan'), 1.0, None)
