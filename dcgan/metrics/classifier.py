"""A small MNIST classifier the project trains itself on labelled digits (weights cached as .npz, keyed by
the data and the settings): its features give digit FD/KID, its predictions the class coverage."""
import hashlib
import json
import os
import time
from dataclasses import dataclass

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import ops, quiet
from dcgan.atomic import atomic_file
from dcgan.config import IMAGE_SIZE
from dcgan.data.cache import default_cache_dir
from dcgan.data.images import PIXEL_RANGE
from dcgan.errors import MetricsError
from dcgan.metrics.features import class_coverage, frechet_distance, kernel_inception_distance
from dcgan.training import session_config

CLASSIFIER_SETTINGS = dict(version=1, conv_filters=(32, 64), feature_units=128, classes=10, epochs=8,
                           batch_size=32, learning_rate=1e-3, final_learning_rate=1e-4, max_shift=2,
                           validation_fraction=0.1, seed=0)
CLASSIFIER_SCOPE = 'classifier'
CLASSIFY_BATCH = 500             # images per forward pass when computing features
SAVED_EXTRAS = ('settings_json', 'accuracy', 'feature_scale')   # what the .npz holds besides the weights
MNIST_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)   # MNIST digits are the course size


@dataclass
class Classifier:
    """Trained classifier weights (variable name -> array), the settings that built them, its validation
    accuracy and the RMS of its raw features over its training digits (features are divided by it)."""
    weights: dict
    settings: dict
    accuracy: float
    feature_scale: float = 1.0


def classifier_network(images, settings):
    """Strided convolutions, a dense feature layer and class logits over (N, 28, 28, 1) images; (features, logits)."""
    x = images
    with tf.variable_scope(CLASSIFIER_SCOPE, reuse=tf.AUTO_REUSE):
        for i, filters in enumerate(settings['conv_filters']):
            x = ops.lrelu(ops.conv2d(x, filters, f'conv{i + 1}'))
        features = ops.lrelu(ops.dense(ops.flatten(x), settings['feature_units'], 'features'))
        logits = ops.dense(features, settings['classes'], 'logits')
    return features, logits


def validation_split(count, settings):
    """(train indices, validation indices): a seeded random `validation_fraction` of `count` is held out."""
    order = np.random.default_rng(settings['seed']).permutation(count)
    held_out = max(1, int(round(count * settings['validation_fraction'])))
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def check_digits(images, labels=None):
    """Raise MetricsError unless images are (N, 28, 28, 1) and labels (if given) are N class numbers."""
    if images.ndim != 4 or images.shape[1:] != MNIST_SHAPE:
        raise MetricsError(f'The digit classifier takes (N, 28, 28, 1) images, got shape {images.shape}.')
    if labels is not None and labels.shape != (len(images),):
        raise MetricsError(f'{len(images)} images but labels of shape {labels.shape}: give one label per image.')


def random_shifts(images, max_shift, rng):
    """Each image moved by up to max_shift pixels in x and y, the uncovered border filled with background."""
    if max_shift == 0:
        return images
    pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0))
    padded = np.pad(images, pad, constant_values=PIXEL_RANGE[0])
    windows = np.lib.stride_tricks.sliding_window_view(padded, images.shape[1:3], axis=(1, 2))
    rows, cols = rng.integers(0, 2 * max_shift + 1, (2, len(images)))
    return windows[np.arange(len(images)), rows, cols].transpose(0, 2, 3, 1)


def train_classifier(images, labels, settings=CLASSIFIER_SETTINGS):
    """Train the classifier on labelled digits in [-0.5, 0.5] with Adam, holding out a validation split;
    return a Classifier with its validation accuracy."""
    images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    check_digits(images, labels)
    train, validation = validation_split(len(images), settings)
    rng = np.random.default_rng(settings['seed'])
    with tf.Graph().as_default():
        tf.set_random_seed(settings['seed'])
        x = tf.placeholder(tf.float32, (None,) + MNIST_SHAPE)
        y = tf.placeholder(tf.int64, (None,))
        _, logits = classifier_network(x, settings)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        steps = settings['epochs'] * -(-len(train) // settings['batch_size'])
        global_step = tf.train.get_or_create_global_step()
        learning_rate = tf.train.exponential_decay(settings['learning_rate'], global_step, steps,
                                                   settings['final_learning_rate'] / settings['learning_rate'])
        step = tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=global_step)
        variables = tf.trainable_variables(CLASSIFIER_SCOPE)
        # quiet: TensorFlow's graph optimiser logs a known, harmless ERROR on the first step (see dcgan.quiet)
        with tf.Session(config=session_config()) as sess, quiet.filtered_stderr():
            sess.run(tf.global_variables_initializer())
            for _ in range(settings['epochs']):
                order = rng.permutation(train)
                for start in range(0, len(order), settings['batch_size']):
                    batch = np.sort(order[start:start + settings['batch_size']])
                    sess.run(step, {x: random_shifts(images[batch], settings['max_shift'], rng), y: labels[batch]})
            weights = {v.op.name: value for v, value in zip(variables, sess.run(variables))}
    raw = Classifier(weights, dict(settings), float('nan'))
    scale = float(np.sqrt(np.mean(np.square(classify(raw, images[train])[0], dtype=np.float64))))
    accuracy = float(np.mean(classify(raw, images[validation])[1] == labels[validation]))
    return Classifier(weights, dict(settings), accuracy, scale)


def classify(classifier, images, batch_size=CLASSIFY_BATCH):
    """(features (N, feature_units) float32, predicted classes (N,)) of (N, 28, 28, 1) images in [-0.5, 0.5].
    Features are divided by the classifier's feature_scale, so that FD and KID do not depend on the
    arbitrary scale one training run happened to reach."""
    images = np.asarray(images, dtype=np.float32)
    check_digits(images)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, (None,) + MNIST_SHAPE)
        features, logits = classifier_network(x, classifier.settings)
        variables = tf.trainable_variables(CLASSIFIER_SCOPE)
        loads = [tf.assign(v, classifier.weights[v.op.name]) for v in variables]
        with tf.Session(config=session_config()) as sess:
            sess.run(loads)
            outputs = [sess.run((features, tf.argmax(logits, 1)), {x: images[start:start + batch_size]})
                       for start in range(0, len(images), batch_size)]
    return (np.concatenate([f for f, _ in outputs]).astype(np.float32) / np.float32(classifier.feature_scale),
            np.concatenate([c for _, c in outputs]).astype(np.int64))


def classifier_cache_path(images, labels, settings, cache_dir=None):
    """The .npz cache file of the classifier trained on these digits with these settings: its name carries a
    digest of the image and label bytes and of the settings."""
    digest = hashlib.sha1()
    for array in (np.ascontiguousarray(images, dtype=np.float32), np.ascontiguousarray(labels, dtype=np.int64)):
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return os.path.join(cache_dir or default_cache_dir(), f'mnist-classifier-{digest.hexdigest()[:16]}.npz')


def save_classifier(classifier, path):
    """Write the classifier's weights, settings and accuracy to the .npz at `path` atomically."""
    with atomic_file(path) as tmp, open(tmp, 'wb') as f:
        np.savez(f, **classifier.weights, settings_json=json.dumps(classifier.settings),
                 accuracy=classifier.accuracy, feature_scale=classifier.feature_scale)


def load_classifier(path):
    """The Classifier saved at `path`."""
    with np.load(path) as saved:
        weights = {name: saved[name] for name in saved.files if name not in SAVED_EXTRAS}
        settings = json.loads(str(saved['settings_json']))
        settings['conv_filters'] = tuple(settings['conv_filters'])
        return Classifier(weights, settings, float(saved['accuracy']), float(saved['feature_scale']))


def mnist_classifier(images, labels, cache_dir=None, settings=CLASSIFIER_SETTINGS):
    """The classifier for these labelled digits: loaded from the cache, or trained once (printing its
    validation accuracy) and cached."""
    images, labels = np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    path = classifier_cache_path(images, labels, settings, cache_dir)
    if os.path.exists(path):
        classifier = load_classifier(path)
        print(f'Loaded the digit classifier from {path} (validation accuracy {classifier.accuracy:.2%}).')
        return classifier
    start = time.perf_counter()
    classifier = train_classifier(images, labels, settings)
    train, validation = validation_split(len(images), settings)
    print(f'Trained the digit classifier on {len(train)} digits in {time.perf_counter() - start:.1f} s: '
          f'validation accuracy {classifier.accuracy:.2%} on {len(validation)} held-out digits.')
    save_classifier(classifier, path)
    return classifier


def classifier_metrics(classifier, real, fake, seed=0):
    """Frechet distance and KID between real and fake digits in classifier feature space, and the fake
    digits' class coverage."""
    real_features, _ = classify(classifier, real)
    fake_features, fake_classes = classify(classifier, fake)
    kid, kid_std = kernel_inception_distance(real_features, fake_features, seed=seed)
    coverage = class_coverage(fake_classes, classifier.settings['classes'])
    return dict(classifier_fd=frechet_distance(real_features, fake_features), classifier_kid=kid,
                classifier_kid_std=kid_std, class_histogram=coverage['histogram'],
                class_entropy=coverage['entropy'], classes_covered=coverage['classes_covered'])


