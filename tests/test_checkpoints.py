"""Long runs are safe: exact resume after a kill, divergence guard, config check, TensorBoard, sampling."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from conftest import FakeData
from PIL import Image

from dcgan import checkpoints, notebook, trainer, training
from dcgan.config import TrainConfig
from dcgan.errors import GenerateError, RunMismatch, TrainingDiverged

ROOT = os.path.dirname(notebook.NOTEBOOK)
STEPS = 240          # 64 fake digits / batch 8 = 8 batches per epoch, 30 epochs
KILL_TIMEOUT = 120   # seconds a subprocess may take at most


def dcgan(*args, env):
    """Start `python -m dcgan ...` in the project folder."""
    return subprocess.Popen([sys.executable, '-m', 'dcgan', *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def train_args(data, run_dir, tmp_path):
    return ['train', '--dataset', 'mnist', '--data', data, '--data-dir', str(tmp_path / 'data'),
            '--run-dir', str(run_dir), '--epochs', '30', '--batch-size', '8', '--checkpoint-every', '20',
            '--keep', '2', '--seed', '3', '--print-every', '1000', '--show-every', '60']


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, DLND_CACHE_DIR=str(tmp_path / 'cache'), TF_CPP_MIN_LOG_LEVEL='3')


def finish(process):
    output, _ = process.communicate(timeout=KILL_TIMEOUT)
    assert process.returncode == 0, output
    return output


def test_run_killed_midway_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path, mnist_gz, env):
    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    finish(dcgan(*train_args(mnist_gz, whole, tmp_path), env=env))

    process = dcgan(*train_args(mnist_gz, killed, tmp_path), env=env)
    deadline = time.time() + KILL_TIMEOUT
    while checkpoints.latest(str(killed)) is None and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    at_kill = checkpoints.read_state(checkpoints.latest(str(killed)))['step']
    assert 0 < at_kill < STEPS, 'the run must be killed midway'

    output = finish(dcgan(*train_args(mnist_gz, killed, tmp_path), env=env))
    assert f'Resuming from step {at_kill}' in output
    final = checkpoints.latest(str(killed))
    assert checkpoints.read_state(final)['step'] == STEPS
    assert len(checkpoints.read_losses(final)) == STEPS
    expected = checkpoints.variables_of(checkpoints.latest(str(whole)))
    resumed = checkpoints.variables_of(final)
    assert expected.keys() == resumed.keys() and len(expected) > 20   # weights, BN statistics, Adam state
    for name in expected:
        np.testing.assert_allclose(resumed[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(checkpoints.read_losses(final), checkpoints.read_losses(
        checkpoints.latest(str(whole))), rtol=1e-4, atol=1e-5)


def train(data, run_dir, epochs=1, z_dim=16, **options):
    """Train a small run of FakeData with the notebook's model through the project's trainer."""
    settings = dict(dict(show_every=10 ** 6, print_every=10 ** 6, checkpoint_every=3), **options)
    config = TrainConfig(epochs=epochs, batch_size=4, z_dim=z_dim, image_size=data.shape[1], **settings)
    losses, samples, _ = trainer.train(notebook.load(), config, data, str(run_dir))
    return losses, samples


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged) as stop:
        train(FakeData(nan_from_step=5), tmp_path / 'run', epochs=2)
    message = str(stop.value)
    assert 'at step 5' in message and 'not finite' in message and 'step-00000003' in message
    assert [os.path.basename(c) for c in checkpoints.checkpoint_dirs(str(tmp_path / 'run'))] == ['step-00000003']
    assert np.isfinite(checkpoints.read_losses(checkpoints.latest(str(tmp_path / 'run')))).all()


def test_collapsed_discriminator_stops_the_run():
    guard = training.DivergenceGuard(patience=3, g_loss_limit=10)
    guard.check(1, 0.3, 12.0, None)
    guard.check(2, 0.3, 2.0, None)       # a normal step resets the count
    guard.check(3, 0.3, 12.0, None)
    guard.check(4, 0.3, 12.0, None)
    with pytest.raises(TrainingDiverged, match='collapsed at step 5'):
        guard.check(5, 0.3, 12.0, 'runs/x/checkpoints/step-00000004')


@pytest.mark.parametrize('change, message', [(dict(z_dim=32), 'z_dim: 16 -> 32'),
                                             (dict(seed=9), 'seed: 1 -> 9')])
def test_checkpoint_of_another_configuration_is_refused(tmp_path, change, message):
    train(FakeData(), tmp_path / 'run')
    before = checkpoints.checkpoint_dirs(str(tmp_path / 'run'))
    with pytest.raises(RunMismatch, match=message):
        train(FakeData(), tmp_path / 'run', **change)
    assert checkpoints.checkpoint_dirs(str(tmp_path / 'run')) == before   # nothing overwritten


def test_image_size_mismatch_is_refused(tmp_path):
    train(FakeData(), tmp_path / 'run')
    with pytest.raises(RunMismatch, match='image_size: 28 -> 32'):
        train(FakeData(size=32), tmp_path / 'run')


def test_keeps_the_newest_checkpoints_and_ignores_an_unfinished_save(tmp_path):
    run = tmp_path / 'run'
    train(FakeData(), run, epochs=2, keep_checkpoints=2)          # 12 steps, saved at 3, 6, 9, 12
    assert [os.path.basename(c) for c in checkpoints.checkpoint_dirs(str(run))] == ['step-00000009', 'step-00000012']
    (run / 'checkpoints' / '.saving-killed').mkdir()               # a save killed halfway
    (run / 'checkpoints' / '.saving-killed' / 'model.index').write_bytes(b'half')
    losses, _ = train(FakeData(), run, epochs=3, keep_checkpoints=2)
    assert len(losses) == 18 and not (run / 'checkpoints' / '.saving-killed').exists()


def test_same_seed_same_run(tmp_path):
    first, _ = train(FakeData(), tmp_path / 'a')
    second, _ = train(FakeData(), tmp_path / 'b')
    np.testing.assert_array_equal(first, second)
    third, _ = train(FakeData(), tmp_path / 'c', seed=2)
    assert not np.array_equal(first, third)


def test_tensorboard_has_both_losses_d_outputs_and_sample_grids(tmp_path):
    train(FakeData(), tmp_path / 'run', epochs=2, summary_every=2, show_every=4, board_images_every=8)
    tags = {}
    for path in glob.glob(str(tmp_path / 'run' / 'tensorboard' / 'events.*')):
        for event in tf.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert tags['loss/discriminator'] == tags['loss/generator'] == tags['D(x)'] == [2, 4, 6, 8, 10, 12]
    assert 'D(G(z))' in tags and tags['samples'] == [8]   # the grid of every 4th step, every 8th to TensorBoard


def test_generate_writes_grid_pngs_npy_interpolation_and_a_saved_model_plain_tensorflow_loads(tmp_path):
    run = tmp_path / 'run'
    train(FakeData(), run, z_dim=16)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    outputs = {'grid': tmp_path / 'grid.png', 'pngs': tmp_path / 'pngs', 'npy': tmp_path / 'samples.npy'}
    commands = [('generate', '--checkpoint', str(run), '--n', '9', '--out', str(out) + '/' * (kind == 'pngs'))
                for kind, out in outputs.items()]   # a folder is a path ending in / (or an existing folder)
    commands += [('generate', '--checkpoint', str(run), '--interpolate', '--rows', '2', '--steps', '5',
                  '--out', str(tmp_path / 'walk.png')),
                 ('export', '--checkpoint', str(run), '--out', str(tmp_path / 'model'))]
    for process in [dcgan(*command, env=env) for command in commands]:   # side by side: each only reads the run
        finish(process)
    assert Image.open(outputs['grid']).size == (3 * 28 * 2, 3 * 28 * 2)
    assert len(os.listdir(outputs['pngs'])) == 9 and Image.open(outputs['pngs'] / '000000.png').size == (28, 28)
    samples = np.load(outputs['npy'])
    assert samples.shape == (9, 28, 28, 1) and samples.dtype == np.float32 and np.abs(samples).max() <= 0.5
    assert Image.open(tmp_path / 'walk.png').size == (5 * 28 * 2, 2 * 28 * 2)
    plain = ('import json, sys, tensorflow as tf\n'
             'model = tf.saved_model.load(sys.argv[1])\n'
             'images = model.signatures["serving_default"](z=tf.zeros([3, 16]))["images"]\n'
             'print(json.dumps(list(images.shape)))')
    again = dcgan('export', '--checkpoint', str(run), '--out', str(tmp_path / 'model'), env=env)
    loaded = subprocess.run([sys.executable, '-c', plain, str(tmp_path / 'model')], capture_output=True,
                            text=True, env=env, timeout=KILL_TIMEOUT)
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == [3, 28, 28, 1], loaded.stderr
    output, _ = again.communicate(timeout=KILL_TIMEOUT)
    assert again.returncode != 0 and 'already exists' in output


def test_generate_without_checkpoint_says_what_to_pass(tmp_path):
    from dcgan import generate
    with pytest.raises(GenerateError, match='No usable checkpoint'):
        generate.load_generator(str(tmp_path))
