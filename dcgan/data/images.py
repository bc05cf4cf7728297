"""Reading images: finding image files, decoding any mode to 8 bits, the CelebA face crop, resizing, and
the conversions between uint8 pixels and the float32 range [-0.5, 0.5] every image is handed out in."""
import math
import os
import warnings

import numpy as np
from PIL import Image

CELEBA_FACE_FRACTION = 108 / 178   # the classic face crop: a 108-pixel square of a 178-pixel-wide photo
PIXEL_RANGE = (-0.5, 0.5)          # the value range of every image helper hands out
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')
TRANSPARENT_BACKGROUND = (0, 0, 0, 255)   # what transparent pixels become
MAX_IMAGE_PIXELS = 64_000_000   # 8000 x 8000, more than a 61-megapixel photo: larger images are not decoded


class ImageTooLarge(ValueError):
    """An image with more pixels than MAX_IMAGE_PIXELS (a decompression bomb, or not a photo to train on)."""


def inside(path, root):
    """True when `path`, with every symbolic link resolved, lies under the folder `root`."""
    root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), root]) == root


def image_files(folder, report=True):
    """All image files under `folder`, recursively, sorted by path. Symbolic links that point outside the
    folder are not followed (and, with `report`, named once); links to other files inside it are fine."""
    found, outside = [], []
    for root, _, names in os.walk(folder):
        for name in names:
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.'):
                path = os.path.join(root, name)
                (found if not os.path.islink(path) or inside(path, folder) else outside).append(path)
    if outside and report:
        shown = ', '.join(f'{p} -> {os.path.realpath(p)}' for p in sorted(outside)[:3])
        print(f'Not following {len(outside)} symbolic link(s) in {folder} that point outside it: {shown}'
              + (' ...' if len(outside) > 3 else '') + '. Copy those images into the folder to use them.')
    return sorted(found)


def is_idx_file(path):
    """True when `path` is an (uncompressed) IDX file rather than an image."""
    return not path.lower().endswith(IMAGE_EXTENSIONS)


def is_square(image):
    """True for a square image: taken as already cropped to its face (aligned CelebA photos are 178x218,
    never square; the course's later processed_celeba_small faces are 64x64), so it is only resized."""
    return image.width == image.height


def center_crop_face(image, fraction=CELEBA_FACE_FRACTION):
    """The centred square of side `fraction` x width: the classic CelebA face crop, at any photo size."""
    width, height = image.size
    side = round(width * fraction)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def to_8bit(image):
    """A PIL image of any mode as 8-bit 'L' or 'RGB': 16/32-bit grayscale is scaled (not clipped) to
    8 bits, and transparent pixels are laid over a black background instead of showing hidden colours."""
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F'):
        values = np.asarray(image, dtype=np.float64)
        scale = 255 / 65535 if values.max() > 255 else 1
        return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), 'L')
    if image.mode in ('RGBA', 'LA', 'PA') or (image.mode == 'P' and 'transparency' in image.info):
        rgba = image.convert('RGBA')
        background = Image.new('RGBA', rgba.size, TRANSPARENT_BACKGROUND)
        return Image.alpha_composite(background, rgba).convert('RGB')
    return image


def open_image(path):
    """Open an image file lazily, refusing one of more than MAX_IMAGE_PIXELS before anything is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter('error', Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageTooLarge(f'{path}: {error}') from None
    if image.width * image.height > MAX_IMAGE_PIXELS:
        image.close()
        raise ImageTooLarge(f'{path}: {image.width}x{image.height} pixels, more than {MAX_IMAGE_PIXELS:,}')
    return image


def load_image(path, size, mode, crop_face):
    """One image file as a (size, size, C) uint8 array, optionally face-cropped first (unless square)."""
    with open_image(path) as image:
        needed = math.ceil(size / CELEBA_FACE_FRACTION) if crop_face else size
        image.draft(mode, (needed, needed))   # JPEGs decode at a reduced scale that still covers `size`
        image = to_8bit(image).convert(mode)
        if crop_face and not is_square(image):
            image = center_crop_face(image)
        image = image.resize((size, size), Image.Resampling.LANCZOS)
        array = np.asarray(image, dtype=np.uint8)
    return array.reshape(size, size, -1)


def resize_array(images, size):
    """Resize a (N, H, W) uint8 array of grayscale images to (N, size, size)."""
    if images.shape[1:] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.LANCZOS))
                     for im in images])


def to_float(images):
    """uint8 images [0, 255] -> float32 in [-0.5, 0.5]."""
    return images.astype(np.float32) / 255 + PIXEL_RANGE[0]


def to_uint8(images):
    """float images in [-0.5, 0.5] -> uint8 [0, 255], clipping what falls outside."""
    return np.clip(np.rint((np.asarray(images) - PIXEL_RANGE[0]) * 255), 0, 255).astype(np.uint8)
