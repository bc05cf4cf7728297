"""Time to quality on 2 cores: sample quality on the shared MNIST digits after 1, 2, 5 and 10 minutes of
training, for the default model and the classic course model.

    .venv/bin/python benchmarks/time_to_quality.py [--minutes 1 2 5 10] [--out /tmp/time_to_quality]
                                                   [--models default classic] [--mixed-precision]

Each model trains with the notebook's own train(); a timer around get_batches ends the data stream when
the training time reaches the next mark, the quality of 2,000 samples is scored (SWD and the digit
classifier's FD, KID and class coverage, against 2,000 real digits), and training resumes exactly from
the checkpoint up to the next mark. Only the time spent inside training steps counts (graph building,
restoring and scoring do not). The 8x8 grid of each mark is saved to --out. Prints a Markdown table.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('MPLBACKEND', 'Agg')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow.compat.v1 as tf  # noqa: E402

import helper  # noqa: E402
from benchmarks.quality import (BATCH_SIZE, BETA1, LEARNING_RATE, MNIST_IMAGES, SCORED, Z_DIM,  # noqa: E402
                                format_row, load, reference_sets, row)
from dcgan import metrics  # noqa: E402
from dcgan.notebook import load_notebook_functions  # noqa: E402
from dcgan.presets import with_preset  # noqa: E402

EPOCHS = 10 ** 6     # the timer, not the epochs, ends training


class TimedBatches:
    """Serves a Dataset's batches until `budget` seconds of training have passed (time between the
    first batch and now, only while batches are being consumed)."""

    def __init__(self, dataset, budget):
        self.dataset, self.budget, self.spent, self.resumed = dataset, budget, 0.0, None

    def time_up(self):
        return self.spent + (time.perf_counter() - self.resumed if self.resumed else 0) >= self.budget

    def get_batches(self, batch_size, epoch=None, start=0):
        """helper.Dataset.get_batches, ending when the budget is spent."""
        if self.time_up():
            return
        for batch in self.dataset.get_batches(batch_size, epoch=epoch, start=start):
            if self.resumed is None:
                self.resumed = time.perf_counter()
            if self.time_up():
                self.pause()   # what follows (final checkpoint, scoring) is not training time
                return
            yield batch

    def pause(self):
        """Stop the clock (between training calls)."""
        if self.resumed is not None:
            self.spent += time.perf_counter() - self.resumed
            self.resumed = None


def label(preset, mixed_precision):
    """The model column: the preset, and the mixed precision if on."""
    return preset + (' + mixed precision' if mixed_precision else '')


def run_model(notebook, preset, dataset, quality, marks, run_dir, out, seed, mixed_precision=False):
    """Train `preset` up to each time mark in turn; return [(minutes, steps, scores)]."""
    namespace, z_distribution = with_preset(notebook, preset)
    timer, results = TimedBatches(dataset, 0), []
    for minutes in marks:
        timer.budget = minutes * 60
        with tf.Graph().as_default():
            losses, samples = namespace['train'](
                EPOCHS, BATCH_SIZE, Z_DIM, LEARNING_RATE, BETA1, timer.get_batches, dataset.shape,
                dataset.image_mode, print_every=10 ** 9, show_every=10 ** 9, z_distribution=z_distribution,
                seed=seed, run_dir=run_dir, checkpoint_every=10 ** 9, summary_every=10 ** 9, quality=quality,
                metrics_every=10 ** 9, metrics_samples=SCORED, mixed_precision=mixed_precision)
        timer.pause()
        suffix = '_mixed_precision' if mixed_precision else ''
        helper.save_grid(samples, 'L', os.path.join(out, f'{preset}{suffix}_{minutes:g}min.png'))
        results.append((minutes, len(losses), quality.history[-1]))
        print(format_row('MNIST', label(preset, mixed_precision), str(len(losses)), f'{minutes:g} min',
                         quality.history[-1]), flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, nargs='+', default=[1, 2, 5, 10])
    parser.add_argument('--out', default=os.path.join(tempfile.gettempdir(), 'time_to_quality'))
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--models', nargs='+', default=['default', 'classic'])
    parser.add_argument('--mixed-precision', action='store_true',
                        help='train with mixed precision (bfloat16 on a CPU that has it)')
    args = parser.parse_args()
    if not os.path.exists(MNIST_IMAGES):
        print(f'skipped: {os.path.abspath(MNIST_IMAGES)} is not there')
        return
    os.makedirs(args.out, exist_ok=True)
    notebook = load_notebook_functions()
    notebook['helper'].show_images = lambda *a, **k: None
    lines = [row(['data set', 'model', 'batches', 'training time', 'SWD x1e3', 'digit FD', 'digit KID',
                  'class entropy', 'classes']), row(['---'] * 9)]
    with tempfile.TemporaryDirectory() as work:
        dataset = load('mnist', MNIST_IMAGES, work)
        reference, other_real = reference_sets(dataset, args.seed)
        labels = helper.read_idx_labels(MNIST_IMAGES.replace('images-idx3', 'labels-idx1'))
        classifier = metrics.mnist_classifier(helper.to_float(dataset.images), labels,
                                              cache_dir=os.path.join(work, 'cache'))
        lines.append(format_row('MNIST', 'real images', '-', '-',
                                metrics.QualityLog(reference, classifier, args.seed).score(other_real)))
        for preset in args.models:
            quality = metrics.QualityLog(reference, classifier, args.seed)
            for minutes, steps, scores in run_model(notebook, preset, dataset, quality, sorted(args.minutes),
                                                    os.path.join(work, 'runs', preset), args.out, args.seed,
                                                    args.mixed_precision):
                lines.append(format_row('MNIST', label(preset, args.mixed_precision), str(steps), f'{minutes:g} min',
                                        scores))
    print(f'\nBatch size {BATCH_SIZE}, seed {args.seed}, {os.cpu_count()} cores; grids in {args.out}\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
