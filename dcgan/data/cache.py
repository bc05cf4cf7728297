"""The preprocessing cache: every image decoded, cropped and resized once into a uint8 .npy file that later
epochs and later runs memory-map instead of decoding again."""
import hashlib
import json
import os
import time

import numpy as np
from PIL import Image
from dcgan.progress import progress

from dcgan.atomic import atomic_file, write_npy
from dcgan.data.archives import read_idx_images
from dcgan.data.folders import writable_dir
from dcgan.data.images import CELEBA_FACE_FRACTION, is_idx_file, load_image, resize_array
from dcgan.errors import DataError

CACHE_ENV = 'DLND_CACHE_DIR'       # where preprocessed images are cached (default: ~/.cache/dlnd-face-generation)
CACHE_VERSION = 2                  # bump when preprocessing changes, so old caches are rebuilt (2: square
                                   # images are taken as already cropped)


def default_cache_dir():
    """$DLND_CACHE_DIR, or the user's cache folder."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.environ.get(CACHE_ENV) or os.path.join(base, 'dlnd-face-generation')


def source_fingerprint(files):
    """A digest of the source files' paths, sizes and modification times: changes when any file does."""
    digest = hashlib.sha1()
    for path in files:
        stat = os.stat(path)
        digest.update(f'{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n'.encode())
    return digest.hexdigest()


def cache_path(cache_dir, name, files, image_size, mode, crop_face):
    """The cache file for these images and settings; its name carries a digest of everything it depends on."""
    settings = dict(version=CACHE_VERSION, dataset=name, size=image_size, mode=mode,
                    crop=CELEBA_FACE_FRACTION if crop_face else None, source=source_fingerprint(files))
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    crop = 'face' if crop_face else 'full'
    return os.path.join(cache_dir, f'{name}-{image_size}px-{mode}-{crop}-{key}.npy')


def decode_into(out, files, size, mode, crop_face):
    """Decode `files` into the rows of `out` in order, skipping unreadable ones; return (count, failed)."""
    count, failed = 0, []
    for path in progress(files, desc='Decoding images (once, into the cache)', unit='img'):
        try:
            out[count] = load_image(path, size, mode, crop_face)
            count += 1
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            failed.append(path)
    return count, failed


BUILDING_PREFIX = '.building-'    # a cache file being written


def build_image_cache(path, files, size, mode, crop_face):
    """Decode, crop and resize every image file once into the uint8 .npy cache at `path`, atomically."""
    with atomic_file(path, prefix=BUILDING_PREFIX) as tmp:
        channels = 1 if mode == 'L' else 3
        out = np.lib.format.open_memmap(tmp, 'w+', np.uint8, (len(files), size, size, channels))
        count, failed = decode_into(out, files, size, mode, crop_face)
        if failed:
            shown = ', '.join(failed[:5]) + (' ...' if len(failed) > 5 else '')
            print(f'Skipped {len(failed)} of {len(files)} files that are not readable images: {shown}')
        if count == 0:
            raise DataError(f'None of the {len(files)} files could be read as images.')
        if failed:   # keep the readable rows only: rewrite the file with the first `count` of them
            readable = np.array(out[:count])
            del out
            np.save(tmp, readable)
        else:
            out.flush()
            del out


def build_idx_cache(path, files, size):
    """Read IDX image files and resize them once into the uint8 .npy cache at `path`, atomically."""
    images = np.concatenate([read_idx_images(f) for f in files])
    write_npy(resize_array(images, size)[..., None], path)


def cached_images(name, files, image_size, mode, crop_face, cache_dir=None):
    """The (N, size, size, C) uint8 images of `files`, memory-mapped from the cache; built on first use
    (in the default cache folder when cache_dir is read-only)."""
    preferred = cache_dir or default_cache_dir()
    file_name = os.path.basename(cache_path(preferred, name, files, image_size, mode, crop_face))
    path = next((p for p in (os.path.join(f, file_name) for f in (preferred, default_cache_dir()))
                 if os.path.exists(p)), None)
    if path is None:
        path = os.path.join(writable_dir(preferred, default_cache_dir(), 'the preprocessing cache'), file_name)
        start = time.perf_counter()
        if all(is_idx_file(f) for f in files):
            build_idx_cache(path, files, image_size)
        else:
            build_image_cache(path, files, image_size, mode, crop_face)
        print(f'Cached {name} at {image_size}x{image_size} in {time.perf_counter() - start:.1f} s: {path}')
    return np.load(path, mmap_mode='r')
