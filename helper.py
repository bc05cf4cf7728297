"""The course-facing helpers the notebook uses: get MNIST and CelebA, serve them as batches in [-0.5, 0.5],
and draw image grids and curves. The work is done in the dcgan package; this module only gathers the
names a face-generation notebook calls (imports point one way: helper -> dcgan).

The course's own calls keep the course's behaviour (dcgan/course.py):
    download_extract(name, data_path)  the course's layout data_path/mnist/*.jpg, data_path/img_align_celeba/*.jpg
    get_image, get_batch               images read one by one, 0-255 float batches
    images_square_grid(images, mode)   a square PIL grid, rescaled from its own minimum to maximum
    Dataset(name, files)               .shape, .image_mode, get_batches(batch_size): float32 in [-0.5, 0.5]

The project's faster paths:
    download_extract(name, data_dir, source=..., mirror=...)   find, download, verify, extract; return the files
    Dataset(name, files, image_size, ...)    decoded once into a cache, shuffled batches
    show_images, save_grid, images_grid, plot_losses, plot_quality, ...   pictures in the fixed [-0.5, 0.5] range

Importing helper also makes `tf.contrib.layers`' few names course notebooks used available on
tensorflow.compat.v1 (dcgan/tf_contrib_compat.py).
"""
from dcgan import course, tf_contrib_compat
from dcgan.config import IMAGE_SIZE  # noqa: F401
from dcgan.course import get_batch, get_image, images_square_grid  # noqa: F401
from dcgan.data import sources
from dcgan.data.archives import read_idx_images, read_idx_labels  # noqa: F401
from dcgan.data.dataset import Dataset  # noqa: F401
from dcgan.data.images import CELEBA_FACE_FRACTION, PIXEL_RANGE, center_crop_face, to_float, to_uint8  # noqa: F401
from dcgan.data.sources import DATASETS, MIRROR_ENV, find_mnist_labels  # noqa: F401
from dcgan.errors import DataError  # noqa: F401
from dcgan.pictures import (images_grid, plot_losses, plot_quality, save_animation, save_grid,  # noqa: F401
                            save_image, show_images)

tf_contrib_compat.install()


def download_extract(database_name, data_path='data', **options):
    """Called the course's way, download_extract(name, data_path), lay the data set out where the course's
    notebook globs for it and return None; called with the project's keywords (source=..., mirror=...),
    make it ready under data_path the project's way and return its data files."""
    if options:
        return sources.download_extract(database_name, data_path, **options)
    return course.download_extract(database_name, data_path)
