"""The face-generation course's helper functions, as its notebooks call them: the data laid out where
the course's globs look (data_path/mnist/*.jpg, data_path/img_align_celeba/*.jpg), images read one by one,
and image grids rescaled from their own minimum to maximum. helper.py hands them out under the course's
names; the project's own paths (decode once, fixed [-0.5, 0.5] grids) stay as they are.
"""
import os

import numpy as np
from PIL import Image

from dcgan import pictures
from dcgan.atomic import atomic_dir
from dcgan.data import sources
from dcgan.data.archives import read_idx_images
from dcgan.data.folders import is_writable
from dcgan.data.images import PIXEL_RANGE, center_crop_face, image_files, is_square, to_8bit
from dcgan.errors import DataError
from dcgan.progress import progress

COURSE_FOLDERS = {'mnist': 'mnist', 'celeba': 'img_align_celeba'}   # inside the course's data_path
DIGIT_NAME = 'image_{}.jpg'   # the course's names for the digits it writes out


def course_folder(name, data_path):
    """The folder the course's notebook globs for data set `name`."""
    if name not in COURSE_FOLDERS:
        raise DataError(f'Unknown data set {name!r}: choose one of {", ".join(COURSE_FOLDERS)}.')
    return os.path.join(data_path, COURSE_FOLDERS[name])


def download_extract(name, data_path):
    """The course's download_extract(name, data_path): make data_path/mnist/*.jpg or
    data_path/img_align_celeba/*.jpg exist and return None. A course folder that already holds images is
    used as it is; otherwise the data comes the project's way (found, mirror, download; md5-verified)."""
    folder = course_folder(name, data_path)
    found = image_files(folder) if os.path.isdir(folder) else []
    if found:
        print(f'Found {name} Data: {folder} ({len(found)} images, the course\'s layout), used as it is.')
        return
    if not is_writable(data_path):
        raise DataError(f'{data_path} is read-only and holds no {folder}/*.jpg, where the course\'s notebook '
                        f'looks for {name}. Set data_dir to a writable folder (on Kaggle, /kaggle/working/data) '
                        f'and put {data_path} in ${sources.MIRROR_ENV}, so its archives are read from there.')
    files = sources.download_extract(name, data_path)
    if name == 'mnist':
        write_digits(read_idx_images(files[0], label=files[0]), folder)
    else:
        extracted = os.path.join(data_path, name, sources.DATASETS[name][0].extracted)
        move_into_place(extracted if files[0].startswith(extracted + os.sep) else os.path.commonpath(files), folder)
    print(f'{name} is ready for the course\'s notebook: {folder}')


def write_digits(digits, folder):
    """Write (N, 28, 28) uint8 digits as the course's grayscale JPEGs image_0.jpg ... into `folder`, all at
    once: whatever the folder already holds (the project's own extraction) is kept beside them."""
    with atomic_dir(folder, replace=True) as staged:
        for i, digit in enumerate(progress(digits, desc=f'Writing {folder}', unit='image')):
            Image.fromarray(digit, 'L').save(os.path.join(staged.folder, DIGIT_NAME.format(i)))
        if os.path.isdir(folder):
            for entry in os.listdir(folder):
                os.rename(os.path.join(folder, entry), os.path.join(staged.folder, entry))


def move_into_place(extracted, folder):
    """Move the project's extraction `extracted` to the course's `folder` (the project finds it there too)."""
    if os.path.abspath(extracted) != os.path.abspath(folder):
        os.rename(extracted, folder)
        print(f'Moved {extracted} to {folder}, where the course\'s notebook looks.')


def get_image(image_path, width, height, mode):
    """One image as the course read it: a uint8 array (height, width) for 'L', (height, width, 3) for
    'RGB'. A photo that is not square is cropped to its centred face first; a square one is taken as
    already cropped and only resized."""
    with Image.open(image_path) as image:
        image = to_8bit(image).convert(mode)
        if not is_square(image):
            image = center_crop_face(image)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        return np.asarray(image)


def get_batch(image_files, width, height, mode):
    """The course's batch: float32 (N, height, width, C) with values 0-255."""
    batch = np.array([get_image(path, width, height, mode) for path in image_files]).astype(np.float32)
    return batch.reshape(batch.shape + (1,)) if batch.ndim < 4 else batch


def images_square_grid(images, mode):
    """The course's grid: the largest square number of `images` as one PIL image, rescaled together from
    their minimum to their maximum, so 0-255 batches and [-1, 1] or [-0.5, 0.5] samples all show."""
    images = np.asarray(images, np.float64)
    low, high = images.min(), images.max()
    scaled = (images - low) / (high - low if high > low else 1.0) + PIXEL_RANGE[0]
    return pictures.images_square_grid(scaled, mode)
