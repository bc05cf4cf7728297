"""Input-pipeline benchmark on the real CelebA photos: classic per-batch JPEG decoding vs the cache.

    .venv/bin/python -m benchmarks.data_pipeline [--celeba-dir ../shared/datasets/celeba]

Prints images/second for (a) the classic helper's way (decode, crop and resize every JPEG of every
batch, every epoch) and (b) the project's way (decode once into a cache file, then read each batch's
rows from it with pread),
plus the time to build the cache. Skips with a message when the photos are not there.
"""
import argparse
import glob
import os
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

from dcgan import config
from dcgan.data import sources
from dcgan.data.images import center_crop_face
from dcgan.data.dataset import Dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BATCH_SIZE = 64
CLASSIC_BATCHES = 40    # batches timed for the slow classic path
CACHED_EPOCHS = 5       # epochs timed for the cached path (the median is reported)


def classic_get_batch(files, size=config.IMAGE_SIZE):
    """The classic course helper: open, crop and resize each JPEG of the batch, every time."""
    images = []
    for path in files:
        image = center_crop_face(Image.open(path)).resize((size, size), Image.BILINEAR)
        images.append(np.array(image.convert('RGB')))
    return np.array(images).astype(np.float32) / 255 - 0.5


def extract_all(celeba_dir, work_dir):
    """Extract every CelebA zip in celeba_dir under work_dir; return all photo paths."""
    files = []
    for archive in sorted(glob.glob(os.path.join(celeba_dir, '*.zip'))):
        files += sources.download_extract('celeba', work_dir, source=archive)
    return files


def time_classic(files, rng):
    """Images/second of the classic per-batch decoding over CLASSIC_BATCHES random batches."""
    start = time.perf_counter()
    for _ in range(CLASSIC_BATCHES):
        classic_get_batch([files[i] for i in rng.choice(len(files), BATCH_SIZE, replace=False)])
    return CLASSIC_BATCHES * BATCH_SIZE / (time.perf_counter() - start)


def time_cached_epochs(dataset):
    """Seconds per epoch (each of CACHED_EPOCHS) of get_batches over the cache."""
    seconds = []
    for _ in range(CACHED_EPOCHS):
        start = time.perf_counter()
        for _batch in dataset.get_batches(BATCH_SIZE):
            pass
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--celeba-dir', default=os.path.join(ROOT, '..', 'shared', 'datasets', 'celeba'))
    args = parser.parse_args()
    if not glob.glob(os.path.join(args.celeba_dir, '*.zip')):
        print(f'skipped: no CelebA zips in {os.path.abspath(args.celeba_dir)} (pass --celeba-dir)')
        return
    with tempfile.TemporaryDirectory() as work:
        files = extract_all(args.celeba_dir, os.path.join(work, 'data'))
        print(f'\n{len(files)} CelebA photos, batch size {BATCH_SIZE}, {config.IMAGE_SIZE}x{config.IMAGE_SIZE} faces')
        classic = time_classic(files, np.random.default_rng(0))

        start = time.perf_counter()
        dataset = Dataset('celeba', files, cache_dir=os.path.join(work, 'cache'))
        build = time.perf_counter() - start
        epochs = time_cached_epochs(dataset)
        epoch = statistics.median(epochs)
        cached = (len(files) // BATCH_SIZE) * BATCH_SIZE / epoch

    print(f'(a) classic per-batch JPEG decoding: {classic:10.0f} images/s '
          f'(one epoch of input work: {len(files) / classic:.1f} s)')
    print(f'(b) cache, batches read with pread:  {cached:10.0f} images/s '
          f'(one epoch of input work: {epoch:.3f} s, median of {CACHED_EPOCHS})')
    print(f'    speed-up (b)/(a): {cached / classic:.0f}x (target: at least 20x)')
    print(f'cache build (decode + crop + resize every photo once): {build:.1f} s, '
          f'{len(files) / build:.0f} images/s')


if __name__ == '__main__':
    main()
