"""The preprocessing cache (decode once, memory-map after), image-mode conversions, your own folders."""
import os

import numpy as np
import pytest
from conftest import face_jpeg
from PIL import Image

import helper
from dcgan.data import cache, images
from dcgan.data.dataset import Dataset, read_rows
from dcgan.data.lock import LOCK_NAME


@pytest.fixture
def faces(tmp_path, celeba_zip):
    return helper.download_extract('celeba', str(tmp_path / 'data'), source=celeba_zip)


def cache_files(cache_dir):
    """The cache folder's files, without its lock file."""
    return sorted(n for n in os.listdir(cache_dir) if n != LOCK_NAME) if os.path.isdir(cache_dir) else []


def refuse_decoding(monkeypatch):
    """Make any image decoding fail the test."""
    def no_decoding(*args, **kwargs):
        raise AssertionError('an image was decoded although the cache has it')
    monkeypatch.setattr(cache, 'load_image', no_decoding)


def test_second_dataset_decodes_no_image_and_is_memory_mapped(faces, monkeypatch):
    first = Dataset('celeba', faces)
    refuse_decoding(monkeypatch)
    second = Dataset('celeba', faces)
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(first.images, second.images)
    batches = list(second.get_batches(8)) + list(second.get_batches(8))   # two epochs, no decoding
    assert len(batches) == 10


def test_streamed_batches_are_the_cached_images_each_once_per_epoch(faces):
    dataset = Dataset('celeba', faces, max_images=len(faces) - 2)   # also a cut-down data set
    served = np.concatenate(list(dataset.get_batches(len(dataset.images) // 4)))
    assert len(served) == len(dataset.images) // 4 * 4 and served.dtype == np.float32
    rows = {row.tobytes() for row in images.to_float(np.asarray(dataset.images))}
    assert {row.tobytes() for row in served} <= rows and len({row.tobytes() for row in served}) == len(served)
    with open(dataset.cache_file[0], 'rb') as cache:
        rows_3_and_0 = read_rows(cache, dataset.cache_file[1], dataset.shape[1:], [3, 0])
    np.testing.assert_array_equal(rows_3_and_0, dataset.images[[3, 0]])


def test_cache_is_rebuilt_when_size_crop_or_source_change(faces, private_cache):
    Dataset('celeba', faces)
    Dataset('celeba', faces, image_size=32)
    Dataset('celeba', faces, crop_face=False)
    assert len(cache_files(private_cache)) == 3   # one cache file per setting
    with open(faces[0], 'ab') as f:
        f.write(b'\0')   # the source changed
    Dataset('celeba', faces)
    assert len(cache_files(private_cache)) == 4


def test_interrupted_cache_build_leaves_nothing_and_the_next_run_builds_it(faces, monkeypatch, private_cache):
    calls = []
    real_load = images.load_image

    def dies_midway(*args, **kwargs):
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt   # the user stops the kernel halfway through
        return real_load(*args, **kwargs)

    monkeypatch.setattr(cache, 'load_image', dies_midway)
    with pytest.raises(KeyboardInterrupt):
        Dataset('celeba', faces)
    assert cache_files(private_cache) == []
    monkeypatch.setattr(cache, 'load_image', real_load)
    assert Dataset('celeba', faces).shape == (40, 28, 28, 3)


def test_unreadable_images_are_skipped_counted_and_reported_once(tmp_path, capsys):
    folder = tmp_path / 'faces'
    folder.mkdir()
    for i in range(5):
        (folder / f'{i}.jpg').write_bytes(face_jpeg(seed=i))
    (folder / '2.jpg').write_bytes(face_jpeg(seed=2)[:300])        # truncated JPEG
    (folder / 'fake.png').write_bytes(b'not a png at all')
    dataset = Dataset.from_folder(str(folder))
    out = capsys.readouterr().out
    assert dataset.shape[0] == 4 and 'Skipped 2 of 6 files' in out and 'fake.png' in out and '2.jpg' in out
    again = Dataset.from_folder(str(folder))
    assert again.shape[0] == 4 and 'Skipped' not in capsys.readouterr().out


def test_mnist_idx_is_cached_too_and_resized_for_other_sizes(tmp_path, mnist_gz, monkeypatch):
    files = helper.download_extract('mnist', str(tmp_path / 'data'), source=mnist_gz)
    assert Dataset('mnist', files, image_size=32).shape == (64, 32, 32, 1)
    monkeypatch.setattr(cache, 'read_idx_images', lambda *a: pytest.fail('read the IDX file again'))
    assert Dataset('mnist', files, image_size=32, max_images=10).shape == (10, 32, 32, 1)


@pytest.mark.parametrize('size', [28, 32, 64])
def test_from_folder_with_and_without_face_crop(tmp_path, size):
    folder = tmp_path / 'mine'
    folder.mkdir()
    pixels = np.zeros((218, 178, 3), np.uint8)
    pixels[55:163, 35:143] = 255   # the 108x108 centred face square is white, the rest black
    for i in range(3):
        Image.fromarray(pixels).save(folder / f'{i}.png')
    cropped = Dataset.from_folder(str(folder), image_size=size, crop_face=True)
    whole = Dataset.from_folder(str(folder), image_size=size)
    assert cropped.shape == whole.shape == (3, size, size, 3)
    assert cropped.images.min() > 200                  # only the face square
    assert whole.images.min() == 0 and whole.images.max() == 255


def convert(tmp_path, image, name, mode='RGB', **save):
    path = tmp_path / name
    image.save(path, **save)
    return images.load_image(str(path), 28, mode, crop_face=False)


def test_grayscale_image_becomes_rgb(tmp_path):
    array = convert(tmp_path, Image.new('L', (28, 28), 77), 'gray.png')
    assert array.shape == (28, 28, 3) and (array == 77).all()


def test_transparent_pixels_become_background_not_hidden_colour(tmp_path):
    image = Image.new('RGBA', (28, 28), (255, 0, 0, 0))        # fully transparent red
    image.paste((0, 255, 0, 255), (0, 0, 14, 28))              # left half opaque green
    array = convert(tmp_path, image, 'rgba.png')
    assert (array[:, :10] == (0, 255, 0)).all()
    assert (array[:, 18:] == images.TRANSPARENT_BACKGROUND[:3]).all()


def test_cmyk_jpeg_colours_survive(tmp_path):
    rgb = Image.new('RGB', (28, 28), (200, 60, 30))
    array = convert(tmp_path, rgb.convert('CMYK'), 'cmyk.jpg', quality=95)
    assert np.abs(array.astype(int) - (200, 60, 30)).max() < 12


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.tile(np.linspace(0, 65535, 28).astype(np.uint16), (28, 1))
    array = convert(tmp_path, Image.fromarray(values), 'deep.png', mode='L')[..., 0]
    assert array[:, 0].max() == 0 and array[:, -1].min() == 255
    assert 120 < array[:, 13:15].mean() < 136   # mid-grey stays mid-grey (clipping would give 255)
