"""The course-facing helpers the notebook uses: get MNIST and CelebA, serve them as batches in [-0.5, 0.5],
and draw image grids and curves. The work is done in the dcgan package; this module only gathers the
names a face-generation notebook calls (imports point one way: helper -> dcgan).

    download_extract(name, data_dir)   find, download, verify and extract a data set; return its files
    Dataset(name, files)               .shape, .image_mode, .images, get_batches(batch_size)
    images_square_grid(images, mode)   a square PIL grid of images
    show_images, plot_losses, plot_quality, save_grid, ...   pictures
"""
from dcgan.config import IMAGE_SIZE  # noqa: F401
from dcgan.data.archives import read_idx_images, read_idx_labels  # noqa: F401
from dcgan.data.dataset import Dataset  # noqa: F401
from dcgan.data.images import CELEBA_FACE_FRACTION, PIXEL_RANGE, center_crop_face, to_float, to_uint8  # noqa: F401
from dcgan.data.sources import DATASETS, MIRROR_ENV, download_extract, find_mnist_labels  # noqa: F401
from dcgan.errors import DataError  # noqa: F401
from dcgan.pictures import (images_grid, images_square_grid, plot_losses, plot_quality, save_animation,  # noqa: F401
                            save_grid, save_image, show_images)
