"""Calibration of the sample-quality metrics on the real shared data: how far apart two halves of the real
data score, next to obviously worse 'generated' sets (noise, blurred, mode-collapsed).

    .venv/bin/python -m benchmarks.metrics_calibration [--mnist-dir ../shared/datasets/mnist]
                                                       [--celeba-dir ../shared/datasets/celeba]

MNIST (the 10,000 labelled test digits): the classifier is first trained on all of them, to show its
validation accuracy and training time; then, for the table, a second classifier is trained on a random
half only, and FD/KID/coverage compare the other, held-out half split in two (2,500 vs 2,500), so that no
scored digit was seen in training. CelebA: SWD only, on 64x64 face crops of the 10,000-photo archive.
Each part is skipped with a message when its data is absent.
"""
import argparse
import glob
import os
import tempfile
import time

import numpy as np

from dcgan.data import archives, sources
from dcgan.data import images as image_data
from dcgan.data.dataset import Dataset
from dcgan.metrics import classifier as digit_classifier
from dcgan.metrics import features
from dcgan.metrics import swd as swd_metric

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHARED = os.path.join(ROOT, '..', 'shared', 'datasets')
MNIST_IMAGES = 't10k-images-idx3-ubyte.gz'
MNIST_LABELS = 't10k-labels-idx1-ubyte.gz'
CELEBA_ARCHIVE = 'img_align_celeba_halfsize_10000.zip'
CELEBA_SIZE = 64
BLUR_PASSES = 2            # two binomial 5-tap passes: a Gaussian blur of sigma sqrt(2) px
COLLAPSED_MODES = 10       # the 'collapsed' set: ten images, copied over and over
FEW_CLASSES = (1, 7)       # the 'only a few digits' set
SEED = 0


def blurred(images):
    """A Gaussian-blurred copy of the images."""
    for _ in range(BLUR_PASSES):
        images = swd_metric.blur(images)
    return images


def noise_like(images, rng):
    """Uniform noise images in [-0.5, 0.5] of the same shape."""
    return rng.uniform(*image_data.PIXEL_RANGE, images.shape).astype(np.float32)


def collapsed(images, rng):
    """As many images as given, all copies of COLLAPSED_MODES of them."""
    modes = images[rng.choice(len(images), COLLAPSED_MODES, replace=False)]
    return np.resize(modes, images.shape)


def row(name, count, swd, scores=None, with_classifier=True):
    """One line of the table."""
    if not with_classifier:
        classifier = ''
    elif scores is None:
        classifier = f'{"-":>9} {"-":>20} {"-":>8} {"-":>8}'
    else:
        kid = f'{scores["classifier_kid"]:.4f} +- {scores["classifier_kid_std"]:.4f}'
        classifier = (f'{scores["classifier_fd"]:9.3f} {kid:>20} {scores["class_entropy"]:8.3f} '
                      f'{scores["classes_covered"]:8d}')
    levels = ' / '.join(f'{v:.1f}' for v in swd['per_level'])
    return f'{name:<44} {count:>6} {swd["mean"]:8.1f}  {levels:<28} {classifier}'.rstrip()


def header(sides, with_classifier=True):
    """The table's column titles."""
    levels = ' / '.join(str(s) for s in sides) + ' px'
    classifier = f'{"clf FD":>9} {"clf KID +- std":>20} {"entropy":>8} {"classes":>8}' if with_classifier else ''
    return f'{"comparison (vs real reference set)":<44} {"n":>6} {"SWD x1e3":>8}  {levels:<28} {classifier}'.rstrip()


def mnist_part(mnist_dir, work):
    """Train the classifier on all labelled digits, then print the MNIST calibration table."""
    images_path, labels_path = (os.path.join(mnist_dir, name) for name in (MNIST_IMAGES, MNIST_LABELS))
    if not (os.path.isfile(images_path) and os.path.isfile(labels_path)):
        print(f'MNIST skipped: {MNIST_IMAGES} and {MNIST_LABELS} are not both in {os.path.abspath(mnist_dir)} '
              f'(pass --mnist-dir)')
        return
    images = image_data.to_float(archives.read_idx_images(images_path)[..., None])
    labels = archives.read_idx_labels(labels_path)
    print(f'\nMNIST: {len(images)} labelled test digits')
    start = time.perf_counter()
    digit_classifier.mnist_classifier(images, labels, cache_dir=os.path.join(work, 'all'))
    print(f'  (the classifier on all {len(images)} digits, 10 % held out: {time.perf_counter() - start:.1f} s '
          f'including graph building and the accuracy check)')

    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(images))
    train, held = order[:len(order) // 2], order[len(order) // 2:]
    classifier = digit_classifier.mnist_classifier(images[train], labels[train], cache_dir=os.path.join(work, 'half'))
    reference, other = np.sort(held[:len(held) // 2]), np.sort(held[len(held) // 2:])
    real, fake = images[reference], images[other]
    few = fake[np.isin(labels[other], FEW_CLASSES)]
    candidates = [
        ('real: the other held-out half', fake),
        ('uniform noise', noise_like(fake, rng)),
        (f'Gaussian-blurred real (sigma {np.sqrt(BLUR_PASSES):.2f} px)', blurred(fake)),
        (f'collapsed: {COLLAPSED_MODES} real digits, copied', collapsed(fake, rng)),
        (f'collapsed: only the digits {" and ".join(map(str, FEW_CLASSES))}', few),
    ]
    print(f'\nreference: {len(real)} held-out digits; classifier trained on the other {len(train)} '
          f'(validation accuracy {classifier.accuracy:.2%})')
    print(header(swd_metric.pyramid_sides(real.shape[1])))
    halves = order[:len(order) // 2], order[len(order) // 2:]
    swd = swd_metric.sliced_wasserstein_distance(images[np.sort(halves[0])], images[np.sort(halves[1])], SEED)
    print(row('real: two random halves of all 10,000 (SWD)', len(halves[0]), swd))
    swd = swd_metric.sliced_wasserstein_distance(images[:len(images) // 2], images[len(images) // 2:], SEED)
    print(row('real: first vs last 5,000 (other writers)', len(images) // 2, swd))
    for name, candidate in candidates:
        swd = swd_metric.sliced_wasserstein_distance(real, candidate, SEED)
        print(row(name, len(candidate), swd, digit_classifier.classifier_metrics(classifier, real, candidate, SEED)))


def celeba_part(celeba_dir, work):
    """Print the CelebA SWD calibration table."""
    archive = os.path.join(celeba_dir, CELEBA_ARCHIVE)
    if not os.path.isfile(archive):
        found = glob.glob(os.path.join(celeba_dir, '*.zip'))
        if not found:
            print(f'CelebA skipped: no CelebA zip in {os.path.abspath(celeba_dir)} (pass --celeba-dir)')
            return
        archive = sorted(found)[0]
    start = time.perf_counter()
    files = sources.download_extract('celeba', os.path.join(work, 'data'), source=archive)
    dataset = Dataset('celeba', files, image_size=CELEBA_SIZE, cache_dir=os.path.join(work, 'cache'))
    faces = image_data.to_float(dataset.images)
    print(f'\nCelebA: {len(faces)} face crops at {CELEBA_SIZE}x{CELEBA_SIZE} from {os.path.basename(archive)} '
          f'(extracted and decoded in {time.perf_counter() - start:.1f} s)')
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(faces))
    real, other = faces[np.sort(order[:len(order) // 2])], faces[np.sort(order[len(order) // 2:])]
    candidates = [
        ('real: the other random half', other),
        ('uniform noise', noise_like(other, rng)),
        (f'Gaussian-blurred real (sigma {np.sqrt(BLUR_PASSES):.2f} px)', blurred(other)),
        (f'collapsed: {COLLAPSED_MODES} real faces, copied', collapsed(other, rng)),
    ]
    print(f'reference: {len(real)} faces (a random half)')
    print(header(swd_metric.pyramid_sides(CELEBA_SIZE), with_classifier=False))
    for name, candidate in candidates:
        swd = swd_metric.sliced_wasserstein_distance(real, candidate, SEED)
        print(row(name, len(candidate), swd, with_classifier=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mnist-dir', default=os.path.join(SHARED, 'mnist'))
    parser.add_argument('--celeba-dir', default=os.path.join(SHARED, 'celeba'))
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        mnist_part(args.mnist_dir, work)
        celeba_part(args.celeba_dir, work)
    print(f'\nSWD: lower is better, x1e3 as in Karras et al. 2018, per level finest first; FD/KID in the '
          f'digit classifier\'s 128-d features (lower is better); entropy of the predicted classes '
          f'(1 = even over 10 digits); classes holding at least {features.COVERAGE_MIN_SHARE:.0%} of the samples.')
    print(f'wall time: {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
    main()
