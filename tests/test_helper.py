"""helper.py: finding, downloading, verifying and extracting the data, and serving batches and grids."""
import gzip
import os
import shutil
import zipfile

import numpy as np
import pytest
from conftest import face_jpeg, idx_bytes, write_face_zip, write_idx_gz
from PIL import Image

from dcgan import pictures, training
from dcgan.data import archives, images, sources
from dcgan.data.dataset import Dataset
from dcgan.data.lock import LOCK_NAME
from dcgan.data.sources import Archive
from dcgan.errors import DataError


def make_official(monkeypatch, name, *archives):
    """Declare the given (path, extracted name, urls) files the official archives of data set `name`."""
    table = tuple(Archive(os.path.basename(path), sources.md5sum(path), tuple(urls), extracted)
                  for path, extracted, urls in archives)
    monkeypatch.setitem(sources.DATASETS, name, table)
    return table


def leftovers(folder):
    """Everything under `folder` (relative paths) but the data folder's lock, to show nothing half-written
    was left behind."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in dirs + files if n != LOCK_NAME]
    return sorted(found)


# ---------------------------------------------------------------------------------------------- IDX


def test_read_idx_images_parses_a_good_file(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / 'ok').write_bytes(idx_bytes(images))
    np.testing.assert_array_equal(archives.read_idx_images(str(tmp_path / 'ok')), images)


def test_read_idx_images_refuses_wrong_magic(tmp_path):
    data = bytearray(idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    data[3] = 0x01   # labels magic 0x801, not images
    (tmp_path / 'labels').write_bytes(bytes(data))
    with pytest.raises(DataError, match='magic number'):
        archives.read_idx_images(str(tmp_path / 'labels'))


def test_read_idx_images_refuses_truncated_file(tmp_path):
    (tmp_path / 'short').write_bytes(idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-10])
    with pytest.raises(DataError, match='truncated'):
        archives.read_idx_images(str(tmp_path / 'short'))


# ---------------------------------------------------------------------------------------------- crop


@pytest.mark.parametrize('width, height, side', [(178, 218, 108), (89, 109, 54)])
def test_center_crop_face_takes_the_centred_square(width, height, side):
    pixels = np.zeros((height, width, 3), np.uint8)
    left, top = (width - side) // 2, (height - side) // 2
    pixels[top:top + side, left:left + side] = 200
    crop = images.center_crop_face(Image.fromarray(pixels))
    assert crop.size == (side, side)
    assert np.asarray(crop).min() == 200   # exactly the marked square, nothing around it


def test_half_size_photo_gives_the_same_face_as_full_size(tmp_path):
    y, x = np.mgrid[0:218, 0:178] / 218.0
    smooth = np.stack([np.sin(6 * x) * 100 + 120, np.cos(5 * y) * 100 + 120, (x + y) * 100], -1)
    full = Image.fromarray(smooth.astype(np.uint8))
    half = full.resize((89, 109), Image.BOX)
    full.save(tmp_path / 'full.png')
    half.save(tmp_path / 'half.png')
    a = images.load_image(str(tmp_path / 'full.png'), 28, 'RGB', crop_face=True).astype(int)
    b = images.load_image(str(tmp_path / 'half.png'), 28, 'RGB', crop_face=True).astype(int)
    assert np.abs(a - b).mean() < 4   # same framing, so the 28x28 faces nearly agree


# ---------------------------------------------------------------------------------------------- Dataset


def test_mnist_dataset_batches_are_shuffled_float_arrays_in_range(tmp_path, mnist_gz):
    files = sources.download_extract('mnist', str(tmp_path / 'data'), source=mnist_gz)
    dataset = Dataset('mnist', files, seed=3)
    assert dataset.shape == (64, 28, 28, 1) and dataset.image_mode == 'L'
    epoch1, epoch2 = list(dataset.get_batches(10)), list(dataset.get_batches(10))
    assert len(epoch1) == 6   # 64 images: the last partial batch is dropped
    for batch in epoch1:
        assert batch.shape == (10, 28, 28, 1) and batch.dtype == np.float32
        assert batch.min() >= -0.5 and batch.max() <= 0.5
    assert not np.array_equal(epoch1[0], epoch2[0]), 'each epoch is shuffled anew'
    again = list(Dataset('mnist', files, seed=3).get_batches(10))
    np.testing.assert_array_equal(epoch1[0], again[0])   # the same seed gives the same order


def test_mnist_values_map_to_the_pixel_range(tmp_path):
    images = np.array([[[0, 255], [128, 0]]], np.uint8).repeat(28, 1).repeat(14, 2)
    (tmp_path / 'idx').write_bytes(idx_bytes(images))
    batch = next(Dataset('mnist', [str(tmp_path / 'idx')]).get_batches(1))
    assert batch.min() == -0.5 and batch.max() == 0.5


def test_celeba_dataset_is_rgb_28x28(tmp_path, celeba_zip):
    files = sources.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    dataset = Dataset('celeba', files, max_images=30)
    assert dataset.shape == (30, 28, 28, 3) and dataset.image_mode == 'RGB'
    batch = next(dataset.get_batches(8))
    assert batch.shape == (8, 28, 28, 3) and -0.5 <= batch.min() and batch.max() <= 0.5


def test_dataset_with_other_image_size(tmp_path, celeba_zip):
    files = sources.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    assert Dataset('celeba', files, image_size=32, max_images=4).shape == (4, 32, 32, 3)


def test_non_image_files_among_images_are_skipped_and_named(tmp_path, capsys):
    folder = tmp_path / 'faces'
    folder.mkdir()
    for i in range(3):
        (folder / f'{i}.jpg').write_bytes(face_jpeg(seed=i))
    (folder / 'broken.jpg').write_bytes(b'this is not a jpeg')
    (folder / 'notes.txt').write_text('not an image')
    files = sources.download_extract('celeba', str(tmp_path / 'data'), source=str(folder))
    assert len(files) == 4   # the .txt is not listed as an image
    dataset = Dataset('celeba', files)
    assert dataset.shape[0] == 3
    out = capsys.readouterr().out
    assert 'Skipped 1 of 4 files' in out and 'broken.jpg' in out


def test_folder_of_only_unreadable_images_is_a_clear_error(tmp_path):
    (tmp_path / 'a.jpg').write_bytes(b'nope')
    with pytest.raises(DataError, match='None of the 1 files could be read'):
        Dataset('celeba', [str(tmp_path / 'a.jpg')])


# ---------------------------------------------------------------------------------------------- grid


@pytest.mark.parametrize('channels, mode', [(1, 'L'), (3, 'RGB')])
def test_images_square_grid_tiles_the_largest_square(channels, mode):
    images = np.full((10, 28, 28, channels), -0.5, np.float32)
    images[0] = 0.5
    grid = pictures.images_square_grid(images, mode)
    assert grid.size == (84, 84) and grid.mode == mode
    pixels = np.asarray(grid)
    assert pixels[:28, :28].min() == 255 and pixels[28:, 28:].max() == 0


def test_save_grid_writes_an_enlarged_png(tmp_path):
    pictures.save_grid(np.zeros((16, 28, 28, 3), np.float32), 'RGB', str(tmp_path / 'g.png'), scale=2)
    assert Image.open(tmp_path / 'g.png').size == (224, 224)
    assert leftovers(tmp_path) == ['g.png']


# ---------------------------------------------------------------------------------------------- download_extract


def test_official_archive_in_data_dir_is_verified_extracted_and_reused(tmp_path, monkeypatch, mnist_gz, capsys):
    data = tmp_path / 'data'
    data.mkdir()
    shutil.copy(mnist_gz, data)
    make_official(monkeypatch, 'mnist', (mnist_gz, 'train-images-idx3-ubyte', ()))
    files = sources.download_extract('mnist', str(data))
    assert files == [str(data / 'mnist' / 'train-images-idx3-ubyte')]
    assert 'md5 verified' in capsys.readouterr().out
    os.remove(data / 'train-images-idx3-ubyte.gz')   # the extracted copy is enough from now on
    assert sources.download_extract('mnist', str(data)) == files
    assert 'Found mnist data' in capsys.readouterr().out


def test_mirror_folder_from_argument_and_environment(tmp_path, monkeypatch, celeba_zip):
    make_official(monkeypatch, 'celeba', (celeba_zip, 'img_align_celeba', ()))
    mirror = os.path.dirname(celeba_zip)
    files = sources.download_extract('celeba', str(tmp_path / 'a'), mirror=mirror)
    assert len(files) == 40 and all(f.startswith(str(tmp_path / 'a' / 'celeba' / 'img_align_celeba')) for f in files)
    monkeypatch.setenv(sources.MIRROR_ENV, mirror)
    assert len(sources.download_extract('celeba', str(tmp_path / 'b'))) == 40


def test_missing_mirror_folder_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(DataError, match='mirror folder .* does not exist'):
        sources.download_extract('mnist', str(tmp_path / 'data'), mirror=str(tmp_path / 'no-such-mirror'))
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path / 'gone'))
    with pytest.raises(DataError, match='does not exist'):
        sources.download_extract('mnist', str(tmp_path / 'data'))


def test_mnist_test_split_archive_is_accepted_by_its_own_checksum(tmp_path, monkeypatch):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    write_idx_gz(mirror / 't10k-images-idx3-ubyte.gz', count=10)
    (tmp_path / 'train.gz').write_bytes(b'the full training file, absent from the mirror')
    make_official(monkeypatch, 'mnist', (str(tmp_path / 'train.gz'), 'train-images-idx3-ubyte', ()),
                  (str(mirror / 't10k-images-idx3-ubyte.gz'), 't10k-images-idx3-ubyte', ()))
    files = sources.download_extract('mnist', str(tmp_path / 'data'), mirror=str(mirror))
    assert files == [str(tmp_path / 'data' / 'mnist' / 't10k-images-idx3-ubyte')]
    assert Dataset('mnist', files).shape == (10, 28, 28, 1)


def test_own_archive_that_is_not_official_is_used_unverified(tmp_path, celeba_zip, capsys):
    files = sources.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    assert len(files) == 40
    assert 'NOT checksum-verified' in capsys.readouterr().out


def test_own_archive_that_is_official_says_so(tmp_path, monkeypatch, celeba_zip, capsys):
    make_official(monkeypatch, 'celeba', (celeba_zip, 'img_align_celeba', ()))
    sources.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    assert 'is the official img_align_celeba.zip (md5 verified)' in capsys.readouterr().out


def test_own_folder_of_images_is_used_in_place(tmp_path, capsys):
    folder = tmp_path / 'my_faces'
    (folder / 'sub').mkdir(parents=True)
    for i in range(3):
        (folder / 'sub' / f'{i}.png').write_bytes(face_jpeg(seed=i))
    files = sources.download_extract('celeba', str(tmp_path / 'data'), source=str(folder))
    assert files == sorted(str(folder / 'sub' / f'{i}.png') for i in range(3))
    assert 'not checksum-verified' in capsys.readouterr().out


def test_download_from_local_http_server_is_verified_and_extracted(tmp_path, monkeypatch, http_server, mnist_gz):
    served, url = http_server
    shutil.copy(mnist_gz, served)
    name = os.path.basename(mnist_gz)
    make_official(monkeypatch, 'mnist', (mnist_gz, 'train-images-idx3-ubyte', (f'{url}/missing.gz', f'{url}/{name}')))
    data = tmp_path / 'data'
    files = sources.download_extract('mnist', str(data))
    assert files == [str(data / 'mnist' / 'train-images-idx3-ubyte')]
    assert sources.md5sum(data / name) == sources.md5sum(mnist_gz)
    assert not (data / (name + '.part')).exists()


def test_download_from_file_url(tmp_path, monkeypatch, celeba_zip):
    make_official(monkeypatch, 'celeba', (celeba_zip, 'img_align_celeba', ('file://' + celeba_zip,)))
    assert len(sources.download_extract('celeba', str(tmp_path / 'data'))) == 40


def test_downloaded_file_with_wrong_checksum_is_refused_and_removed(tmp_path, monkeypatch, http_server, mnist_gz):
    served, url = http_server
    (served / 'train-images-idx3-ubyte.gz').write_bytes(b'an error page, not the archive')
    make_official(monkeypatch, 'mnist', (mnist_gz, 'train-images-idx3-ubyte', (f'{url}/train-images-idx3-ubyte.gz',)))
    data = tmp_path / 'data'
    with pytest.raises(DataError, match='(?s)wrong checksum: got md5 .* expected .*Put .* into'):
        sources.download_extract('mnist', str(data))
    assert leftovers(data) == []


def test_all_sources_failing_names_the_file_its_checksum_and_where_to_put_it(tmp_path, monkeypatch, http_server,
                                                                              mnist_gz, capsys):
    _, url = http_server
    table = make_official(monkeypatch, 'mnist', (mnist_gz, 'train-images-idx3-ubyte',
                                                 (f'{url}/gone.gz', 'http://127.0.0.1:9/refused.gz')))
    data = tmp_path / 'data'
    with pytest.raises(DataError) as error:
        sources.download_extract('mnist', str(data))
    message = str(error.value)
    assert 'train-images-idx3-ubyte.gz' in message and table[0].md5 in message and str(data) in message
    out = capsys.readouterr().out
    assert out.count('Download failed from') == 2
    assert leftovers(data) == []


@pytest.mark.parametrize('content', [b'PK\x03\x04 definitely not a whole zip', 'first half'])
def test_corrupt_or_truncated_zip_leaves_nothing_behind(tmp_path, celeba_zip, content):
    broken = tmp_path / 'broken.zip'
    data = open(celeba_zip, 'rb').read()
    broken.write_bytes(data[:len(data) // 2] if content == 'first half' else content)
    with pytest.raises(DataError, match='corrupt or truncated'):
        sources.download_extract('celeba', str(tmp_path / 'data'), source=str(broken))
    assert leftovers(tmp_path / 'data') == []


def test_zip_with_corrupted_member_data_leaves_nothing_behind(tmp_path, celeba_zip):
    data = bytearray(open(celeba_zip, 'rb').read())
    data[2000:2100] = bytes(100)   # inside the first members' compressed data: CRC fails on extraction
    broken = tmp_path / 'bad_crc.zip'
    broken.write_bytes(bytes(data))
    with pytest.raises(DataError, match='corrupt or truncated'):
        sources.download_extract('celeba', str(tmp_path / 'data'), source=str(broken))
    assert leftovers(tmp_path / 'data') == []


def test_truncated_gzip_leaves_nothing_behind(tmp_path, mnist_gz):
    broken = tmp_path / 'train-images-idx3-ubyte.gz'
    broken.write_bytes(open(mnist_gz, 'rb').read()[:3000])
    with pytest.raises(DataError, match='corrupt or truncated'):
        sources.download_extract('mnist', str(tmp_path / 'data'), source=str(broken))
    assert leftovers(tmp_path / 'data') == []


def test_gzip_that_is_not_idx_leaves_nothing_behind(tmp_path):
    broken = tmp_path / 'digits.gz'
    with gzip.open(broken, 'wb') as f:
        f.write(b'hello, this is text')
    with pytest.raises(DataError, match='not an IDX image file'):
        sources.download_extract('mnist', str(tmp_path / 'data'), source=str(broken))
    assert leftovers(tmp_path / 'data') == []


def test_official_archive_with_wrong_checksum_is_refused_and_kept(tmp_path, monkeypatch, mnist_gz):
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'train-images-idx3-ubyte.gz').write_bytes(open(mnist_gz, 'rb').read()[:-5])
    make_official(monkeypatch, 'mnist', (mnist_gz, 'train-images-idx3-ubyte', ()))
    with pytest.raises(DataError, match='corrupt, truncated or a different file'):
        sources.download_extract('mnist', str(data))
    assert leftovers(data) == ['train-images-idx3-ubyte.gz']   # the user's file is not deleted


def test_data_folder_with_no_images_is_a_clear_error(tmp_path):
    (tmp_path / 'data' / 'img_align_celeba').mkdir(parents=True)
    with pytest.raises(DataError, match='holds no images'):
        sources.download_extract('celeba', str(tmp_path / 'data'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match='holds no images'):
        sources.download_extract('celeba', str(tmp_path / 'data'), source=str(tmp_path / 'empty'))


def test_zip_without_images_is_refused(tmp_path):
    archive = tmp_path / 'docs.zip'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('readme.txt', 'no pictures here')
    with pytest.raises(DataError, match='holds no images'):
        sources.download_extract('celeba', str(tmp_path / 'data'), source=str(archive))
    assert leftovers(tmp_path / 'data') == []


def test_zip_member_escaping_the_target_is_refused(tmp_path):
    archive = tmp_path / 'evil.zip'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('img_align_celeba/000001.jpg', face_jpeg())
        z.writestr('../../escaped.jpg', face_jpeg())
    with pytest.raises(DataError, match='outside'):
        sources.download_extract('celeba', str(tmp_path / 'data'), source=str(archive))
    assert leftovers(tmp_path / 'data') == []
    assert not (tmp_path / 'escaped.jpg').exists()


def test_missing_source_and_unknown_data_set_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match='does not exist'):
        sources.download_extract('celeba', str(tmp_path), source=str(tmp_path / 'nowhere.zip'))
    with pytest.raises(DataError, match="Unknown data set 'cifar'"):
        sources.download_extract('cifar', str(tmp_path))


def test_explicit_archive_is_extracted_once(tmp_path, celeba_zip, capsys):
    sources.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    capsys.readouterr()
    sources.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)
    assert 'extracted earlier' in capsys.readouterr().out


def test_zip_without_top_folder_extracts_its_images(tmp_path):
    write_face_zip(tmp_path / 'flat.zip', count=3, folder='.')
    files = sources.download_extract('celeba', str(tmp_path / 'data'), source=str(tmp_path / 'flat.zip'))
    assert len(files) == 3


# ---------------------------------------------------------------------------------------------- training helpers


def test_batch_schedule_caps_steps_across_epochs():
    def get_batches(batch_size):
        yield from range(3)
    assert [e for e, _ in training.batch_schedule(get_batches, 1, 4)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [e for e, _ in training.batch_schedule(get_batches, 1, 4, max_steps=4)] == [0, 0, 0, 1]


def test_noise_distributions():
    rng = np.random.default_rng(0)
    uniform = training.noise(rng, 1000, 10, 'uniform')
    normal = training.noise(rng, 1000, 10, 'normal')
    assert uniform.dtype == normal.dtype == np.float32 and uniform.shape == (1000, 10)
    assert uniform.min() >= -1 and uniform.max() <= 1 and normal.std() == pytest.approx(1, abs=0.05)
    with pytest.raises(ValueError, match='uniform'):
        training.noise(rng, 1, 1, 'cauchy')
