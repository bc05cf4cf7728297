"""File-system trouble as a user should hear it: how much room a step needs and where, a full disk never
reported as a damaged file, a permission problem named as one.

    require_space(folder, needed, what, fix)     before writing: refuse at once when it cannot fit
    with explained_os_errors(folder, what, fix):   ENOSPC / EACCES / EROFS inside become DiskFull / NoPermission
"""
import contextlib
import errno
import os
import shutil

from dcgan.errors import DiskFull, NoPermission, NotAFolder

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
NOT_A_FOLDER_ERRNOS = (errno.ENOTDIR, errno.EEXIST)   # a folder made or entered where a file is
DISK_FULL_TEXT = ('No space left on device', 'Disk quota exceeded')   # how TensorFlow's errors say it
SPACE_RESERVE = 16 << 20    # bytes a step leaves free beyond its own need (file-system metadata, logs)


def size_text(count):
    """A byte count for people: '812 bytes', '47.0 MB', '1.44 GB'."""
    if count < 1000:
        return f'{count} bytes'
    for unit, scale in (('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if count >= scale:
            return f'{count / scale:.3g} {unit}' if count < 100 * scale else f'{count / scale:.0f} {unit}'
    return f'{count} bytes'


def existing_folder(path):
    """`path` or its nearest existing ancestor: where free space can be asked before anything is made."""
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def free_bytes(folder):
    """Bytes an unprivileged write may still use on the file system of `folder`."""
    stat = os.statvfs(existing_folder(folder))
    return stat.f_bavail * stat.f_frsize


def disk_full(folder, what, fix, needed=None):
    """The DiskFull error for `what` in `folder`: the same paragraph before a step and in the middle of one."""
    folder = existing_folder(folder)
    free = free_bytes(folder)
    need = f'it needs {size_text(needed)}, ' if needed is not None else 'the disk filled up while writing; '
    usage = shutil.disk_usage(folder)
    return DiskFull(f'Not enough free space in {folder} to {what}: {need}{size_text(free)} free '
                    f'(of {size_text(usage.total)}). Nothing was damaged and nothing half-written was kept. '
                    f'{fix}')


def require_space(folder, needed, what, fix):
    """Raise DiskFull unless `needed` bytes (plus a small reserve) fit in `folder`."""
    if free_bytes(folder) < needed + SPACE_RESERVE:
        raise disk_full(folder, what, fix, needed)


def is_disk_full(error):
    """True for an OSError of a full disk or quota, or a TensorFlow error that reports one."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    return any(text in str(error) for text in DISK_FULL_TEXT)


def no_permission(error, folder, what):
    """The NoPermission error for an EACCES/EPERM/EROFS met while doing `what` in `folder`."""
    reason = 'the file system is read-only' if error.errno == errno.EROFS else 'permission denied'
    where = f' ({error.filename})' if error.filename else ''
    return NoPermission(f'Cannot {what} in {folder}: {reason}{where}. Fix its permissions (chown, chmod) or '
                        f'choose another folder, and run again. Nothing was changed.')


def explain(error, folder, what, fix):
    """The DcganError a file-system error means for a user (disk full, no permission, a file where a
    folder should be), or None."""
    if is_disk_full(error):
        return disk_full(folder, what, fix)
    if isinstance(error, OSError) and error.errno in PERMISSION_ERRNOS:
        return no_permission(error, folder, what)
    if isinstance(error, OSError) and error.errno in NOT_A_FOLDER_ERRNOS and (file := file_on_the_way(error.filename)):
        wanted = f' (on the way to {error.filename})' if os.path.abspath(error.filename) != file else ''
        return NotAFolder(f'Cannot {what}: {file} is a file, where a folder should be{wanted}. Pass a folder '
                          f'there, or move the file away, and run again. Nothing was changed.')
    return None


def file_on_the_way(path):
    """The file (not a folder) that `path` is, or runs through; None when there is none."""
    if not isinstance(path, str):
        return None
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        if os.path.dirname(path) == path:
            return None
        path = os.path.dirname(path)
    return None if os.path.isdir(path) else path


@contextlib.contextmanager
def explained_os_errors(folder, what, fix):
    """Turn a full disk or a permission problem met inside the block into its one-paragraph error."""
    try:
        yield
    except OSError as error:
        explained = explain(error, folder, what, fix)
        if explained is None:
            raise
        raise explained from error
