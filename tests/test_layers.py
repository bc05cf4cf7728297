"""The layer helpers' variable names, the generator's dropout option and show_generator_output."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from conftest import FakeData

from dcgan import checkpoints, notebook, ops, pictures, trainer
from dcgan.config import TrainConfig
from dcgan.errors import ConfigError, RunMismatch
from dcgan.hooks import Hooks

MODEL = notebook.load()


def trainable_names():
    return sorted(v.name for v in tf.trainable_variables())


# ---------------------------------------------------------------------------------------------- names


def test_the_networks_keep_their_checkpoint_names_and_reuse_shares_every_variable():
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, (None, 28, 28, 1))
        z = tf.placeholder(tf.float32, (None, 100))
        MODEL.discriminator(images)
        MODEL.generator(z, 1)
        names = trainable_names()
        MODEL.discriminator(images, True)
        MODEL.discriminator(MODEL.generator(z, 1, False), True)
        assert trainable_names() == names, 'reuse=True must not create variables'
        assert len(tf.global_variables()) == len(names) + 4 * 2   # + moving mean and variance of 4 batch norms
    for name in ('discriminator/conv1/w:0', 'discriminator/bn2/gamma:0', 'discriminator/logits/b:0',
                 'generator/project/w:0', 'generator/bn0/beta:0', 'generator/deconv2/w:0'):
        assert name in names, f'{name}: older checkpoints would no longer load'


def test_layers_without_a_separating_scope_get_unique_names_and_a_reusing_scope_finds_them_again():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, (None, 8, 8, 2))
        ops.conv2d(x, 4, 'conv')
        ops.conv2d(x, 4, 'conv')
        assert trainable_names() == ['conv/b:0', 'conv/w:0', 'conv_1/b:0', 'conv_1/w:0']
        for reuse in (False, True, True):
            with tf.variable_scope('net', reuse=reuse):
                ops.batch_norm(ops.conv2d(x, 4, 'conv'), True, 'bn')
                ops.dense(ops.flatten(x), 3, 'conv')    # same name again in one scope: conv_1
        assert [n for n in trainable_names() if n.startswith('net/')] == [
            'net/bn/beta:0', 'net/bn/gamma:0', 'net/conv/b:0', 'net/conv/w:0', 'net/conv_1/b:0', 'net/conv_1/w:0']


# ---------------------------------------------------------------------------------------------- dropout


def run_config(**options):
    return TrainConfig(epochs=2, batch_size=4, z_dim=16, seed=5, show_every=10 ** 6, print_every=10 ** 6,
                       checkpoint_every=5, **options)


def test_dropout_is_a_model_setting_passed_to_the_generator_and_validated():
    assert TrainConfig().g_dropout == 0 and TrainConfig(g_dropout=0.3).generator_options()['dropout_rate'] == 0.3
    with pytest.raises(ConfigError, match=r'g_dropout must be in \[0, 1\)'):
        TrainConfig(g_dropout=1.0).validate()
    from dcgan.config import kind
    assert kind('g_dropout') == 'model'


def test_dropout_acts_only_while_training_and_adds_only_its_counters():
    with tf.Graph().as_default():
        z = tf.placeholder(tf.float32, (None, 16))
        training = MODEL.generator(z, 1, dropout_rate=0.5)
        sampling = MODEL.generator(z, 1, False, dropout_rate=0.5)
        counters = [v.name for v in tf.global_variables() if 'dropout' in v.name]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {z: np.random.default_rng(0).standard_normal((4, 16))}
            first, second = sess.run(training, feed), sess.run(training, feed)   # no update ops run: same masks
            samples = [sess.run(sampling, feed) for _ in range(2)]
    assert counters == ['generator/dropout0/masks_drawn:0', 'generator/dropout1/masks_drawn:0']
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(*samples)
    assert not np.allclose(first, samples[0]), 'dropout must change the training output'


def test_dropout_run_trains_saves_and_resumes_to_exactly_the_uninterrupted_run(tmp_path):
    config = run_config(g_dropout=0.3)
    whole, _, _ = trainer.train(MODEL, config, FakeData(), str(tmp_path / 'whole'))
    trainer.train(MODEL, config.replace(max_steps=7), FakeData(), str(tmp_path / 'split'))
    resumed, _, _ = trainer.train(MODEL, config, FakeData(), str(tmp_path / 'split'))
    plain, _, _ = trainer.train(MODEL, run_config(), FakeData(), str(tmp_path / 'plain'))
    assert len(whole) == len(resumed) == 12 and np.isfinite(whole).all()
    assert not np.allclose(whole, plain), 'the same seed without dropout must train differently'
    np.testing.assert_allclose(resumed, whole, rtol=1e-5, atol=1e-6)
    expected = checkpoints.variables_of(checkpoints.latest(str(tmp_path / 'whole')))
    got = checkpoints.variables_of(checkpoints.latest(str(tmp_path / 'split')))
    assert expected.keys() == got.keys()
    assert expected['generator/dropout0/masks_drawn'] == expected['generator/dropout1/masks_drawn'] == 12
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    state = checkpoints.read_state(checkpoints.latest(str(tmp_path / 'split')))
    assert state['config']['g_dropout'] == 0.3


# ---------------------------------------------------------------------------------------------- show output


def test_show_generator_output_the_course_way_and_with_a_fixed_z(monkeypatch):
    shown = []
    monkeypatch.setattr(pictures, 'show_images', lambda images, mode, title='': shown.append((images, mode)))
    show_generator_output = notebook.load_namespace()['show_generator_output']
    namespace = show_generator_output.__globals__
    with tf.Graph().as_default():
        _, input_z, _ = namespace['model_inputs'](28, 28, 3, 16)
        sampler = namespace['generator'](input_z, 3)
        fixed_z = np.random.default_rng(0).standard_normal((9, 16)).astype(np.float32)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            course = show_generator_output(sess, 4, input_z, 3, 'RGB')   # builds its own sampler, uniform z
            first = show_generator_output(sess, 9, input_z, 3, 'RGB', z=fixed_z)
            again = show_generator_output(sess, 9, input_z, 3, 'RGB', z=fixed_z, show=False)
            sampled = sess.run(namespace['generator'](input_z, 3, False), {input_z: fixed_z})
            del sampler
    assert course.shape == (4, 28, 28, 3) and np.abs(course).max() <= 0.5
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, sampled, rtol=1e-6)
    assert len(shown) == 2 and shown[1][1] == 'RGB' and np.array_equal(shown[1][0], first)


def test_train_shows_its_fixed_z_samples_through_show_generator_output(monkeypatch):
    namespace = notebook.load_namespace()
    calls = []
    original = namespace['show_generator_output']

    def recording(*args, **kwargs):
        calls.append((args[1], kwargs['z'], kwargs['title'], kwargs['show']))
        return original(*args, **dict(kwargs, show=False))
    namespace['show_generator_output'] = recording
    data = FakeData()
    hooks = Hooks(run_config().replace(epochs=1, show_every=2), show=True)
    with tf.Graph().as_default():
        namespace['train'](1, 4, 16, 0.0004, 0.5, data.get_batches, data.shape, 'L', hooks=hooks)
    assert [title for _, _, title, _ in calls] == ['step 2', 'step 4', 'step 6']
    assert all(n == 64 and show for n, _, _, show in calls)
    assert all(np.array_equal(z, hooks.fixed_z()) for _, z, _, _ in calls)


def test_two_batch_norm_updates_of_one_statistic_in_a_step_apply_in_order():
    """The discriminator runs twice per step (real, generated): both moving-average updates must apply,
    one after the other, never both from the same old value."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, (2, 1, 1, 1))
        for reuse in (False, True):
            with tf.variable_scope('d', reuse=reuse):
                ops.batch_norm(x * (1.0 if not reuse else 3.0), True, 'bn')
        moving_mean = [v for v in tf.global_variables() if 'moving_mean' in v.name][0]
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        batch = np.array([1.0, 3.0], np.float32).reshape(2, 1, 1, 1)   # batch means 2 and 6
        with tf.Session(config=tf.ConfigProto(inter_op_parallelism_threads=2)) as sess:
            sess.run(tf.global_variables_initializer())
            expected = 0.0
            for _ in range(30):
                sess.run(updates, {x: batch})
                for mean in (2.0, 6.0):
                    expected -= (expected - mean) * (1 - ops.BN_DECAY)
                assert sess.run(moving_mean)[0] == pytest.approx(expected, rel=1e-5)


def test_a_run_saved_before_the_dropout_setting_existed_counts_as_trained_without_dropout(tmp_path):
    """A checkpoint whose configuration has no g_dropout ran without dropout: resuming it plainly goes on,
    resuming it with dropout is refused like any other change of the networks."""
    import json
    run = tmp_path / 'run'
    trainer.train(MODEL, run_config().replace(epochs=1), FakeData(), str(run))
    state_file = os.path.join(checkpoints.latest(str(run)), checkpoints.STATE)
    with open(state_file) as f:
        state = json.load(f)
    del state['config']['g_dropout']
    with open(state_file, 'w') as f:
        json.dump(state, f)
    with pytest.raises(RunMismatch, match=r'g_dropout: 0\.0 -> 0\.3'):
        trainer.train(MODEL, run_config(g_dropout=0.3), FakeData(), str(run))
    losses, _, _ = trainer.train(MODEL, run_config(), FakeData(), str(run))
    assert len(losses) == 12
