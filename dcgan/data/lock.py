"""One process at a time prepares a data or cache folder: an exclusive lock (flock on FOLDER/.lock) held
while data is downloaded, extracted or cached. Whoever takes the lock first removes the temporary files
that killed runs left there; a temporary file is only removed when the process named in it is gone, so
nothing a live process is still writing is ever deleted. A folder the lock made and nothing was put in (a
source that does not exist, a mirror that is not there) is removed again with its lock file.
"""
import contextlib
import fcntl
import os
import re
import shutil
import time

from dcgan import disk
from dcgan.atomic import TEMP_PREFIX
from dcgan.errors import FolderBusy

LOCK_NAME = '.lock'
LOCK_WAIT = 1800            # seconds to wait for another process preparing the same folder, then give up
LOCK_POLL = 0.2             # seconds between tries while waiting
TEMP_PREFIXES = ('.extract-', '.building-', TEMP_PREFIX)   # unfinished writes: PREFIX + 'PID-' (dcgan.atomic)
TEMP_NAME = re.compile(r'^(?:' + '|'.join(re.escape(p) for p in TEMP_PREFIXES) + r')(?:(\d+)-)?')

_held = {}                  # folder -> [open lock file, depth]: the lock is re-entrant within a process


def process_alive(pid):
    """True when a process with this id runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temporaries(folder, depth=1):
    """Temporary files and folders under `folder` (and `depth` levels of subfolders) whose writer is gone."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if match:
            pid = match.group(1)
            if pid is None or not process_alive(int(pid)):
                found.append(entry.path)
        elif depth > 0 and entry.is_dir(follow_symlinks=False) and not entry.name.startswith('.'):
            found += stale_temporaries(entry.path, depth - 1)
    return found


def remove_stale_temporaries(folder, depth=1):
    """Delete what killed runs left half-written under `folder`; say what went."""
    stale = stale_temporaries(folder, depth)
    for path in stale:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    if stale:
        print(f'Removed {len(stale)} unfinished file(s) an interrupted run left in {folder}: '
              + ', '.join(os.path.basename(p) for p in stale[:5]) + (' ...' if len(stale) > 5 else ''))
    return stale


def lock_holder(lock_file):
    """The process id written in a lock file, or 'unknown'."""
    lock_file.seek(0)
    return lock_file.read().strip() or 'unknown'


class FolderLock:
    """Hold the folder's lock while preparing data in it; wait (saying for whom) while another process has it."""

    def __init__(self, folder, doing, wait=None, depth=1):
        self.folder, self.doing, self.depth = os.path.abspath(folder), doing, depth
        self.wait = LOCK_WAIT if wait is None else wait
        self.created = []   # the folders (outermost first) this lock made

    def __enter__(self):
        held = _held.get(self.folder)
        if held:
            held[1] += 1
            return self
        path = os.path.join(self.folder, LOCK_NAME)
        while True:
            self.created = missing_folders(self.folder)
            with disk.explained_os_errors(self.folder, f'lock the folder before {self.doing}',
                                          'Choose a folder with free space.'):
                os.makedirs(self.folder, exist_ok=True)
                lock_file = open(path, 'a+')
            try:
                self._acquire(lock_file)
            except BaseException:
                lock_file.close()
                raise
            if same_file(lock_file, path):
                break
            lock_file.close()   # the process it waited for removed the folder it had made for nothing
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(str(os.getpid()))
        lock_file.flush()
        _held[self.folder] = [lock_file, 1]
        remove_stale_temporaries(self.folder, self.depth)
        return self

    def _acquire(self, lock_file):
        deadline, told = time.monotonic() + self.wait, False
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                holder = lock_holder(lock_file)
            if time.monotonic() >= deadline:
                raise FolderBusy(f'Another process (process {holder}) holds the lock of {self.folder}: it is '
                                 f'downloading, extracting or caching data there, and did not finish within '
                                 f'{self.wait:.0f} s. Wait for it to finish (or stop it) and run again, or use '
                                 f'another folder. Nothing was changed.')
            if not told:
                print(f'Waiting for process {holder}, which holds the lock of {self.folder} (it is preparing '
                      f'data there), before {self.doing}; at most {self.wait:.0f} s.', flush=True)
                told = True
            time.sleep(LOCK_POLL)

    def __exit__(self, *exc):
        held = _held[self.folder]
        held[1] -= 1
        if held[1] == 0:
            del _held[self.folder]
            if self.created and os.listdir(self.folder) == [LOCK_NAME]:   # made for nothing: leave no trace
                os.remove(os.path.join(self.folder, LOCK_NAME))        # (still locked: a waiter starts again)
                for folder in reversed(self.created):
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)
            fcntl.flock(held[0], fcntl.LOCK_UN)
            held[0].close()


def missing_folders(folder):
    """`folder` and those of its parents that do not exist, outermost first."""
    missing = []
    while not os.path.exists(folder):
        missing.insert(0, folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def same_file(opened, path):
    """True while `path` is still the file `opened` (not removed, nor replaced by a new one)."""
    try:
        return os.path.samestat(os.fstat(opened.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
