"""Where the data sets come from: the official archives with their checksums and download sources, your
own archive or folder, a mirror folder, or what an earlier run extracted."""
import os
import re
from dataclasses import dataclass

from dcgan.data.archives import (archive_stem, extract, extracted_from, is_idx_images, read_idx_labels,
                                 read_record, write_record)
from dcgan.data.cache import default_cache_dir
from dcgan.data.folders import writable_dir
from dcgan.data.images import IMAGE_EXTENSIONS, image_files
from dcgan.data.lock import FolderLock
from dcgan.download import DownloadError, download_file, md5sum
from dcgan.errors import DataError

MIRROR_ENV = 'DLND_DATA_MIRROR'      # a folder holding the official archives under their official names
DOWNLOAD_URL_ENV = 'DLND_DOWNLOAD_URL'   # base urls (space-separated) tried before the official hosts
CHECKSUMS_ENV = 'DLND_DOWNLOAD_MD5'  # an md5sum-style table whose checksums replace the official ones
WRITABLE_PURPOSE = 'extracted and downloaded data'

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


# The download hosts. The official MNIST host often answers 403 and the CelebA drive rate-limits, so each
# file has well-known public mirrors of the same bytes after it (the md5 is checked whatever the host).
MNIST_URLS = ('http://yann.lecun.com/exdb/mnist/{}',
              'https://ossci-datasets.s3.amazonaws.com/mnist/{}',
              'https://storage.googleapis.com/cvdf-datasets/mnist/{}')
CELEBA_URLS = ('https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM'
               '&export=download&confirm=t',
               'https://graal.ift.ulaval.ca/public/celeba/img_align_celeba.zip')


def mnist_archive(name, md5):
    """An official MNIST file: every MNIST host serves it under the same name."""
    return Archive(name, md5, tuple(url.format(name) for url in MNIST_URLS), name[:-len('.gz')])


DATASETS = {
    'mnist': (mnist_archive('train-images-idx3-ubyte.gz', 'f68b3c2dcbeaaa9fbdd348bbdeb94873'),
              mnist_archive('t10k-images-idx3-ubyte.gz', '9fb629c4189551a2d022fa330f9573f3')),
    'celeba': (Archive('img_align_celeba.zip', '00d2c5bc6d35e252742224ab0c1e8fcb', CELEBA_URLS, 'img_align_celeba'),),
}
MNIST_LABELS = {   # the official label archives: the digit classifier of dcgan.metrics learns from them
    'train': mnist_archive('train-labels-idx1-ubyte.gz', 'd53e105ee54ea40749a09fcbcd1e9432'),
    't10k': mnist_archive('t10k-labels-idx1-ubyte.gz', 'ec29112dd5afa0611ce80d1b7f02629c'),
}
CHECKSUM_LINE = re.compile(r'([0-9a-fA-F]{32}) [ *](.+)')   # what md5sum prints: "<md5>  <file name>"


def download_urls(archive):
    """Where `archive` is downloaded from, in order: the $DLND_DOWNLOAD_URL hosts, then its own."""
    bases = os.environ.get(DOWNLOAD_URL_ENV, '').split()
    return tuple(base.rstrip('/') + '/' + archive.name for base in bases) + archive.urls


def checksum_table():
    """{file name: md5} of the $DLND_DOWNLOAD_MD5 table (empty when it is not set)."""
    path = os.environ.get(CHECKSUMS_ENV)
    if not path:
        return {}
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    except OSError as error:
        raise DataError(f'${CHECKSUMS_ENV} names the checksum table {path!r}, which cannot be read '
                        f'({error.strerror}). Point it at a file of "<md5>  <file name>" lines (what md5sum '
                        f'prints), or unset it to use the official checksums.') from None
    table = {}
    for number, line in enumerate(lines, 1):
        match = CHECKSUM_LINE.fullmatch(line)
        if not match:
            raise DataError(f'Line {number} of the checksum table {path} (${CHECKSUMS_ENV}) is {line!r}, not '
                            f'"<md5>  <file name>": fix it in the format md5sum prints, or unset ${CHECKSUMS_ENV}.')
        table[os.path.basename(match.group(2))] = match.group(1).lower()
    return table


def expected_md5(archive):
    """The md5 `archive` must have: the official one, unless the $DLND_DOWNLOAD_MD5 table names the file."""
    return checksum_table().get(archive.name, archive.md5)


def verified(archive):
    """What a file that passed its check is called: official, or verified against your table."""
    if archive.name in checksum_table():
        return f'{archive.name} (md5 verified against ${CHECKSUMS_ENV})'
    return f'the official {archive.name} (md5 verified)'


def official_archive(name, path):
    """The official Archive of data set `name` whose checksum `path` has, or None."""
    md5 = md5sum(path)
    return next((a for a in DATASETS[name] if expected_md5(a) == md5), None)


def verify_archive(path, archive):
    """Raise DataError unless the file at `path` has the official checksum of `archive`."""
    md5, expected = md5sum(path), expected_md5(archive)
    if md5 != expected:
        raise DataError(f'{path} has md5 {md5}, but the official {archive.name} has md5 {expected}: '
                        f'the file is corrupt, truncated or a different file. Delete it and run again '
                        f'to download it, or pass your own file explicitly as source=... to use it unverified.')


def where_to_put(name, data_dir):
    """The advice when no source gave data set `name`: which files to put where, and the other ways."""
    own = f'{name}_source=... in the notebook, --data ... for dcgan train'
    files = ', '.join(f'{a.name} (md5 {expected_md5(a)})' for a in DATASETS[name])
    return (f'Put {"one of " if len(DATASETS[name]) > 1 else ""}{files} into {os.path.abspath(data_dir)} '
            f'(or into a mirror folder: mirror_dir=... in the notebook, or ${MIRROR_ENV}) and run again; or '
            f'give your own copy ({own}); or set ${DOWNLOAD_URL_ENV} to a host that serves the files.')


def download_official(archive, data_dir, name):
    """Download `archive` of data set `name` into data_dir from its sources in turn (resumable,
    md5-verified); return its path."""
    dest = os.path.join(data_dir, archive.name)
    print(f'Downloading {archive.name} into {os.path.abspath(data_dir)}')
    try:
        download_file(download_urls(archive), dest, expected_md5(archive))
    except DownloadError as error:
        raise DataError(f'{error}\n{where_to_put(name, data_dir)}') from None
    print(f'{dest} is {verified(archive)}.')
    return dest


def download_labels(images_file, data_dir):
    """Download the label archive of a downloaded MNIST images file into data_dir (the digit metrics learn
    from it); when no source gives it, say so and go on without."""
    labels = MNIST_LABELS.get(os.path.basename(images_file).split('-')[0])
    if labels is None or os.path.isfile(os.path.join(data_dir, labels.name)):
        return
    print(f'Downloading {labels.name} into {os.path.abspath(data_dir)}')
    try:
        download_file(download_urls(labels), os.path.join(data_dir, labels.name), expected_md5(labels))
    except DownloadError as error:
        print(f'{error}\nThe digit-classifier metrics will be skipped; to have them, put {labels.name} '
              f'(md5 {expected_md5(labels)}) into {os.path.abspath(data_dir)}.')


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


def fallback_data_dir():
    """Where extraction and downloads go when the data folder is read-only."""
    return os.path.join(default_cache_dir(), 'data')


def output_dir(data_dir):
    """data_dir when it can be written to, else the fallback (said): where to extract and download."""
    return writable_dir(data_dir, fallback_data_dir(), WRITABLE_PURPOSE)


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


def use_own_source(name, source, data_dir, out):
    """Prepare the user's own archive, IDX file or folder `source` (extracting into `out`) and return its
    data files."""
    if not os.path.exists(source):
        raise DataError(f'source={source!r} does not exist: pass the path of an archive or of a folder of images.')
    if os.path.isdir(source):
        print(f'Using your folder {source} as {name} (not checksum-verified).')
        return data_files(source)
    if is_idx_images(source):
        print(f'Using your IDX file {source} as {name} (not checksum-verified).')
        return [source]
    for folder in dict.fromkeys((data_dir, out)):
        dest = os.path.join(folder, name, archive_stem(source))
        if os.path.exists(dest) and extracted_from(dest, source):
            print(f'Using {dest}, extracted earlier from {source}.')
            return data_files(dest)
    archive = official_archive(name, source)
    if archive:
        print(f'{source} is {verified(archive)}.')
    else:
        print(f'{source} is not one of the official {name} archives: using it NOT checksum-verified.')
    return extract_once(name, source, os.path.join(out, name, archive_stem(source)),
                        expected_md5(archive) if archive else None)


def download_extract(name, data_dir='data', source=None, mirror=None):
    """Make data set `name` ('mnist' or 'celeba') ready under data_dir and return its data files.

    Looks, in order, at: your own `source` (an archive or a folder, used as given); a folder you put in
    data_dir under the extracted name; an official archive in data_dir or in the `mirror` folder (or
    $DLND_DATA_MIRROR), extracted once (again only when its content changes); what an earlier run extracted
    from an archive that is gone; and finally downloads the official archive. Official archives are
    checksum-verified before use. A read-only data_dir is only read: extraction and downloads then go to
    a writable fallback folder. One process at a time prepares a data folder (a lock, waited for).
    """
    if name not in DATASETS:
        raise DataError(f'Unknown data set {name!r}: choose one of {", ".join(DATASETS)}.')
    out = output_dir(data_dir)
    with FolderLock(out, f'preparing {name}'):
        if source is not None:
            return use_own_source(name, source, data_dir, out)
        return prepare_official(name, data_dir, out, mirror or os.environ.get(MIRROR_ENV))


def prepare_official(name, data_dir, out, mirror):
    """The files of data set `name` from the official archives (see download_extract), extracting and
    downloading into `out`; the lock is held."""
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
        dests = [os.path.join(folder, name, archive.extracted) for folder in dict.fromkeys((data_dir, out))]
        path = next((p for p in (os.path.join(f, archive.name) for f in filter(None, (data_dir, mirror)))
                     if os.path.isfile(p)), None)
        earlier = next((d for d in dests if os.path.exists(d)), None)
        if path is None and earlier:
            print(f'Found {name} data in {earlier} (its archive is not here: using it as it is).')
            return data_files(earlier)
        if path is None:
            continue
        done = next((d for d in dests if os.path.exists(d) and extracted_from(d, path)), None)
        if done:
            print(f'Found {name} data in {done}, extracted earlier from {path}.')
            return data_files(done)
        verify_archive(path, archive)
        print(f'{path} is {verified(archive)}.')
        return extract_once(name, path, os.path.join(out, name, archive.extracted), expected_md5(archive))
    archive = archives[0]
    path = download_official(archive, out, name)
    if name == 'mnist':
        download_labels(path, out)
    return extract_once(name, path, os.path.join(out, name, archive.extracted), expected_md5(archive))


def find_mnist_labels(images_file, count, folders):
    """The `count` labels of an MNIST images file, from the label archive of the same split ('train' or
    't10k') found in one of `folders`, or None with a line saying why (they only feed the quality metrics)."""
    if not is_idx_images(images_file):
        print('The digits are image files, not an MNIST IDX file: the digit-classifier metrics, which need '
              'MNIST\'s labels file, are skipped.')
        return None
    split = os.path.basename(images_file).split('-')[0]
    name = f'{split}-labels-idx1-ubyte.gz'
    path = next((os.path.join(f, name) for f in filter(None, folders) if os.path.isfile(os.path.join(f, name))), None)
    if path is None:
        where = ', '.join(os.path.abspath(f) for f in filter(None, folders))
        print(f'No {name} next to the digits (looked in {where}): the digit-classifier metrics are skipped. '
              f'Put the file there to have them.')
        return None
    labels = read_idx_labels(path)
    official = split in MNIST_LABELS and md5sum(path) == expected_md5(MNIST_LABELS[split])
    print(f'Labels for the digits: {path} ' + (f'is {verified(MNIST_LABELS[split])}.' if official
                                                else '(NOT checksum-verified).'))
    if len(labels) < count:
        print(f'{path} holds {len(labels)} labels for {count} digits: the digit-classifier metrics are skipped.')
        return None
    return labels[:count]
