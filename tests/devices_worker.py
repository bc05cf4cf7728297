"""Trainings for tests/test_devices.py, each in a fresh process, so the CPU can be split into logical
devices before TensorFlow initialises its own.

    python tests/devices_worker.py DEVICES JOBS_JSON
        split the CPU into DEVICES logical devices (not in a TF_CONFIG cluster, where each CPU worker is one
        replica), then train each job of JOBS_JSON in order with the project's trainer and the notebook's
        model on FakeData. A job: {"run_dir": ..., "copy_from": a run folder to copy first (optional),
        "settings": {TrainConfig overrides}, "float16_optimizer": true to build the float16 loss-scaling
        optimizer of a GPU's mixed precision on this CPU (optional), "slow_checkpoint": seconds the
        chief's first checkpoint takes longer (optional)}. Prints 'LOSSES <run_dir> <json>'.

    python tests/devices_worker.py --cluster WORKERS JOBS_JSON
        run WORKERS processes of the above as a MultiWorkerMirroredStrategy cluster on 127.0.0.1 (TF_CONFIG),
        and print each one's output. TensorFlow's gRPC servers listen on every interface, so call this only
        inside a private network namespace (unshare --net): it brings that namespace's loopback up first.

    python tests/devices_worker.py --lose-worker JOBS_JSON
        the same with 2 workers, but kill worker 1 once the chief has saved a checkpoint; print the chief's
        output.

    python tests/devices_worker.py --alone JOBS_JSON [--ctrl-c-twice]
        start only the chief of a 2-worker cluster (worker 1 never comes); print its output. With
        --ctrl-c-twice, send it SIGINT twice once it says it waits for the other workers.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

SETTINGS = dict(epochs=1, batch_size=8, z_dim=16, g_filters=64, d_filters=16, seed=5, show_every=10 ** 6,
                print_every=10 ** 6, summary_every=10 ** 6, checkpoint_every=10 ** 6,   # a checkpoint at the end
                learning_rate=0.0002, mixed_precision=False)   # float32: the comparisons are of float32 sums
IMAGES = 48            # FakeData images: 6 batches of 8 an epoch
CLUSTER_TIMEOUT = 300  # seconds the workers of a cluster may take in all


def train(devices, jobs):
    """Train `jobs` in this process on `devices` devices."""
    from dcgan import distribute
    distribute.set_up(devices)
    from conftest import FakeData
    from dcgan import checkpoints, notebook, trainer, training
    from dcgan.config import TrainConfig
    for job in jobs:
        if job.get('copy_from'):
            shutil.copytree(job['copy_from'], job['run_dir'])
        if job.get('slow_checkpoint') and distribute.is_chief():
            slow_down_once(checkpoints, 'save', job['slow_checkpoint'])
        if job.get('float16_optimizer'):
            training.mixed_precision_kind = lambda mixed_precision: 'float16' if mixed_precision else None
        config = TrainConfig(**{**SETTINGS, **job['settings']})
        losses, _, _ = trainer.train(notebook.load(), config, FakeData(count=IMAGES), job['run_dir'])
        print('LOSSES', job['run_dir'], json.dumps([list(map(float, row)) for row in losses]), flush=True)


def slow_down_once(module, name, seconds):
    """Make the next call of module.name take `seconds` longer."""
    original = getattr(module, name)

    def slower(*args, **kwargs):
        setattr(module, name, original)
        time.sleep(seconds)
        return original(*args, **kwargs)
    setattr(module, name, slower)


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_cluster(workers, jobs, started=None):
    """Start `workers` processes (or only the first `started`) training `jobs` as one cluster on this
    namespace's loopback."""
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    for job in jobs:   # copied once for the cluster, not once a worker
        if job.get('copy_from'):
            shutil.copytree(job.pop('copy_from'), job['run_dir'])
    cluster = {'worker': [f'127.0.0.1:{free_port()}' for _ in range(workers)]}
    processes = []
    for index in range(workers if started is None else started):
        config = json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': index}})
        processes.append(subprocess.Popen([sys.executable, __file__, '1', json.dumps(jobs)],
                                          env=dict(os.environ, TF_CONFIG=config), stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    return processes


def saved_a_checkpoint(run_dir):
    """True once the run has a whole checkpoint folder (a save in progress is named .saving-*)."""
    folder = os.path.join(run_dir, 'checkpoints')
    return os.path.isdir(folder) and any(name.startswith('step-') for name in os.listdir(folder))


def lose_worker(jobs):
    """Train `jobs` on 2 workers, kill worker 1 after the chief's first checkpoint; print the chief's output."""
    chief, other = start_cluster(2, jobs)
    deadline = time.time() + CLUSTER_TIMEOUT
    while not saved_a_checkpoint(jobs[0]['run_dir']) and time.time() < deadline:
        time.sleep(0.2)
    other.kill()
    other.communicate()
    report_chief(chief)


def alone(jobs, ctrl_c_twice=False):
    """Start only the chief of a 2-worker cluster training `jobs`; print its output."""
    chief = start_cluster(2, jobs, started=1)[0]
    seen = ''
    if ctrl_c_twice:
        while 'Waiting for the other workers' not in seen and chief.poll() is None:
            seen += chief.stdout.readline()
        time.sleep(3)             # inside TensorFlow's wait by now, even on a busy machine
        for _ in range(2):
            chief.send_signal(signal.SIGINT)
            time.sleep(0.3)
    report_chief(chief, seen)


def report_chief(chief, seen=''):
    """Wait for the chief (killing it after CLUSTER_TIMEOUT); print its exit code and output (after
    `seen`, what was read of it already)."""
    try:
        output, _ = chief.communicate(timeout=CLUSTER_TIMEOUT)
    except subprocess.TimeoutExpired:
        chief.kill()
        output = chief.communicate()[0] + f'\n[the chief was killed after {CLUSTER_TIMEOUT} s]'
    print(f'=== the chief (exit {chief.returncode})\n{seen}{output}', flush=True)


def run_cluster(workers, jobs):
    """Train `jobs` on `workers` worker processes of one cluster; return 0 if all of them succeed."""
    processes = start_cluster(workers, jobs)
    failed = False
    for index, process in enumerate(processes):
        try:
            output, _ = process.communicate(timeout=CLUSTER_TIMEOUT)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            output, _ = process.communicate()
            output += f'\n[worker {index} killed after {CLUSTER_TIMEOUT} s]'
        failed = failed or process.returncode != 0
        print(f'=== worker {index} (exit {process.returncode})\n{output}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    if sys.argv[1] == '--cluster':
        sys.exit(run_cluster(int(sys.argv[2]), json.loads(sys.argv[3])))
    if sys.argv[1] == '--lose-worker':
        sys.exit(lose_worker(json.loads(sys.argv[2])))
    if sys.argv[1] == '--alone':
        sys.exit(alone(json.loads(sys.argv[2]), ctrl_c_twice='--ctrl-c-twice' in sys.argv))
    from dcgan.errors import EXIT_USER_ERROR, DcganError
    try:
        train(int(sys.argv[1]), json.loads(sys.argv[2]))
    except DcganError as error:   # as the command line ends
        print(f'error: {error}', file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
