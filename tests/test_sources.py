"""Where the data comes from on a fresh machine: the official hosts and their mirrors (labels too), other
hosts given by $DLND_DOWNLOAD_URL with checksums from $DLND_DOWNLOAD_MD5, and what to do when none answers."""
import dataclasses
import gzip
import os
import shutil

import numpy as np
import pytest
from conftest import write_face_zip, write_idx_gz
from PIL import Image

from dcgan.data import sources
from dcgan.download import md5sum
from dcgan.errors import DataError

# The official files' md5s, as published with the data sets (and in ../shared/datasets/README.md).
OFFICIAL_MD5 = {
    'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
    't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
    'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
    't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c',
    'img_align_celeba.zip': '00d2c5bc6d35e252742224ab0c1e8fcb',
}


def write_labels_gz(path, count=64, seed=0):
    """A gzip'd IDX label file of `count` random digits 0-9."""
    labels = np.random.default_rng(seed).integers(0, 10, count).astype(np.uint8)
    with gzip.open(path, 'wb') as f:
        f.write(np.array([0x00000801, count], dtype='>u4').tobytes() + labels.tobytes())
    return labels


def serve_fixture_data(folder):
    """Write small stand-ins for the official files into `folder` (served over HTTP by a test) and an
    md5sum-style table of them beside it; return the table's path."""
    write_idx_gz(folder / 'train-images-idx3-ubyte.gz')
    write_labels_gz(folder / 'train-labels-idx1-ubyte.gz')
    write_face_zip(folder / 'img_align_celeba.zip', count=64)   # one batch of the default 64
    table = folder.parent / 'MD5SUMS'
    table.write_text(''.join(f'{md5sum(folder / name)}  {name}\n' for name in sorted(os.listdir(folder))))
    return table


def test_every_official_file_has_its_published_checksum():
    archives = [a for name in sources.DATASETS for a in sources.DATASETS[name]] + list(sources.MNIST_LABELS.values())
    assert {a.name: a.md5 for a in archives} == OFFICIAL_MD5


def test_mnist_labels_come_from_the_same_hosts_as_the_images():
    images = sources.DATASETS['mnist'][0]
    for split, labels in sources.MNIST_LABELS.items():
        assert labels.name == f'{split}-labels-idx1-ubyte.gz'
        assert len(labels.urls) == len(images.urls) >= 3
        assert [u.replace(labels.name, images.name) for u in labels.urls] == list(images.urls)


def test_download_urls_put_the_environments_hosts_first(monkeypatch):
    archive = sources.MNIST_LABELS['train']
    monkeypatch.setenv(sources.DOWNLOAD_URL_ENV, 'http://127.0.0.1:1/mirror/ https://example.org/mnist')
    assert sources.download_urls(archive) == (
        'http://127.0.0.1:1/mirror/train-labels-idx1-ubyte.gz', 'https://example.org/mnist/train-labels-idx1-ubyte.gz',
        *archive.urls)
    monkeypatch.delenv(sources.DOWNLOAD_URL_ENV)
    assert sources.download_urls(archive) == archive.urls


def test_a_download_from_other_hosts_is_verified_against_the_checksum_table_with_the_labels(
        tmp_path, monkeypatch, http_server, capsys):
    served, url = http_server
    table = serve_fixture_data(served)
    monkeypatch.setenv(sources.DOWNLOAD_URL_ENV, url)
    monkeypatch.setenv(sources.CHECKSUMS_ENV, str(table))
    data = tmp_path / 'data'
    files = sources.download_extract('mnist', str(data))
    assert files == [str(data / 'mnist' / 'train-images-idx3-ubyte')]
    assert md5sum(data / 'train-labels-idx1-ubyte.gz') == md5sum(served / 'train-labels-idx1-ubyte.gz')
    labels = sources.find_mnist_labels(files[0], 64, [str(data)])
    assert labels is not None and len(labels) == 64
    out = capsys.readouterr().out
    assert 'Downloading train-labels-idx1-ubyte.gz' in out and 'Labels for the digits' in out
    assert out.count(f'(md5 verified against ${sources.CHECKSUMS_ENV})') == 2 and 'NOT checksum-verified' not in out
    png = tmp_path / '000000.png'   # digits of a folder of images: no labels file can belong to them
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(png)
    assert sources.find_mnist_labels(str(png), 1, [str(data)]) is None
    assert 'The digits are image files, not an MNIST IDX file' in capsys.readouterr().out
    assert len(sources.download_extract('celeba', str(data))) == 64
    assert sorted(f for f in os.listdir(data) if f.endswith('.part')) == []


def test_without_a_table_the_official_checksum_refuses_other_bytes(tmp_path, monkeypatch, http_server):
    served, url = http_server
    serve_fixture_data(served)
    monkeypatch.setenv(sources.DOWNLOAD_URL_ENV, url)
    official = sources.DATASETS['mnist'][0]
    monkeypatch.setitem(sources.DATASETS, 'mnist', (dataclasses.replace(official, urls=()),))   # no internet
    with pytest.raises(DataError, match=f'wrong checksum: got md5 .* expected {official.md5}'):
        sources.download_extract('mnist', str(tmp_path / 'data'))


def test_labels_that_no_source_gives_are_reported_and_the_images_still_used(tmp_path, monkeypatch, http_server,
                                                                           capsys):
    served, url = http_server
    table = serve_fixture_data(served)
    os.remove(served / 'train-labels-idx1-ubyte.gz')
    monkeypatch.setenv(sources.DOWNLOAD_URL_ENV, url)
    monkeypatch.setenv(sources.CHECKSUMS_ENV, str(table))
    monkeypatch.setitem(sources.MNIST_LABELS, 'train', dataclasses.replace(sources.MNIST_LABELS['train'], urls=()))
    data = tmp_path / 'data'
    assert sources.download_extract('mnist', str(data)) == [str(data / 'mnist' / 'train-images-idx3-ubyte')]
    out = capsys.readouterr().out
    assert 'digit-classifier metrics will be skipped' in out
    md5 = sources.expected_md5(sources.MNIST_LABELS['train'])   # the table's, which replaces the official one
    assert md5 != OFFICIAL_MD5['train-labels-idx1-ubyte.gz']
    assert f'put train-labels-idx1-ubyte.gz (md5 {md5}) into {data}' in out


def test_when_no_source_answers_the_message_says_which_files_to_put_where(tmp_path, monkeypatch, http_server):
    _, url = http_server   # serves an empty folder: every file is a 404
    monkeypatch.setenv(sources.DOWNLOAD_URL_ENV, url)
    official = sources.DATASETS['mnist']
    monkeypatch.setitem(sources.DATASETS, 'mnist', tuple(
        dataclasses.replace(a, urls=('http://127.0.0.1:9/' + a.name,)) for a in official))   # refused
    data = tmp_path / 'data'
    with pytest.raises(DataError) as error:
        sources.download_extract('mnist', str(data))
    message = str(error.value)
    assert f'{url}/train-images-idx3-ubyte.gz: HTTP 404' in message
    for archive in official:
        assert f'{archive.name} (md5 {archive.md5})' in message
    assert f'into {data} ' in message
    for way in ('mirror_dir=', sources.MIRROR_ENV, 'mnist_source=', '--data', sources.DOWNLOAD_URL_ENV):
        assert way in message
    assert not data.exists(), 'nothing is left: the folder made for the downloads goes with its lock'


@pytest.mark.parametrize('content, message', [
    ('not a checksum line\n', 'Line 1 of the checksum table .* is \'not a checksum line\''),
    (None, 'cannot be read'),
])
def test_a_bad_checksum_table_is_a_clear_error(tmp_path, monkeypatch, content, message):
    table = tmp_path / 'MD5SUMS'
    if content is not None:
        table.write_text(content)
    monkeypatch.setenv(sources.CHECKSUMS_ENV, str(table))
    with pytest.raises(DataError, match=message):
        sources.checksum_table()


def test_a_checksum_table_accepts_what_md5sum_prints(tmp_path, monkeypatch, mnist_gz):
    table = tmp_path / 'MD5SUMS'
    table.write_text(f'# my mirror\n{md5sum(mnist_gz).upper()} *downloads/train-images-idx3-ubyte.gz\n')
    monkeypatch.setenv(sources.CHECKSUMS_ENV, str(table))
    assert sources.checksum_table() == {'train-images-idx3-ubyte.gz': md5sum(mnist_gz)}
    data = tmp_path / 'data'
    data.mkdir()
    shutil.copy(mnist_gz, data)
    assert sources.download_extract('mnist', str(data)) == [str(data / 'mnist' / 'train-images-idx3-ubyte')]
