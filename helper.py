"""Data helpers for the face-generation notebook: find or download MNIST and CelebA, verify, extract,
crop and resize them to small images in [-0.5, 0.5], and draw image grids and loss curves."""
import gzip
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from dcgan.download import DownloadError, download_file, md5sum

IMAGE_SIZE = 28                    # side of the square images the networks see
CELEBA_FACE_FRACTION = 108 / 178   # the classic face crop: a 108-pixel square of a 178-pixel-wide photo
PIXEL_RANGE = (-0.5, 0.5)          # the value range of every image helper hands out
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')
MIRROR_ENV = 'DLND_DATA_MIRROR'    # a folder holding the official archives under their official names
IDX_IMAGES_MAGIC = 0x00000803      # IDX header: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801      # IDX header: unsigned bytes, 1 dimension
GZIP_MAGIC = b'\x1f\x8b'
COPY_CHUNK = 1 << 20
CACHE_ENV = 'DLND_CACHE_DIR'       # where preprocessed images are cached (default: ~/.cache/dlnd-face-generation)
CACHE_VERSION = 1                  # bump when preprocessing changes, so old caches are rebuilt
TRANSPARENT_BACKGROUND = (0, 0, 0, 255)   # what transparent pixels become
FIGURE_DPI = 100                   # resolution of the saved loss and quality curves


@dataclass(frozen=True)
class Archive:
    """One official file of a data set: its name, md5 checksum and where to download it."""
    name: str
    md5: str
    urls: tuple
    extracted: str   # the file or folder it extracts to, inside the data set's folder


MNIST_URLS = ('http://yann.lecun.com/exdb/mnist/{}',
              'https://ossci-datasets.s3.amazonaws.com/mnist/{}',
              'https://storage.googleapis.com/cvdf-datasets/mnist/{}')

DATASETS = {
    'mnist': (
        Archive('train-images-idx3-ubyte.gz', 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
                tuple(u.format('train-images-idx3-ubyte.gz') for u in MNIST_URLS), 'train-images-idx3-ubyte'),
        Archive('t10k-images-idx3-ubyte.gz', '9fb629c4189551a2d022fa330f9573f3',
                tuple(u.format('t10k-images-idx3-ubyte.gz') for u in MNIST_URLS), 't10k-images-idx3-ubyte'),
    ),
    'celeba': (
        Archive('img_align_celeba.zip', '00d2c5bc6d35e252742224ab0c1e8fcb',
                ('https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM'
                 '&export=download&confirm=t',
                 'https://graal.ift.ulaval.ca/public/celeba/img_align_celeba.zip'),
                'img_align_celeba'),
    ),
}


MNIST_LABELS = {   # the official label archives: the digit classifier of dcgan.metrics learns from them
    'train': Archive('train-labels-idx1-ubyte.gz', 'd53e105ee54ea40749a09fcbcd1e9432', (), 'train-labels-idx1-ubyte'),
    't10k': Archive('t10k-labels-idx1-ubyte.gz', 'ec29112dd5afa0611ce80d1b7f02629c', (), 't10k-labels-idx1-ubyte'),
}


class DataError(Exception):
    """A data file or folder that cannot be used, with what is wrong and how to fix it."""


# ----------------------------------------------------------------------------------------------
# Finding, downloading, verifying and extracting
# ----------------------------------------------------------------------------------------------

def official_archive(name, path):
    """The official Archive of data set `name` whose checksum `path` has, or None."""
    md5 = md5sum(path)
    return next((a for a in DATASETS[name] if a.md5 == md5), None)


def verify_archive(path, archive):
    """Raise DataError unless the file at `path` has the official checksum of `archive`."""
    md5 = md5sum(path)
    if md5 != archive.md5:
        raise DataError(f'{path} has md5 {md5}, but the official {archive.name} has md5 {archive.md5}: '
                        f'the file is corrupt, truncated or a different file. Delete it and run again '
                        f'to download it, or pass your own file explicitly as source=... to use it unverified.')


def download_official(archive, data_dir):
    """Download `archive` into data_dir from its sources in turn (resumable, md5-verified); return its path."""
    dest = os.path.join(data_dir, archive.name)
    try:
        download_file(archive.urls, dest, archive.md5)
    except DownloadError as error:
        raise DataError(f'{error}\nDownload {archive.name} yourself (md5 {archive.md5}) and put it in '
                        f'{os.path.abspath(data_dir)}, or in a mirror folder given as mirror=... or '
                        f'${MIRROR_ENV}, and run again.') from None
    return dest


def safe_member_path(root, member):
    """The path a zip member extracts to under `root`; refuse members that would escape it."""
    target = os.path.realpath(os.path.join(root, member))
    if os.path.commonpath([target, os.path.realpath(root)]) != os.path.realpath(root):
        raise DataError(f'The archive member {member!r} would be written outside {root}; refusing the archive.')
    return target


def extract_zip(path, dest):
    """Extract the zip at `path` so that `dest` holds its images; all or nothing."""
    parent = os.path.dirname(os.path.abspath(dest))
    tmp = tempfile.mkdtemp(prefix='.extract-', dir=parent)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for member in tqdm(members, desc=f'Extracting {os.path.basename(path)}', unit='file'):
                safe_member_path(tmp, member.filename)
                archive.extract(member, tmp)
        entries = [e for e in os.listdir(tmp) if not e.startswith(('.', '__MACOSX'))]
        root = os.path.join(tmp, entries[0]) if len(entries) == 1 and os.path.isdir(
            os.path.join(tmp, entries[0])) else tmp
        if not image_files(root):
            raise DataError(f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}).')
        os.rename(root, dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise DataError(f'{path} is not a readable zip archive ({error}): it is corrupt or truncated. '
                        f'Delete it and run again, or replace it with a good copy.') from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_gzip(path, dest):
    """Decompress the gzip at `path` to `dest` and check that it is an IDX image file; all or nothing."""
    fd, tmp = tempfile.mkstemp(prefix='.extract-', dir=os.path.dirname(os.path.abspath(dest)))
    try:
        with os.fdopen(fd, 'wb') as out, gzip.open(path, 'rb') as source:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        read_idx_images(tmp, label=path)
        os.replace(tmp, dest)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f'{path} is not a readable gzip file ({error}): it is corrupt or truncated. '
                        f'Delete it and run again, or replace it with a good copy.') from error
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def extract(path, dest):
    """Extract a .zip or .gz archive at `path` to `dest` (a folder or an IDX file)."""
    print(f'Extracting {path} to {dest}')
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    if path.endswith('.zip'):
        extract_zip(path, dest)
    elif path.endswith('.gz'):
        extract_gzip(path, dest)
    else:
        raise DataError(f'{path} is neither a .zip nor a .gz archive; pass a folder of images instead.')


def archive_stem(path):
    """The name an archive extracts to: its file name without .zip/.gz."""
    base = os.path.basename(path.rstrip('/'))
    for ext in ('.zip', '.gz'):
        if base.endswith(ext):
            return base[:-len(ext)]
    return base


def data_files(path):
    """The data files under `path`: the IDX file itself, or the images in a folder (sorted)."""
    if os.path.isfile(path):
        return [path]
    files = image_files(path)
    if not files:
        raise DataError(f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}). Put the images there, '
                        f'or delete the folder so that it can be extracted again.')
    return files


def use_own_source(name, source, data_dir):
    """Prepare the user's own archive or folder `source` and return its data files."""
    if not os.path.exists(source):
        raise DataError(f'source={source!r} does not exist: pass the path of an archive or of a folder of images.')
    if os.path.isdir(source):
        print(f'Using your folder {source} as {name} (not checksum-verified).')
        return data_files(source)
    dest = os.path.join(data_dir, name, archive_stem(source))
    if os.path.exists(dest):
        print(f'Using {dest}, extracted earlier from {source}.')
        return data_files(dest)
    archive = official_archive(name, source)
    if archive:
        print(f'{source} is the official {archive.name} (md5 verified).')
    else:
        print(f'{source} is not one of the official {name} archives: using it NOT checksum-verified.')
    extract(source, dest)
    return data_files(dest)


def download_extract(name, data_dir='data', source=None, mirror=None):
    """Make data set `name` ('mnist' or 'celeba') ready under data_dir and return its data files.

    Looks, in order, at: your own `source` (an archive or a folder, used as given); what an earlier run
    extracted; an official archive in data_dir or in the `mirror` folder (or $DLND_DATA_MIRROR); and
    finally downloads the official archive. Official archives are checksum-verified before use.
    """
    if name not in DATASETS:
        raise DataError(f'Unknown data set {name!r}: choose one of {", ".join(DATASETS)}.')
    os.makedirs(data_dir, exist_ok=True)
    if source is not None:
        return use_own_source(name, source, data_dir)
    archives = DATASETS[name]
    for archive in archives:
        for dest in (os.path.join(data_dir, name, archive.extracted), os.path.join(data_dir, archive.extracted)):
            if os.path.exists(dest):
                print(f'Found {name} data in {dest}.')
                return data_files(dest)
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror and not os.path.isdir(mirror):
        raise DataError(f'The mirror folder {mirror!r} does not exist: pass the folder that holds the '
                        f'official archives (mirror=... or ${MIRROR_ENV}).')
    for archive in archives:
        for folder in filter(None, (data_dir, mirror)):
            path = os.path.join(folder, archive.name)
            if os.path.isfile(path):
                verify_archive(path, archive)
                print(f'{path} is the official {archive.name} (md5 verified).')
                dest = os.path.join(data_dir, name, archive.extracted)
                extract(path, dest)
                return data_files(dest)
    archive = archives[0]
    path = download_official(archive, data_dir)
    dest = os.path.join(data_dir, name, archive.extracted)
    extract(path, dest)
    return data_files(dest)


# ----------------------------------------------------------------------------------------------
# Reading images
# ----------------------------------------------------------------------------------------------

def image_files(folder):
    """All image files under `folder`, recursively, sorted by path."""
    found = []
    for root, _, names in os.walk(folder):
        found += [os.path.join(root, n) for n in names
                  if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith('.')]
    return sorted(found)


def read_idx_bytes(path):
    """The bytes of an IDX file, plain or gzip'd."""
    with open(path, 'rb') as f:
        compressed = f.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    try:
        with (gzip.open(path, 'rb') if compressed else open(path, 'rb')) as f:
            return np.frombuffer(f.read(), dtype=np.uint8)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f'{path} is not a readable gzip file ({error}): it is corrupt or truncated.') from error


def read_idx_images(path, label=None):
    """The (N, rows, cols) uint8 array of an IDX image file, plain or gzip'd, after checking its magic
    number and size."""
    label = label or path
    data = read_idx_bytes(path)
    if data.size < 16:
        raise DataError(f'{label} is too short to be an IDX image file ({data.size} bytes).')
    magic, count, rows, cols = (int(v) for v in data[:16].view('>u4'))
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(f'{label} is not an IDX image file: magic number {magic:#010x}, '
                        f'expected {IDX_IMAGES_MAGIC:#010x}.')
    expected = 16 + count * rows * cols
    if data.size != expected:
        raise DataError(f'{label} holds {data.size} bytes, but its header announces {count} images of '
                        f'{rows}x{cols} ({expected} bytes): the file is truncated or corrupt.')
    return data[16:].reshape(count, rows, cols)


def read_idx_labels(path):
    """The (N,) uint8 labels of an IDX label file, plain or gzip'd, after checking its magic number and size."""
    data = read_idx_bytes(path)
    if data.size < 8:
        raise DataError(f'{path} is too short to be an IDX label file ({data.size} bytes).')
    magic, count = (int(v) for v in data[:8].view('>u4'))
    if magic != IDX_LABELS_MAGIC:
        raise DataError(f'{path} is not an IDX label file: magic number {magic:#010x}, '
                        f'expected {IDX_LABELS_MAGIC:#010x}.')
    if data.size != 8 + count:
        raise DataError(f'{path} holds {data.size} bytes, but its header announces {count} labels '
                        f'({8 + count} bytes): the file is truncated or corrupt.')
    return data[8:].copy()


def find_mnist_labels(images_file, count, folders):
    """The `count` labels of an MNIST images file, from the label archive of the same split ('train' or
    't10k') found in one of `folders`, or None with a line saying why (they only feed the quality metrics)."""
    split = os.path.basename(images_file).split('-')[0]
    name = f'{split}-labels-idx1-ubyte.gz'
    path = next((os.path.join(f, name) for f in filter(None, folders) if os.path.isfile(os.path.join(f, name))), None)
    if path is None:
        print(f'No {name} next to the digits: the digit-classifier metrics are skipped.')
        return None
    labels = read_idx_labels(path)
    official = split in MNIST_LABELS and md5sum(path) == MNIST_LABELS[split].md5
    print(f'Labels for the digits: {path} ' + ('(md5 verified).' if official else '(NOT checksum-verified).'))
    if len(labels) < count:
        print(f'{path} holds {len(labels)} labels for {count} digits: the digit-classifier metrics are skipped.')
        return None
    return labels[:count]


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


def load_image(path, size, mode, crop_face):
    """One image file as a (size, size, C) uint8 array, optionally face-cropped first."""
    with Image.open(path) as image:
        needed = math.ceil(size / CELEBA_FACE_FRACTION) if crop_face else size
        image.draft(mode, (needed, needed))   # JPEGs decode at a reduced scale that still covers `size`
        image = to_8bit(image).convert(mode)
        if crop_face:
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


def is_idx_file(path):
    """True when `path` is an (uncompressed) IDX file rather than an image."""
    return not path.lower().endswith(IMAGE_EXTENSIONS)


# ----------------------------------------------------------------------------------------------
# The preprocessing cache: every image decoded, cropped and resized once
# ----------------------------------------------------------------------------------------------

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
    for path in tqdm(files, desc='Decoding images (once, into the cache)', unit='img', mininterval=1.0):
        try:
            out[count] = load_image(path, size, mode, crop_face)
            count += 1
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            failed.append(path)
    return count, failed


def write_npy_atomically(path, images):
    """Write `images` to the .npy file `path` via a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.npy', dir=os.path.dirname(path))
    os.close(fd)
    try:
        np.save(tmp, images)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def build_image_cache(path, files, size, mode, crop_face):
    """Decode, crop and resize every image file once into the uint8 .npy cache at `path`, atomically."""
    fd, tmp = tempfile.mkstemp(prefix='.building-', suffix='.npy', dir=os.path.dirname(path))
    os.close(fd)
    try:
        channels = 1 if mode == 'L' else 3
        out = np.lib.format.open_memmap(tmp, 'w+', np.uint8, (len(files), size, size, channels))
        count, failed = decode_into(out, files, size, mode, crop_face)
        if failed:
            shown = ', '.join(failed[:5]) + (' ...' if len(failed) > 5 else '')
            print(f'Skipped {len(failed)} of {len(files)} files that are not readable images: {shown}')
        if count == 0:
            raise DataError(f'None of the {len(files)} files could be read as images.')
        if failed:
            write_npy_atomically(path, out[:count])
        else:
            out.flush()
            os.replace(tmp, path)
        del out
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def build_idx_cache(path, files, size):
    """Read IDX image files and resize them once into the uint8 .npy cache at `path`, atomically."""
    images = np.concatenate([read_idx_images(f) for f in files])
    write_npy_atomically(path, resize_array(images, size)[..., None])


def cached_images(name, files, image_size, mode, crop_face, cache_dir=None):
    """The (N, size, size, C) uint8 images of `files`, memory-mapped from the cache; built on first use."""
    cache_dir = cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    path = cache_path(cache_dir, name, files, image_size, mode, crop_face)
    if not os.path.exists(path):
        start = time.perf_counter()
        if all(is_idx_file(f) for f in files):
            build_idx_cache(path, files, image_size)
        else:
            build_image_cache(path, files, image_size, mode, crop_face)
        print(f'Cached {name} at {image_size}x{image_size} in {time.perf_counter() - start:.1f} s: {path}')
    return np.load(path, mmap_mode='r')


# ----------------------------------------------------------------------------------------------
# The data set the notebook trains on
# ----------------------------------------------------------------------------------------------

class Dataset:
    """The images of one data set, decoded once into a memory-mapped cache, served as shuffled float32
    batches in [-0.5, 0.5]."""

    def __init__(self, dataset_name, data_files, image_size=IMAGE_SIZE, max_images=None, seed=0,
                 cache_dir=None, image_mode=None, crop_face=None):
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


def to_float(images):
    """uint8 images [0, 255] -> float32 in [-0.5, 0.5]."""
    return images.astype(np.float32) / 255 + PIXEL_RANGE[0]


def to_uint8(images):
    """float images in [-0.5, 0.5] -> uint8 [0, 255], clipping what falls outside."""
    return np.clip(np.rint((np.asarray(images) - PIXEL_RANGE[0]) * 255), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Pictures
# ----------------------------------------------------------------------------------------------

def images_grid(images, columns, mode):
    """A PIL image tiling `images` (values in [-0.5, 0.5]) in rows of `columns`."""
    images = to_uint8(images)
    count, height, width, channels = images.shape
    rows = count // columns
    grid = images[:rows * columns].reshape(rows, columns, height, width, channels).swapaxes(1, 2)
    grid = grid.reshape(rows * height, columns * width, channels)
    return Image.fromarray(grid[..., 0] if mode == 'L' else grid, mode)


def images_square_grid(images, mode):
    """A PIL image tiling the largest square number of `images` (values in [-0.5, 0.5]) in a grid."""
    return images_grid(images, int(math.floor(math.sqrt(len(images)))), mode)


def save_image(image, path):
    """Save a PIL image atomically (write a temporary file, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp.png'
    image.save(tmp)
    os.replace(tmp, path)


def smooth(values, window):
    """Moving average of `values` over `window` points (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(len(values)) + 1 - counts]) / counts


def save_grid(images, mode, path, scale=2):
    """Save a square grid of `images` to `path`, enlarged `scale` times so small images stay readable."""
    save_enlarged(images_square_grid(images, mode), path, scale)


def save_enlarged(image, path, scale=2):
    """Save a PIL image enlarged `scale` times with sharp pixels (nearest neighbour), atomically."""
    save_image(image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST), path)


def show_images(images, mode, title=''):
    """Show a square grid of `images` (values in [-0.5, 0.5]) in the notebook."""
    import matplotlib.pyplot as plt
    plt.figure(figsize=(4, 4))
    plt.imshow(images_square_grid(images, mode), cmap='gray' if mode == 'L' else None)
    plt.title(title)
    plt.axis('off')
    plt.show()
    plt.close()


def plot_losses(losses, title, path=None, window=25):
    """Plot both networks' losses per step (faint) and their moving average; save to `path` if given."""
    import matplotlib.pyplot as plt
    losses = np.asarray(losses)
    figure = plt.figure(figsize=(8, 4))
    steps = np.arange(1, len(losses) + 1)
    for column, label, colour in ((0, 'Discriminator', 'tab:blue'), (1, 'Generator', 'tab:orange')):
        plt.plot(steps, losses[:, column], color=colour, alpha=0.25, linewidth=0.8)
        plt.plot(steps, smooth(losses[:, column], window), color=colour, label=f'{label} (mean of {window})')
    plt.xlabel('training step (batch)')
    plt.ylabel('loss')
    plt.title(title)
    plt.legend()
    plt.grid(alpha=0.3)
    if path:
        save_figure(figure, path)
    plt.show()
    plt.close(figure)


def save_figure(figure, path):
    """Save a matplotlib figure as a PNG, atomically (a temporary file, then a rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path + '.tmp.png', dpi=FIGURE_DPI, bbox_inches='tight')
    os.replace(path + '.tmp.png', path)


def save_losses(losses, path):
    """Write the per-step losses as CSV (step, d_loss, g_loss)."""
    losses = np.asarray(losses)
    table = np.column_stack([np.arange(1, len(losses) + 1), losses])
    np.savetxt(path, table, delimiter=',', header='step,d_loss,g_loss', comments='', fmt=['%d', '%.6f', '%.6f'])


def save_animation(frame_paths, path, seconds_per_frame=0.4):
    """Save image files as an animated GIF (looping, the last frame held longer), atomically."""
    frames = [Image.open(p).convert('RGB') for p in frame_paths]
    durations = [int(seconds_per_frame * 1000)] * (len(frames) - 1) + [int(seconds_per_frame * 5000)]
    tmp = path + '.tmp.gif'
    frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    os.replace(tmp, path)


def save_json(data, path):
    """Write `data` as indented JSON, atomically."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1, default=float)
    os.replace(tmp, path)


def plot_quality(history, real_vs_real, title, path=None):
    """Plot the quality numbers logged during training (lower is better), each beside the value real
    images get (dashed), and save to `path` if given."""
    import matplotlib.pyplot as plt
    curves = [(k, label) for k, label in (('swd', 'SWD x1e3'), ('classifier_fd', 'digit-classifier FD'))
              if history and k in history[0]]
    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    steps = [h['step'] for h in history]
    for axis, (key, label) in zip(axes[0], curves):
        axis.plot(steps, [h[key] for h in history], marker='o', label='generated')
        axis.axhline(real_vs_real[key], color='gray', linestyle='--', label='real images')
        axis.set_xlabel('training step (batch)')
        axis.set_ylabel(label + ' (lower is better)')
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    if path:
        save_figure(figure, path)
    plt.show()
    plt.close(figure)
