"""The quality options (issue 14): each builds, trains a few steps, saves, resumes to exactly the
uninterrupted run, changes what is trained, and is recorded in the checkpoint; the generator's moving
average is what samples come from, in training and in `generate`."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from conftest import FakeData

from dcgan import augment, checkpoints, generate, hooks, notebook, pretrained, runs, trainer, training
from dcgan.__main__ import main
from dcgan.config import TrainConfig, kind
from dcgan.errors import ConfigError, GenerateError

MODEL = notebook.load()
OPTIONS = [dict(g_ema=0.9), dict(g_learning_rate=0.0008), dict(loss='hinge'), dict(r1_gamma=1.0),
           dict(augment='translation,color,cutout'), dict(d_norm='spectral'), dict(d_norm='none'),
           dict(loss='hinge', d_norm='spectral', g_ema=0.9, augment='translation', r1_gamma=0.5)]


OFF = dict(g_ema=0.0, mixed_precision=False)   # the options' baseline: no average; float32, as generate samples


def run_config(**options):
    settings = dict(epochs=2, batch_size=4, z_dim=16, show_every=10 ** 6, print_every=10 ** 6, checkpoint_every=5, **OFF)
    return TrainConfig(**{**settings, **options})


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


# ---------------------------------------------------------------------------------------------- the best checkpoint


class ScriptedQuality:
    """A quality log whose scores follow a script (the watch's logic is under test, not the metrics)."""

    def __init__(self, swd, every=2):
        self.swd, self.every, self.history, self.reference = list(swd), every, [], np.zeros((8, 28, 28, 1), np.float32)

    def __call__(self, step, fake):
        scores = dict(swd=self.swd[step // self.every - 1])
        self.history.append(dict(step=step, **scores))
        return scores


def test_the_best_scored_checkpoint_is_kept_through_rotation_and_resume_and_generate_best_reads_it(tmp_path, capsys):
    config = run_config(metrics_every=2, checkpoint_every=2, keep_checkpoints=1, max_steps=6)
    script = [5, 3, 4, 6, 7, 8]
    trainer.train(MODEL, config, FakeData(), str(tmp_path / 'run'), quality=ScriptedQuality(script))
    trainer.train(MODEL, config.replace(max_steps=None), FakeData(), str(tmp_path / 'run'),
                  quality=ScriptedQuality(script))
    out = capsys.readouterr().out
    best = checkpoints.best_dir(str(tmp_path / 'run'))
    state = checkpoints.read_state(best)
    assert state['step'] == 4 and state['best'] == dict(metric='swd', value=3, step=4)
    assert [os.path.basename(c) for c in checkpoints.checkpoint_dirs(str(tmp_path / 'run'))] == ['step-00000012']
    assert checkpoints.latest(str(tmp_path / 'run')).endswith('step-00000012'), 'the best is not the newest'
    assert 'WARNING: quality has worsened 3 checks in a row (swd 7); the best was 3 at step 4' in out
    assert out.count('WARNING: quality has worsened') == 1

    again = tmp_path / 'again'   # the same run, with a checkpoint kept at step 4 to compare with
    trainer.train(MODEL, config.replace(max_steps=4, keep_checkpoints=5), FakeData(), str(again),
                  quality=ScriptedQuality(script))
    chosen = generate.chosen_checkpoint(str(tmp_path / 'run'), best=True)
    z = training.noise(np.random.default_rng(0), 8, config.z_dim)
    np.testing.assert_allclose(generate.load_generator(chosen).sample(z),
                               generate.load_generator(str(again)).sample(z), rtol=1e-5, atol=1e-6)
    assert generate.chosen_checkpoint(str(tmp_path / 'run')) == str(tmp_path / 'run')
    with pytest.raises(GenerateError, match='has no best checkpoint'):
        generate.chosen_checkpoint(str(tmp_path / 'plain'), best=True)
    assert any('best swd 3 at step 4' in line for line in runs.info(str(tmp_path / 'run')))
    capsys.readouterr()
    assert main(['generate', '--checkpoint', str(tmp_path / 'run'), '--best', '--n', '4',
                 '--out', str(tmp_path / 'best.png')]) == 0
    assert 'step-' not in capsys.readouterr().out.split('Loaded the generator of ')[1].split()[0]
    trainer.train(MODEL, run_config(max_steps=2), FakeData(), str(tmp_path / 'unscored'))
    assert main(['export', '--checkpoint', str(tmp_path / 'unscored'), '--best', '--out', str(tmp_path / 'model')]) == 2
    assert 'has no best checkpoint' in capsys.readouterr().err and not (tmp_path / 'model').exists()


def test_the_watch_warns_once_when_digit_classes_or_the_samples_spread_are_lost():
    watch = hooks.QualityWatch()
    varied = np.random.default_rng(0).uniform(-0.5, 0.5, (50, 4, 4, 1))
    same = np.repeat(varied[:1], 50, axis=0) + np.random.default_rng(1).normal(0, 0.01, (50, 4, 4, 1))
    checks = [(dict(classifier_fd=3.0, classes_covered=10), varied), (dict(classifier_fd=2.0, classes_covered=9), varied),
              (dict(classifier_fd=2.5, classes_covered=7), varied), (dict(classifier_fd=2.6, classes_covered=6), same),
              (dict(classifier_fd=2.7, classes_covered=6), same)]
    said = []
    for step, (scores, samples) in enumerate(checks):
        watch.is_best(step, scores)
        said.append(watch.warnings(scores, samples, 'runs/x'))
    assert watch.best == dict(metric='classifier_fd', value=2.0, step=1)
    assert said[:2] == [[], []] and len(said[2]) == len(said[3]) == 1 and len(said[4]) == 1
    assert 'cover 7 digit classes, down from 10' in said[2][0] and 'step 1' in said[2][0]
    assert 'runs/x/checkpoints/best' in said[2][0] and '--checkpoint runs/x --best' in said[2][0]
    assert 'lost their variety' in said[3][0]
    assert 'worsened 3 checks in a row (classifier_fd 2.7); the best was 2 at step 1' in said[4][0]
