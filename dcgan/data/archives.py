"""Archive formats: zip and gzip extraction (all or nothing, no member outside the target, bounded in size,
room checked first) and the IDX files MNIST comes in.

What goes wrong is said as what it is: a damaged archive ("corrupt or truncated: replace it"), a full disk
(how much is needed and where), no permission, or an archive larger than its limit (a decompression bomb
or not the data set); a full disk is never reported as a damaged archive.
"""
import contextlib
import gzip
import json
import os
import zipfile
import zlib

import numpy as np

from dcgan import disk
from dcgan.atomic import atomic_dir, atomic_file, write_json
from dcgan.data.images import IMAGE_EXTENSIONS, image_files
from dcgan.download import md5sum
from dcgan.errors import DataError
from dcgan.progress import progress

IDX_IMAGES_MAGIC = 0x00000803      # IDX header: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801      # IDX header: unsigned bytes, 1 dimension
GZIP_MAGIC = b'\x1f\x8b'
COPY_CHUNK = 1 << 20
IDX_READ_LIMIT = 1 << 30           # bytes an IDX file may announce when read into memory (the official: 47 MB)
EXTRACT_PREFIX = '.extract-'       # temporary extraction folders and files
RECORD_SUFFIX = '.source.json'     # beside an extraction: which archive (size, mtime, md5) it came from
DATA_DIR_FIX = ('Free some space there, or use another data folder (dcgan train --data-dir DIR, or data_dir=... '
                'in the notebook).')


class ArchiveUnreadable(Exception):
    """Reading the archive itself failed: it is damaged or truncated (never a problem of the target disk)."""


class TooLong(Exception):
    """A stream gave more bytes than it was allowed to."""


def safe_member_path(root, member):
    """The path a zip member extracts to under `root`; refuse members that would escape it."""
    target = os.path.realpath(os.path.join(root, member))
    if os.path.commonpath([target, os.path.realpath(root)]) != os.path.realpath(root):
        raise DataError(f'The archive member {member!r} would be written outside {root}; refusing the archive.')
    return target


def read_archive(source, size):
    """Up to `size` bytes from an archive stream; a read error means the archive is damaged."""
    try:
        return source.read(size)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise ArchiveUnreadable(error) from error


def copy_stream(source, out, limit):
    """Copy an archive stream into `out`, refusing more than `limit` bytes; return how many were copied.
    Read errors are the archive's (ArchiveUnreadable); write errors stay OSErrors of the target disk."""
    copied = 0
    while True:
        chunk = read_archive(source, min(COPY_CHUNK, limit - copied + 1))
        if not chunk:
            return copied
        copied += len(chunk)
        if copied > limit:
            raise TooLong(limit)
        out.write(chunk)


def too_large(path, size, limit, what):
    """The DataError for an archive that would decompress to more than its limit."""
    return DataError(f'{path} would decompress to {disk.size_text(size)} ({what}), more than the '
                     f'{disk.size_text(limit)} allowed for this data set: it is a decompression bomb or not '
                     f'this data set. If it really is your data, extract it yourself and pass the folder (or '
                     f'the IDX file) instead.')


def damaged(path, kind, error):
    """The DataError for an archive that cannot be read."""
    return DataError(f'{path} is not a readable {kind} ({error}): it is corrupt or truncated. '
                     f'Delete it and run again, or replace it with a good copy.')


def extract_zip(path, dest, limit):
    """Extract the zip at `path` so that `dest` holds its images; all or nothing, at most `limit` bytes."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ArchiveUnreadable(error) from error
    with archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > limit:
            raise too_large(path, total, limit, f'{len(members)} members')
        folder = os.path.dirname(os.path.abspath(dest))
        disk.require_space(folder, total, f'extract {os.path.basename(path)}', DATA_DIR_FIX)
        with atomic_dir(dest, replace=True, prefix=EXTRACT_PREFIX) as staged:
            for member in progress(members, desc=f'Extracting {os.path.basename(path)}', unit='file'):
                target = safe_member_path(staged.folder, member.filename)
                if member.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                try:
                    source = archive.open(member)
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as error:
                    raise ArchiveUnreadable(error) from error
                with source, open(target, 'wb') as out:
                    copy_stream(source, out, member.file_size)
            entries = [e for e in os.listdir(staged.folder) if not e.startswith(('.', '__MACOSX'))]
            if len(entries) == 1 and os.path.isdir(os.path.join(staged.folder, entries[0])):
                staged.publish = os.path.join(staged.folder, entries[0])   # the archive's own top folder
            if not image_files(staged.publish, report=False):
                raise DataError(f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}).')


def idx_declared_bytes(header, magic, label):
    """The size an IDX file's header announces (header included); refuse a wrong magic or zero items."""
    dims = magic & 0xFF
    kind = 'image' if magic == IDX_IMAGES_MAGIC else 'label'
    if len(header) < 4 + 4 * dims:
        raise DataError(f'{label} is too short to be an IDX {kind} file ({len(header)} bytes).')
    values = [int(v) for v in np.frombuffer(header[:4 + 4 * dims], '>u4')]
    if values[0] != magic:
        raise DataError(f'{label} is not an IDX {kind} file: magic number {values[0]:#010x}, '
                        f'expected {magic:#010x}.')
    if values[1] == 0:
        raise DataError(f'{label} holds no {kind}s: its header announces 0. Use a file with data in it.')
    return 4 + 4 * dims + int(np.prod(values[1:], dtype=np.int64))


def announced(header, magic):
    """'60000 images of 28x28' / '100 labels': what an IDX header says it holds."""
    values = [int(v) for v in np.frombuffer(header[:4 + 4 * (magic & 0xFF)], '>u4')]
    if magic == IDX_IMAGES_MAGIC:
        return f'{values[1]} images of {values[2]}x{values[3]}'
    return f'{values[1]} labels'


def extract_gzip(path, dest, limit):
    """Decompress the gzip'd IDX image file at `path` to `dest`; all or nothing. The IDX header (the first 16
    bytes) says how big the file is: a size above `limit`, or more bytes than announced, is refused."""
    folder = os.path.dirname(os.path.abspath(dest))
    with atomic_file(dest, prefix=EXTRACT_PREFIX) as tmp, open(tmp, 'wb') as out:
        with gzip.open(path, 'rb') as source:
            header = read_archive(source, 16)
            size = idx_declared_bytes(header, IDX_IMAGES_MAGIC, path)
            if size > limit:
                raise too_large(path, size, limit, f'its header announces {announced(header, IDX_IMAGES_MAGIC)}')
            disk.require_space(folder, size, f'extract {os.path.basename(path)}', DATA_DIR_FIX)
            out.write(header)
            try:
                copied = len(header) + copy_stream(source, out, size - len(header))
            except TooLong:
                raise DataError(f'{path} holds more bytes than its header announces '
                                f'({announced(header, IDX_IMAGES_MAGIC)}, {size} bytes): it is corrupt, or a '
                                f'decompression bomb. Replace it with a good copy.') from None
        if copied != size:
            raise DataError(f'{path} holds {copied} bytes, but its header announces '
                            f'{announced(header, IDX_IMAGES_MAGIC)} ({size} bytes): the file is truncated or '
                            f'corrupt. Delete it and run again, or replace it with a good copy.')


def extract(path, dest, limit):
    """Extract a .zip or .gz archive at `path` to `dest` (a folder or an IDX file), at most `limit` bytes.
    Say a damaged archive, a full disk and a missing permission apart; a folder made for `dest` goes again
    when nothing could be extracted."""
    if not path.endswith(('.zip', '.gz')):
        raise DataError(f'{path} is neither a .zip nor a .gz archive; pass a folder of images instead.')
    print(f'Extracting {path} to {dest}')
    folder = os.path.dirname(os.path.abspath(dest))
    made = not os.path.exists(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        extract_explained(path, dest, limit, folder)
    except BaseException:
        if made:
            with contextlib.suppress(OSError):   # rmdir: only while it is empty
                os.rmdir(folder)
        raise


def extract_explained(path, dest, limit, folder):
    """extract()'s work, its errors said as a damaged archive, a full disk or a missing permission."""
    what = f'extract {os.path.basename(path)}'
    try:
        (extract_zip if path.endswith('.zip') else extract_gzip)(path, dest, limit)
    except ArchiveUnreadable as unreadable:
        error = unreadable.__cause__
        if isinstance(error, OSError) and error.errno in disk.PERMISSION_ERRNOS:
            raise disk.no_permission(error, os.path.dirname(os.path.abspath(path)), 'read the archive') from error
        raise damaged(path, 'zip archive' if path.endswith('.zip') else 'gzip file', error) from error
    except OSError as error:   # writing failed: the archive itself was read without error
        explained = disk.explain(error, folder, what, DATA_DIR_FIX)
        raise explained or DataError(f'Could not {what} to {dest}: {error}. The archive itself was read '
                                     f'without error; check the target folder and run again.') from error


def record_path(dest):
    """Where the record of an extraction's source lives: a hidden file beside it."""
    return os.path.join(os.path.dirname(dest), f'.{os.path.basename(dest)}{RECORD_SUFFIX}')


def archive_identity(path, md5=None):
    """{size, mtime_ns, md5} of an archive: what an extraction is keyed by."""
    stat = os.stat(path)
    return dict(size=stat.st_size, mtime_ns=stat.st_mtime_ns, md5=md5 or md5sum(path))


def write_record(dest, archive, md5=None):
    """Record which archive (by content) `dest` was extracted from."""
    write_json(dict(archive=os.path.abspath(archive), **archive_identity(archive, md5)), record_path(dest))


def read_record(dest):
    """The record of `dest`'s source, or None when there is none (or it cannot be read)."""
    try:
        with open(record_path(dest)) as f:
            record = json.load(f)
        record['size'], record['mtime_ns'], record['md5']
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def extracted_from(dest, archive):
    """True when `dest` holds an extraction of this archive's content: the same size and modification time
    as recorded (no reading), or the same md5 after a touch or a copy (then the record is brought up to date)."""
    record = read_record(dest)
    if record is None:
        return False
    stat = os.stat(archive)
    if (stat.st_size, stat.st_mtime_ns) == (record['size'], record['mtime_ns']):
        return True
    identity = archive_identity(archive)
    if identity['md5'] != record['md5']:
        return False
    write_record(dest, archive, identity['md5'])
    return True


def archive_stem(path):
    """The name an archive extracts to: its file name without .zip/.gz."""
    base = os.path.basename(path.rstrip('/'))
    for ext in ('.zip', '.gz'):
        if base.endswith(ext):
            return base[:-len(ext)]
    return base


def open_idx(path):
    """A binary stream of an IDX file, decompressing it when it is gzip'd."""
    with open(path, 'rb') as f:
        compressed = f.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    return gzip.open(path, 'rb') if compressed else open(path, 'rb')


def read_idx(path, magic, label=None, limit=IDX_READ_LIMIT):
    """(header, the uint8 items) of an IDX file, plain or gzip'd, after checking its magic number, that
    it holds something, that its announced size is below `limit`, and that it holds exactly that much."""
    label = label or path
    dims = magic & 0xFF
    try:
        with open_idx(path) as f:
            header = f.read(4 + 4 * dims)
            size = idx_declared_bytes(header, magic, label)
            if size > limit:
                raise too_large(label, size, limit, f'its header announces {announced(header, magic)}')
            body = f.read(size - len(header))
            extra = f.read(1)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f'{label} is not a readable gzip file ({error}): it is corrupt or truncated.') from error
    if len(body) != size - len(header) or extra:
        held = f'{len(header) + len(body)} bytes' if not extra else 'more bytes'
        raise DataError(f'{label} holds {held}, but its header announces {announced(header, magic)} '
                        f'({size} bytes): the file is truncated or corrupt.')
    return header, np.frombuffer(body, dtype=np.uint8)


def read_idx_images(path, label=None):
    """The (N, rows, cols) uint8 array of an IDX image file, plain or gzip'd, after checking its magic
    number and size."""
    header, data = read_idx(path, IDX_IMAGES_MAGIC, label)
    _, count, rows, cols = (int(v) for v in np.frombuffer(header, '>u4'))
    return data.reshape(count, rows, cols)


def read_idx_labels(path):
    """The (N,) uint8 labels of an IDX label file, plain or gzip'd, after checking its magic number and size."""
    return read_idx(path, IDX_LABELS_MAGIC)[1].copy()


def is_idx_images(path):
    """True when `path` is a plain (uncompressed) IDX image file."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError:
        return False
    return len(head) == 4 and int.from_bytes(head, 'big') == IDX_IMAGES_MAGIC
