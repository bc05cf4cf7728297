"""Sample-quality metrics: SWD, Frechet distance, KID and coverage calibrated on synthetic digits, closed
forms, the IDX label reader, classifier caching, the Inception guard rails and the command line."""
import gzip
import hashlib
import os

import numpy as np
import pytest
from conftest import idx_bytes

from dcgan import errors, metrics
from dcgan.data import archives
from dcgan.data import images as image_data
from dcgan.metrics import __main__ as metrics_cli
from dcgan.metrics import classifier as digit_classifier
from dcgan.metrics import features as feature_distances
from dcgan.metrics import inception as inception_metric
from dcgan.metrics import swd as swd_metric

GLYPH_SIZE = 28
# Ten procedurally drawn glyph classes, as line segments ((x0, y0), (x1, y1)) in unit coordinates;
# class 0 is a ring. Small stand-ins for digits that a tiny classifier learns in a second.
GLYPHS = {
    0: 'ring',
    1: [((0.5, 0.15), (0.5, 0.85))],
    2: [((0.15, 0.5), (0.85, 0.5))],
    3: [((0.2, 0.2), (0.8, 0.8))],
    4: [((0.8, 0.2), (0.2, 0.8))],
    5: [((0.5, 0.15), (0.5, 0.85)), ((0.15, 0.5), (0.85, 0.5))],
    6: [((0.2, 0.2), (0.8, 0.8)), ((0.8, 0.2), (0.2, 0.8))],
    7: [((0.2, 0.2), (0.8, 0.2)), ((0.8, 0.2), (0.8, 0.8)), ((0.8, 0.8), (0.2, 0.8)), ((0.2, 0.8), (0.2, 0.2))],
    8: [((0.15, 0.2), (0.85, 0.2)), ((0.5, 0.2), (0.5, 0.85))],
    9: [((0.25, 0.15), (0.25, 0.8)), ((0.25, 0.8), (0.85, 0.8))],
}
RING_RADIUS = 0.32
TINY_CLASSIFIER = dict(digit_classifier.CLASSIFIER_SETTINGS, conv_filters=(8, 16), feature_units=32, epochs=10)


def segment_distance(px, py, start, end):
    """Distance of pixel centres (px, py) (N, H, W) to a line segment per sample (start, end: (N, 2))."""
    (x0, y0), (x1, y1) = [a[:, None, None] for a in start.T], [a[:, None, None] for a in end.T]
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(px - x0 - t * dx, py - y0 - t * dy)


def glyphs(classes, seed, noise=0.05):
    """Synthetic 'digits' (N, 28, 28, 1) in [-0.5, 0.5] of the given classes: jittered in position, size and
    stroke width, with pixel noise."""
    rng = np.random.default_rng(seed)
    classes = np.asarray(classes)
    n = len(classes)
    scale = rng.uniform(0.8, 1.1, n) * GLYPH_SIZE
    shift = rng.uniform(-2, 2, (n, 2)) + GLYPH_SIZE / 2
    width = rng.uniform(1.0, 1.8, n)[:, None, None]
    py, px = np.mgrid[0:GLYPH_SIZE, 0:GLYPH_SIZE] + 0.5
    px, py = np.broadcast_to(px, (n,) + px.shape), np.broadcast_to(py, (n,) + py.shape)
    distance = np.full((n, GLYPH_SIZE, GLYPH_SIZE), np.inf)
    place = lambda point, rows: (np.asarray(point) - 0.5) * scale[rows, None] + shift[rows]  # noqa: E731
    for label, shape in GLYPHS.items():
        rows = np.flatnonzero(classes == label)
        if shape == 'ring':
            centre = place((0.5, 0.5), rows)
            radial = np.hypot(px[rows] - centre[:, 0, None, None], py[rows] - centre[:, 1, None, None])
            distance[rows] = np.abs(radial - RING_RADIUS * scale[rows, None, None])
            continue
        for start, end in shape:
            distance[rows] = np.minimum(distance[rows], segment_distance(px[rows], py[rows], place(start, rows),
                                                                          place(end, rows)))
    ink = np.clip(width - distance + 0.5, 0, 1) + rng.normal(0, noise, distance.shape)
    return (np.clip(ink, 0, 1) - 0.5).astype(np.float32)[..., None]


def balanced(count, seed):
    """`count` glyph labels, evenly spread over the ten classes, shuffled."""
    return np.random.default_rng(seed).permutation(np.arange(count) % len(GLYPHS))


@pytest.fixture(scope='module')
def sets():
    """Two disjoint real halves of one glyph distribution and four worse 'generated' sets."""
    labels = balanced(1000, 1)
    real = glyphs(labels, seed=2)
    rng = np.random.default_rng(3)
    half1, half2 = real[:500], real[500:]
    return dict(
        half1=half1, half2=half2, labels2=labels[500:],
        noise=rng.uniform(-0.5, 0.5, half2.shape).astype(np.float32),
        blurred=swd_metric.blur(swd_metric.blur(half2)),
        collapsed=glyphs(np.arange(500) % 2 + 1, seed=4),             # only classes 1 and 2
        duplicates=np.repeat(half2[:10], 50, axis=0),                  # ten images, 50 copies each
    )


@pytest.fixture(scope='module')
def glyph_classifier(tmp_path_factory):
    """A tiny classifier trained once on 1,000 separate glyphs, cached in a private folder."""
    labels = balanced(1000, 5)
    return digit_classifier.mnist_classifier(glyphs(labels, seed=6), labels, cache_dir=str(tmp_path_factory.mktemp('clf')),
                                    settings=TINY_CLASSIFIER)


# ----------------------------------------------------------------------------------------------
# SWD
# ----------------------------------------------------------------------------------------------

def test_swd_calibration(sets):
    results = {name: swd_metric.sliced_wasserstein_distance(sets['half1'], sets[name])
               for name in ('half2', 'noise', 'blurred', 'collapsed', 'duplicates')}
    swd = {name: result['mean'] for name, result in results.items()}
    finest = {name: result['per_level'][0] for name, result in results.items()}
    assert swd['noise'] > 5 * swd['half2']
    for worse in ('blurred', 'collapsed', 'duplicates'):
        assert swd[worse] > 2 * swd['half2'], (worse, swd)
    assert finest['blurred'] > 4 * finest['half2']     # blur removes the fine detail of the finest level


def test_swd_levels_scale_and_determinism(sets):
    result = swd_metric.sliced_wasserstein_distance(sets['half1'], sets['half2'], seed=7)
    assert result['sides'] == [28, 14, 7] and len(result['per_level']) == 3
    assert result['mean'] == pytest.approx(np.mean(result['per_level']))
    assert result == swd_metric.sliced_wasserstein_distance(sets['half1'], sets['half2'], seed=7)
    assert result != swd_metric.sliced_wasserstein_distance(sets['half1'], sets['half2'], seed=8)
    assert 1 < result['mean'] < 1000     # reported x 10^3, as in the paper


@pytest.mark.parametrize('size, sides', [(28, [28, 14, 7]), (32, [32, 16, 8]), (64, [64, 32, 16, 8])])
def test_swd_pyramid_sides_and_colour(size, sides):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-0.5, 0.5, (2, 40, size, size, 3)).astype(np.float32)
    result = swd_metric.sliced_wasserstein_distance(a, b)
    assert swd_metric.pyramid_sides(size) == sides and result['sides'] == sides
    assert np.all(np.isfinite(result['per_level']))


def test_laplacian_pyramid_reconstructs_the_images():
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 28, 28, 3)).astype(np.float32)
    bands = swd_metric.laplacian_pyramid(images, 3)
    assert [b.shape[1] for b in bands] == [28, 14, 7]
    rebuilt = bands[-1]
    for band in reversed(bands[:-1]):
        rebuilt = band + swd_metric.pyramid_up(rebuilt, band.shape)
    np.testing.assert_allclose(rebuilt, images, atol=1e-5)


def test_swd_refuses_mismatched_or_tiny_images():
    with pytest.raises(swd_metric.MetricsError, match='SWD compares images of one size'):
        swd_metric.sliced_wasserstein_distance(np.zeros((4, 28, 28, 1)), np.zeros((4, 32, 32, 1)))
    with pytest.raises(swd_metric.MetricsError, match='smaller than'):
        swd_metric.sliced_wasserstein_distance(np.zeros((4, 5, 5, 1)), np.zeros((4, 5, 5, 1)))


# ----------------------------------------------------------------------------------------------
# Classifier FD / KID / coverage on synthetic digits
# ----------------------------------------------------------------------------------------------

def test_glyph_classifier_learns_the_classes(glyph_classifier, sets):
    assert glyph_classifier.accuracy > 0.9
    features, classes = digit_classifier.classify(glyph_classifier, sets['half2'])
    assert features.shape == (500, TINY_CLASSIFIER['feature_units']) and features.dtype == np.float32
    assert np.mean(classes == sets['labels2']) > 0.9


def test_classifier_fd_and_kid_calibration(glyph_classifier, sets):
    scores = {name: digit_classifier.classifier_metrics(glyph_classifier, sets['half1'], sets[name])
              for name in ('half2', 'noise', 'blurred', 'collapsed', 'duplicates')}
    fd = {name: s['classifier_fd'] for name, s in scores.items()}
    kid = {name: s['classifier_kid'] for name, s in scores.items()}
    assert fd['noise'] > 50 * fd['half2'] and kid['noise'] > 50 * abs(kid['half2'])
    for worse in ('blurred', 'collapsed', 'duplicates'):
        assert fd[worse] > 5 * fd['half2'], (worse, fd)
        assert kid[worse] > 5 * abs(kid['half2']), (worse, kid)
    assert scores['half2']['classes_covered'] == 10 and scores['half2']['class_entropy'] > 0.95
    assert scores['collapsed']['classes_covered'] <= 2 and scores['collapsed']['class_entropy'] < 0.35


# ----------------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------------

def test_frechet_distance_identical_is_zero_and_shift_is_squared_norm():
    x = np.random.default_rng(0).normal(size=(2000, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    assert abs(feature_distances.frechet_distance(x, x)) < 1e-8
    delta = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.25])
    assert feature_distances.frechet_distance(x, x + delta) == pytest.approx(delta @ delta, rel=1e-8)


def test_frechet_distance_closed_forms_and_symmetry():
    # diagonal covariances: |dmu|^2 + sum (s1 - s2)^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert feature_distances.frechet_distance_from_statistics(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)
    # non-commuting 2x2 covariances: Tr (S1 S2)^1/2 = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))
    a, b = np.array([[2.0, 0.8], [0.8, 1.0]]), np.array([[1.0, -0.5], [-0.5, 3.0]])
    trace_root = np.sqrt(np.trace(a @ b) + 2 * np.sqrt(np.linalg.det(a) * np.linalg.det(b)))
    expected = np.trace(a) + np.trace(b) - 2 * trace_root
    zero = np.zeros(2)
    assert feature_distances.frechet_distance_from_statistics(zero, a, zero, b) == pytest.approx(expected, rel=1e-9)
    assert feature_distances.frechet_distance_from_statistics(zero, b, zero, a) == pytest.approx(expected, rel=1e-9)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8)) + 1
    assert feature_distances.frechet_distance(x, y) == pytest.approx(feature_distances.frechet_distance(y, x), rel=1e-9)
    assert feature_distances.frechet_distance(x, y) > 0


def test_kid_matches_a_direct_sum_and_separates_distributions():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(7, 4)) + 0.5
    k = lambda u, v: (u @ v / 4 + 1) ** 3  # noqa: E731
    pairs = [(i, j) for i in range(7) for j in range(7) if i != j]
    direct = (sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in pairs) / len(pairs)
              - 2 * np.mean([k(x[i], y[j]) for i in range(7) for j in range(7)]))
    assert feature_distances.unbiased_mmd2(x, y) == pytest.approx(direct, rel=1e-10)

    same1, same2 = rng.normal(size=(2, 1500, 16))
    kid_same, std_same = feature_distances.kernel_inception_distance(same1, same2, subsets=20, subset_size=500)
    kid_shift, _ = feature_distances.kernel_inception_distance(same1, same2 + 0.5, subsets=20, subset_size=500)
    assert abs(kid_same) < 0.01 and std_same > 0
    assert kid_shift > 20 * max(abs(kid_same), std_same)
    assert feature_distances.kernel_inception_distance(same1, same2, subsets=5, subset_size=100, seed=3) == \
        feature_distances.kernel_inception_distance(same1, same2, subsets=5, subset_size=100, seed=3)


def test_class_coverage():
    even = feature_distances.class_coverage(np.arange(1000) % 10)
    assert even['entropy'] == pytest.approx(1.0) and even['classes_covered'] == 10
    assert even['histogram'] == [100] * 10
    one = feature_distances.class_coverage(np.full(500, 3))
    assert one['entropy'] == 0 and one['classes_covered'] == 1
    two = feature_distances.class_coverage(np.r_[np.full(495, 1), np.full(495, 7), np.arange(10)])
    assert two['entropy'] == pytest.approx(np.log(2) / np.log(10), abs=0.05)
    assert two['classes_covered'] == 2          # the other eight classes hold 0.1 % each, under 2 %


# ----------------------------------------------------------------------------------------------
# IDX labels
# ----------------------------------------------------------------------------------------------

def label_bytes(labels, magic=archives.IDX_LABELS_MAGIC):
    return np.array([magic, len(labels)], dtype='>u4').tobytes() + np.asarray(labels, np.uint8).tobytes()


def test_read_idx_labels_plain_and_gzip(tmp_path):
    labels = np.arange(25, dtype=np.uint8) % 10
    (tmp_path / 'labels-idx1-ubyte').write_bytes(label_bytes(labels))
    with gzip.open(tmp_path / 'labels-idx1-ubyte.gz', 'wb') as f:
        f.write(label_bytes(labels))
    for name in ('labels-idx1-ubyte', 'labels-idx1-ubyte.gz'):
        read = archives.read_idx_labels(str(tmp_path / name))
        np.testing.assert_array_equal(read, labels)
        assert read.dtype == np.uint8


def test_read_idx_labels_refuses_bad_files(tmp_path):
    images = tmp_path / 'images-idx3-ubyte'
    images.write_bytes(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    with pytest.raises(errors.DataError, match=r'not an IDX label file: magic number 0x00000803, expected 0x00000801'):
        archives.read_idx_labels(str(images))
    truncated = tmp_path / 'truncated'
    truncated.write_bytes(label_bytes(np.zeros(100))[:-10])
    with pytest.raises(errors.DataError, match=r'header announces 100 labels .* truncated'):
        archives.read_idx_labels(str(truncated))
    short = tmp_path / 'short'
    short.write_bytes(b'\x00\x00\x08')
    with pytest.raises(errors.DataError, match='too short'):
        archives.read_idx_labels(str(short))
    broken_gz = tmp_path / 'broken.gz'
    with gzip.open(broken_gz, 'wb') as f:
        f.write(label_bytes(np.zeros(1000)))
    broken_gz.write_bytes(broken_gz.read_bytes()[:30])
    with pytest.raises(errors.DataError, match='corrupt or truncated'):
        archives.read_idx_labels(str(broken_gz))


# ----------------------------------------------------------------------------------------------
# Classifier cache
# ----------------------------------------------------------------------------------------------

def test_classifier_is_cached_and_not_retrained(private_cache, monkeypatch, capsys):
    labels = balanced(300, 8)
    images = glyphs(labels, seed=9)
    first = digit_classifier.mnist_classifier(images, labels, settings=TINY_CLASSIFIER)
    assert 'validation accuracy' in capsys.readouterr().out
    saved = [f for f in os.listdir(private_cache) if f.startswith('mnist-classifier-')]
    assert len(saved) == 1 and saved[0].endswith('.npz')
    assert not [f for f in os.listdir(private_cache) if f.startswith('.tmp')]

    def refuse(*args, **kwargs):
        raise AssertionError('the classifier was trained again instead of loaded from the cache')
    monkeypatch.setattr(digit_classifier, 'train_classifier', refuse)
    second = digit_classifier.mnist_classifier(images, labels, settings=TINY_CLASSIFIER)
    assert 'Loaded the digit classifier' in capsys.readouterr().out
    assert second.accuracy == first.accuracy and second.settings == first.settings
    probe = glyphs(balanced(50, 10), seed=11)
    for a, b in zip(digit_classifier.classify(first, probe), digit_classifier.classify(second, probe)):
        np.testing.assert_array_equal(a, b)
    # other settings or other data are another cache entry, so training is attempted again
    with pytest.raises(AssertionError, match='trained again'):
        digit_classifier.mnist_classifier(images, labels, settings=dict(TINY_CLASSIFIER, epochs=4))
    with pytest.raises(AssertionError, match='trained again'):
        digit_classifier.mnist_classifier(images[::-1], labels[::-1], settings=TINY_CLASSIFIER)


def test_classifier_refuses_wrong_shapes():
    with pytest.raises(swd_metric.MetricsError, match=r'\(N, 28, 28, 1\)'):
        digit_classifier.train_classifier(np.zeros((10, 32, 32, 3)), np.zeros(10), TINY_CLASSIFIER)
    with pytest.raises(swd_metric.MetricsError, match='one label per image'):
        digit_classifier.train_classifier(np.zeros((10, 28, 28, 1)), np.zeros(9), TINY_CLASSIFIER)


# ----------------------------------------------------------------------------------------------
# Inception guard rails
# ----------------------------------------------------------------------------------------------

def test_inception_absent_file_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.delenv(inception_metric.INCEPTION_GRAPH_ENV, raising=False)
    with pytest.raises(inception_metric.InceptionUnavailable) as error:
        inception_metric.inception_features(np.zeros((2, 28, 28, 1)))
    message = str(error.value)
    for needed in ('classify_image_graph_def.pb', 'inception-2015-12-05.tgz', 'DLND_INCEPTION_GRAPH',
                   '--inception-graph', 'offline metrics'):
        assert needed in message
    missing = tmp_path / 'nowhere' / 'classify_image_graph_def.pb'
    monkeypatch.setenv(inception_metric.INCEPTION_GRAPH_ENV, str(missing))
    with pytest.raises(inception_metric.InceptionUnavailable, match='looked at .*nowhere'):
        inception_metric.inception_graph_path()


def test_inception_wrong_or_unknown_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(inception_metric.INCEPTION_SHA256_ENV, raising=False)
    graph = tmp_path / inception_metric.INCEPTION_FILE
    graph.write_bytes(b'not the inception graph')
    assert inception_metric.inception_graph_path(str(tmp_path)) == str(graph)     # a folder holding the file works too
    with pytest.raises(inception_metric.InceptionUnavailable, match='no official checksum .* is known'):
        inception_metric.inception_features(np.zeros((2, 28, 28, 1)), graph=str(graph))
    with pytest.raises(inception_metric.InceptionUnavailable, match=f'its sha256 is .* expected {"0" * 64}'):
        inception_metric.inception_features(np.zeros((2, 28, 28, 1)), graph=str(graph), sha256='0' * 64)
    monkeypatch.setenv(inception_metric.INCEPTION_SHA256_ENV, 'f' * 64)
    with pytest.raises(inception_metric.InceptionUnavailable, match='Refusing to use'):
        inception_metric.verify_inception_graph(str(graph))
    inception_metric.verify_inception_graph(str(graph), hashlib.sha256(graph.read_bytes()).hexdigest())   # accepted


# ----------------------------------------------------------------------------------------------
# evaluate() and the command line
# ----------------------------------------------------------------------------------------------

def test_evaluate_skips_what_it_cannot_compute(monkeypatch):
    monkeypatch.delenv(inception_metric.INCEPTION_GRAPH_ENV, raising=False)
    rng = np.random.default_rng(0)
    faces = rng.uniform(-0.5, 0.5, (2, 30, 32, 32, 3)).astype(np.float32)
    results = metrics.evaluate(faces[0], faces[1], real_labels=np.zeros(30))
    assert set(results['swd_per_level']) == {32, 16, 8} and results['swd'] > 0
    assert '28x28x1' in results['classifier_skipped']
    assert 'classify_image_graph_def.pb' in results['inception_skipped']


def test_command_line_prints_swd(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(inception_metric.INCEPTION_GRAPH_ENV, raising=False)
    np.save(tmp_path / 'real.npy', glyphs(balanced(40, 12), seed=12))
    np.save(tmp_path / 'fake.npy', glyphs(balanced(30, 13), seed=13))
    assert metrics_cli.main(['--real', str(tmp_path / 'real.npy'), '--fake', str(tmp_path / 'fake.npy')]) == 0
    out = capsys.readouterr().out
    assert 'real: 40 images (28, 28, 1), fake: 30 images (28, 28, 1)' in out
    swd_line = next(line for line in out.splitlines() if line.startswith('SWD x1e3'))
    assert '28 px' in swd_line and '14 px' in swd_line and '7 px' in swd_line
    assert 'Classifier metrics: not computed: no labels' in out
    assert 'Inception FID/KID: not computed' in out


def test_command_line_with_idx_digits_and_labels(tmp_path, capsys):
    labels = balanced(120, 14)
    digits = image_data.to_uint8(glyphs(labels, seed=14))[..., 0]
    with gzip.open(tmp_path / 'images-idx3-ubyte.gz', 'wb') as f:
        f.write(idx_bytes(digits))
    (tmp_path / 'labels-idx1-ubyte').write_bytes(label_bytes(labels))
    np.save(tmp_path / 'fake.npy', glyphs(np.full(60, 5), seed=15))
    code = metrics_cli.main(['--real', str(tmp_path / 'images-idx3-ubyte.gz'), '--fake', str(tmp_path / 'fake.npy'),
                         '--mnist-labels', str(tmp_path / 'labels-idx1-ubyte')])
    out = capsys.readouterr().out
    assert code == 0
    assert 'SWD x1e3' in out and 'Classifier FD:' in out and 'Classifier KID:' in out
    assert 'Class coverage: entropy' in out and 'validation accuracy' in out


def test_command_line_reports_bad_paths_and_ranges(tmp_path, capsys):
    assert metrics_cli.main(['--real', str(tmp_path / 'missing.npy'), '--fake', str(tmp_path / 'missing.npy')]) == 2
    assert 'does not exist' in capsys.readouterr().err
    np.save(tmp_path / 'tanh.npy', np.linspace(-1, 1, 4 * 28 * 28, dtype=np.float32).reshape(4, 28, 28, 1))
    assert metrics_cli.main(['--real', str(tmp_path / 'tanh.npy'), '--fake', str(tmp_path / 'tanh.npy')]) == 2
    assert 'must be in [-0.5, 0.5]' in capsys.readouterr().err


def test_load_images_from_a_folder_and_uint8_npy(tmp_path):
    from PIL import Image
    folder = tmp_path / 'samples'
    folder.mkdir()
    digits = image_data.to_uint8(glyphs(balanced(6, 16), seed=16))[..., 0]
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(folder / f'{i}.png')
    loaded = metrics.load_images(str(folder), image_size=28, grayscale=True)
    assert loaded.shape == (6, 28, 28, 1) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, image_data.to_float(digits[..., None]))
    np.save(tmp_path / 'uint8.npy', digits)
    np.testing.assert_allclose(metrics.load_images(str(tmp_path / 'uint8.npy')), loaded)


def write_stand_in_inception_graph(path):
    """A tiny frozen graph with the Inception graph's interface (ExpandDims -> ResizeBilinear -> ... ->
    pool_3 of shape (N, 1, 1, 2048), then the fixed-batch pool_3/_reshape): each feature is a fixed weighted
    sum of the mean red, green and blue values. Returns the (3, 2048) weights."""
    import tensorflow.compat.v1 as tf
    weights = np.random.default_rng(0).uniform(0, 1e-3, (3, 2048)).astype(np.float32)
    with tf.Graph().as_default() as graph:
        pixels = tf.placeholder(tf.float32, (None, None, 3), name='Cast')
        expanded = tf.expand_dims(pixels, 0, name='ExpandDims')
        resized = tf.raw_ops.ResizeBilinear(images=expanded, size=(inception_metric.INCEPTION_SIZE,) * 2,
                                            name='ResizeBilinear')
        mean = tf.reduce_mean(resized, axis=(1, 2), keepdims=True)
        pool = tf.nn.conv2d(mean, weights[None, None], (1, 1, 1, 1), 'VALID', name='pool_3')
        tf.reshape(pool, (1, 2048), name='pool_3/_reshape')
    with open(path, 'wb') as f:
        f.write(graph.as_graph_def().SerializeToString())
    return weights


def test_inception_code_path_on_a_stand_in_graph(tmp_path):
    graph = tmp_path / inception_metric.INCEPTION_FILE
    weights = write_stand_in_inception_graph(graph)
    sha256 = hashlib.sha256(graph.read_bytes()).hexdigest()
    grey = np.full((3, 28, 28, 1), 0.25, np.float32)             # 0.25 in [-0.5, 0.5] is 191.25 in [0, 255]
    features = inception_metric.inception_features(grey, graph=str(graph), sha256=sha256, batch_size=2)
    assert features.shape == (3, 2048)
    # float32 means over 299 x 299 pixels are good to ~0.1 %; a wrong scale ([0, 1], [-1, 1]) is far off
    np.testing.assert_allclose(features, np.tile(191.25 * weights.sum(axis=0), (3, 1)), rtol=1e-2)
    rng = np.random.default_rng(1)
    real, fake = rng.uniform(-0.5, 0.5, (2, 12, 32, 32, 3)).astype(np.float32)
    results = metrics.evaluate(real, fake, inception_graph=str(graph), inception_sha256=sha256)
    assert 'inception_skipped' not in results and results['inception_fid'] >= 0
    assert {'inception_kid', 'inception_kid_std'} <= set(results)
