"""Course fidelity: a notebook in the classic course's shape runs here with only its TensorFlow import
changed; helper.py keeps the course's calls (download_extract(name, data_path), get_image, get_batch,
images_square_grid); read-only data folders, already-cropped faces, distutils and tf.contrib."""
import contextlib
import os
import subprocess
import sys
from glob import glob

import nbformat
import numpy as np
import papermill
import pytest
import tensorflow.compat.v1 as tf
from conftest import face_jpeg, write_face_zip, write_idx_gz
from PIL import Image
from test_helper import leftovers, make_official

import helper
from dcgan import pictures, tf_contrib_compat
from dcgan.data.dataset import Dataset
from dcgan.errors import DataError
from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)
COURSE_NOTEBOOK = os.path.join(ROOT, 'tests', 'fixtures', 'course_style_notebook.ipynb')


def write_jpegs(folder, count, size, seed=0):
    """`count` random JPEGs of `size` (width, height) in `folder`, named as the course's archives name them."""
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        with open(os.path.join(folder, f'{i + 1:06d}.jpg'), 'wb') as f:
            f.write(face_jpeg(size, seed=seed + i))


def write_digit_jpegs(folder, count):
    """`count` random grayscale 28x28 digit JPEGs named as the course's helper names them."""
    os.makedirs(folder, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    for i, digit in enumerate(pixels):
        Image.fromarray(digit, 'L').save(os.path.join(folder, f'image_{i}.jpg'))


def course_layout(data):
    """A data folder as the course's helper leaves it: data/mnist/*.jpg and data/img_align_celeba/*.jpg."""
    write_digit_jpegs(os.path.join(data, 'mnist'), 48)
    write_jpegs(os.path.join(data, 'img_align_celeba'), 32, (178, 218))


@contextlib.contextmanager
def read_only(folder):
    """Make `folder` read-only for the block: a read-only bind mount as root (root ignores permission bits),
    the permission bits otherwise; skip where neither can be done."""
    if os.geteuid() != 0:
        modes = {}
        for root, dirs, _ in os.walk(folder):
            for path in [root] + [os.path.join(root, d) for d in dirs]:
                modes[path] = os.stat(path).st_mode
                os.chmod(path, 0o555)
        try:
            yield
        finally:
            for path, mode in modes.items():
                os.chmod(path, mode)
        return
    mounted = subprocess.run(['mount', '--bind', folder, folder], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot bind-mount {folder} read-only here: {mounted.stderr.strip()}')
    try:
        remount = subprocess.run(['mount', '-o', 'remount,bind,ro', folder], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f'cannot remount {folder} read-only here: {remount.stderr.strip()}')
        yield
    finally:
        subprocess.run(['umount', folder], check=True)


# ---------------------------------------------------------------------------------------------- the notebook


def outputs(notebook):
    """(all printed text, number of images shown) of an executed notebook."""
    texts, images = [], 0
    for cell in notebook.cells:
        for output in cell.get('outputs', []):
            texts.append(output.get('text', '') or output.get('data', {}).get('text/plain', ''))
            images += 'image/png' in output.get('data', {})
    return '\n'.join(texts), images


def test_a_course_style_notebook_runs_end_to_end_with_only_its_tensorflow_import_changed(tmp_path, monkeypatch):
    source = nbformat.read(COURSE_NOTEBOOK, as_version=4)
    code = '\n'.join(c.source for c in source.cells if c.cell_type == 'code')
    imports = [line for line in code.splitlines() if 'import tensorflow' in line.split('#')[0]]
    assert [line.split('#')[0].strip() for line in imports] == ['import tensorflow.compat.v1 as tf']
    assert 'disable_eager_execution' not in code and 'TF_USE_LEGACY_KERAS' not in code
    data = tmp_path / 'data'
    course_layout(str(data))
    before = leftovers(data)
    monkeypatch.delenv('TF_USE_LEGACY_KERAS', raising=False)   # the kernel starts without it: helper sets it
    executed = tmp_path / 'executed.ipynb'
    papermill.execute_notebook(COURSE_NOTEBOOK, str(executed), cwd=ROOT, kernel_name='python3', progress_bar=False,
                               parameters=dict(data_dir=str(data)))
    text, images = outputs(nbformat.read(str(executed), as_version=4))
    assert text.count('Tests Passed') == 5
    assert 'Found mnist Data' in text and 'Found celeba Data' in text and leftovers(data) == before
    assert 'Generator output range: [-1, 1]' in text
    assert text.count('Epoch 2/2') == 3 and text.count('Epoch 1/1') == 2   # 48 digits / 16, 32 faces / 16
    assert images >= 2 + 3 + 1     # the two data previews, digit samples at steps 2, 4, 6, a face sample at 2


# ---------------------------------------------------------------------------------------------- download_extract


def test_the_course_layout_is_used_as_it_is(tmp_path, capsys):
    course_layout(str(tmp_path))
    before = leftovers(tmp_path)
    assert helper.download_extract('mnist', str(tmp_path)) is None
    assert helper.download_extract('celeba', str(tmp_path)) is None
    out = capsys.readouterr().out
    assert 'Found mnist Data' in out and '48 images' in out and 'Found celeba Data' in out and '32 images' in out
    assert leftovers(tmp_path) == before


def test_the_course_call_writes_the_course_digits_from_the_official_archive(tmp_path, monkeypatch, capsys):
    data = tmp_path / 'data'
    data.mkdir()
    digits = write_idx_gz(data / 'train-images-idx3-ubyte.gz', count=20)
    make_official(monkeypatch, 'mnist', (str(data / 'train-images-idx3-ubyte.gz'), 'train-images-idx3-ubyte', ()))
    helper.download_extract('mnist', str(data))
    files = sorted(glob(os.path.join(data, 'mnist/*.jpg')), key=lambda p: int(p.split('_')[-1][:-4]))
    assert [os.path.basename(f) for f in files] == [f'image_{i}.jpg' for i in range(20)]
    batch = helper.get_batch(files, 28, 28, 'L')
    assert batch.shape == (20, 28, 28, 1) and batch.dtype == np.float32
    assert np.abs(batch[..., 0] - digits).mean() < 25   # the same digits, through lossy JPEG
    assert 'ready for the course' in capsys.readouterr().out
    # the project's own call still finds its extraction beside them, and a second course call rewrites nothing
    assert helper.download_extract('mnist', str(data), mirror=None) == [str(data / 'mnist' / 'train-images-idx3-ubyte')]
    before = {f: os.stat(f).st_mtime_ns for f in files}
    helper.download_extract('mnist', str(data))
    assert {f: os.stat(f).st_mtime_ns for f in files} == before and 'Found mnist Data' in capsys.readouterr().out


def test_the_course_call_puts_the_faces_where_the_course_looks_and_the_project_finds_them(tmp_path, monkeypatch):
    data = tmp_path / 'data'
    data.mkdir()
    write_face_zip(data / 'img_align_celeba.zip', count=6)
    make_official(monkeypatch, 'celeba', (str(data / 'img_align_celeba.zip'), 'img_align_celeba', ()))
    helper.download_extract('celeba', str(data))
    assert len(glob(os.path.join(data, 'img_align_celeba/*.jpg'))) == 6
    assert not (data / 'celeba' / 'img_align_celeba').exists(), 'moved, not extracted twice'
    files = helper.download_extract('celeba', str(data), mirror=None)
    assert len(files) == 6 and all(f.startswith(str(data / 'img_align_celeba')) for f in files)


def test_the_course_call_on_a_read_only_folder_without_the_course_layout_says_what_to_do(tmp_path):
    folder = tmp_path / 'input'
    folder.mkdir()
    write_idx_gz(folder / 'train-images-idx3-ubyte.gz')
    with read_only(str(folder)), pytest.raises(DataError, match='read-only') as failure:
        helper.download_extract('mnist', str(folder))
    assert 'writable folder' in str(failure.value) and 'DLND_DATA_MIRROR' in str(failure.value)
    assert leftovers(folder) == ['train-images-idx3-ubyte.gz']


def test_a_read_only_course_layout_is_used_in_place(tmp_path, capsys):
    course_layout(str(tmp_path / 'input'))
    with read_only(str(tmp_path / 'input')):
        helper.download_extract('mnist', str(tmp_path / 'input'))
        files = glob(os.path.join(tmp_path, 'input', 'mnist/*.jpg'))
        dataset = helper.Dataset('mnist', files)
        assert dataset.shape == (48, 28, 28, 1) and 'Found mnist Data' in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- read-only data


def test_archives_on_a_read_only_folder_are_read_there_and_extracted_and_cached_elsewhere(
        tmp_path, monkeypatch, private_cache, capsys):
    folder = tmp_path / 'input'
    folder.mkdir()
    write_face_zip(folder / 'img_align_celeba.zip', count=8)
    make_official(monkeypatch, 'celeba', (str(folder / 'img_align_celeba.zip'), 'img_align_celeba', ()))
    with read_only(str(folder)):
        files = helper.download_extract('celeba', str(folder), mirror=None)
        dataset = Dataset('celeba', files, cache_dir=str(folder / 'cache'))
        again = helper.download_extract('celeba', str(folder), mirror=None)
    out = capsys.readouterr().out
    assert len(files) == 8 and all(f.startswith(str(private_cache)) for f in files)
    assert again == files and 'Found celeba data' in out
    assert f'{folder} is read-only' in out and dataset.shape == (8, 28, 28, 3)
    assert leftovers(folder) == ['img_align_celeba.zip']


def test_no_writable_folder_at_all_is_one_clear_error(tmp_path, monkeypatch, mnist_gz):
    folder, cache = tmp_path / 'input', tmp_path / 'cache-ro'
    folder.mkdir()
    cache.mkdir()
    os.replace(mnist_gz, folder / 'train-images-idx3-ubyte.gz')
    make_official(monkeypatch, 'mnist', (str(folder / 'train-images-idx3-ubyte.gz'), 'train-images-idx3-ubyte', ()))
    monkeypatch.setenv('DLND_CACHE_DIR', str(cache))
    with read_only(str(folder)), read_only(str(cache)), pytest.raises(DataError) as failure:
        helper.download_extract('mnist', str(folder), mirror=None)
    message = str(failure.value)
    assert 'read-only' in message and 'DLND_CACHE_DIR' in message and 'Traceback' not in message
    assert leftovers(folder) == ['train-images-idx3-ubyte.gz'] and leftovers(cache) == []


# ---------------------------------------------------------------------------------------------- images


def test_square_faces_are_taken_as_cropped_and_only_resized(tmp_path):
    write_jpegs(str(tmp_path / 'cropped'), 3, (64, 64))
    write_jpegs(str(tmp_path / 'photos'), 3, (178, 218))
    cropped = sorted(glob(str(tmp_path / 'cropped' / '*.jpg')))
    photos = sorted(glob(str(tmp_path / 'photos' / '*.jpg')))
    dataset = Dataset('celeba', cropped)
    for i, path in enumerate(cropped):
        whole = np.asarray(Image.open(path).convert('RGB').resize((28, 28), Image.Resampling.LANCZOS), np.int16)
        assert np.abs(dataset.images[i].astype(np.int16) - whole).max() <= 1, 'the whole square image, resized'
        assert np.abs(helper.get_image(path, 28, 28, 'RGB').astype(np.int16) - whole).max() <= 1
    photo = Image.open(photos[0]).convert('RGB')
    face = photo.crop((35, 55, 143, 163)).resize((28, 28), Image.Resampling.LANCZOS)
    assert np.abs(helper.get_image(photos[0], 28, 28, 'RGB').astype(np.int16) - np.asarray(face, np.int16)).max() <= 1


def test_get_batch_shapes_and_range(tmp_path):
    pixels = np.zeros((56, 56, 3), np.uint8)
    pixels[:, 28:] = 255                       # black left half, white right half
    files = []
    for i in range(3):
        files.append(str(tmp_path / f'{i}.png'))
        Image.fromarray(pixels).save(files[-1])
    rgb, grey = helper.get_batch(files, 28, 28, 'RGB'), helper.get_batch(files, 28, 28, 'L')
    assert rgb.shape == (3, 28, 28, 3) and grey.shape == (3, 28, 28, 1)
    assert rgb.dtype == grey.dtype == np.float32
    assert rgb[:, :, :10].max() <= 2 and grey[:, :, -10:].min() >= 253   # values 0-255, as the course's


@pytest.mark.parametrize('low, high', [(0, 255), (-1, 1), (-0.25, 0.25)])
def test_the_course_grid_stretches_each_grid_from_its_minimum_to_its_maximum(low, high):
    images = np.linspace(low, high, 9 * 4 * 4).reshape(9, 4, 4, 1)
    grid = np.asarray(helper.images_square_grid(images, 'L'))
    assert grid.shape == (12, 12) and grid.min() == 0 and grid.max() == 255


def test_the_project_grids_keep_the_fixed_range_so_progress_grids_compare():
    images = np.linspace(-0.25, 0.25, 9 * 4 * 4).reshape(9, 4, 4, 1)
    grid = np.asarray(pictures.images_square_grid(images, 'L'))
    assert 60 <= grid.min() <= 66 and 189 <= grid.max() <= 195
    assert np.asarray(helper.images_square_grid(np.zeros((4, 2, 2, 3)), 'RGB')).max() == 0   # flat: no NaN


# ---------------------------------------------------------------------------------------------- environment


def run_python(code):
    """Run `code` in a fresh interpreter of this environment, without TF_USE_LEGACY_KERAS set."""
    env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
    done = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_distutils_looseversion_comes_from_setuptools_so_it_works_on_python_3_12_and_later():
    found = run_python('from distutils.version import LooseVersion; import distutils\n'
                       'assert LooseVersion("2.21.0") >= LooseVersion("1.0")\n'
                       'print(distutils.__file__)')
    assert f'setuptools{os.sep}_distutils' in found


def test_importing_helper_first_gives_the_legacy_tf_layers_and_tf_contrib():
    printed = run_python('import helper, os\n'
                         'import tensorflow.compat.v1 as tf\n'
                         'with tf.Graph().as_default():\n'
                         '    x = tf.placeholder(tf.float32, (None, 4))\n'
                         '    y = tf.layers.dense(x, 3, kernel_initializer=tf.contrib.layers.xavier_initializer())\n'
                         'print(os.environ["TF_USE_LEGACY_KERAS"], y.shape.as_list())')
    assert printed == '1 [None, 3]'


def test_the_tf_contrib_names_map_to_their_compat_v1_equivalents():
    contrib = tf_contrib_compat.install()
    assert tf.contrib is contrib and tf_contrib_compat.install() is contrib   # installed once, never replaced
    with tf.Graph().as_default():
        xavier = tf.get_variable('x', (300, 100), initializer=contrib.layers.xavier_initializer(seed=1))
        he = tf.get_variable('h', (600, 50), initializer=contrib.layers.variance_scaling_initializer(seed=1))
        flat = contrib.layers.flatten(tf.placeholder(tf.float32, (None, 3, 4, 5)))
        penalty = contrib.layers.l2_regularizer(0.5)(tf.constant([1.0, 2.0]))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            x_values, h_values, l2 = sess.run([xavier, he, penalty])
    assert np.abs(x_values).max() <= np.sqrt(6 / 400) and x_values.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    assert h_values.std() == pytest.approx(np.sqrt(2 / 600), rel=0.1)
    assert flat.shape.as_list() == [None, 60] and l2 == pytest.approx(0.5 * 5 / 2)
