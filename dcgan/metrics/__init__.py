"""Sample-quality metrics that work offline, for any image set in [-0.5, 0.5] shaped (N, H, W, C):

- swd: the multi-scale sliced Wasserstein distance (SWD) of Karras et al. 2018, on pixels, for any images;
- classifier: Frechet distance, KID and class coverage in the feature space of a small MNIST classifier
  that the project trains itself on labelled digits;
- inception: Inception FID/KID with the frozen graph of the original TTUR FID code, when the user has it.

METRICS is the one registry of the numbers training logs, the command line prints and the benchmarks
tabulate: its key, label, format and which way is better.

    python -m dcgan.metrics --real PATH --fake PATH [--mnist-labels PATH] [--inception-graph PATH]
"""
import os
from dataclasses import dataclass

import numpy as np

from dcgan.config import IMAGE_SIZE
from dcgan.data.archives import read_idx_images
from dcgan.data.dataset import Dataset
from dcgan.data.images import PIXEL_RANGE, to_float
from dcgan.errors import MetricsError
from dcgan.metrics.classifier import MNIST_SHAPE, classifier_metrics, mnist_classifier
from dcgan.metrics.features import COVERAGE_MIN_SHARE
from dcgan.metrics.inception import InceptionUnavailable, inception_metrics
from dcgan.metrics.swd import sliced_wasserstein_distance

RANGE_TOLERANCE = 1e-3           # how far outside [-0.5, 0.5] loaded float images may stray (round-off)


@dataclass(frozen=True)
class Metric:
    """One quality number: its key in score dicts, how it is shown, and which way is better."""
    key: str
    label: str
    number_format: str
    lower_is_better: bool = True
    plotted: bool = False         # drawn as a quality curve during training

    def format(self, value):
        return f'{self.label} {self.number_format.format(value)}'


METRICS = {m.key: m for m in (
    Metric('swd', 'SWD x1e3', '{:.1f}', plotted=True),
    Metric('classifier_fd', 'digit FD', '{:.2f}', plotted=True),
    Metric('classifier_kid', 'digit KID', '{:.4f}'),
    Metric('class_entropy', 'class entropy', '{:.3f}', lower_is_better=False),
    Metric('classes_covered', 'classes', '{:.0f}/10', lower_is_better=False),
)}


def evaluate(real, fake, real_labels=None, inception_graph=None, inception_sha256=None, cache_dir=None, seed=0):
    """A dict of every metric computable for these image sets: SWD always; classifier FD/KID and class
    coverage when both are (N, 28, 28, 1) digits and `real_labels` label the real ones (the classifier is
    trained on them once, then cached); Inception FID/KID when its graph is available. A '*_skipped' entry
    says why a group is missing."""
    real, fake = np.asarray(real, dtype=np.float32), np.asarray(fake, dtype=np.float32)
    swd = sliced_wasserstein_distance(real, fake, seed)
    results = dict(swd=swd['mean'], swd_per_level=dict(zip(swd['sides'], swd['per_level'])))
    if real_labels is None:
        results['classifier_skipped'] = 'no labels for the real digits were given'
    elif real.shape[1:] != MNIST_SHAPE or fake.shape[1:] != MNIST_SHAPE:
        results['classifier_skipped'] = f'the digit classifier needs 28x28x1 images, not {fake.shape[1:]}'
    else:
        classifier = mnist_classifier(real, np.asarray(real_labels), cache_dir)
        results.update(classifier_metrics(classifier, real, fake, seed), classifier_accuracy=classifier.accuracy)
    try:
        results.update(inception_metrics(real, fake, inception_graph, inception_sha256, seed))
    except InceptionUnavailable as error:
        results['inception_skipped'] = str(error)
    return results


def load_images(path, image_size=IMAGE_SIZE, grayscale=False):
    """(N, H, W, C) float32 images in [-0.5, 0.5] from an .npy file (float in [-0.5, 0.5] or uint8), a folder
    of images (resized to image_size) or an IDX image file (.gz or not)."""
    if os.path.isdir(path):
        dataset = Dataset.from_folder(path, image_size=image_size, image_mode='L' if grayscale else 'RGB')
        return to_float(dataset.images)
    if not os.path.isfile(path):
        raise MetricsError(f'{path} does not exist: pass an .npy file, a folder of images or an IDX file.')
    if path.lower().endswith('.npy'):
        images = np.load(path)
        images = to_float(images) if images.dtype == np.uint8 else images.astype(np.float32)
        low, high = PIXEL_RANGE
        if images.size and (images.min() < low - RANGE_TOLERANCE or images.max() > high + RANGE_TOLERANCE):
            raise MetricsError(f'{path} holds values in [{images.min():.3g}, {images.max():.3g}], but images '
                               f'must be in [{low}, {high}] (or uint8): rescale them first.')
        return images[..., None] if images.ndim == 3 else images
    return to_float(read_idx_images(path)[..., None])


def format_results(results):
    """The lines the command line prints for an evaluate() result."""
    levels = ', '.join(f'{side} px {value:.2f}' for side, value in results['swd_per_level'].items())
    lines = [f'SWD x1e3 (lower is better): mean {results["swd"]:.2f} ({levels})']
    if 'classifier_skipped' in results:
        lines.append(f'Classifier metrics: not computed: {results["classifier_skipped"]}.')
    else:
        lines += [f'Classifier FD: {results["classifier_fd"]:.3f}',
                  f'Classifier KID: {results["classifier_kid"]:.5f} +- {results["classifier_kid_std"]:.5f}',
                  f'Class coverage: entropy {results["class_entropy"]:.3f}, {results["classes_covered"]} of '
                  f'{len(results["class_histogram"])} classes with at least {COVERAGE_MIN_SHARE:.0%} of the '
                  f'samples, histogram {results["class_histogram"]}']
    if 'inception_skipped' in results:
        lines.append(f'Inception FID/KID: not computed: {results["inception_skipped"]}')
    else:
        lines.append(f'Inception FID: {results["inception_fid"]:.3f}; Inception KID: '
                     f'{results["inception_kid"]:.5f} +- {results["inception_kid_std"]:.5f}')
    return lines


class QualityLog:
    """Scores generated images against one fixed set of real images (SWD, and for digits the classifier's
    FD, KID and class coverage), prints one line per evaluation and keeps the history."""

    def __init__(self, reference, classifier=None, seed=0):
        self.reference, self.classifier, self.seed, self.history = reference, classifier, seed, []

    def score(self, fake):
        """{metric: number} of `fake` against the reference images."""
        scores = {'swd': sliced_wasserstein_distance(self.reference, fake, seed=self.seed)['mean']}
        if self.classifier is not None:
            found = classifier_metrics(self.classifier, self.reference, fake, seed=self.seed)
            scores.update({k: float(found[k]) for k in METRICS if k in found})
        return scores

    def __call__(self, step, fake):
        """Score `fake` at training step `step`, print and record it; return the scores."""
        scores = self.score(fake)
        self.history.append(dict(step=step, **scores))
        print(f'Step {step}... quality: ' + format_scores(scores))
        return scores


def format_scores(scores):
    """One readable line of quality numbers."""
    return ', '.join(METRICS[k].format(scores[k]) for k in METRICS if k in scores)
