"""The one way this project writes files and folders: into a temporary name beside the target, renamed
into place only when complete, so a crash, a kill or a full disk never leaves a half-written result.

Temporary names start with TEMP_PREFIX (or a caller's prefix) and the writer's process id, so they can be
found and removed later, and never while their writer still runs.
"""
import contextlib
import json
import os
import secrets
import shutil
import tempfile

import numpy as np

TEMP_PREFIX = '.tmp-'


def _temp_prefix(prefix):
    """PREFIX + 'PID-': whoever cleans up can tell a live writer's temporary file from a stale one."""
    return f'{prefix}{os.getpid()}-'


def _parent(path):
    """The existing folder that will hold `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return folder


def _new_temp_file(folder, prefix, suffix):
    """Create an empty file with a fresh name in `folder` and return its path. Unlike tempfile.mkstemp (always
    mode 0600) its mode follows the umask, as a file opened for writing would, so the result stays readable
    to whoever could read the files it replaces (another user, the host of a Docker container)."""
    while True:
        tmp = os.path.join(folder, f'{prefix}{secrets.token_hex(4)}{suffix}')
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_file(path, prefix=TEMP_PREFIX):
    """Yield a temporary file path beside `path` to write; it becomes `path` when the block succeeds and
    is removed when it fails. The temporary name keeps the suffix, so writers that go by it still work."""
    tmp = _new_temp_file(_parent(path), _temp_prefix(prefix), os.path.splitext(path)[1])
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class StagedFolder:
    """An empty folder to fill; `publish` is what gets renamed into place (the folder itself by default,
    or a subfolder of it)."""

    def __init__(self, folder):
        self.folder = self.publish = folder


@contextlib.contextmanager
def atomic_dir(path, replace=False, prefix=TEMP_PREFIX):
    """Yield a StagedFolder beside `path`; when the block succeeds its `publish` folder becomes `path`
    (an existing `path` is replaced only if `replace`), and the staging area is removed either way."""
    work = tempfile.mkdtemp(prefix=_temp_prefix(prefix), dir=_parent(path))
    try:
        staged = StagedFolder(os.path.join(work, 'staged'))
        os.mkdir(staged.folder)
        yield staged
        if replace and os.path.exists(path):
            shutil.rmtree(path)
        os.rename(staged.publish, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def staged_files(folder):
    """Yield an empty hidden folder inside the existing `folder`; when the block succeeds the files written
    there are moved into `folder` (a rename each, so no half-written file is ever seen there), and the
    hidden folder is removed either way."""
    work = tempfile.mkdtemp(prefix=_temp_prefix(TEMP_PREFIX), dir=folder)
    try:
        yield work
        for name in sorted(os.listdir(work)):
            os.rename(os.path.join(work, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_json(data, path):
    """Write `data` as indented JSON, atomically."""
    with atomic_file(path) as tmp, open(tmp, 'w') as f:
        json.dump(data, f, indent=1, default=float)


def write_text(text, path):
    """Write a text file atomically."""
    with atomic_file(path) as tmp, open(tmp, 'w') as f:
        f.write(text)


def write_npy(array, path):
    """Write an array to the .npy file `path`, atomically."""
    with atomic_file(path) as tmp:
        np.save(tmp, array)
