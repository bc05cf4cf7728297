"""Writable folders for what the project derives from the data (extracted archives, downloads, the
preprocessing cache): the folder asked for when it can be written to, a fallback otherwise, so data on a
read-only mount (Kaggle's /kaggle/input, a cloud GPU service's /input) is read where it is."""
import os

from dcgan import disk
from dcgan.errors import DataError, NotAFolder

CHOOSE_ENV = 'DLND_CACHE_DIR'   # the fallback lives under it (see dcgan.data.cache.default_cache_dir)


def is_writable(folder):
    """True when files can be created in `folder`, or in its nearest existing parent if it does not exist
    yet (os.access also reports a read-only mount, for root too)."""
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def writable_dir(preferred, fallback, purpose):
    """`preferred` when it can be written to (or made), else `fallback` (said); DataError when neither can.
    `purpose` names what goes there, for the messages. The folder is made by the lock taken on it next."""
    file = disk.file_on_the_way(preferred)
    if file:
        raise NotAFolder(f'{file} is a file, where a folder for {purpose} should be. Pass a folder there, or move '
                         f'the file away, and run again. Nothing was changed.')
    if is_writable(preferred):
        return preferred
    if is_writable(fallback):
        print(f'{preferred} is read-only: {purpose} go to {fallback} instead (set ${CHOOSE_ENV} to choose).')
        return fallback
    raise DataError(f'{preferred} is read-only, and so is {fallback}: {purpose} need a writable folder. Set '
                    f'${CHOOSE_ENV} to a writable folder (on Kaggle, /kaggle/working/cache) and run again; '
                    f'what is in {preferred} is still read from there.')
