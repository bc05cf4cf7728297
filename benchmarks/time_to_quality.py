"""Time to quality on 2 cores: sample quality on the shared MNIST digits after 1, 2, 5 and 10 minutes of
training, for the default model and the classic course model.

    .venv/bin/python -m benchmarks.time_to_quality [--minutes 1 2 5 10] [--out /tmp/time_to_quality]
                                                   [--models default classic] [--mixed-precision]

Each model trains with the notebook's own train(); a timer around get_batches ends the data stream when
the training time reaches the next mark, the quality of 2,000 samples is scored (SWD and the digit
classifier's FD, KID and class coverage, against 2,000 real digits), and training resumes exactly from
the checkpoint up to the next mark. Only the time spent inside training steps counts (graph building,
restoring and scoring do not). The 8x8 grid of each mark is saved to --out. Prints a Markdown table.
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault('MPLBACKEND', 'Agg')

from benchmarks.quality import MNIST_IMAGES, SCORED, format_row, load, quiet, reference_sets, row  # noqa: E402
from dcgan import config, metrics, notebook, pictures, trainer  # noqa: E402
from dcgan.data.archives import read_idx_labels  # noqa: E402
from dcgan.data.images import to_float  # noqa: E402
from dcgan.metrics.classifier import mnist_classifier  # noqa: E402

EPOCHS = 10 ** 6     # the timer, not the epochs, ends training


class TimedBatches:
    """Serves a Dataset's batches until `budget` seconds of training have passed (time between the
    first batch and now, only while batches are being consumed)."""

    def __init__(self, dataset, budget):
        self.dataset, self.budget, self.spent, self.resumed = dataset, budget, 0.0, None
        self.images, self.shape, self.image_mode = dataset.images, dataset.shape, dataset.image_mode

    def time_up(self):
        return self.spent + (time.perf_counter() - self.resumed if self.resumed else 0) >= self.budget

    def get_batches(self, batch_size, epoch=None, start=0):
        """Dataset.get_batches, ending when the budget is spent."""
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


def run_model(preset, dataset, quality, marks, run_dir, out, seed, mixed_precision=False):
    """Train `preset` up to each time mark in turn, resuming its run exactly; return [(minutes, steps, scores)]."""
    run_config = quiet(config.preset(preset, seed=seed, mixed_precision=mixed_precision), epochs=EPOCHS,
                       metrics_samples=SCORED)
    timer, results = TimedBatches(dataset, 0), []
    for minutes in marks:
        timer.budget = minutes * 60
        losses, samples, _ = trainer.train(notebook.load(), run_config, timer, run_dir, quality=quality)
        timer.pause()
        suffix = '_mixed_precision' if mixed_precision else ''
        pictures.save_grid(samples, 'L', os.path.join(out, f'{preset}{suffix}_{minutes:g}min.png'))
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
    lines = [row(['data set', 'model', 'batches', 'training time', 'SWD x1e3', 'digit FD', 'digit KID',
                  'class entropy', 'classes']), row(['---'] * 9)]
    with tempfile.TemporaryDirectory() as work:
        dataset = load('mnist', MNIST_IMAGES, work)
        reference, other_real = reference_sets(dataset, args.seed)
        labels = read_idx_labels(MNIST_IMAGES.replace('images-idx3', 'labels-idx1'))
        classifier = mnist_classifier(to_float(dataset.images), labels,
                                              cache_dir=os.path.join(work, 'cache'))
        lines.append(format_row('MNIST', 'real images', '-', '-',
                                metrics.QualityLog(reference, classifier, args.seed).score(other_real)))
        for preset in args.models:
            quality = metrics.QualityLog(reference, classifier, args.seed)
            for minutes, steps, scores in run_model(preset, dataset, quality, sorted(args.minutes),
                                                    os.path.join(work, 'runs', preset), args.out, args.seed,
                                                    args.mixed_precision):
                lines.append(format_row('MNIST', label(preset, args.mixed_precision), str(steps), f'{minutes:g} min',
                                        scores))
    print(f'\nBatch size {config.TrainConfig().batch_size}, seed {args.seed}, {os.cpu_count()} cores; grids in {args.out}\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
