"""The multi-scale sliced Wasserstein distance (SWD) of Karras et al. 2018 ("Progressive Growing of GANs",
appendix D), on pixels: works for any images and needs no weights."""
import numpy as np

from dcgan.errors import MetricsError

SWD_PATCH = 7                    # side of the neighbourhoods compared; also the smallest pyramid level
SWD_PATCHES_PER_IMAGE = 16       # descriptors drawn per image and level (the paper: 128 from 1024-px images)
SWD_DIRECTIONS = 128             # random unit projections per repeat...
SWD_REPEATS = 4                  # ...so 4 x 128 = 512 directions, as in the paper
SWD_SCALE = 1e3                  # the paper reports SWD x 10^3
SWD_BATCH = 1024                 # images per pyramid batch, to bound memory
BINOMIAL_TAPS = np.array([1, 4, 6, 4, 1], dtype=np.float32) / 16   # the pyramid's Gaussian low-pass filter
UPSAMPLE_GAIN = 4                # zero-insertion keeps 1 pixel in 4; the blur spreads it back


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

