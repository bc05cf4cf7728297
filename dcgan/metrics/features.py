"""Distances between feature sets: the Frechet distance, the kernel distance (KID) and class coverage."""
import numpy as np

from dcgan.errors import MetricsError

KID_SUBSETS = 100                # random subsets the MMD estimate is averaged over (Binkowski et al. 2018)
KID_SUBSET_SIZE = 1000           # images per subset (fewer when the sets are smaller)
KID_DEGREE = 3                   # polynomial kernel k(x, y) = (x.y / d + 1)^3
COVERAGE_MIN_SHARE = 0.02        # a class counts as covered when it holds at least 2 % of the samples
DIGIT_CLASSES = 10               # what class_coverage counts by default


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


def class_coverage(classes, num_classes=DIGIT_CLASSES, min_share=COVERAGE_MIN_SHARE):
    """How evenly predicted classes spread: the histogram, its entropy normalised to [0, 1] (1 = even over all
    classes, 0 = one class) and the number of classes holding at least `min_share` of the samples."""
    histogram = np.bincount(np.asarray(classes, dtype=np.int64), minlength=num_classes)
    shares = histogram / max(histogram.sum(), 1)
    present = shares[shares > 0]
    entropy = float(-(present * np.log(present)).sum() / np.log(num_classes))
    return dict(histogram=histogram.tolist(), entropy=entropy + 0.0,   # + 0.0 turns -0.0 into 0.0
                classes_covered=int((shares >= min_share).sum()))


