"""Peak memory of `dcgan generate` against the number of samples: the batched command (memory flat in --n,
target under 1 GB for --n 20000) and, for contrast, sampling everything in one session call and writing it
from memory (what `generate` did before it was batched).

    .venv/bin/python -m benchmarks.generate_memory [--counts 1000 20000] [--outputs .npy .png / .gif]

A checkpoint of the default model (28x28 grey, as for MNIST) is made first by training it two steps on
random images (content does not change memory). Each measurement is a fresh `python -m dcgan generate`
process (or, for the contrast, a fresh process doing the old one-call sampling); its peak resident memory
(ru_maxrss of that child, from wait4) and wall time are printed as a Markdown table and saved to
benchmarks/results/generate_memory.json.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = (1000, 20000)
OUTPUTS = ('.npy', '.png', '/', '.gif')
TARGET_MB = 1024                       # `generate --n 20000` must stay below this
RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'generate_memory.json')
UNBATCHED = '''
import sys
from dcgan import generate
generator = generate.load_generator(sys.argv[1])
images = generator.sample(generate.latent(generator, int(sys.argv[2]), 0))   # one call for every sample
generate.write_samples(images, generate.image_mode(generator), sys.argv[3])
'''


def parse_args(argv=None):
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--counts', type=int, nargs='+', default=list(COUNTS), help='values of --n')
    parser.add_argument('--outputs', nargs='+', default=list(OUTPUTS), help='output suffixes (/ for a folder)')
    parser.add_argument('--no-contrast', action='store_true', help='skip the unbatched contrast')
    return parser.parse_args(argv)


class RandomImages:
    """Random grey images served like dcgan.data.dataset.Dataset, enough to make a checkpoint."""

    def __init__(self, count=256, size=None):
        from dcgan.config import IMAGE_SIZE
        size = size or IMAGE_SIZE
        self.images = np.random.default_rng(0).uniform(-0.5, 0.5, (count, size, size, 1)).astype(np.float32)
        self.shape, self.image_mode = self.images.shape, 'L'

    def get_batches(self, batch_size, epoch=0, start=0):
        for first in range(start * batch_size, len(self.images) - batch_size + 1, batch_size):
            yield self.images[first:first + batch_size]


def make_checkpoint(run_dir):
    """Train the default model two steps on random images into `run_dir` (in a child process)."""
    code = ('import sys; from benchmarks.generate_memory import RandomImages; from dcgan import notebook, trainer; '
            'from dcgan.config import TrainConfig; '
            'trainer.train(notebook.load(), TrainConfig(max_steps=2, show_every=10**6), RandomImages(), sys.argv[1])')
    subprocess.run([sys.executable, '-c', code, run_dir], cwd=ROOT, check=True, capture_output=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))


def measure(command):
    """(peak resident MB, seconds) of one child process running `command` to its end."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'{" ".join(command)} failed: {child.stderr.read().decode()[-2000:]}')
    child.stderr.close()
    return usage.ru_maxrss / 1024, seconds


def main(argv=None):
    args = parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        run_dir = os.path.join(work, 'run')
        make_checkpoint(run_dir)
        for suffix in args.outputs:
            for count in args.counts:
                out = os.path.join(work, f'out-{count}') + (suffix if suffix != '/' else '/')
                modes = ['batched'] + ([] if args.no_contrast or suffix == '.gif' else ['one call'])
                for mode in modes:
                    command = ([sys.executable, '-m', 'dcgan', 'generate', '--checkpoint', run_dir, '--n',
                                str(count), '--out', out] if mode == 'batched' else
                               [sys.executable, '-c', UNBATCHED, run_dir, str(count), out])
                    if os.path.exists(out.rstrip('/')):
                        subprocess.run(['rm', '-rf', out.rstrip('/')], check=True)
                    peak, seconds = measure(command)
                    rows.append(dict(output=suffix, n=count, mode=mode, peak_mb=round(peak, 1),
                                     seconds=round(seconds, 1)))
                    print(f'{suffix:5} n={count:6} {mode:8}: peak {peak:7.1f} MB, {seconds:5.1f} s', flush=True)
    print('\n| output | --n | sampling | peak RSS MB | seconds |\n| --- | --- | --- | --- | --- |')
    for r in rows:
        print(f'| `{r["output"]}` | {r["n"]} | {r["mode"]} | {r["peak_mb"]} | {r["seconds"]} |')
    worst = max((r['peak_mb'] for r in rows if r['mode'] == 'batched' and r['n'] >= 20000), default=None)
    if worst is not None:
        print(f'\nbatched --n 20000 (or more): worst peak {worst:.0f} MB; target under {TARGET_MB} MB: '
              f'{"met" if worst < TARGET_MB else "NOT met"}')
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as f:
        json.dump(dict(machine=dict(cpus=os.cpu_count(), processor=platform.processor() or platform.machine()),
                       model='default, 28x28x1', rows=rows), f, indent=1)
    print(f'saved {RESULTS}')


if __name__ == '__main__':
    main()
