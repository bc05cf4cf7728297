"""Sample quality for a fixed training budget on the real shared data: the default model vs the classic
course model (no label smoothing, ReLU generator, uniform z, 5x5 kernels, 7x7x512 projection).

    .venv/bin/python -m benchmarks.quality [--mnist-steps 600] [--celeba-steps 300] [--seed 1]

Trains each model with the notebook's own train() for the same number of batches and seed, then scores
2,000 samples against 2,000 real images (SWD for both data sets; for MNIST also the digit-classifier FD,
KID and class coverage), next to the same numbers for 2,000 other real images. Prints a Markdown table.
Skips with a message when ../shared/datasets is absent.
"""
import argparse
import os
import tempfile
import time

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import config, metrics, notebook
from dcgan.data.archives import read_idx_labels
from dcgan.data.dataset import Dataset
from dcgan.data.images import to_float
from dcgan.data.sources import download_extract
from dcgan.hooks import Hooks
from dcgan.metrics.classifier import mnist_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, '..', 'shared', 'datasets')
MNIST_IMAGES = os.path.join(SHARED, 'mnist', 't10k-images-idx3-ubyte.gz')
CELEBA_ZIP = os.path.join(SHARED, 'celeba', 'img_align_celeba_halfsize_10000.zip')
SCORED = 2000


def headless():
    """Matplotlib without a screen, for the benchmarks run as scripts (not on import: tests that import
    them start notebook kernels, which need their own backend)."""
    os.environ.setdefault('MPLBACKEND', 'Agg')


def shared_mnist_missing():
    """True, saying so, when the shared MNIST digits the MNIST benchmarks train on are not there."""
    if os.path.exists(MNIST_IMAGES):
        return False
    print(f'skipped: {os.path.abspath(MNIST_IMAGES)} is not there')
    return True


def load(name, source, work, image_size=config.IMAGE_SIZE):
    """The shared data set `name` as a Dataset of image_size x image_size images."""
    files = download_extract(name, os.path.join(work, 'data'), source=source)
    return Dataset(name, files, image_size=image_size, seed=1, cache_dir=os.path.join(work, 'cache'))


def digit_classifier(dataset, work):
    """The project's digit classifier, trained on the shared labelled digits (cached under `work`)."""
    labels = read_idx_labels(MNIST_IMAGES.replace('images-idx3', 'labels-idx1'))
    return mnist_classifier(to_float(dataset.images), labels, cache_dir=os.path.join(work, 'cache'))


def reference_sets(dataset, seed):
    """Two disjoint random sets of SCORED real images: the reference, and real images to score."""
    picks = np.random.default_rng(seed).permutation(len(dataset.images))
    return [to_float(dataset.images[np.sort(picks[i * SCORED:(i + 1) * SCORED])]) for i in (0, 1)]


def quiet(run_config, **changes):
    """The configuration with printing, grids and scheduled checks switched off (only the end is scored)."""
    never = 10 ** 9
    return run_config.replace(print_every=never, show_every=never, summary_every=never, metrics_every=never,
                              checkpoint_every=never, **changes)


def train_with(run_config, dataset, get_batches=None, **hooks_options):
    """Train the notebook's model with `run_config` through its hooks; return (losses, samples)."""
    c = run_config
    with tf.Graph().as_default():
        return notebook.load().train(c.epochs, c.batch_size, c.z_dim, c.learning_rate, c.beta1,
                                     get_batches or dataset.get_batches, dataset.shape, dataset.image_mode,
                                     hooks=Hooks(c, show=False, **hooks_options))


def train_and_score(preset, dataset, steps, quality, seed):
    """Train `preset` for `steps` batches; return (seconds, scores of its final samples)."""
    run_config = quiet(config.preset(preset, dataset=dataset.name, seed=seed), epochs=100, max_steps=steps,
                       metrics_samples=SCORED)
    start = time.perf_counter()
    train_with(run_config, dataset, quality=quality)
    return time.perf_counter() - start, quality.history[-1]


def row(cells):
    return '| ' + ' | '.join(cells) + ' |'


def format_row(data_set, model, steps, seconds, scores):
    digits = ['{:.2f}'.format(scores['classifier_fd']), '{:.4f}'.format(scores['classifier_kid']),
              '{:.3f}'.format(scores['class_entropy']), '{:.0f}'.format(scores['classes_covered'])] \
        if 'classifier_fd' in scores else ['-'] * 4
    return row([data_set, model, steps, seconds, '{:.1f}'.format(scores['swd'])] + digits)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mnist-steps', type=int, default=600)
    parser.add_argument('--celeba-steps', type=int, default=300)
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    if not (os.path.exists(MNIST_IMAGES) and os.path.exists(CELEBA_ZIP)):
        print(f'skipped: the shared data is not in {os.path.abspath(SHARED)}')
        return
    lines = [row(['data set', 'model', 'batches', 'wall time', 'SWD x1e3', 'digit FD', 'digit KID',
                  'class entropy', 'classes']), row(['---'] * 9)]
    with tempfile.TemporaryDirectory() as work:
        for name, source, steps in (('mnist', MNIST_IMAGES, args.mnist_steps),
                                    ('celeba', CELEBA_ZIP, args.celeba_steps)):
            dataset = load(name, source, work)
            reference, other_real = reference_sets(dataset, args.seed)
            classifier = None
            if name == 'mnist':
                classifier = digit_classifier(dataset, work)
            floor = metrics.QualityLog(reference, classifier, args.seed).score(other_real)
            lines.append(format_row(name, 'real images', '-', '-', floor))
            for preset in ('default', 'classic'):
                quality = metrics.QualityLog(reference, classifier, args.seed)
                seconds, scores = train_and_score(preset, dataset, steps, quality, args.seed)
                lines.append(format_row(name, preset, str(steps), '{:.0f} s'.format(seconds), scores))
                print(lines[-1], flush=True)
    print(f'\nBatch size {config.TrainConfig().batch_size}, seed {args.seed}, {SCORED} samples scored against {SCORED} real images '
          f'(lower is better; "real images" = {SCORED} other real images):\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    headless()
    main()
