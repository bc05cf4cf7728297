"""The fault matrix: each fault a real machine produces, made for real (a tiny tmpfs for a full disk, a
server on 127.0.0.1 that sends a byte a second, a truncated checkpoint, a killed process, a real signal,
another user's folder), with the message, the exit code and what is left behind asserted.

docs/reliability.md lists the faults, what happens, and the test of each.
"""
import contextlib
import glob
import gzip
import hashlib
import http.server
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib

import numpy as np
import pytest
from conftest import FakeData, face_jpeg, idx_bytes, write_face_zip, write_idx_gz
from PIL import Image

from dcgan import animation, checkpoints, disk, generate, notebook, trainer, training
from dcgan.__main__ import main
from dcgan.config import TrainConfig
from dcgan.data import lock
from dcgan.data.cache import HEADER_BYTES
from dcgan.data.dataset import Dataset
from dcgan.data.sources import download_extract
from dcgan.download import Limits, download_file
from dcgan.errors import DataError, DiskFull, Interrupted, RunMismatch, RunRecordDamaged

ROOT = os.path.dirname(notebook.NOTEBOOK)
PROCESS_TIMEOUT = 120           # seconds any subprocess may take at most
SMALL_MODEL = ['--g-filters', '16', '--d-filters', '8', '--z-dim', '8', '--batch-size', '8', '--seed', '3',
               '--print-every', '100000', '--show-every', '100000', '--metrics-every', '100000',
               '--metrics-samples', '8']
CHILD_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONDONTWRITEBYTECODE='1')


# ---------------------------------------------------------------------------------------------- helpers


def cli(capsys, *argv):
    """Run the dcgan command line in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:   # argparse refusing a value
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def python(code, *args, **options):
    """Start `python -c code args...` in the project folder, output captured as text."""
    return subprocess.Popen([sys.executable, '-c', code, *map(str, args)], cwd=ROOT, env=CHILD_ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


def leftovers(folder):
    """Every file and folder under `folder` (relative paths) except lock files."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in dirs + files if n != lock.LOCK_NAME]
    return sorted(found)


def temporaries(folder):
    """The temporary files and folders (.extract-*, .building-*, .tmp-*, .saving-*) anywhere under `folder`
    (relative paths; what is inside a temporary folder is not listed)."""
    found, prefixes = [], lock.TEMP_PREFIXES + ('.saving-',)
    for root, dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in dirs + files if n.startswith(prefixes)]
        dirs[:] = [d for d in dirs if not d.startswith(prefixes)]
    return sorted(found)


def md5(path):
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


@pytest.fixture
def tiny_disk(tmp_path):
    """Mount a tmpfs of a given size (a real disk that fills up) and yield its path; skip where mounting is
    not permitted (it needs root, as on the project's machines and CI)."""
    mounted = []

    def mount(size, name='disk'):
        path = tmp_path / name
        path.mkdir()
        result = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                                capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f'cannot mount a small tmpfs for a real full disk here (needs root): '
                        f'{result.stderr.strip()}')
        mounted.append(path)
        return path
    yield mount
    for path in mounted:
        subprocess.run(['umount', '-l', str(path)], check=False)


def image_folder(folder, count, size=64):
    """`count` random PNG images of size x size in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f'{i:05d}.png')
    return folder


def zip_bomb(path, members, member_bytes=16 << 20):
    """A real, valid zip whose `members` each inflate to `member_bytes` zero bytes (a few kB each packed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(bytes(member_bytes)) + packer.flush()
    crc, local, central, offset = zlib.crc32(bytes(member_bytes)), [], [], 0
    for i in range(members):
        name = f'{i:03d}.png'.encode()
        sizes = (crc, len(data), member_bytes, len(name))
        local.append(struct.pack('<IHHHHHIIIHH', 0x04034B50, 20, 0, 8, 0, 0, *sizes, 0) + name + data)
        central.append(struct.pack('<IHHHHHHIIIHHHHHII', 0x02014B50, 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, 0,
                                   offset) + name)
        offset += len(local[-1])
    directory = b''.join(central)
    end = struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, members, members, len(directory), offset, 0)
    path.write_bytes(b''.join(local) + directory + end)


def png_bomb(path, side):
    """A real PNG of side x side black pixels (1 bit each): a few kB on disk, side^2 pixels decoded."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    rows = (b'\x00' + bytes((side + 7) // 8)) * side
    header = struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(rows, 9))
                     + chunk(b'IEND', b''))


def train_small(run_dir, data=None, **settings):
    """Train the notebook's model a few steps on FakeData into `run_dir` (checkpoints every 3 steps)."""
    options = dict(dict(epochs=1, batch_size=4, z_dim=8, g_filters=16, d_filters=8, show_every=10 ** 6,
                        print_every=10 ** 6, checkpoint_every=3), **settings)
    data = data or FakeData()
    config = TrainConfig(image_size=data.shape[1], **options)
    return trainer.train(notebook.load(), config, data, str(run_dir))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A small trained run with checkpoints at steps 3 and 6 (copy it before damaging it)."""
    run = tmp_path_factory.mktemp('trained') / 'run'
    train_small(run)
    return run


@pytest.fixture
def run_copy(trained, tmp_path):
    shutil.copytree(trained, tmp_path / 'run')
    return tmp_path / 'run'


# ---------------------------------------------------------------------------------------------- data and cache


def test_archive_replaced_under_the_same_name_is_extracted_again_and_cached_again(tmp_path, capsys):
    archive, data = tmp_path / 'faces.zip', tmp_path / 'data'
    write_face_zip(archive, count=12)
    assert len(Dataset('celeba', download_extract('celeba', data, source=str(archive))).images) == 12
    os.utime(archive)                                    # touched, same bytes: nothing is done again
    download_extract('celeba', data, source=str(archive))
    assert 'extracted earlier' in capsys.readouterr().out
    write_face_zip(archive, count=8)                     # a newer archive under the same name
    files = download_extract('celeba', data, source=str(archive))
    out = capsys.readouterr().out
    assert 'the archive changed since' in out and 'Extracting' in out
    dataset = Dataset('celeba', files)
    assert len(dataset.images) == 8 and 'Cached celeba' in capsys.readouterr().out
    assert temporaries(data) == [] and temporaries(tmp_path / 'cache') == []


def test_no_room_to_extract_says_how_much_is_needed_and_where_never_damaged(tmp_path, tiny_disk, capsys):
    archive = tmp_path / 'faces.zip'
    with zipfile.ZipFile(archive, 'w') as z:   # 300 kB of stored photos: room is checked from the sizes
        for i in range(40):
            z.writestr(f'img_align_celeba/{i:06d}.jpg', face_jpeg(seed=i) + bytes(4000))
    before = md5(archive)
    data = tiny_disk('64k')
    code, _, err = cli(capsys, 'train', '--dataset', 'celeba', '--data', archive, '--data-dir', data, *SMALL_MODEL)
    assert code == 2 and 'Traceback' not in err
    assert f'Not enough free space in {data / "celeba"} to extract faces.zip: it needs' in err
    assert 'corrupt' not in err and 'Delete it' not in err and '--data-dir' in err
    assert md5(archive) == before and leftovers(data) == []


def test_disk_filling_up_while_extracting_is_a_full_disk_not_a_damaged_archive(tmp_path, tiny_disk, capsys,
                                                                                monkeypatch):
    archive = tmp_path / 'train-images-idx3-ubyte.gz'
    write_idx_gz(archive, count=400)                  # 314 kB of digits
    data = tiny_disk('128k')
    monkeypatch.setattr(disk, 'require_space', lambda *args: None)   # the room was there when checked
    code, _, err = cli(capsys, 'train', '--data', archive, '--data-dir', data, *SMALL_MODEL)
    assert code == 2 and 'Not enough free space in' in err and 'the disk filled up while writing' in err
    assert 'corrupt' not in err and 'not a readable' not in err
    assert os.path.exists(archive) and leftovers(data) == []


CACHE_BUILD = '''
import glob, sys
from dcgan import disk
from dcgan.data.dataset import Dataset
from dcgan.errors import DcganError
if sys.argv[3] == 'space-taken-after-the-check':
    disk.require_space = lambda *args: None
try:
    Dataset('faces', sorted(glob.glob(sys.argv[1] + '/*.png')), image_size=64, cache_dir=sys.argv[2],
            crop_face=False)
except DcganError as error:
    sys.exit(f'error: {error}')
'''


@pytest.mark.parametrize('when', ['before', 'space-taken-after-the-check'])
def test_full_disk_while_building_the_cache_is_a_message_not_sigbus(tmp_path, tiny_disk, when):
    images = image_folder(tmp_path / 'faces', 120)      # 120 x 64 x 64 x 3 = 1.5 MB of cache
    cache = tiny_disk('256k')
    child = python(CACHE_BUILD, images, cache, when)
    _, err = child.communicate(timeout=PROCESS_TIMEOUT)
    assert child.returncode == 1, f'exit {child.returncode} (-7 is SIGBUS): {err}'
    assert f'error: Not enough free space in {cache} to build the image cache' in err
    assert (f'it needs {disk.size_text(HEADER_BYTES + 120 * 64 * 64 * 3)}' in err) == (when == 'before')
    assert leftovers(cache) == [] and 'Traceback' not in err


KILLED_WORK = '''
import sys
from dcgan.data.dataset import Dataset
from dcgan.data.sources import download_extract
files = download_extract('celeba', sys.argv[1], source=sys.argv[2])
Dataset('celeba', files, cache_dir=sys.argv[3], crop_face=False)
'''


@pytest.mark.parametrize('killed_while', ['extracting', 'caching'])
def test_files_of_a_killed_run_are_removed_by_the_next_run_and_those_of_a_live_one_kept(tmp_path, killed_while):
    archive, data, cache = tmp_path / 'many.zip', tmp_path / 'data', tmp_path / 'cache'
    photo = face_jpeg(size=(60, 60))
    with zipfile.ZipFile(archive, 'w') as z:
        for i in range(1500):
            z.writestr(f'photos/{i:05d}.jpg', photo)
    if killed_while == 'caching':
        download_extract('celeba', data, source=str(archive))
    watched = data / 'celeba' if killed_while == 'extracting' else cache
    child = python(KILLED_WORK, data, archive, cache)
    deadline = time.time() + PROCESS_TIMEOUT
    while not temporaries(watched) and child.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    child.kill()
    child.communicate()
    left = temporaries(watched)
    assert child.returncode == -signal.SIGKILL and left, 'the run must be killed while writing'
    alive = subprocess.Popen(['sleep', '60'])              # a live process's unfinished file is never touched
    live_file = watched / f'.building-{alive.pid}-still-writing.cache'
    live_file.write_bytes(b'half')
    try:
        files = download_extract('celeba', str(data), source=str(archive))
        if killed_while == 'caching':
            assert len(Dataset('celeba', files, cache_dir=str(cache), crop_face=False).images) == len(files)
    finally:
        alive.kill()
        alive.wait()
    assert len(files) == 1500 and temporaries(watched) == [live_file.name]
    assert [os.path.basename(p) for p in temporaries(data) + temporaries(cache)] == [live_file.name]


def test_truncated_or_zeroed_cache_is_rebuilt_with_a_message(tmp_path, celeba_zip, capsys):
    files = download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    original = np.array(Dataset('celeba', files).images)
    path = glob.glob(str(tmp_path / 'cache' / '*.cache'))[0]
    size = os.path.getsize(path)
    for damage, reason in [(lambda f: f.truncate(size - 1000), 'it is truncated'),
                           (lambda f: (f.seek(HEADER_BYTES + 5000), f.write(bytes(3000))), 'checksum does not match'),
                           (lambda f: (f.seek(0), f.write(bytes(64))), 'header is missing')]:
        with open(path, 'r+b') as f:
            damage(f)
        capsys.readouterr()
        rebuilt = Dataset('celeba', files)
        out = capsys.readouterr().out
        assert f'The cache {path} cannot be used' in out and reason in out and 'building it again' in out
        np.testing.assert_array_equal(rebuilt.images, original)
        assert os.path.getsize(path) == size


class Trickle(http.server.BaseHTTPRequestHandler):
    """Answers every request with the whole body, `rate` bytes per second."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        body, rate = self.server.body, self.server.rate
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        step = max(1, rate // 10)
        try:
            for start in range(0, len(body), step):
                self.wfile.write(body[start:start + step])
                self.wfile.flush()
                time.sleep(step / rate)
        except OSError:   # the client gave up
            pass


@contextlib.contextmanager
def trickling_server(body, rate):
    """A server on 127.0.0.1 that sends `body` at `rate` bytes per second; yield its url."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Trickle)
    server.daemon_threads, server.body, server.rate = True, body, rate
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}/archive.gz'
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize('rate, limits, reason', [
    (1, Limits(timeout=5, deadline=60, min_speed=100, window=1.5), 'too slow: 1 bytes/s'),
    (2000, Limits(timeout=5, deadline=1.5, min_speed=100, window=1), 'gave up after 1.5 s, the deadline'),
])
def test_a_trickling_source_is_abandoned_for_the_next_one(tmp_path, http_server, mnist_gz, capsys, rate, limits,
                                                           reason):
    body = open(mnist_gz, 'rb').read()
    served, url = http_server
    shutil.copy(mnist_gz, served / 'archive.gz')
    dest = str(tmp_path / 'got' / 'archive.gz')
    start = time.monotonic()
    with trickling_server(body, rate) as slow:
        assert download_file([slow, f'{url}/archive.gz'], dest, md5(mnist_gz), limits=limits) == f'{url}/archive.gz'
    assert time.monotonic() - start < 10
    out = capsys.readouterr().out
    assert f'Download failed from {slow}: {reason}' in out and 'trying the next source' in out
    assert md5(dest) == md5(mnist_gz) and os.listdir(tmp_path / 'got') == ['archive.gz']


def test_gzip_bomb_is_refused_before_it_fills_memory_or_disk(tmp_path, capsys):
    announced = np.array([0x803, 10_000_000, 28, 28], '>u4').tobytes()   # 7.84 GB of "digits"
    huge = tmp_path / 'huge.gz'
    huge.write_bytes(gzip.compress(announced + bytes(1 << 20), 1))
    longer = tmp_path / 'longer.gz'      # announces 10 digits, then goes on with 256 MB of zeros: gzip
    zeros = gzip.compress(bytes(16 << 20), 1)   # members one after another read as one stream
    longer.write_bytes(gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)), 1) + zeros * 16)
    data = tmp_path / 'data'
    code, _, err = cli(capsys, 'train', '--data', huge, '--data-dir', data, *SMALL_MODEL)
    assert code == 2 and 'would decompress to 7.84 GB' in err and 'more than the 470 MB allowed' in err
    assert 'decompression bomb' in err
    start = time.monotonic()
    code, _, err = cli(capsys, 'train', '--data', longer, '--data-dir', data, *SMALL_MODEL)
    assert code == 2 and 'holds more bytes than its header announces (10 images of 28x28' in err
    assert time.monotonic() - start < 5 and leftovers(data) == []


def test_zip_bomb_and_pixel_bomb_are_refused(tmp_path, capsys):
    zip_bomb(tmp_path / 'digits.zip', members=32)               # 537 MB of zeros in 600 kB
    code, _, err = cli(capsys, 'train', '--data', tmp_path / 'digits.zip', '--data-dir', tmp_path / 'data',
                       *SMALL_MODEL)
    assert code == 2 and 'would decompress to 537 MB (32 members), more than the 470 MB allowed' in err
    assert leftovers(tmp_path / 'data') == []
    photos = image_folder(tmp_path / 'photos', 3, size=32)
    png_bomb(photos / 'huge.png', 9000)                         # 81 megapixels in 12 kB
    dataset = Dataset.from_folder(str(photos))
    out = capsys.readouterr().out
    assert len(dataset.images) == 3
    assert 'Skipped 1 of 4 files that are too large to decode' in out and '9000x9000 pixels' in out


def test_idx_file_with_zero_images_is_refused(tmp_path, capsys):
    empty = tmp_path / 'train-images-idx3-ubyte.gz'
    empty.write_bytes(gzip.compress(np.array([0x803, 0, 28, 28], '>u4').tobytes()))
    code, _, err = cli(capsys, 'train', '--data', empty, '--data-dir', tmp_path / 'data', *SMALL_MODEL)
    assert code == 2 and 'holds no images: its header announces 0' in err and 'Traceback' not in err
    assert leftovers(tmp_path / 'data') == []
    plain = tmp_path / 'plain-idx3-ubyte'
    plain.write_bytes(np.array([0x803, 0, 28, 28], '>u4').tobytes())
    with pytest.raises(DataError, match='holds no images'):
        Dataset('mnist', [str(plain)])


def test_symlinks_out_of_an_image_folder_are_not_followed(tmp_path, capsys):
    folder = image_folder(tmp_path / 'mine', 3, size=32)
    secret = image_folder(tmp_path / 'elsewhere', 1, size=32) / '00000.png'
    (folder / 'outside.png').symlink_to(secret)
    (folder / 'again.png').symlink_to(folder / '00001.png')    # a link inside the folder is fine
    files = download_extract('celeba', str(tmp_path / 'data'), source=str(folder))
    out = capsys.readouterr().out
    assert str(folder / 'outside.png') not in files and str(folder / 'again.png') in files and len(files) == 4
    assert f'Not following 1 symbolic link(s) in {folder} that point outside it' in out and str(secret) in out


PREPARE_AS_USER = '''
import sys
from dcgan.data.sources import download_extract
from dcgan.errors import DcganError
try:
    download_extract('celeba', sys.argv[1], source=sys.argv[2])
except DcganError as error:
    sys.exit(f'error: {error}')
'''


NOBODY = 65534   # the unprivileged user id


def test_a_folder_without_write_permission_is_said_as_such(tmp_path, capsys):
    work = tempfile.mkdtemp(prefix='dcgan-permission-')    # outside pytest's private tmp, so another user sees it
    try:
        os.chmod(work, 0o755)
        archive, data = os.path.join(work, 'faces.zip'), os.path.join(work, 'data')
        write_face_zip(archive, count=5)
        os.makedirs(os.path.join(data, 'celeba'))            # made by someone else: not ours to write
        if os.geteuid() == 0:                                # root writes anywhere: be another user
            if not shutil.which('setpriv'):
                pytest.skip('running as root without setpriv (util-linux): cannot become another user')
            os.chown(data, NOBODY, NOBODY)
            as_nobody = ['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups']
            child = subprocess.run([*as_nobody, sys.executable, '-c', PREPARE_AS_USER, data, archive], cwd=ROOT,
                                   env=CHILD_ENV, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
            code, err = child.returncode, child.stderr
        else:
            os.chmod(os.path.join(data, 'celeba'), 0o555)
            with pytest.raises(DataError) as error:
                download_extract('celeba', data, source=archive)
            code, err = 1, f'error: {error.value}'
        assert code == 1 and f'Cannot extract faces.zip in {data}/celeba: permission denied' in err, err
        assert 'corrupt' not in err and 'Traceback' not in err
        assert os.listdir(os.path.join(data, 'celeba')) == [] and os.path.getsize(archive) > 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


HOLD_LOCK = '''
import sys
from dcgan.data.lock import FolderLock
with FolderLock(sys.argv[1], 'holding it for the test'):
    print('held', flush=True)
    sys.stdin.read()
'''


def test_another_process_preparing_the_same_data_folder_is_waited_for_then_named(tmp_path, celeba_zip, capsys,
                                                                                 monkeypatch):
    data = tmp_path / 'data'
    holder = python(HOLD_LOCK, data, stdin=subprocess.PIPE)
    assert holder.stdout.readline().strip() == 'held'
    try:
        monkeypatch.setattr(lock, 'LOCK_WAIT', 0.5)
        code, out, err = cli(capsys, 'train', '--dataset', 'celeba', '--data', celeba_zip, '--data-dir', data,
                             *SMALL_MODEL)
        assert code == 2 and f'Another process (process {holder.pid}) holds the lock of {data}' in err
        assert f'Waiting for process {holder.pid}' in out and leftovers(data) == []
        monkeypatch.setattr(lock, 'LOCK_WAIT', 60)
        threading.Timer(0.5, holder.stdin.close).start()     # the other process finishes meanwhile
        files = download_extract('celeba', str(data), source=celeba_zip)
        assert len(files) == 40 and f'Waiting for process {holder.pid}' in capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()




def test_a_file_where_a_folder_should_be_is_named_not_a_traceback(tmp_path, capsys):
    blocker, archive = tmp_path / 'notes', tmp_path / 'train-images-idx3-ubyte.gz'
    blocker.write_text('my notes')
    write_idx_gz(archive, count=16)
    code, _, err = cli(capsys, 'generate', '--pretrained', 'mnist', '--out', blocker / 'grid.png')
    assert code == 2 and 'Traceback' not in err, err
    assert f'Cannot write {blocker / "grid.png"}: {blocker} is a file, where a folder should be.' in err
    for option in ('--data-dir', '--run-dir'):
        args = {'--data-dir': tmp_path / 'data', '--run-dir': tmp_path / 'run', option: blocker}
        code, _, err = cli(capsys, 'train', '--data', archive, *[str(x) for pair in args.items() for x in pair],
                           '--max-steps', '1', *SMALL_MODEL)
        assert code == 2 and f'{blocker} is a file, where a folder' in err and 'Traceback' not in err, err
    assert blocker.read_text() == 'my notes'

def test_a_folder_made_for_nothing_is_removed_and_whoever_waited_for_it_locks_it_anew(tmp_path):
    data, inputs = tmp_path / 'new' / 'data', tmp_path / 'inputs'
    inputs.mkdir()
    (inputs / 'notes.txt').write_text('not an archive')
    (inputs / 'bad.zip').write_bytes(b'PK\x03\x04 and then garbage')
    for source, message in (('missing.gz', 'does not exist'), ('notes.txt', 'neither a .zip nor a .gz'),
                            ('bad.zip', 'corrupt or truncated')):
        with pytest.raises(DataError, match=message):
            download_extract('celeba', str(data), source=str(inputs / source))
    with pytest.raises(DataError, match='mirror folder'):
        download_extract('mnist', str(data), mirror=str(tmp_path / 'no-mirror'))
    assert os.listdir(tmp_path) == ['inputs']   # neither the folders nor their lock file stay behind
    holder = python(HOLD_LOCK, data, stdin=subprocess.PIPE)   # makes the folders, then leaves them empty
    assert holder.stdout.readline().strip() == 'held'
    try:
        threading.Timer(0.5, holder.stdin.close).start()
        with lock.FolderLock(str(data), 'testing'):   # waits; its lock file is gone then: it locks anew
            assert (data / lock.LOCK_NAME).read_text() == str(os.getpid())
    finally:
        holder.kill()
        holder.wait()
    assert os.listdir(tmp_path) == ['inputs']

# ---------------------------------------------------------------------------------------------- checkpoints


def test_damaged_newest_checkpoint_falls_back_to_the_newest_good_one(run_copy, tmp_path, capsys):
    newest = run_copy / 'checkpoints' / 'step-00000006'
    data_file = glob.glob(str(newest / 'model.data-*'))[0]
    with open(data_file, 'r+b') as f:
        f.truncate(os.path.getsize(data_file) // 2)                   # a truncated checkpoint
    code, out, err = cli(capsys, 'generate', '--checkpoint', run_copy, '--n', 4, '--out', tmp_path / 'a.png')
    assert code == 0 and f'Skipping the damaged checkpoint {newest}: its variables cannot be read' in out
    assert 'step-00000003 (step 3)' in out and os.path.exists(tmp_path / 'a.png')
    code, _, err = cli(capsys, 'generate', '--checkpoint', newest, '--out', tmp_path / 'b.png')
    assert code == 2 and f'The checkpoint {newest} is damaged' in err and 'Traceback' not in err
    os.remove(run_copy / 'checkpoints' / 'step-00000003' / 'state.json')   # the older one loses a file too
    code, out, err = cli(capsys, 'generate', '--checkpoint', run_copy, '--out', tmp_path / 'c.png')
    assert code == 2 and f'No usable checkpoint in {run_copy}' in err and 'state.json is missing' in out
    assert sorted(os.listdir(tmp_path)) == ['a.png', 'run']


def test_resume_skips_a_damaged_checkpoint_and_replaces_it(run_copy, capsys):
    newest = run_copy / 'checkpoints' / 'step-00000006'
    os.remove(newest / 'state.json')
    losses, _, _ = train_small(run_copy, epochs=2)
    out = capsys.readouterr().out
    assert f'Skipping the damaged checkpoint {newest}' in out and 'state.json is missing or damaged' in out
    assert 'Resuming from step 3' in out and len(losses) == 12
    assert checkpoints.latest(str(run_copy)).endswith('step-00000012') and checkpoints.damage(str(newest)) is None



@pytest.mark.parametrize('record', ['config.json', 'quality.json'])
def test_a_damaged_run_record_is_named_with_what_to_do(run_copy, capsys, record):
    (run_copy / record).write_text('[{"step": 3,')   # cut short
    code, _, err = cli(capsys, 'info', run_copy)
    assert code == 2 and f'{run_copy / record} is damaged' in err and 'Traceback' not in err, err
    assert 'Put back a good copy, or delete it' in err
    if record == 'config.json':
        with pytest.raises(RunRecordDamaged, match='config.json is damaged'):
            train_small(run_copy, epochs=2)
        os.remove(run_copy / record)
        losses, _, _ = train_small(run_copy, epochs=2)   # as the message says: the checkpoints keep the settings
        assert 'Resuming from step 6' in capsys.readouterr().out and len(losses) == 12

@pytest.mark.parametrize('change, shown', [(dict(z_distribution='uniform'), "z_distribution: 'normal' -> 'uniform'"),
                                           (dict(batch_size=6), 'batch_size: 4 -> 6')])
def test_resume_with_another_noise_or_batch_size_is_refused(run_copy, change, shown):
    before = {p: os.stat(run_copy / p).st_mtime_ns for p in leftovers(run_copy)}
    with pytest.raises(RunMismatch, match=shown):
        train_small(run_copy, epochs=2, **change)
    assert {p: os.stat(run_copy / p).st_mtime_ns for p in leftovers(run_copy)} == before   # nothing touched


def test_full_disk_while_saving_a_checkpoint_stops_and_keeps_the_previous_one(tmp_path, tiny_disk):
    train_small(tmp_path / 'measure', max_steps=3)
    needed = sum(os.path.getsize(p) for p in glob.glob(str(tmp_path / 'measure' / 'checkpoints' / '*' / '*')))
    run = tiny_disk(f'{needed * 3 // 2 + 40000}') / 'run'   # room for one checkpoint and the run's files
    with pytest.raises(DiskFull) as stop:
        train_small(run, epochs=3)
    message = str(stop.value)
    assert f'Not enough free space in {run}/checkpoints to save the checkpoint of step' in message
    assert 'the checkpoint ' in message and 'is kept' in message and 'run the same command to resume' in message
    kept = checkpoints.checkpoint_dirs(str(run))
    assert kept and all(checkpoints.damage(c) is None for c in kept) and temporaries(run) == []


def train_args(data, data_dir, run_dir):
    """`dcgan train` of a small model for 48 steps (64 fixture digits / 8 = 8 batches, 6 epochs)."""
    return ['train', '--data', data, '--data-dir', data_dir, '--run-dir', run_dir, *SMALL_MODEL,
            '--epochs', '6', '--checkpoint-every', '4']


def dcgan_process(args):
    """Start `python -m dcgan ARGS` (a fresh process each: numerics then match between runs)."""
    return subprocess.Popen([sys.executable, '-m', 'dcgan', *map(str, args)], cwd=ROOT, env=CHILD_ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# RACING: the discriminator runs twice per step (real and fake images) and both passes update its batch-norm
# moving averages, in whichever order the two inter-op threads take: under CPU contention (or in another
# process) those statistics differ between any two runs, resumed or not. Training never reads them (the
# discriminator always uses the batch's statistics), so every other variable and every loss must match.


def assert_same_training(resumed_run, whole_run, steps):
    """The newest checkpoints of both runs hold `steps` steps and the same variables (see RACING)."""
    final = checkpoints.latest(str(resumed_run))
    assert checkpoints.read_state(final)['step'] == steps and len(checkpoints.read_losses(final)) == steps
    resumed = checkpoints.variables_of(final)
    expected = checkpoints.variables_of(checkpoints.latest(str(whole_run)))
    assert resumed.keys() == expected.keys() and len(expected) > 20   # weights, batch norm, Adam's state
    for name in expected:
        if not (name.startswith('discriminator/') and '/moving_' in name):
            np.testing.assert_allclose(resumed[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(checkpoints.read_losses(final), checkpoints.read_losses(
        checkpoints.latest(str(whole_run))), rtol=1e-4, atol=1e-5)


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes_exactly(tmp_path, mnist_gz, capsys):
    run = tmp_path / 'run'
    child = dcgan_process(train_args(mnist_gz, tmp_path / 'data', run))
    deadline = time.time() + PROCESS_TIMEOUT
    while not checkpoints.checkpoint_dirs(str(run)) and child.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=PROCESS_TIMEOUT)
    saved = checkpoints.latest(str(run))
    step = checkpoints.read_state(saved)['step']
    assert child.returncode == 130, err
    assert 'SIGTERM: saving a checkpoint at the end of this step' in out
    assert f'Stopped at step {step}: saved {saved}. Run the same command to resume.' in err
    assert 0 < step < 48 and temporaries(run) == []
    code, out, err = cli(capsys, *train_args(mnist_gz, tmp_path / 'data', run))        # the same command again
    assert code == 0 and f'Resuming from step {step}' in out, err
    assert cli(capsys, *train_args(mnist_gz, tmp_path / 'data', tmp_path / 'whole'))[0] == 0   # never stopped
    assert_same_training(run, tmp_path / 'whole', 48)


class CtrlCAt(FakeData):
    """FakeData that presses Ctrl-C (a real SIGINT to this process) while batch `at` is fetched."""

    def __init__(self, at):
        super().__init__()
        self.at, self.served = at, 0

    def get_batches(self, batch_size, epoch=0, start=0):
        for batch in super().get_batches(batch_size, epoch, start):
            self.served += 1
            if self.served == self.at:
                assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler, 'no Ctrl-C handler'
                os.kill(os.getpid(), signal.SIGINT)
            yield batch


def test_ctrl_c_saves_a_checkpoint_and_the_rerun_resumes_exactly(tmp_path, capsys):
    with pytest.raises(Interrupted) as stop:
        train_small(tmp_path / 'run', data=CtrlCAt(at=5), epochs=3)
    saved = checkpoints.latest(str(tmp_path / 'run'))
    assert str(stop.value) == f'Stopped at step 5: saved {saved}. Run the same command to resume.'
    assert 'SIGINT: saving a checkpoint at the end of this step' in capsys.readouterr().out
    train_small(tmp_path / 'run', epochs=3)
    assert 'Resuming from step 5' in capsys.readouterr().out
    train_small(tmp_path / 'whole', epochs=3)
    assert_same_training(tmp_path / 'run', tmp_path / 'whole', 18)


# ---------------------------------------------------------------------------------------------- command line


def test_generate_output_suffix_decides_the_container(trained, tmp_path, capsys):
    out = tmp_path / 'out'
    for name in ('grid.png', 'grid.jpg', 'samples.gif', 'samples.npy', 'pngs/'):
        path = str(out / name) + '/' * name.endswith('/')   # a folder: a path ending in /
        code, _, err = cli(capsys, 'generate', '--checkpoint', trained, '--n', 10, '--out', path)
        assert code == 0, err
    assert Image.open(out / 'grid.png').format == 'PNG' and Image.open(out / 'grid.png').size == (224, 168)
    assert os.path.isfile(out / 'grid.jpg') and Image.open(out / 'grid.jpg').format == 'JPEG'
    assert Image.open(out / 'samples.gif').n_frames == 10
    assert np.load(out / 'samples.npy').shape == (10, 28, 28, 1)
    assert sorted(os.listdir(out / 'pngs')) == [f'{i:06d}.png' for i in range(10)]
    code, _, err = cli(capsys, 'generate', '--checkpoint', trained, '--n', 3, '--out', out / 'pngs')
    assert code == 2 and 'already holds 3 of the files to write' in err          # nothing is overwritten
    walks = ['--interpolate', '--rows', 3, '--steps', 5]
    assert cli(capsys, 'generate', '--checkpoint', trained, *walks, '--out', out / 'walk.gif')[0] == 0
    assert cli(capsys, 'generate', '--checkpoint', trained, *walks, '--out', out / 'walk.png')[0] == 0
    assert Image.open(out / 'walk.gif').n_frames == 2 * 5 - 2                    # forth and back
    assert Image.open(out / 'walk.png').size == (5 * 28 * 2, 3 * 28 * 2)          # a strip: a walk per row
    assert temporaries(out) == []


def test_generate_refuses_unknown_outputs_and_counts_cleanly(trained, tmp_path, capsys):
    for out, told in [('g.txt', "the suffix '.txt'"), ('samples', 'no suffix')]:
        code, _, err = cli(capsys, 'generate', '--checkpoint', trained, '--out', tmp_path / out)
        assert code == 2 and told in err and 'names no output' in err and '.gif' in err
    for n, told in [(0, 'must be at least 1, got 0'), (-5, 'must be at least 1, got -5'),
                    ('x', 'must be a whole number')]:
        code, _, err = cli(capsys, 'generate', '--checkpoint', trained, '--n', n, '--out', tmp_path / 'g.jpg')
        assert code == 2 and f'argument --n: {told}' in err and 'Traceback' not in err
    assert os.listdir(tmp_path) == []                                             # no folder named g.jpg


def test_generate_in_batches_gives_the_same_samples(trained, tmp_path, monkeypatch, capsys):
    generator = generate.load_generator(str(trained))
    whole = generator.sample(generate.latent(generator, 10, 0))
    fed = []
    sample = generate.Generator.sample
    monkeypatch.setattr(generate.Generator, 'sample', lambda self, z: fed.append(len(z)) or sample(self, z))
    monkeypatch.setattr(generate, 'SAMPLE_BATCH', 4)
    generate.write_generated(generator, 10, 0, str(tmp_path / 's.npy'))
    assert fed == [4, 4, 2]
    np.testing.assert_allclose(np.load(tmp_path / 's.npy'), whole, atol=1e-6)


def test_expected_errors_are_one_paragraph_and_exit_2_with_tracebacks_only_under_debug(tmp_path, capsys):
    cases = [(['generate', '--checkpoint', tmp_path / 'none', '--out', tmp_path / 'g.png'], 'No usable checkpoint'),
             (['train', '--data', tmp_path / 'missing.gz', '--data-dir', tmp_path / 'data'], 'does not exist'),
             (['train', '--batch-size', '0', '--data-dir', tmp_path / 'data'], 'batch_size must be at least 1'),
             (['info', tmp_path], 'holds no run')]
    for argv, told in cases:
        code, _, err = cli(capsys, *argv)
        assert code == 2 and err.startswith('error: ') and told in err and 'Traceback' not in err, (argv, err)
    with pytest.raises(Exception, match='No usable checkpoint'):
        main(['--debug', *map(str, cases[0][0])])


def test_writers_opened_within_one_second_keep_each_others_tensorboard_records(tmp_path):
    """TensorFlow names event files by the second: a run resumed quickly must not overwrite its records."""
    import tensorflow.compat.v1 as tf
    for step in (1, 2):
        with tf.Graph().as_default():
            writer = training.board_writer(str(tmp_path))
            writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag='x', simple_value=step)]), step)
            writer.close()
    steps = sorted(e.step for p in glob.glob(str(tmp_path / 'tensorboard' / 'events.*'))
                   for e in tf.train.summary_iterator(p) for v in e.summary.value if v.tag == 'x')
    assert steps == [1, 2]


def test_long_runs_keep_the_newest_grids_and_a_bounded_animation_of_all(tmp_path, monkeypatch):
    monkeypatch.setattr(animation, 'MAX_FRAMES', 4)
    run = tmp_path / 'run'
    settings = dict(show_every=1, progress_grids_kept=3, board_images_every=4, summary_every=10 ** 6)
    train_small(run, epochs=2, **settings)                                  # 12 steps, a grid each
    train_small(run, epochs=3, **settings)                                  # resumed: 18 steps
    assert sorted(os.listdir(run / 'progress')) == [f'step-{s:08d}.png' for s in (16, 17, 18)]
    gif = Image.open(run / 'progress.gif')     # 18 grids, at most 4 frames: every 8th from step 1 on
    frames = []
    for number in range(gif.n_frames):
        gif.seek(number)
        frames.append((np.asarray(gif.convert('L')), gif.info['duration']))
    assert len(frames) == 3 and [d for _, d in frames] == [400, 400, 2000]   # the newest is held longest
    np.testing.assert_array_equal(frames[-1][0], np.asarray(Image.open(run / 'progress' / 'step-00000017.png')))
    assert not np.array_equal(frames[0][0], frames[-1][0])
    import tensorflow.compat.v1 as tf
    steps = sorted(e.step for p in glob.glob(str(run / 'tensorboard' / 'events.*'))
                   for e in tf.train.summary_iterator(p) for v in e.summary.value if v.tag == 'samples')
    assert steps == [4, 8, 12, 16]
