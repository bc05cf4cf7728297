"""The data set a run trains on: images decoded once into the cache, served as shuffled float32 batches
in [-0.5, 0.5] in an order fixed by the seed and the epoch."""
import os

import numpy as np

from dcgan.config import IMAGE_SIZE
from dcgan.data.cache import cached_images
from dcgan.data.images import is_idx_file, to_float
from dcgan.data.sources import data_files
from dcgan.errors import DataError


class Dataset:
    """The images of one data set, decoded once into a memory-mapped cache, served as shuffled float32
    batches in [-0.5, 0.5]."""

    def __init__(self, dataset_name, data_files, image_size=IMAGE_SIZE, max_images=None, seed=0,
                 cache_dir=None, image_mode=None, crop_face=None):
        self.name = dataset_name
        self.image_mode = image_mode or ('L' if dataset_name == 'mnist' else 'RGB')
        crop_face = dataset_name == 'celeba' if crop_face is None else crop_face
        data_files = list(data_files)
        if not data_files:
            raise DataError(f'No {dataset_name} files were given: call download_extract first.')
        if not all(is_idx_file(f) for f in data_files):
            data_files = [f for f in data_files if not is_idx_file(f)][:max_images]
        images = cached_images(dataset_name, data_files, image_size, self.image_mode, crop_face, cache_dir)
        self.images = images[:max_images]
        self.shape = self.images.shape
        self.seed, self.epochs_served = seed, 0
        self.cache_file = (images.filename, images.offset)   # batches are read from here, not via the mapping

    @classmethod
    def from_folder(cls, folder, image_size=IMAGE_SIZE, crop_face=False, image_mode='RGB', **options):
        """A Dataset of every JPEG/PNG/... image under `folder`, optionally with the CelebA face crop."""
        files = data_files(folder)
        name = os.path.basename(os.path.normpath(folder)) or 'images'
        return cls(name, files, image_size, image_mode=image_mode, crop_face=crop_face, **options)

    def get_batches(self, batch_size, epoch=None, start=0):
        """Yield one epoch of (batch_size, H, W, C) float32 batches in [-0.5, 0.5], from batch `start` on.
        Each epoch has its own shuffle, fixed by the seed and the epoch number (by default the next epoch),
        so a resumed run sees exactly the batches an uninterrupted one would."""
        epoch = self.epochs_served if epoch is None else epoch
        self.epochs_served = epoch + 1
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
        with open(self.cache_file[0], 'rb', buffering=0) as cache:
            for first in range(start * batch_size, len(order) - batch_size + 1, batch_size):
                rows = np.sort(order[first:first + batch_size])
                yield to_float(read_rows(cache, self.cache_file[1], self.images.shape[1:], rows))


def read_rows(cache, offset, row_shape, rows):
    """The uint8 images `rows` of an open .npy cache file whose array starts at byte `offset`, read with
    pread: training streams its batches, so its resident memory does not grow with the data set (pages
    touched through a memory map would stay counted in it)."""
    out = np.empty((len(rows),) + tuple(row_shape), np.uint8)
    row_bytes = out[0].nbytes
    for i, row in enumerate(rows):
        out[i] = np.frombuffer(os.pread(cache.fileno(), row_bytes, offset + int(row) * row_bytes),
                               np.uint8).reshape(row_shape)
    return out
