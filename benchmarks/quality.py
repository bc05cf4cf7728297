"""Sample quality for a fixed training budget on the real shared data: the default model vs the classic
course model (no label smoothing, ReLU generator, uniform z, 5x5 kernels, 7x7x512 projection).

    .venv/bin/python benchmarks/quality.py [--mnist-steps 600] [--celeba-steps 300] [--seed 1]

Trains each model with the notebook's own train() for the same number of batches and seed, then scores
2,000 samples against 2,000 real images (SWD for both data sets; for MNIST also the digit-classifier FD,
KID and class coverage), next to the same numbers for 2,000 other real images. Prints a Markdown table.
Skips with a message when ../shared/datasets is absent.
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

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

import helper  # noqa: E402
from dcgan import metrics  # noqa: E402
from dcgan.notebook import load_notebook_functions  # noqa: E402
from dcgan.presets import with_preset  # noqa: E402

SHARED = os.path.join(ROOT, '..', 'shared', 'datasets')
MNIST_IMAGES = os.path.join(SHARED, 'mnist', 't10k-images-idx3-ubyte.gz')
CELEBA_ZIP = os.path.join(SHARED, 'celeba', 'img_align_celeba_halfsize_10000.zip')
BATCH_SIZE, Z_DIM, LEARNING_RATE, BETA1 = 32, 100, 0.0002, 0.5
SCORED = 2000


def load(name, source, work):
    """The shared data set `name` as a helper.Dataset."""
    files = helper.download_extract(name, os.path.join(work, 'data'), source=source)
    return helper.Dataset(name, files, seed=1, cache_dir=os.path.join(work, 'cache'))


def reference_sets(dataset, seed):
    """Two disjoint random sets of SCORED real images: the reference, and real images to score."""
    picks = np.random.default_rng(seed).permutation(len(dataset.images))
    return [helper.to_float(dataset.images[np.sort(picks[i * SCORED:(i + 1) * SCORED])]) for i in (0, 1)]


def train_and_score(notebook, preset, dataset, steps, quality, seed):
    """Train `preset` for `steps` batches; return (seconds, scores of its final samples)."""
    namespace, z_distribution = with_preset(notebook, preset)
    start = time.perf_counter()
    with tf.Graph().as_default():
        namespace['train'](100, BATCH_SIZE, Z_DIM, LEARNING_RATE, BETA1, dataset.get_batches, dataset.shape,
                           dataset.image_mode, print_every=10 ** 9, show_every=10 ** 9, max_steps=steps,
                           z_distribution=z_distribution, seed=seed, quality=quality, metrics_every=10 ** 9,
                           metrics_samples=SCORED)
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
    notebook = load_notebook_functions()
    notebook['helper'].show_images = lambda *a, **k: None
    lines = [row(['data set', 'model', 'batches', 'wall time', 'SWD x1e3', 'digit FD', 'digit KID',
                  'class entropy', 'classes']), row(['---'] * 9)]
    with tempfile.TemporaryDirectory() as work:
        for name, source, steps in (('mnist', MNIST_IMAGES, args.mnist_steps),
                                    ('celeba', CELEBA_ZIP, args.celeba_steps)):
            dataset = load(name, source, work)
            reference, other_real = reference_sets(dataset, args.seed)
            classifier = None
            if name == 'mnist':
                labels = helper.read_idx_labels(MNIST_IMAGES.replace('images-idx3', 'labels-idx1'))
                classifier = metrics.mnist_classifier(helper.to_float(dataset.images), labels,
                                                      cache_dir=os.path.join(work, 'cache'))
            floor = metrics.QualityLog(reference, classifier, args.seed).score(other_real)
            lines.append(format_row(name, 'real images', '-', '-', floor))
            for preset in ('default', 'classic'):
                quality = metrics.QualityLog(reference, classifier, args.seed)
                seconds, scores = train_and_score(notebook, preset, dataset, steps, quality, args.seed)
                lines.append(format_row(name, preset, str(steps), '{:.0f} s'.format(seconds), scores))
                print(lines[-1], flush=True)
    print(f'\nBatch size {BATCH_SIZE}, seed {args.seed}, {SCORED} samples scored against {SCORED} real images '
          f'(lower is better; "real images" = {SCORED} other real images):\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
