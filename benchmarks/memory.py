"""Training memory against data set size: peak resident memory of a training process whose data set has
10,000, 70,000 or 280,000 images, with the project's streamed batches and, for contrast, with batches
sliced from the memory-mapped cache and with the whole data set held in memory as float32 (what a simple
loader does).

    .venv/bin/python -m benchmarks.memory [--sizes 10000 70000 280000] [--steps 30]

Each data set is synthetic 28x28 grey images (content does not change memory) written as an MNIST IDX
file and cached once by dcgan.data.dataset.Dataset (in a separate process: building a cache is not training). Each
measured process, fresh per size and loader, then reads one full epoch of batches (every image of the data
set once, as an epoch of training does) and runs the notebook's train() for --steps batches on the same
data set. Prints a Markdown table: peak resident memory (VmHWM), its anonymous part at the end (RssAnon:
the process's own memory) and the file-backed part (RssFile: pages of memory-mapped files), per size.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SIZES = (10_000, 70_000, 280_000)   # MNIST's test set, Fashion-MNIST, 4x Fashion-MNIST
STEPS = 30
BATCH_SIZE = 64
LOADERS = {
    'streamed': 'project: uint8 cache file, batches read with pread',
    'mapped': 'contrast: the same cache memory-mapped, batches sliced from the map',
    'in-memory': 'contrast: whole data set loaded as one float32 array',
}
RESULT = 'RESULT '


def parse_args(argv=None):
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=list(SIZES))
    parser.add_argument('--steps', type=int, default=STEPS, help='training batches after the full epoch')
    parser.add_argument('--only', nargs=3, metavar=('LOADER', 'IDX_FILE', 'CACHE_DIR'), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_idx(path, count, seed=0):
    """An MNIST-format IDX image file of `count` random 28x28 images, written in chunks."""
    rng = np.random.default_rng(seed)
    with open(path, 'wb') as f:
        f.write(np.array([0x00000803, count, 28, 28], '>u4').tobytes())
        for first in range(0, count, 10_000):
            f.write(rng.integers(0, 256, (min(10_000, count - first), 28, 28), np.uint8).tobytes())


def memory_mb(path='/proc/self/status'):
    """{VmHWM, VmRSS, RssAnon, RssFile} of this process in MB, from /proc/self/status."""
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('VmHWM', 'VmRSS', 'RssAnon', 'RssFile'):
                values[key] = int(value.split()[0]) / 1024
    return values


class Sliced:
    """A contrast loader: shuffled float32 batches sliced from `images` (the memory map itself, or the whole
    data set loaded into memory as float32)."""

    def __init__(self, images):
        self.images = images

    def get_batches(self, batch_size):
        """One epoch of shuffled float32 batches."""
        from dcgan.data.images import to_float
        order = np.random.default_rng(0).permutation(len(self.images))
        for first in range(0, len(order) - batch_size + 1, batch_size):
            yield to_float(self.images[np.sort(order[first:first + batch_size])])


def measure(loader, idx_file, cache_dir, steps):
    """Read one epoch, then train `steps` batches; return this process's memory figures."""

    from benchmarks.quality import quiet, train_with
    from dcgan.config import TrainConfig
    from dcgan.data.dataset import Dataset
    from dcgan.data.images import to_float
    dataset = Dataset('mnist', [idx_file], cache_dir=cache_dir)
    data = {'streamed': lambda: dataset, 'mapped': lambda: Sliced(dataset.images),
            'in-memory': lambda: Sliced(to_float(np.asarray(dataset.images)))}[loader]()
    start = time.perf_counter()
    batches = sum(1 for _ in data.get_batches(BATCH_SIZE))
    epoch_seconds = time.perf_counter() - start
    train_with(quiet(TrainConfig(batch_size=BATCH_SIZE), epochs=1, max_steps=steps), dataset, data.get_batches)
    return dict(memory_mb(), batches=batches, epoch_seconds=epoch_seconds)


def run_subprocess(loader, idx_file, cache_dir, steps):
    """The memory figures of one measured process (its stderr is shown only when it fails)."""
    command = [sys.executable, '-m', 'benchmarks.memory', '--only', loader, idx_file, cache_dir,
               '--steps', str(steps)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', MPLBACKEND='Agg')
    process = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT)]
    if process.returncode or not lines:
        sys.exit(process.stdout + process.stderr + f'\nthe {loader} run failed (exit code {process.returncode})')
    return json.loads(lines[-1][len(RESULT):])


def build_cache(idx_file, cache_dir):
    """Build the data set's cache in its own process, so no measured process pays for building it."""
    code = f'from dcgan.data.dataset import Dataset; Dataset("mnist", [{idx_file!r}], cache_dir={cache_dir!r})'
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT, capture_output=True)


def main():
    args = parse_args()
    if args.only:
        print(RESULT + json.dumps(measure(*args.only, args.steps)), flush=True)
        return
    lines = ['| loader | images | uint8 cache MB | peak RSS MB | RssAnon MB | RssFile MB | epoch read s |',
             '|---|---:|---:|---:|---:|---:|---:|']
    peaks = {loader: [] for loader in LOADERS}
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes:
            idx_file, cache_dir = os.path.join(work, f'images-{size}-idx3-ubyte'), os.path.join(work, 'cache')
            write_idx(idx_file, size)
            build_cache(idx_file, cache_dir)
            for loader in LOADERS:
                print(f'measuring: {size:,} images, {loader} ...', file=sys.stderr, flush=True)
                r = run_subprocess(loader, idx_file, cache_dir, args.steps)
                peaks[loader].append(r['VmHWM'])
                lines.append(f"| {loader} | {size:,} | {size * 28 * 28 / 2 ** 20:,.1f} | {r['VmHWM']:,.0f} | "
                             f"{r['RssAnon']:,.0f} | {r['RssFile']:,.0f} | {r['epoch_seconds']:.2f} |")
            os.remove(idx_file)
    print(f'\nPeak resident memory of a training process (one full epoch read, then {args.steps} training '
          f'batches of {BATCH_SIZE}), per data set size; each row a fresh process.\n')
    print('\n'.join(lines) + '\n')
    for loader, description in LOADERS.items():
        growth = peaks[loader][-1] - peaks[loader][0]
        print(f'{loader} ({description}): peak RSS grows by {growth:,.0f} MB from {args.sizes[0]:,} to '
              f'{args.sizes[-1]:,} images')


if __name__ == '__main__':
    main()
