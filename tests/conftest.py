"""Shared fixtures: small fake MNIST (IDX, gzip) and CelebA (JPEG zip) files, and a local HTTP server."""
import functools
import gzip
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

import dcgan  # noqa: F401  (before any test imports TensorFlow: dcgan/quiet.py keeps its start-up chatter out)


def idx_bytes(images):
    """The IDX encoding of a (N, rows, cols) uint8 array."""
    header = np.array([0x00000803, *images.shape], dtype='>u4').tobytes()
    return header + images.astype(np.uint8).tobytes()


def write_idx_gz(path, count=64, size=28, seed=0):
    """Write a gzip'd IDX file of `count` random digit-like images; return the images."""
    images = np.random.default_rng(seed).integers(0, 256, (count, size, size), dtype=np.uint8)
    with gzip.open(path, 'wb') as f:
        f.write(idx_bytes(images))
    return images


def face_jpeg(size=(178, 218), seed=0):
    """JPEG bytes of a random photo-like image of the given (width, height)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, 'JPEG')
    return buffer.getvalue()


def write_face_zip(path, count=40, size=(178, 218), folder='img_align_celeba'):
    """Write a zip laid out like the official CelebA archive, with `count` random JPEG photos."""
    with zipfile.ZipFile(path, 'w') as archive:
        for i in range(count):
            archive.writestr(f'{folder}/{i + 1:06d}.jpg', face_jpeg(size, seed=i))


@pytest.fixture
def mnist_gz(tmp_path):
    path = tmp_path / 'downloads' / 'train-images-idx3-ubyte.gz'
    path.parent.mkdir(exist_ok=True)
    write_idx_gz(path)
    return str(path)


@pytest.fixture
def celeba_zip(tmp_path):
    path = tmp_path / 'downloads' / 'img_align_celeba.zip'
    path.parent.mkdir(exist_ok=True)
    write_face_zip(path)
    return str(path)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve tmp_path/'served' on 127.0.0.1 at a free port; yield (folder, base url)."""
    folder = tmp_path / 'served'
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own preprocessing cache, never the user's."""
    monkeypatch.setenv('DLND_CACHE_DIR', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


class FakeData:
    """Random images served like helper.Dataset; from `nan_from_step` on the images are NaN."""

    def __init__(self, count=24, size=28, nan_from_step=None, batch_size=4):
        self.images = np.random.default_rng(0).uniform(-0.5, 0.5, (count, size, size, 1)).astype(np.float32)
        self.shape, self.nan_from_step, self.batch_size = self.images.shape, nan_from_step, batch_size
        self.image_mode = 'L'

    def get_batches(self, batch_size, epoch=0, start=0):
        per_epoch = len(self.images) // batch_size
        for index in range(start, per_epoch):
            batch = self.images[index * batch_size:(index + 1) * batch_size].copy()
            if self.nan_from_step is not None and epoch * per_epoch + index + 1 >= self.nan_from_step:
                batch[:] = np.nan
            yield batch
