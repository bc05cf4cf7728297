"""The preprocessing cache: every image decoded, cropped and resized once into a uint8 cache file that later
epochs and later runs memory-map instead of decoding again.

A cache file is a 4096-byte header and the images' bytes:

    DCGAN-CACHE\\n{"version", "shape": [N, H, W, C], "dtype": "uint8", "count": N, "source": digest of the
                  source files, "settings": {...}, "crc32": of the image bytes}   (padded with spaces)
    N x H x W x C uint8

It is written with plain writes (never through a memory map, which dies of SIGBUS on a full disk) after the
free space was checked, synced, then renamed into place. Every open checks the header, the file's size, the
source digest and the checksum: a truncated, zeroed or stale cache is rebuilt, saying so, never trained on.
"""
import hashlib
import json
import os
import time
import zlib

import numpy as np
from PIL import Image

from dcgan import disk
from dcgan.atomic import atomic_file
from dcgan.data.archives import read_idx_images
from dcgan.data.images import CELEBA_FACE_FRACTION, ImageTooLarge, is_idx_file, load_image, resize_array
from dcgan.data.lock import FolderLock
from dcgan.errors import DataError
from dcgan.progress import progress

from dcgan.data.folders import writable_dir

CACHE_ENV = 'DLND_CACHE_DIR'       # where preprocessed images are cached (default: ~/.cache/dlnd-face-generation)
CACHE_VERSION = 3                  # bump when preprocessing or the file layout changes, so old caches are rebuilt
                                   # (2: a header and checksum; 3: square images are taken as already cropped)
CACHE_MAGIC = b'DCGAN-CACHE\n'
CACHE_SUFFIX = '.cache'
HEADER_BYTES = 4096                # the header block; the images start right after it
WRITE_ROWS = 256                   # images decoded per plain write
VERIFY_CHUNK = 16 << 20            # bytes read at a time to check the checksum
BUILDING_PREFIX = '.building-'     # a cache file being written
CACHE_FIX = f'Free some space there, or put the cache elsewhere (cache_dir=..., or ${CACHE_ENV}).'


def default_cache_dir():
    """$DLND_CACHE_DIR, or the user's cache folder."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.environ.get(CACHE_ENV) or os.path.join(base, 'dlnd-face-generation')


def source_digest(files):
    """A digest of the source files: the bytes of IDX files (a few, large), the paths, sizes and
    modification times of image files (many, small). It changes whenever a file does."""
    digest = hashlib.sha1()
    for path in files:
        stat = os.stat(path)
        digest.update(f'{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n'.encode())
        if is_idx_file(path):
            with open(path, 'rb') as f:
                digest.update(hashlib.file_digest(f, 'sha1').digest())
    return digest.hexdigest()


def cache_settings(name, image_size, mode, crop_face, source):
    """Everything a cache depends on."""
    return dict(version=CACHE_VERSION, dataset=name, size=image_size, mode=mode,
                crop=CELEBA_FACE_FRACTION if crop_face else None, source=source)


def cache_path(cache_dir, settings):
    """The cache file for these settings; its name carries a digest of all of them."""
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    crop = 'face' if settings['crop'] else 'full'
    return os.path.join(cache_dir, f'{settings["dataset"]}-{settings["size"]}px-{settings["mode"]}-{crop}-'
                                   f'{key}{CACHE_SUFFIX}')


def encode_header(shape, settings, crc):
    """The header block of a cache file of `shape` uint8 images."""
    header = dict(version=CACHE_VERSION, shape=list(shape), dtype='uint8', count=shape[0],
                  source=settings['source'], settings=settings, crc32=crc)
    block = CACHE_MAGIC + json.dumps(header).encode() + b'\n'
    if len(block) > HEADER_BYTES:
        raise ValueError(f'cache header of {len(block)} bytes does not fit in {HEADER_BYTES}')
    return block.ljust(HEADER_BYTES, b' ')


class CacheWriter:
    """Append uint8 image rows to a cache file with plain writes, keeping count and checksum."""

    def __init__(self, f, row_shape):
        self.file, self.row_shape, self.count, self.crc = f, tuple(row_shape), 0, 0
        f.write(bytes(HEADER_BYTES))   # the header is written last, once the count and checksum are known

    def write(self, rows):
        data = np.ascontiguousarray(rows, dtype=np.uint8).tobytes()
        self.file.write(data)
        self.crc = zlib.crc32(data, self.crc)
        self.count += len(rows)

    def finish(self, settings):
        self.file.seek(0)
        self.file.write(encode_header((self.count,) + self.row_shape, settings, self.crc))
        self.file.flush()
        os.fsync(self.file.fileno())   # on disk before the rename: a crash cannot leave a zeroed cache


def write_cache(path, settings, row_shape, fill):
    """Write a cache file at `path` atomically: `fill(writer)` appends the rows. A full disk or a missing
    permission is said as such, and nothing half-written is left."""
    with disk.explained_os_errors(os.path.dirname(path), 'build the image cache', CACHE_FIX):
        with atomic_file(path, prefix=BUILDING_PREFIX) as tmp, open(tmp, 'wb') as f:
            writer = CacheWriter(f, row_shape)
            fill(writer)
            writer.finish(settings)


def decode_rows(files, size, mode, crop_face, writer):
    """Decode `files` into the cache in order, WRITE_ROWS at a time, skipping unreadable and oversized
    images; return ({reason: [files]} of the skipped ones)."""
    channels = 1 if mode == 'L' else 3
    block, filled = np.empty((WRITE_ROWS, size, size, channels), np.uint8), 0
    skipped = {'not readable images': [], 'too large to decode': []}
    for path in progress(files, desc='Decoding images (once, into the cache)', unit='img'):
        try:
            block[filled] = load_image(path, size, mode, crop_face)
            filled += 1
        except ImageTooLarge as error:
            skipped['too large to decode'].append(str(error))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            skipped['not readable images'].append(path)
        if filled == WRITE_ROWS:
            writer.write(block)
            filled = 0
    writer.write(block[:filled])
    return skipped


def build_image_cache(path, settings, files, size, mode, crop_face):
    """Decode, crop and resize every image file once into the cache at `path`, atomically."""
    channels = 1 if mode == 'L' else 3
    disk.require_space(os.path.dirname(path), HEADER_BYTES + len(files) * size * size * channels,
                       f'build the image cache of {len(files)} images', CACHE_FIX)
    report = {}

    def fill(writer):
        report.update(decode_rows(files, size, mode, crop_face, writer))
        if writer.count == 0:
            raise DataError(f'None of the {len(files)} files could be read as images.')

    write_cache(path, settings, (size, size, channels), fill)
    for reason, failed in report.items():
        if failed:
            shown = ', '.join(failed[:5]) + (' ...' if len(failed) > 5 else '')
            print(f'Skipped {len(failed)} of {len(files)} files that are {reason}: {shown}')


def build_idx_cache(path, settings, files, size):
    """Read IDX image files and resize them once into the cache at `path`, atomically."""
    images = resize_array(np.concatenate([read_idx_images(f) for f in files]), size)[..., None]
    disk.require_space(os.path.dirname(path), HEADER_BYTES + images.nbytes,
                       f'build the image cache of {len(images)} images', CACHE_FIX)
    write_cache(path, settings, images.shape[1:], lambda writer: writer.write(images))


def cache_problem(path, settings):
    """Why the cache file at `path` cannot be used for `settings` (a short phrase), or None when it is whole."""
    try:
        size = os.path.getsize(path)
        with open(path, 'rb') as f:
            block = f.read(HEADER_BYTES)
            if not block.startswith(CACHE_MAGIC):
                return 'its header is missing or overwritten'
            try:
                header = json.loads(block[len(CACHE_MAGIC):].decode())
                shape, crc = [int(n) for n in header['shape']], int(header['crc32'])
            except (ValueError, KeyError, TypeError):
                return 'its header cannot be read'
            if header.get('version') != CACHE_VERSION or header.get('dtype') != 'uint8' or len(shape) != 4:
                return 'it was written by another version'
            if header.get('source') != settings['source'] or header.get('settings') != settings:
                return 'it was made from other files or settings'
            expected = HEADER_BYTES + int(np.prod(shape))
            if size != expected or shape[0] != header.get('count') or shape[0] < 1:
                return f'it holds {size} bytes, its header announces {expected}: it is truncated'
            actual = 0
            while chunk := f.read(VERIFY_CHUNK):
                actual = zlib.crc32(chunk, actual)
            if actual != crc:
                return 'its checksum does not match: some of its bytes were damaged'
    except OSError as error:
        return f'it cannot be read ({error.strerror or error})'
    return None


def open_cache(path):
    """The images of a verified cache file, memory-mapped (read-only)."""
    with open(path, 'rb') as f:
        shape = tuple(json.loads(f.read(HEADER_BYTES)[len(CACHE_MAGIC):].decode())['shape'])
    return np.memmap(path, np.uint8, 'r', offset=HEADER_BYTES, shape=shape)


def cached_images(name, files, image_size, mode, crop_face, cache_dir=None):
    """The (N, size, size, C) uint8 images of `files`, memory-mapped from the cache; built on first use (in
    the default cache folder when cache_dir is read-only), and built again when the cache is damaged."""
    preferred = cache_dir or default_cache_dir()
    settings = cache_settings(name, image_size, mode, crop_face, source_digest(files))
    file_name = os.path.basename(cache_path(preferred, settings))
    found = next((f for f in dict.fromkeys((preferred, default_cache_dir()))
                  if os.path.exists(os.path.join(f, file_name))), None)
    if found and not os.access(found, os.W_OK) and cache_problem(os.path.join(found, file_name), settings) is None:
        return open_cache(os.path.join(found, file_name))   # a good cache in a read-only folder: use it as it is
    cache_dir = found if found and os.access(found, os.W_OK) else writable_dir(
        preferred, default_cache_dir(), 'the preprocessing cache')
    path = os.path.join(cache_dir, file_name)
    with FolderLock(cache_dir, f'caching {name}', depth=0):
        if os.path.exists(path):
            problem = cache_problem(path, settings)
            if problem is None:
                return open_cache(path)
            print(f'The cache {path} cannot be used ({problem}): building it again.')
            os.remove(path)
        start = time.perf_counter()
        if all(is_idx_file(f) for f in files):
            build_idx_cache(path, settings, files, image_size)
        else:
            build_image_cache(path, settings, files, image_size, mode, crop_face)
        print(f'Cached {name} at {image_size}x{image_size} in {time.perf_counter() - start:.1f} s: {path}')
        return open_cache(path)
