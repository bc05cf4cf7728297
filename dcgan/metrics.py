"""Sample-quality metrics that work offline, for any image set in [-0.5, 0.5] shaped (N, H, W, C):

- the multi-scale sliced Wasserstein distance (SWD) of Karras et al. 2018, on pixels, for any images;
- Frechet distance, KID and class coverage in the feature space of a small MNIST classifier that the
  project trains itself on labelled digits (weights cached as .npz, keyed by the data and the settings);
- Inception FID/KID with the frozen graph of the original TTUR FID code, when the user has that file.

    python -m dcgan.metrics --real PATH --fake PATH [--mnist-labels PATH] [--inception-graph PATH]
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import tensorflow.compat.v1 as tf

import helper
from dcgan import ops
from dcgan.download import file_hash
from dcgan.training import session_config

# Multi-scale sliced Wasserstein distance (Karras et al. 2018, "Progressive Growing of GANs", appendix D)
SWD_PATCH = 7                    # side of the neighbourhoods compared; also the smallest pyramid level
SWD_PATCHES_PER_IMAGE = 16       # descriptors drawn per image and level (the paper: 128 from 1024-px images)
SWD_DIRECTIONS = 128             # random unit projections per repeat...
SWD_REPEATS = 4                  # ...so 4 x 128 = 512 directions, as in the paper
SWD_SCALE = 1e3                  # the paper reports SWD x 10^3
SWD_BATCH = 1024                 # images per pyramid batch, to bound memory
BINOMIAL_TAPS = np.array([1, 4, 6, 4, 1], dtype=np.float32) / 16   # the pyramid's Gaussian low-pass filter
UPSAMPLE_GAIN = 4                # zero-insertion keeps 1 pixel in 4; the blur spreads it back

# The MNIST feature classifier
CLASSIFIER_SETTINGS = dict(version=1, conv_filters=(32, 64), feature_units=128, classes=10, epochs=8,
                           batch_size=32, learning_rate=1e-3, final_learning_rate=1e-4, max_shift=2,
                           validation_fraction=0.1, seed=0)
CLASSIFIER_SCOPE = 'classifier'
CLASSIFY_BATCH = 500             # images per forward pass when computing features
SAVED_EXTRAS = ('settings_json', 'accuracy', 'feature_scale')   # what the .npz holds besides the weights
MNIST_SHAPE = (28, 28, 1)

# Frechet distance, KID, coverage
KID_SUBSETS = 100                # random subsets the MMD estimate is averaged over (Binkowski et al. 2018)
KID_SUBSET_SIZE = 1000           # images per subset (fewer when the sets are smaller)
KID_DEGREE = 3                   # polynomial kernel k(x, y) = (x.y / d + 1)^3
COVERAGE_MIN_SHARE = 0.02        # a class counts as covered when it holds at least 2 % of the samples

# Inception (the frozen graph used by the original TTUR FID code)
INCEPTION_FILE = 'classify_image_graph_def.pb'   # inside inception-2015-12-05.tgz
INCEPTION_ARCHIVE = 'inception-2015-12-05.tgz'
INCEPTION_GRAPH_ENV = 'DLND_INCEPTION_GRAPH'
INCEPTION_SHA256_ENV = 'DLND_INCEPTION_SHA256'
INCEPTION_SHA256 = None          # no official checksum of the file could be sourced: see checksum_unknown()
INCEPTION_INPUT = 'ExpandDims:0'  # (N, 299, 299, 3) RGB in [0, 255], after the graph's JPEG decoding
INCEPTION_FEATURES = 'pool_3:0'  # (N, 1, 1, 2048)
INCEPTION_SIZE = 299
INCEPTION_BATCH = 50
PIXEL_MAX = 255
RANGE_TOLERANCE = 1e-3           # how far outside [-0.5, 0.5] loaded float images may stray (round-off)


class MetricsError(Exception):
    """Inputs a metric cannot use, with what is wrong and what to do."""


class InceptionUnavailable(MetricsError):
    """The Inception graph is missing or cannot be verified; the offline metrics still work."""


# ----------------------------------------------------------------------------------------------
# Multi-scale sliced Wasserstein distance
# ----------------------------------------------------------------------------------------------

def shifted(padded, axis, start, length):
    """The slice [start, start + length) of `padded` along `axis`."""
    index = [slice(None)] * padded.ndim
    index[axis] = slice(start, start + length)
    return padded[tuple(index)]


def blur(images):
    """Separable 5-tap binomial (Gaussian) blur of (N, H, W, C) images, edges reflected: the pyramid filter."""
    radius = len(BINOMIAL_TAPS) // 2
    for axis in (1, 2):
        pad = [(0, 0)] * images.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(images, pad, mode='reflect')
        images = sum(w * shifted(padded, axis, i, images.shape[axis]) for i, w in enumerate(BINOMIAL_TAPS))
    return images


def pyramid_down(images):
    """Blur, then keep every second pixel: the next, half-size Gaussian pyramid level."""
    return blur(images)[:, ::2, ::2]


def pyramid_up(images, shape):
    """Upsample a pyramid level back to `shape` by zero insertion and blurring."""
    up = np.zeros(shape, dtype=images.dtype)
    up[:, ::2, ::2] = images
    return blur(up) * UPSAMPLE_GAIN


def pyramid_sides(size):
    """The side of each Laplacian pyramid level: halving while the level still holds a SWD_PATCH patch."""
    if size < SWD_PATCH:
        raise MetricsError(f'Images of {size} px are smaller than the {SWD_PATCH}-px SWD neighbourhood.')
    sides = [size]
    while (sides[-1] + 1) // 2 >= SWD_PATCH:
        sides.append((sides[-1] + 1) // 2)
    return sides


def laplacian_pyramid(images, levels):
    """The Laplacian pyramid of (N, H, W, C) images: band-pass levels, finest first, then the low-pass rest."""
    bands = []
    for _ in range(levels - 1):
        down = pyramid_down(images)
        bands.append(images - pyramid_up(down, images.shape))
        images = down
    return bands + [images]


def random_patches(level, count, rng):
    """`count` random SWD_PATCH x SWD_PATCH neighbourhoods from each image of a level, as (N * count, C, P, P);
    fewer when the level has fewer positions (a 7x7 level has one: the whole image)."""
    n, height, width, _ = level.shape
    count = min(count, (height - SWD_PATCH + 1) * (width - SWD_PATCH + 1))
    windows = np.lib.stride_tricks.sliding_window_view(level, (SWD_PATCH, SWD_PATCH), axis=(1, 2))
    rows = rng.integers(0, height - SWD_PATCH + 1, n * count)
    cols = rng.integers(0, width - SWD_PATCH + 1, n * count)
    return windows[np.repeat(np.arange(n), count), rows, cols]


def normalise_descriptors(patches):
    """Per channel zero mean and unit variance over the whole set, then flattened to (M, C * P * P)."""
    mean = patches.mean(axis=(0, 2, 3), keepdims=True)
    std = patches.std(axis=(0, 2, 3), keepdims=True)
    return ((patches - mean) / np.maximum(std, np.finfo(np.float32).eps)).reshape(len(patches), -1)


def pyramid_descriptors(images, rng, patches_per_image=SWD_PATCHES_PER_IMAGE):
    """Each pyramid level's normalised neighbourhood descriptors of an image set: a list, finest level first."""
    levels = len(pyramid_sides(images.shape[1]))
    per_level = [[] for _ in range(levels)]
    for start in range(0, len(images), SWD_BATCH):
        batch = np.asarray(images[start:start + SWD_BATCH], dtype=np.float32)
        for found, level in zip(per_level, laplacian_pyramid(batch, levels)):
            found.append(random_patches(level, patches_per_image, rng))
    return [normalise_descriptors(np.concatenate(found)) for found in per_level]


def sliced_wasserstein(a, b, rng, directions=SWD_DIRECTIONS, repeats=SWD_REPEATS):
    """Sliced Wasserstein distance of two equal-size descriptor sets: mean |sorted a.u - sorted b.u| over
    random unit directions u."""
    distances = []
    for _ in range(repeats):
        units = rng.standard_normal((a.shape[1], directions)).astype(np.float32)
        units /= np.linalg.norm(units, axis=0, keepdims=True)
        projected_a, projected_b = np.sort(units.T @ a.T, axis=1), np.sort(units.T @ b.T, axis=1)
        distances.append(np.mean(np.abs(projected_a - projected_b), dtype=np.float64))
    return float(np.mean(distances))


def check_images(images, name):
    """Raise MetricsError unless `images` is a non-empty (N, H, W, C) array with C = 1 or 3."""
    if images.ndim != 4 or len(images) == 0 or images.shape[-1] not in (1, 3):
        raise MetricsError(f'{name} images must be a non-empty (N, H, W, C) array with C = 1 or 3, '
                           f'got shape {images.shape}.')


def sliced_wasserstein_distance(real, fake, seed=0, patches_per_image=SWD_PATCHES_PER_IMAGE):
    """Multi-scale sliced Wasserstein distance between two image sets (Karras et al. 2018, appendix D).

    Both sets (N, H, W, C) in [-0.5, 0.5] are cut to the same number of images; each gets a Laplacian
    pyramid down to the last level of at least 7x7 px (28 -> 28, 14, 7; 32 -> 32, 16, 8; 64 -> 64, 32, 16,
    8), random 7x7 neighbourhoods per image and level, normalised per channel (each set on its own, as the
    paper's code does), and each level's sliced Wasserstein distance over 4 x 128 random unit directions.
    Lower is better; deterministic given `seed`.
    Returns {'sides': [...], 'per_level': [...], 'mean': ...} with the distances multiplied by 10^3, the
    way the paper reports them.
    """
    real, fake = np.asarray(real), np.asarray(fake)
    check_images(real, 'real')
    check_images(fake, 'fake')
    if real.shape[1:] != fake.shape[1:]:
        raise MetricsError(f'real images are {real.shape[1:]} but fake images are {fake.shape[1:]}: '
                           f'SWD compares images of one size and channel count.')
    rng = np.random.default_rng(seed)
    count = min(len(real), len(fake))
    real = real[np.sort(rng.permutation(len(real))[:count])]
    fake = fake[np.sort(rng.permutation(len(fake))[:count])]
    pairs = zip(pyramid_descriptors(real, rng, patches_per_image), pyramid_descriptors(fake, rng, patches_per_image))
    per_level = [sliced_wasserstein(a, b, rng) * SWD_SCALE for a, b in pairs]
    return dict(sides=pyramid_sides(real.shape[1]), per_level=per_level, mean=float(np.mean(per_level)))


# ----------------------------------------------------------------------------------------------
# Frechet distance, KID and class coverage of feature sets
# ----------------------------------------------------------------------------------------------

def feature_statistics(features):
    """Mean vector and covariance matrix (float64) of (N, D) features."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def psd_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix via its eigen-decomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2):
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), with Tr (S1 S2)^1/2 taken as the sum of the square roots
    of the eigenvalues of the symmetric S1^1/2 S2 S1^1/2 (no scipy, no complex round-off)."""
    root1 = psd_sqrt(np.atleast_2d(sigma1))
    middle = root1 @ np.atleast_2d(sigma2) @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def frechet_distance(features1, features2):
    """Frechet distance between Gaussians fitted to two (N, D) feature sets (FID's formula)."""
    return frechet_distance_from_statistics(*feature_statistics(features1), *feature_statistics(features2))


def polynomial_kernel(x, y):
    """The KID kernel k(x, y) = (x.y / d + 1)^3 between the rows of x and of y."""
    base = x @ y.T / x.shape[1] + 1
    kernel = base
    for _ in range(KID_DEGREE - 1):
        kernel = kernel * base
    return kernel


def unbiased_mmd2(x, y):
    """Unbiased estimate of the squared MMD between samples x and y (equal sizes) under the KID kernel."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kernel_inception_distance(features1, features2, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=0):
    """KID: the unbiased MMD^2 with the cubic polynomial kernel, averaged over random subsets; (mean, std).
    The std is over subsets; when both sets are no larger than a subset there is one subset and it is 0."""
    x, y = np.asarray(features1, dtype=np.float64), np.asarray(features2, dtype=np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise MetricsError(f'KID needs at least 2 samples per set, got {len(x)} and {len(y)}.')
    if size == len(x) == len(y):
        subsets = 1     # every subset would be the whole of both sets
    rng = np.random.default_rng(seed)
    values = [unbiased_mmd2(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def class_coverage(classes, num_classes=CLASSIFIER_SETTINGS['classes'], min_share=COVERAGE_MIN_SHARE):
    """How evenly predicted classes spread: the histogram, its entropy normalised to [0, 1] (1 = even over all
    classes, 0 = one class) and the number of classes holding at least `min_share` of the samples."""
    histogram = np.bincount(np.asarray(classes, dtype=np.int64), minlength=num_classes)
    shares = histogram / max(histogram.sum(), 1)
    present = shares[shares > 0]
    entropy = float(-(present * np.log(present)).sum() / np.log(num_classes))
    return dict(histogram=histogram.tolist(), entropy=entropy + 0.0,   # + 0.0 turns -0.0 into 0.0
                classes_covered=int((shares >= min_share).sum()))


# ----------------------------------------------------------------------------------------------
# The MNIST feature classifier
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Classifier:
    """Trained classifier weights (variable name -> array), the settings that built them, its validation
    accuracy and the RMS of its raw features over its training digits (features are divided by it)."""
    weights: dict
    settings: dict
    accuracy: float
    feature_scale: float = 1.0


def classifier_network(images, settings):
    """Strided convolutions, a dense feature layer and class logits over (N, 28, 28, 1) images; (features, logits)."""
    x = images
    with tf.variable_scope(CLASSIFIER_SCOPE, reuse=tf.AUTO_REUSE):
        for i, filters in enumerate(settings['conv_filters']):
            x = ops.lrelu(ops.conv2d(x, filters, f'conv{i + 1}'))
        features = ops.lrelu(ops.dense(ops.flatten(x), settings['feature_units'], 'features'))
        logits = ops.dense(features, settings['classes'], 'logits')
    return features, logits


def validation_split(count, settings):
    """(train indices, validation indices): a seeded random `validation_fraction` of `count` is held out."""
    order = np.random.default_rng(settings['seed']).permutation(count)
    held_out = max(1, int(round(count * settings['validation_fraction'])))
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def check_digits(images, labels=None):
    """Raise MetricsError unless images are (N, 28, 28, 1) and labels (if given) are N class numbers."""
    if images.ndim != 4 or images.shape[1:] != MNIST_SHAPE:
        raise MetricsError(f'The digit classifier takes (N, 28, 28, 1) images, got shape {images.shape}.')
    if labels is not None and labels.shape != (len(images),):
        raise MetricsError(f'{len(images)} images but labels of shape {labels.shape}: give one label per image.')


def random_shifts(images, max_shift, rng):
    """Each image moved by up to max_shift pixels in x and y, the uncovered border filled with background."""
    if max_shift == 0:
        return images
    pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0))
    padded = np.pad(images, pad, constant_values=helper.PIXEL_RANGE[0])
    windows = np.lib.stride_tricks.sliding_window_view(padded, images.shape[1:3], axis=(1, 2))
    rows, cols = rng.integers(0, 2 * max_shift + 1, (2, len(images)))
    return windows[np.arange(len(images)), rows, cols].transpose(0, 2, 3, 1)


def train_classifier(images, labels, settings=CLASSIFIER_SETTINGS):
    """Train the classifier on labelled digits in [-0.5, 0.5] with Adam, holding out a validation split;
    return a Classifier with its validation accuracy."""
    images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    check_digits(images, labels)
    train, validation = validation_split(len(images), settings)
    rng = np.random.default_rng(settings['seed'])
    with tf.Graph().as_default():
        tf.set_random_seed(settings['seed'])
        x = tf.placeholder(tf.float32, (None,) + MNIST_SHAPE)
        y = tf.placeholder(tf.int64, (None,))
        _, logits = classifier_network(x, settings)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        steps = settings['epochs'] * -(-len(train) // settings['batch_size'])
        global_step = tf.train.get_or_create_global_step()
        learning_rate = tf.train.exponential_decay(settings['learning_rate'], global_step, steps,
                                                   settings['final_learning_rate'] / settings['learning_rate'])
        step = tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=global_step)
        variables = tf.trainable_variables(CLASSIFIER_SCOPE)
        with tf.Session(config=session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(settings['epochs']):
                order = rng.permutation(train)
                for start in range(0, len(order), settings['batch_size']):
                    batch = np.sort(order[start:start + settings['batch_size']])
                    sess.run(step, {x: random_shifts(images[batch], settings['max_shift'], rng), y: labels[batch]})
            weights = {v.op.name: value for v, value in zip(variables, sess.run(variables))}
    raw = Classifier(weights, dict(settings), float('nan'))
    scale = float(np.sqrt(np.mean(np.square(classify(raw, images[train])[0], dtype=np.float64))))
    accuracy = float(np.mean(classify(raw, images[validation])[1] == labels[validation]))
    return Classifier(weights, dict(settings), accuracy, scale)


def classify(classifier, images, batch_size=CLASSIFY_BATCH):
    """(features (N, feature_units) float32, predicted classes (N,)) of (N, 28, 28, 1) images in [-0.5, 0.5].
    Features are divided by the classifier's feature_scale, so that FD and KID do not depend on the
    arbitrary scale one training run happened to reach."""
    images = np.asarray(images, dtype=np.float32)
    check_digits(images)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, (None,) + MNIST_SHAPE)
        features, logits = classifier_network(x, classifier.settings)
        variables = tf.trainable_variables(CLASSIFIER_SCOPE)
        loads = [tf.assign(v, classifier.weights[v.op.name]) for v in variables]
        with tf.Session(config=session_config()) as sess:
            sess.run(loads)
            outputs = [sess.run((features, tf.argmax(logits, 1)), {x: images[start:start + batch_size]})
                       for start in range(0, len(images), batch_size)]
    return (np.concatenate([f for f, _ in outputs]).astype(np.float32) / np.float32(classifier.feature_scale),
            np.concatenate([c for _, c in outputs]).astype(np.int64))


def classifier_cache_path(images, labels, settings, cache_dir=None):
    """The .npz cache file of the classifier trained on these digits with these settings: its name carries a
    digest of the image and label bytes and of the settings."""
    digest = hashlib.sha1()
    for array in (np.ascontiguousarray(images, dtype=np.float32), np.ascontiguousarray(labels, dtype=np.int64)):
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return os.path.join(cache_dir or helper.default_cache_dir(), f'mnist-classifier-{digest.hexdigest()[:16]}.npz')


def save_classifier(classifier, path):
    """Write the classifier's weights, settings and accuracy to the .npz at `path` atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.npz', dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, 'wb') as f:
            np.savez(f, **classifier.weights, settings_json=json.dumps(classifier.settings),
                     accuracy=classifier.accuracy, feature_scale=classifier.feature_scale)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_classifier(path):
    """The Classifier saved at `path`."""
    with np.load(path) as saved:
        weights = {name: saved[name] for name in saved.files if name not in SAVED_EXTRAS}
        settings = json.loads(str(saved['settings_json']))
        settings['conv_filters'] = tuple(settings['conv_filters'])
        return Classifier(weights, settings, float(saved['accuracy']), float(saved['feature_scale']))


def mnist_classifier(images, labels, cache_dir=None, settings=CLASSIFIER_SETTINGS):
    """The classifier for these labelled digits: loaded from the cache, or trained once (printing its
    validation accuracy) and cached."""
    images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    path = classifier_cache_path(images, labels, settings, cache_dir)
    if os.path.exists(path):
        classifier = load_classifier(path)
        print(f'Loaded the digit classifier from {path} (validation accuracy {classifier.accuracy:.2%}).')
        return classifier
    start = time.perf_counter()
    classifier = train_classifier(images, labels, settings)
    train, validation = validation_split(len(images), settings)
    print(f'Trained the digit classifier on {len(train)} digits in {time.perf_counter() - start:.1f} s: '
          f'validation accuracy {classifier.accuracy:.2%} on {len(validation)} held-out digits.')
    save_classifier(classifier, path)
    return classifier


def classifier_metrics(classifier, real, fake, seed=0):
    """Frechet distance and KID between real and fake digits in classifier feature space, and the fake
    digits' class coverage."""
    real_features, _ = classify(classifier, real)
    fake_features, fake_classes = classify(classifier, fake)
    kid, kid_std = kernel_inception_distance(real_features, fake_features, seed=seed)
    coverage = class_coverage(fake_classes, classifier.settings['classes'])
    return dict(classifier_fd=frechet_distance(real_features, fake_features), classifier_kid=kid,
                classifier_kid_std=kid_std, class_histogram=coverage['histogram'],
                class_entropy=coverage['entropy'], classes_covered=coverage['classes_covered'])


# ----------------------------------------------------------------------------------------------
# Inception FID / KID, when the user has the frozen graph
# ----------------------------------------------------------------------------------------------

def inception_graph_path(path=None):
    """The Inception graph file: `path` (a file or a folder holding it), else $DLND_INCEPTION_GRAPH; raise
    InceptionUnavailable saying where to put it when there is none."""
    given = path or os.environ.get(INCEPTION_GRAPH_ENV)
    if given and os.path.isdir(given):
        given = os.path.join(given, INCEPTION_FILE)
    if given and os.path.isfile(given):
        return given
    looked = f'looked at {given}' if given else f'no path given and ${INCEPTION_GRAPH_ENV} is not set'
    raise InceptionUnavailable(
        f'Inception metrics need the frozen graph {INCEPTION_FILE} (from {INCEPTION_ARCHIVE}, as the original '
        f'TTUR FID code uses it) and it was not found ({looked}). Put the file anywhere and pass its path '
        f'(inception_graph=... or --inception-graph) or set ${INCEPTION_GRAPH_ENV}. The offline metrics '
        f'(SWD; classifier FD/KID and class coverage for MNIST) work without it.')


def checksum_unknown(path):
    """The error for a graph file that cannot be verified because no official checksum is known."""
    return InceptionUnavailable(
        f'Refusing to use {path}: no official checksum of {INCEPTION_FILE} is known to this project (none '
        f'could be sourced from the public FID projects, and an invented one would verify nothing), so a '
        f'corrupt or different graph could not be told apart. If you have verified your copy yourself, pass '
        f'its sha256 (inception_sha256=..., --inception-sha256 or ${INCEPTION_SHA256_ENV}). The offline '
        f'metrics (SWD; classifier FD/KID and class coverage for MNIST) work without it.')


def verify_inception_graph(path, sha256=None):
    """Raise InceptionUnavailable unless the file at `path` has the expected sha256: the one given, else
    $DLND_INCEPTION_SHA256, else INCEPTION_SHA256 (unknown, so refused)."""
    expected = sha256 or os.environ.get(INCEPTION_SHA256_ENV) or INCEPTION_SHA256
    if not expected:
        raise checksum_unknown(path)
    actual = file_hash(path, 'sha256')
    if actual != expected.strip().lower():
        raise InceptionUnavailable(
            f'Refusing to use {path}: its sha256 is {actual}, expected {expected}. The file is corrupt, '
            f'truncated or a different graph; replace it with {INCEPTION_FILE} from {INCEPTION_ARCHIVE}.')


def inception_input(images):
    """(N, H, W, C) images in [-0.5, 0.5] -> (N, 299, 299, 3) RGB in [0, 255], as the graph expects."""
    rgb = tf.tile(images, (1, 1, 1, 3)) if images.shape[-1] == 1 else images
    return tf.image.resize((rgb - helper.PIXEL_RANGE[0]) * PIXEL_MAX, (INCEPTION_SIZE, INCEPTION_SIZE))


def inception_features(images, graph=None, sha256=None, batch_size=INCEPTION_BATCH):
    """2048-d pool_3 features of images in [-0.5, 0.5] under the verified frozen Inception graph."""
    path = inception_graph_path(graph)
    verify_inception_graph(path, sha256)
    graph_def = tf.GraphDef()
    with open(path, 'rb') as f:
        graph_def.ParseFromString(f.read())
    images = np.asarray(images, dtype=np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, (None,) + images.shape[1:])
        pool, = tf.import_graph_def(graph_def, input_map={INCEPTION_INPUT: inception_input(x)},
                                    return_elements=[INCEPTION_FEATURES], name='inception')
        features = tf.reshape(pool, (tf.shape(pool)[0], -1))
        with tf.Session(config=session_config()) as sess:
            return np.concatenate([sess.run(features, {x: images[start:start + batch_size]})
                                   for start in range(0, len(images), batch_size)])


def inception_metrics(real, fake, graph=None, sha256=None, seed=0):
    """Inception FID and KID between two image sets; raises InceptionUnavailable without a verified graph."""
    real_features = inception_features(real, graph, sha256)
    fake_features = inception_features(fake, graph, sha256)
    kid, kid_std = kernel_inception_distance(real_features, fake_features, seed=seed)
    return dict(inception_fid=frechet_distance(real_features, fake_features), inception_kid=kid,
                inception_kid_std=kid_std)


# ----------------------------------------------------------------------------------------------
# Everything at once, and the command line
# ----------------------------------------------------------------------------------------------

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


def load_images(path, image_size=helper.IMAGE_SIZE, grayscale=False):
    """(N, H, W, C) float32 images in [-0.5, 0.5] from an .npy file (float in [-0.5, 0.5] or uint8), a folder
    of images (resized to image_size) or an IDX image file (.gz or not)."""
    if os.path.isdir(path):
        dataset = helper.Dataset.from_folder(path, image_size=image_size, image_mode='L' if grayscale else 'RGB')
        return helper.to_float(dataset.images)
    if not os.path.isfile(path):
        raise MetricsError(f'{path} does not exist: pass an .npy file, a folder of images or an IDX file.')
    if path.lower().endswith('.npy'):
        images = np.load(path)
        images = helper.to_float(images) if images.dtype == np.uint8 else images.astype(np.float32)
        low, high = helper.PIXEL_RANGE
        if images.size and (images.min() < low - RANGE_TOLERANCE or images.max() > high + RANGE_TOLERANCE):
            raise MetricsError(f'{path} holds values in [{images.min():.3g}, {images.max():.3g}], but images '
                               f'must be in [{low}, {high}] (or uint8): rescale them first.')
        return images[..., None] if images.ndim == 3 else images
    return helper.to_float(helper.read_idx_images(path)[..., None])


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


def main(argv=None):
    """Command line: print every metric computable between two image sets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--real', required=True, help='.npy of images in [-0.5, 0.5], an image folder or an IDX(.gz)')
    parser.add_argument('--fake', required=True, help='the same kinds of path as --real')
    parser.add_argument('--mnist-labels', help='IDX(.gz) labels of the --real digits: enables the classifier metrics')
    parser.add_argument('--inception-graph', help=f'{INCEPTION_FILE} or its folder (or ${INCEPTION_GRAPH_ENV})')
    parser.add_argument('--inception-sha256', help=f'the sha256 you verified for it (or ${INCEPTION_SHA256_ENV})')
    parser.add_argument('--image-size', type=int, default=helper.IMAGE_SIZE, help='side for image folders')
    parser.add_argument('--grayscale', action='store_true', help='read image folders as grayscale')
    parser.add_argument('--cache-dir', help='where the classifier weights are cached')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    try:
        real = load_images(args.real, args.image_size, args.grayscale)
        fake = load_images(args.fake, args.image_size, args.grayscale)
        labels = helper.read_idx_labels(args.mnist_labels) if args.mnist_labels else None
        print(f'real: {len(real)} images {real.shape[1:]}, fake: {len(fake)} images {fake.shape[1:]}')
        results = evaluate(real, fake, labels, args.inception_graph, args.inception_sha256, args.cache_dir, args.seed)
    except (MetricsError, helper.DataError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print('\n'.join(format_results(results)))
    return 0


if __name__ == '__main__':
    sys.exit(main())


# ----------------------------------------------------------------------------------------------
# Quality during training
# ----------------------------------------------------------------------------------------------

QUALITY_KEYS = ('swd', 'classifier_fd', 'classifier_kid', 'class_entropy', 'classes_covered')


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
            scores.update({k: float(found[k]) for k in QUALITY_KEYS if k in found})
        return scores

    def __call__(self, step, fake):
        """Score `fake` at training step `step`, print and record it; return the scores."""
        scores = self.score(fake)
        self.history.append(dict(step=step, **scores))
        print(f'Step {step}... quality: ' + format_scores(scores))
        return scores


def format_scores(scores):
    """One readable line of quality numbers."""
    names = dict(swd='SWD x1e3 {:.1f}', classifier_fd='digit FD {:.2f}', classifier_kid='digit KID {:.4f}',
                 class_entropy='class entropy {:.3f}', classes_covered='classes {:.0f}/10')
    return ', '.join(names[k].format(scores[k]) for k in names if k in scores)
