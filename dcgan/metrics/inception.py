"""Inception FID/KID with the frozen graph of the original TTUR FID code, when the user has that file
and its checksum."""
import os

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan.data.images import PIXEL_RANGE
from dcgan.download import file_hash
from dcgan.errors import MetricsError
from dcgan.metrics.features import frechet_distance, kernel_inception_distance
from dcgan.training import session_config

INCEPTION_FILE = 'classify_image_graph_def.pb'   # inside inception-2015-12-05.tgz
INCEPTION_ARCHIVE = 'inception-2015-12-05.tgz'
INCEPTION_GRAPH_ENV = 'DLND_INCEPTION_GRAPH'
INCEPTION_SHA256_ENV = 'DLND_INCEPTION_SHA256'
INCEPTION_SHA256 = None          # no official checksum of the file could be sourced: see checksum_unknown()
INCEPTION_INPUT = 'ExpandDims:0'  # (N, 299, 299, 3) RGB in [0, 255], after the graph's JPEG decoding
INCEPTION_FEATURES = 'pool_3:0'  # (N, 1, 1, 2048)
INCEPTION_SIZE = 299
INCEPTION_BATCH = 50
PIXEL_MAX = 255



class InceptionUnavailable(MetricsError):
    """The Inception graph is missing or cannot be verified; the offline metrics still work."""


def inception_graph_path(path=None):
    """The Inception graph file: `path` (a file or a folder holding it), else $DLND_INCEPTION_GRAPH; raise
    InceptionUnavailable saying where to put it when there is none."""
    given = path or os.environ.get(INCEPTION_GRAPH_ENV)
    if given and os.path.isdir(given):
        given = os.path.join(given, INCEPTION_FILE)
    if given and os.path.isfile(given):
        return given
    looked = f'looked at {given}' if given else f'no path given and ${INCEPTION_GRAPH_ENV} is not set'
    raise InceptionUnavailable(
        f'Inception metrics need the frozen graph {INCEPTION_FILE} (from {INCEPTION_ARCHIVE}, as the original '
        f'TTUR FID code uses it) and it was not found ({looked}). Put the file anywhere and pass its path '
        f'(inception_graph=... or --inception-graph) or set ${INCEPTION_GRAPH_ENV}. The offline metrics '
        f'(SWD; classifier FD/KID and class coverage for MNIST) work without it.')


def checksum_unknown(path):
    """The error for a graph file that cannot be verified because no official checksum is known."""
    return InceptionUnavailable(
        f'Refusing to use {path}: no official checksum of {INCEPTION_FILE} is known to this project (none '
        f'could be sourced from the public FID projects, and an invented one would verify nothing), so a '
        f'corrupt or different graph could not be told apart. If you have verified your copy yourself, pass '
        f'its sha256 (inception_sha256=..., --inception-sha256 or ${INCEPTION_SHA256_ENV}). The offline '
        f'metrics (SWD; classifier FD/KID and class coverage for MNIST) work without it.')


def verify_inception_graph(path, sha256=None):
    """Raise InceptionUnavailable unless the file at `path` has the expected sha256: the one given, else
    $DLND_INCEPTION_SHA256, else INCEPTION_SHA256 (unknown, so refused)."""
    expected = sha256 or os.environ.get(INCEPTION_SHA256_ENV) or INCEPTION_SHA256
    if not expected:
        raise checksum_unknown(path)
    actual = file_hash(path, 'sha256')
    if actual != expected.strip().lower():
        raise InceptionUnavailable(
            f'Refusing to use {path}: its sha256 is {actual}, expected {expected}. The file is corrupt, '
            f'truncated or a different graph; replace it with {INCEPTION_FILE} from {INCEPTION_ARCHIVE}.')


def inception_input(images):
    """(N, H, W, C) images in [-0.5, 0.5] -> (N, 299, 299, 3) RGB in [0, 255], as the graph expects."""
    rgb = tf.tile(images, (1, 1, 1, 3)) if images.shape[-1] == 1 else images
    return tf.image.resize((rgb - PIXEL_RANGE[0]) * PIXEL_MAX, (INCEPTION_SIZE, INCEPTION_SIZE))


def inception_features(images, graph=None, sha256=None, batch_size=INCEPTION_BATCH):
    """2048-d pool_3 features of images in [-0.5, 0.5] under the verified frozen Inception graph."""
    path = inception_graph_path(graph)
    verify_inception_graph(path, sha256)
    graph_def = tf.GraphDef()
    with open(path, 'rb') as f:
        graph_def.ParseFromString(f.read())
    images = np.asarray(images, dtype=np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, (None,) + images.shape[1:])
        pool, = tf.import_graph_def(graph_def, input_map={INCEPTION_INPUT: inception_input(x)},
                                    return_elements=[INCEPTION_FEATURES], name='inception')
        features = tf.reshape(pool, (tf.shape(pool)[0], -1))
        with tf.Session(config=session_config()) as sess:
            return np.concatenate([sess.run(features, {x: images[start:start + batch_size]})
                                   for start in range(0, len(images), batch_size)])


def inception_metrics(real, fake, graph=None, sha256=None, seed=0):
    """Inception FID and KID between two image sets; raises InceptionUnavailable without a verified graph."""
    real_features = inception_features(real, graph, sha256)
    fake_features = inception_features(fake, graph, sha256)
    kid, kid_std = kernel_inception_distance(real_features, fake_features, seed=seed)
    return dict(inception_fid=frechet_distance(real_features, fake_features), inception_kid=kid,
                inception_kid_std=kid_std)


