"""Where the data sets come from: the official archives with their checksums and download sources, your
own archive or folder, a mirror folder, or what an earlier run extracted."""
import os
from dataclasses import dataclass

from dcgan.data.archives import (archive_stem, extract, extracted_from, is_idx_images, read_idx_labels,
                                 read_record, write_record)
from dcgan.data.images import IMAGE_EXTENSIONS, image_files
from dcgan.data.lock import FolderLock
from dcgan.download import DownloadError, download_file, md5sum
from dcgan.errors import DataError

MIRROR_ENV = 'DLND_DATA_MIRROR'    # a folder holding the official archives under their official names

# What each data set's largest official file extracts to, and how many times that your own archives may
# extract to: a larger one is refused (a decompression bomb, or not this data set) before a byte is written.
OFFICIAL_EXTRACTED_BYTES = {'mnist': 47_040_016,        # train-images-idx3-ubyte: 16 + 60,000 x 28 x 28
                            'celeba': 1_500_000_000}    # img_align_celeba/: 202,599 JPEGs, about 7.4 kB each
EXTRACTED_SIZE_MARGIN = 10


@dataclass(frozen=True)
class Archive:
    """One official file of a data set: its name, md5 checksum and where to download it."""
    name: str
    md5: str
    urls: tuple
    extracted: str   # the file or folder it extracts to, inside the data set's folder

MNIST_URLS = ('http://yann.lecun.com/exdb/mnist/{}',
              'https://ossci-datasets.s3.amazonaws.com/mnist/{}',
              'https://storage.googleapis.com/cvdf-datasets/mnist/{}')
DATASETS = {
    'mnist': (
        Archive('train-images-idx3-ubyte.gz', 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
                tuple(u.format('train-images-idx3-ubyte.gz') for u in MNIST_URLS), 'train-images-idx3-ubyte'),
        Archive('t10k-images-idx3-ubyte.gz', '9fb629c4189551a2d022fa330f9573f3',
                tuple(u.format('t10k-images-idx3-ubyte.gz') for u in MNIST_URLS), 't10k-images-idx3-ubyte'),
    ),
    'celeba': (
        Archive('img_align_celeba.zip', '00d2c5bc6d35e252742224ab0c1e8fcb',
                ('https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM'
                 '&export=download&confirm=t',
                 'https://graal.ift.ulaval.ca/public/celeba/img_align_celeba.zip'),
                'img_align_celeba'),
    ),
}
MNIST_LABELS = {   # the official label archives: the digit classifier of dcgan.metrics learns from them
    'train': Archive('train-labels-idx1-ubyte.gz', 'd53e105ee54ea40749a09fcbcd1e9432', (), 'train-labels-idx1-ubyte'),
    't10k': Archive('t10k-labels-idx1-ubyte.gz', 'ec29112dd5afa0611ce80d1b7f02629c', (), 't10k-labels-idx1-ubyte'),
}


def official_archive(name, path):
    """The official Archive of data set `name` whose checksum `path` has, or None."""
    md5 = md5sum(path)
    return next((a for a in DATASETS[name] if a.md5 == md5), None)


def verify_archive(path, archive):
    """Raise DataError unless the file at `path` has the official checksum of `archive`."""
    md5 = md5sum(path)
    if md5 != archive.md5:
        raise DataError(f'{path} has md5 {md5}, but the official {archive.name} has md5 {archive.md5}: '
                        f'the file is corrupt, truncated or a different file. Delete it and run again '
                        f'to download it, or pass your own file explicitly as source=... to use it unverified.')


def download_official(archive, data_dir):
    """Download `archive` into data_dir from its sources in turn (resumable, md5-verified); return its path."""
    dest = os.path.join(data_dir, archive.name)
    try:
        download_file(archive.urls, dest, archive.md5)
    except DownloadError as error:
        raise DataError(f'{error}\nDownload {archive.name} yourself (md5 {archive.md5}) and put it in '
                        f'{os.path.abspath(data_dir)}, or in a mirror folder given as mirror=... or '
                        f'${MIRROR_ENV}, and run again.') from None
    return dest


def extraction_limit(name):
    """The most bytes an archive of data set `name` may extract to."""
    return EXTRACTED_SIZE_MARGIN * OFFICIAL_EXTRACTED_BYTES.get(name, max(OFFICIAL_EXTRACTED_BYTES.values()))


def data_files(path):
    """The data files under `path`: the IDX file itself, or the images in a folder (sorted)."""
    if os.path.isfile(path):
        return [path]
    files = image_files(path)
    if not files:
        raise DataError(f'{path} holds no images ({", ".join(IMAGE_EXTENSIONS)}). Put the images there, '
                        f'or delete the folder so that it can be extracted again.')
    return files


def extract_once(name, archive, dest, md5=None):
    """Extract `archive` into `dest` and record its content (size, modification time, md5), so `dest` is
    reused only while the archive stays the same; return the data files. Callers have checked that `dest`
    does not hold this archive's content already (extracted_from)."""
    if os.path.exists(dest):
        why = 'the archive changed since' if read_record(dest) else 'no record says which archive it came from'
        print(f'{dest} does not hold {archive} as it is now ({why}): extracting it again.')
    extract(archive, dest, extraction_limit(name))
    write_record(dest, archive, md5)
    return data_files(dest)


def use_own_source(name, source, data_dir):
    """Prepare the user's own archive, IDX file or folder `source` and return its data files."""
    if not os.path.exists(source):
        raise DataError(f'source={source!r} does not exist: pass the path of an archive or of a folder of images.')
    if os.path.isdir(source):
        print(f'Using your folder {source} as {name} (not checksum-verified).')
        return data_files(source)
    if is_idx_images(source):
        print(f'Using your IDX file {source} as {name} (not checksum-verified).')
        return [source]
    dest = os.path.join(data_dir, name, archive_stem(source))
    if os.path.exists(dest) and extracted_from(dest, source):
        print(f'Using {dest}, extracted earlier from {source}.')
        return data_files(dest)
    archive = official_archive(name, source)
    if archive:
        print(f'{source} is the official {archive.name} (md5 verified).')
    else:
        print(f'{source} is not one of the official {name} archives: using it NOT checksum-verified.')
    return extract_once(name, source, dest, archive.md5 if archive else None)


def download_extract(name, data_dir='data', source=None, mirror=None):
    """Make data set `name` ('mnist' or 'celeba') ready under data_dir and return its data files.

    Looks, in order, at: your own `source` (an archive or a folder, used as given); a folder you put in
    data_dir under the extracted name; an official archive in data_dir or in the `mirror` folder (or
    $DLND_DATA_MIRROR), extracted once (again only when its content changes); what an earlier run extracted
    from an archive that is gone; and finally downloads the official archive. Official archives are
    checksum-verified before use. One process at a time prepares a data folder (a lock, waited for).
    """
    if name not in DATASETS:
        raise DataError(f'Unknown data set {name!r}: choose one of {", ".join(DATASETS)}.')
    with FolderLock(data_dir, f'preparing {name}'):
        if source is not None:
            return use_own_source(name, source, data_dir)
        return prepare_official(name, data_dir, mirror or os.environ.get(MIRROR_ENV))


def prepare_official(name, data_dir, mirror):
    """The files of data set `name` from the official archives (see download_extract); the lock is held."""
    archives = DATASETS[name]
    for archive in archives:
        placed = os.path.join(data_dir, archive.extracted)
        if os.path.exists(placed):
            print(f'Found {name} data in {placed}.')
            return data_files(placed)
    if mirror and not os.path.isdir(mirror):
        raise DataError(f'The mirror folder {mirror!r} does not exist: pass the folder that holds the '
                        f'official archives (mirror=... or ${MIRROR_ENV}).')
    for archive in archives:
        dest = os.path.join(data_dir, name, archive.extracted)
        path = next((p for p in (os.path.join(f, archive.name) for f in filter(None, (data_dir, mirror)))
                     if os.path.isfile(p)), None)
        if path is None and os.path.exists(dest):
            print(f'Found {name} data in {dest} (its archive is not here: using it as it is).')
            return data_files(dest)
        if path is None:
            continue
        if os.path.exists(dest) and extracted_from(dest, path):
            print(f'Found {name} data in {dest}, extracted earlier from {path}.')
            return data_files(dest)
        verify_archive(path, archive)
        print(f'{path} is the official {archive.name} (md5 verified).')
        return extract_once(name, path, dest, archive.md5)
    archive = archives[0]
    path = download_official(archive, data_dir)
    return extract_once(name, path, os.path.join(data_dir, name, archive.extracted), archive.md5)


def find_mnist_labels(images_file, count, folders):
    """The `count` labels of an MNIST images file, from the label archive of the same split ('train' or
    't10k') found in one of `folders`, or None with a line saying why (they only feed the quality metrics)."""
    split = os.path.basename(images_file).split('-')[0]
    name = f'{split}-labels-idx1-ubyte.gz'
    path = next((os.path.join(f, name) for f in filter(None, folders) if os.path.isfile(os.path.join(f, name))), None)
    if path is None:
        print(f'No {name} next to the digits: the digit-classifier metrics are skipped.')
        return None
    labels = read_idx_labels(path)
    official = split in MNIST_LABELS and md5sum(path) == MNIST_LABELS[split].md5
    print(f'Labels for the digits: {path} ' + ('(md5 verified).' if official else '(NOT checksum-verified).'))
    if len(labels) < count:
        print(f'{path} holds {len(labels)} labels for {count} digits: the digit-classifier metrics are skipped.')
        return None
    return labels[:count]
