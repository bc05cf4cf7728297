"""More than one device: the same training on 2 replicas (2 logical CPU devices, or 2 workers) as on one.

The trainings run in subprocesses (tests/devices_worker.py), where the CPU can be split into logical devices
before TensorFlow initialises; this process only compares their checkpoints.
"""
import ast
import json
import os
import shutil
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from dcgan import checkpoints, runs
from dcgan.config import DEFAULTS, TrainConfig
from dcgan.notebook import NOTEBOOK

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, 'devices_worker.py')
TIMEOUT = 600
BETA1 = DEFAULTS['beta1']
RTOL, ATOL = 1e-5, 1e-6   # the weights after one step, 2 replicas against 1 device
# The step's gradient (from Adam's first moment), per variable, in norm: Adam's steps hardly depend on the
# gradients' scale, so this is what shows that the replicas' gradients are averaged, not summed.
GRADIENT_RTOL = 1e-4
# Biases that feed a batch norm: it subtracts them again, so their gradient is zero in exact arithmetic and
# only rounding noise in float32; Adam divides that noise by its own size, so their steps are noise too
# (up to the learning rate), different on any change of summation order. Checked to be noise instead.
BIASES_BEFORE_BATCH_NORM = ('discriminator/conv2/b', 'discriminator/conv3/b', 'generator/deconv1/b')
NOISE = 1e-3              # their gradient is below this fraction of their layer's weight gradients


def run(*command, cwd=ROOT):
    """Run `command` in a fresh process without TensorFlow's start-up lines; return (exit code, output)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    return result.returncode, result.stdout + result.stderr


def train(devices, jobs):
    """Run tests/devices_worker.py on `devices` devices; return its output."""
    code, output = run(sys.executable, WORKER, str(devices), json.dumps(jobs), cwd=HERE)
    assert code == 0, output
    return output


def job(root, name, copy_from=None, **settings):
    return dict(run_dir=str(root / name), copy_from=copy_from and str(root / copy_from), settings=settings)


@pytest.fixture(scope='module')
def trainings(tmp_path_factory):
    """(folder, output) of the trainings compared below, all in one process with 2 logical CPU devices:
    3 steps on 1 device and on 2, each resumed for a 4th step on 1 device and on 2; then 2 devices to
    step 6 resumed (3 -> 4 -> 6) and in one go."""
    root = tmp_path_factory.mktemp('devices')
    jobs = [job(root, 'one', devices=1, max_steps=3),
            job(root, 'one-one', 'one', devices=1, max_steps=4),
            job(root, 'one-two', 'one', devices=2, max_steps=4),
            job(root, 'two', devices=2, max_steps=3),
            job(root, 'two-two', 'two', devices=2, max_steps=4),
            job(root, 'two-one', 'two', devices=1, max_steps=4),
            job(root, 'two-two', devices=2, max_steps=6),
            job(root, 'two-straight', devices=2, max_steps=6)]
    return root, train(2, jobs)


def checkpoint(run_dir, step):
    """The run's checkpoint folder of `step`."""
    return os.path.join(run_dir, checkpoints.CHECKPOINTS, f'{checkpoints.PREFIX}{step:08d}')


def at_step(run_dir, step):
    """{name: value} of the run's checkpoint at `step`."""
    return checkpoints.variables_of(checkpoint(run_dir, step))


def weights(variables):
    """The names of the networks' trainable variables (not Adam's slots, not batch-norm statistics)."""
    return sorted(n for n in variables if n.split('/')[0] in ('generator', 'discriminator')
                  and '/Adam' not in n and '/moving_' not in n)


def gradient(before, after, name):
    """The gradient of the step from `before` to `after`, from Adam's first moment m = b1 m + (1 - b1) g."""
    return (after[name + '/Adam'] - BETA1 * before[name + '/Adam']) / (1 - BETA1)


def assert_same_step(root, base, reference, other, step=4):
    """The step from run `base` to `reference` and to `other` moved the same way."""
    before = at_step(str(root / base), step - 1)
    expected, got = at_step(str(root / reference), step), at_step(str(root / other), step)
    assert expected.keys() == got.keys() and len(expected) > 70   # weights, statistics, Adam's state
    for name in weights(expected):
        if name in BIASES_BEFORE_BATCH_NORM:
            layer = name[:-len('b')] + 'w'
            for run in (expected, got):
                assert np.abs(gradient(before, run, name)).max() < NOISE * np.abs(gradient(before, run, layer)).max()
            continue
        np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, atol=ATOL, err_msg=name)
        wanted, found = gradient(before, expected, name), gradient(before, got, name)
        assert np.linalg.norm(found - wanted) <= GRADIENT_RTOL * np.linalg.norm(wanted), name
    for name in (n for n in expected if n.startswith('generator/') and '/moving_' in n):
        np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, atol=ATOL, err_msg=name)
    # the discriminator's moving statistics are left out: they are never used (it always normalises with
    # the batch's), and its real and fake passes update them in no fixed order, on one device too
    losses = [checkpoints.read_losses(checkpoint(str(root / name), step))[-1] for name in (reference, other)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=RTOL)


def test_one_step_on_two_devices_is_the_step_of_one_device_with_the_same_global_batch(trainings):
    root, output = trainings
    assert_same_step(root, 'one', 'one-one', 'one-two')
    assert 'devices: 1 -> 2 (safe to change)' in output
    assert 'Global batch 8 = 2 replicas x 4 images' in output


def test_a_run_trained_on_two_devices_resumes_on_one(trainings):
    root, output = trainings
    assert_same_step(root, 'two', 'two-two', 'two-one')
    assert 'devices: 2 -> 1 (safe to change)' in output
    state = checkpoints.read_state(checkpoint(str(root / 'two'), 3))
    assert state['config']['devices'] == 2


def test_a_two_device_run_checkpoints_and_resumes_exactly(trainings):
    root, _ = trainings
    resumed, straight = at_step(str(root / 'two-two'), 6), at_step(str(root / 'two-straight'), 6)
    assert resumed.keys() == straight.keys()
    for name in resumed:
        if not (name.startswith('discriminator/') and '/moving_' in name):   # see assert_same_step
            np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)
    np.testing.assert_array_equal(checkpoints.read_losses(checkpoint(str(root / 'two-two'), 6)),
                                  checkpoints.read_losses(checkpoint(str(root / 'two-straight'), 6)))


def test_a_fresh_run_on_two_devices_starts_from_the_weights_of_one(trainings):
    root, _ = trainings
    first = [checkpoints.read_losses(checkpoint(str(root / name), 3))[0] for name in ('one', 'two')]
    np.testing.assert_allclose(first[1], first[0], rtol=RTOL)


def test_batch_size_must_split_evenly_over_the_devices():
    assert TrainConfig(batch_size=32, devices=4).problems() == []
    problems = TrainConfig(batch_size=30, devices=4).problems()
    assert problems == ['batch_size (30) must be a multiple of devices (4): the global batch is split evenly, an '
                        'equal share per device (e.g. batch_size=28 or 32).']
    assert TrainConfig(devices=0).problems() == ['devices must be at least 1, got 0.']


def test_the_notebooks_devices_parameter_reaches_its_runs_and_sets_the_devices_up():
    cells = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == 'code']
    tree = ast.parse(next(source for source in cells if 'run_settings = dict(' in source))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    settings = next(c for c in calls if isinstance(c.func, ast.Name) and c.func.id == 'dict')
    assert any(k.arg == 'devices' and isinstance(k.value, ast.Name) and k.value.id == 'devices'
               for k in settings.keywords)
    describe = next(c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == 'describe_device')
    assert [a.id for a in describe.args if isinstance(a, ast.Name)][-1] == 'devices'


def test_the_command_line_trains_on_two_devices(tmp_path, mnist_gz):
    common = ['train', '--dataset', 'mnist', '--data', mnist_gz, '--data-dir', str(tmp_path / 'data'),
              '--run-dir', str(tmp_path / 'run'), '--batch-size', '8', '--max-steps', '2', '--z-dim', '16',
              '--metrics-samples', '8']
    code, output = run(sys.executable, '-m', 'dcgan', *common, '--devices', '3')
    assert code == 2 and 'batch_size (8) must be a multiple of devices (3)' in output and 'Traceback' not in output
    assert not (tmp_path / 'run').exists()
    code, output = run(sys.executable, '-m', 'dcgan', *common, '--devices', '2')
    assert code == 0, output
    assert 'Devices: 2 logical CPU devices' in output and 'Global batch 8 = 2 replicas x 4 images' in output
    state = checkpoints.read_state(checkpoints.latest(str(tmp_path / 'run')))
    assert state['step'] == 2 and state['config']['devices'] == 2


def test_splitting_the_cpu_after_tensorflow_set_up_its_devices_says_to_restart_the_kernel():
    script = '''
import tensorflow as tf
from dcgan import distribute
from dcgan.errors import DcganError
distribute.prepare(2)
print(len(tf.config.list_logical_devices('CPU')), 'devices')   # TensorFlow sets its devices up here
distribute.prepare(2)                                            # the same split again: fine
try:
    distribute.prepare(3)
except DcganError as error:
    print('REFUSED', error)
'''
    code, output = run(sys.executable, '-c', script)
    assert code == 0, output
    assert '2 devices' in output and 'REFUSED devices=3 needs the CPU split into 3 logical devices' in output
    assert 'restart the kernel' in output


def test_xla_and_both_mixed_precisions_train_on_two_devices(tmp_path, monkeypatch):
    """XLA (on the CPU through TF_XLA_FLAGS), mixed precision as this CPU has it (bfloat16 or none), and the
    float16 loss-scaling optimizer a GPU's mixed precision uses, each on 2 replicas."""
    monkeypatch.setenv('TF_XLA_FLAGS', '--tf_xla_cpu_global_jit')
    jobs = [job(tmp_path, 'xla', devices=2, max_steps=2, use_xla=True),
            job(tmp_path, 'mixed', devices=2, max_steps=2, mixed_precision=True),
            dict(job(tmp_path, 'float16', devices=2, max_steps=2, mixed_precision=True), float16_optimizer=True)]
    output = train(2, jobs)
    for name in ('xla', 'mixed', 'float16'):
        losses = checkpoints.read_losses(checkpoints.latest(str(tmp_path / name)))
        assert losses.shape == (2, 2) and np.isfinite(losses).all(), (name, output)
    float16 = checkpoints.variables_of(checkpoints.latest(str(tmp_path / 'float16')))
    assert any('loss_scale' in name.lower() or 'good_steps' in name for name in float16), sorted(float16)


@pytest.fixture
def private_network():
    """Skip unless worker processes can run in a private network namespace: TensorFlow's gRPC servers listen
    on every interface, so the workers of these tests must not run on the machine's own network."""
    if not (shutil.which('unshare') and shutil.which('ip')):
        pytest.skip('multi-worker tests need unshare and ip (util-linux, iproute2) for a private network')
    result = subprocess.run(['unshare', '--net', 'ip', 'link', 'set', 'lo', 'up'], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f'multi-worker tests need a private network namespace: unshare --net is not permitted here '
                    f'({result.stderr.strip()})')


WATCHDOG_SCRIPT = """
import sys, time
from dcgan.distribute import Watchdog
log = open(sys.argv[1], 'w')
note = lambda line: (log.write(line + '\\n'), log.flush())
def broken():
    raise OSError('a cleanup that fails')
with Watchdog(1.5, lambda: 'the others are silent', [broken, lambda: note('cleaned up')]) as dog:
    with dog.paused():
        time.sleep(3.5)           # more than two timeouts of its own work: never cut short
    note('own work done')
    for _ in range(8):            # steps that finish in time
        time.sleep(0.4)
        dog.beat()
    note('steps done')
    dog.beat(hold=True)           # the chief saves and scores now: a longer wait is no silence
    time.sleep(3.5)
    note('held')
    dog.beat()
    time.sleep(10)                # a wait without end
    note('never')
"""


def test_the_watchdog_ends_a_silent_wait_but_never_a_workers_own_work(tmp_path):
    log = tmp_path / 'log.txt'
    code, output = run(sys.executable, '-c', WATCHDOG_SCRIPT, str(log))
    assert code == 2, output
    assert output.strip().endswith('error: the others are silent'), output
    assert log.read_text() == 'own work done\nsteps done\nheld\ncleaned up\n'   # past a cleanup that fails


def test_two_workers_train_the_step_of_one_device(trainings, private_network):
    """MultiWorkerMirroredStrategy with TF_CONFIG: two worker processes on 127.0.0.1, one CPU replica each,
    resume the 1-device run at step 3 for a 4th step: the same step as on one device."""
    root, _ = trainings
    jobs = [job(root, 'workers', 'one', devices=1, max_steps=4)]
    code, output = run('unshare', '--net', sys.executable, WORKER, '--cluster', '2', json.dumps(jobs), cwd=HERE)
    assert code == 0, output
    assert 'Devices: 2 workers' in output and 'Global batch 8 = 2 replicas x 4 images' in output
    history = {name: runs.read_run_config(str(root / name))['history'] for name in ('one', 'workers')}
    assert len(history['workers']) == len(history['one']) + 1   # the chief records the resume, the other not
    assert_same_step(root, 'one', 'one-one', 'workers')


def test_a_worker_that_is_lost_stops_the_others_with_where_to_resume(tmp_path, private_network):
    """The chief stops at its next all-reduce, naming the lost worker; or, when the worker was lost where
    TensorFlow's collectives wait without a limit, after worker_timeout s. Either way it says where to resume."""
    jobs = [job(tmp_path, 'run', devices=1, epochs=1000, checkpoint_every=2, worker_timeout=20)]   # far more steps than it lives
    code, output = run('unshare', '--net', sys.executable, WORKER, '--lose-worker', json.dumps(jobs), cwd=HERE)
    assert code == 0, output
    assert '=== the chief (exit 2)' in output and 'error: Training stopped after step' in output, output
    assert 'The newest checkpoint is kept' in output, output
    assert ('worker 1 of this multi-worker run cannot be reached' in output
            or 'gave no answer for worker_timeout=20 s' in output), output
    assert checkpoints.latest(str(tmp_path / 'run')) is not None


def test_a_worker_that_never_joins_stops_the_chief_after_worker_timeout_and_leaves_no_run_folder(
        tmp_path, private_network):
    """Worker 1 never starts: the chief waits worker_timeout seconds in the broadcast of its initial values
    (a wait TensorFlow puts no limit on), then exits 2 with what to do, leaving nothing behind."""
    jobs = [job(tmp_path, 'run', devices=1, max_steps=4, worker_timeout=3)]
    code, output = run('unshare', '--net', sys.executable, WORKER, '--alone', json.dumps(jobs), cwd=HERE)
    assert code == 0, output
    assert '=== the chief (exit 2)' in output, output
    assert 'Waiting for the other workers to join (worker_timeout=3 s).' in output, output
    assert 'error: Training could not start: the other workers of this multi-worker run did not all join within ' \
           'worker_timeout=3 s' in output, output
    assert 'Traceback' not in output, output
    assert not (tmp_path / 'run').exists()   # the folder its lock made is gone again



def test_the_other_workers_wait_for_the_chiefs_checkpoint_past_worker_timeout(tmp_path, private_network):
    """The chief's checkpoint after step 2 takes 10 s longer than worker_timeout=6 s allows a silent step
    (6 s: the workers' start-up may differ by a few seconds): worker 1 waits for it all the same, and
    both finish."""
    jobs = [dict(job(tmp_path, 'run', devices=1, max_steps=3, checkpoint_every=2, worker_timeout=6),
                 slow_checkpoint=10)]
    code, output = run('unshare', '--net', sys.executable, WORKER, '--cluster', '2', json.dumps(jobs), cwd=HERE)
    assert code == 0, output
    assert checkpoints.read_state(checkpoints.latest(str(tmp_path / 'run')))['step'] == 3


def test_ctrl_c_twice_stops_a_worker_waiting_for_the_others_at_once(tmp_path, private_network):
    """Ctrl-C cannot reach a worker inside TensorFlow's wait for the others; a second one still stops it."""
    jobs = [job(tmp_path, 'run', devices=1, max_steps=4)]   # worker_timeout: the default 600 s
    code, output = run('unshare', '--net', sys.executable, WORKER, '--alone', json.dumps(jobs), '--ctrl-c-twice',
                       cwd=HERE)
    assert code == 0, output
    assert '=== the chief (exit 130)' in output, output
    assert 'Ctrl-C again, and this worker did not stop within 1 s: it waits inside TensorFlow' in output, output
    assert 'Start every worker again with the same command to go on.' in output and 'Traceback' not in output
    assert not (tmp_path / 'run').exists()

def test_the_scaling_benchmark_compares_each_row_with_one_device_and_with_the_same_work():
    from benchmarks import scaling
    args = scaling.parse_args(['--devices', '1', '2', '4', '--per-device-batch', '8'])
    assert scaling.runs(args) == [(1, 8), (2, 16), (4, 32), (1, 16), (1, 32)]
    rates = {(1, 8): 100.0, (2, 16): 150.0, (4, 32): 200.0, (1, 16): 160.0, (1, 32): 250.0}
    results = {pair: dict(images_per_second=rate, images_per_cpu_second=rate / 2, devices=pair[0],
                          global_batch=pair[1], per_device_batch=pair[1] // pair[0], round_rates=[rate])
               for pair, rate in rates.items()}
    assert scaling.scaling(results, args) == [(1, 8), (2, 16), (4, 32)]
    assert [results[p]['speed_up'] for p in ((1, 8), (2, 16), (4, 32))] == [1.0, 1.5, 2.0]
    assert [results[p]['efficiency'] for p in ((1, 8), (2, 16), (4, 32))] == [1.0, 0.75, 0.5]
    assert [results[p]['images_per_second_vs_one_device'] for p in ((2, 16), (4, 32))] == [150 / 160, 200 / 250]
    row = '| 4 | 32 | 8 | 200 | 200 | 2.00x | 50 % | 0.80x | 100 | 0.80x |'
    assert row in scaling.table(results, [(1, 8), (2, 16), (4, 32)])
    fixed = scaling.parse_args(['--devices', '1', '2', '--global-batch', '64'])
    assert scaling.runs(fixed) == [(1, 64), (2, 64)]


def test_the_scaling_benchmark_times_two_devices():
    code, output = run(sys.executable, '-m', 'benchmarks.scaling', '--only', '2', '--global-batch', '4',
                       '--windows', '1', '--steps-per-window', '2', '--warmup', '1')
    assert code == 0, output
    row = json.loads([line for line in output.splitlines() if line.startswith('RESULT ')][-1][7:])
    assert (row['devices'], row['global_batch'], row['per_device_batch']) == (2, 4, 2) and row['images_per_second'] > 0
