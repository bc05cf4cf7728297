"""Archive formats: zip and gzip extraction (all or nothing, no member outside the target) and the IDX
files MNIST comes in."""
import gzip
import os
import shutil
import zipfile
import zlib

import numpy as np
from dcgan.progress import progress

from dcgan.atomic import atomic_dir, atomic_file
from dcgan.data.images import IMAGE_EXTENSIONS, image_files
from dcgan.errors import DataError

IDX_IMAGES_MAGIC = 0x00000803      # IDX header: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801      # IDX header: unsigned bytes, 1 dimension
GZIP_MAGIC = b'\x1f\x8b'
COPY_CHUNK = 1 << 20


def safe_member_path(root, member):
    """The path a zip member extracts to under `root`; refuse members that would escape it."""
    target = os.path.realpath(os.path.join(root, member))
    if os.path.commonpath([target, os.path.realpath(root)]) != os.path.realpath(root):
        raise DataError(f'The archive member {member!r} would be written outside {root}; refusing the archive.')
    return target


EXTRACT_PREFIX = '.extract-'      # temporary extraction folders and files


def extract_zip(path, dest):
    """Extract the zip at `path` so that `dest` holds its images; all or nothing."""
    try:
        with atomic_dir(dest, prefix=EXTRACT_PREFIX) as staged, zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for member in progress(members, desc=f'Extracting {os.path.basename(path)}', unit='file'):
                safe_member_path(staged.folder, member.filename)
                archive.extract(member, staged.folder)
            entries = [e for e in os.listdir(staged.folder) if not e.startswith(('.', '__MACOSX'))]
            if len(entries) == 1 and os.path.isdir(os.path.join(staged.folder, entries[0])):
                staged.publish = os.path.join(staged.folder, entries[0])   # the archive's own top folder
            if not image_files(staged.publish):
                raise DataError(f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}).')
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise DataError(f'{path} is not a readable zip archive ({error}): it is corrupt or truncated. '
                        f'Delete it and run again, or replace it with a good copy.') from error


def extract_gzip(path, dest):
    """Decompress the gzip at `path` to `dest` and check that it is an IDX image file; all or nothing."""
    try:
        with atomic_file(dest, prefix=EXTRACT_PREFIX) as tmp:
            with open(tmp, 'wb') as out, gzip.open(path, 'rb') as source:
                shutil.copyfileobj(source, out, COPY_CHUNK)
            read_idx_images(tmp, label=path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f'{path} is not a readable gzip file ({error}): it is corrupt or truncated. '
                        f'Delete it and run again, or replace it with a good copy.') from error


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
