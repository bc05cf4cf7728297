"""One training run from start to finish, as the command line and the notebook start it: validate the
settings, lock the run folder, decide how to start (new, resume, refuse, fine-tune), train with the
notebook's own train() and its hooks, and write the results people look at."""
import os
import shutil
import time

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import distribute, pictures, runs
from dcgan.atomic import atomic_file, write_json
from dcgan.data.images import to_float
from dcgan.data.sources import find_mnist_labels
from dcgan.errors import ConfigError
from dcgan.hooks import PROGRESS_ANIMATION, Hooks
from dcgan.metrics import QualityLog, format_scores
from dcgan.metrics.classifier import MNIST_SHAPE, mnist_classifier


def digit_classifier(dataset, images_file, folders, cache_dir=None):
    """The digit classifier of the quality metrics, for 28x28 MNIST with its labels file in one of
    `folders` (trained once, then cached); None otherwise (the metrics then skip it, saying why)."""
    labels = find_mnist_labels(images_file, len(dataset.images), folders)
    if labels is None or dataset.shape[1:] != MNIST_SHAPE:
        return None
    return mnist_classifier(to_float(dataset.images), labels, cache_dir=cache_dir)


def quality_log(dataset, config, classifier=None):
    """(a QualityLog scoring against up to metrics_samples real images, another set as many real images
    for the real-vs-real line): both fixed by the seed, so every check of a run compares alike."""
    count = min(config.metrics_samples, len(dataset.images) // 2)
    picks = np.random.default_rng(config.seed).permutation(len(dataset.images))
    reference, other = np.sort(picks[:count]), np.sort(picks[count:2 * count])
    return QualityLog(to_float(dataset.images[reference]), classifier, config.seed), to_float(dataset.images[other])


def train(model, config, dataset, run_dir, new=False, allow_change=(), init_from=None, quality=None, show=False):
    """Train the NotebookModel `model` on `dataset` with `config` into `run_dir` (a fresh folder beside it
    when `new`); return (losses, final samples, the run folder used)."""
    config.validate()
    config.check_data(len(dataset.images))
    if not distribute.is_chief():
        return train_as_worker(model, config, dataset, run_dir, new, allow_change, init_from)
    if new:
        run_dir = runs.fresh_run_dir(run_dir)
        print(f'New run: {run_dir}')
    with runs.RunLock(run_dir) as lock:
        plan = runs.plan(run_dir, config, allow_change, init_from)
        hooks = Hooks(config, run_dir, plan, quality, show, before_exit=[lock.release])
        losses, samples = call_train(model, config, dataset, hooks)
    return losses, samples, run_dir


def call_train(model, config, dataset, hooks):
    """The notebook's train() on `dataset` with `config`'s values and `hooks`, in a graph of its own."""
    with tf.Graph().as_default():
        return model.train(
            epoch_count=config.epochs, batch_size=config.batch_size, z_dim=config.z_dim,
            learning_rate=config.learning_rate, beta1=config.beta1, get_batches=dataset.get_batches,
            data_shape=dataset.shape, data_image_mode=dataset.image_mode, hooks=hooks)


def train_as_worker(model, config, dataset, run_dir, new, allow_change, init_from):
    """train() on a worker of a multi-worker run other than the chief: the same steps from the same
    checkpoint of `run_dir` (which it only reads: the chief writes the run folder); returns as train()."""
    if new:
        raise ConfigError('A multi-worker run cannot pick a new run folder (--new) on each worker: name the same '
                          'fresh --run-dir on every worker instead.')
    plan = runs.plan(run_dir, config, allow_change, init_from, report=lambda line: None)
    losses, samples = call_train(model, config, dataset, Hooks(config, plan=plan, show=False))
    return losses, samples, run_dir


def train_and_report(model, config, dataset, run_dir, output_dir, classifier=None, name=None, show=True,
                     **options):
    """Train (see train) with quality checks, then save the final sample grid, progress animation, loss
    curve and table, quality curve and numbers to output_dir as NAME_*.png/.gif/.csv/.json."""
    name = name or config.dataset
    quality, other_real = quality_log(dataset, config, classifier)
    start = time.perf_counter()
    losses, samples, run_dir = train(model, config, dataset, run_dir, quality=quality, show=show, **options)
    seconds = time.perf_counter() - start
    print('{}: {} steps in {:.0f} s ({:.0f} images/s, including the quality checks)'.format(
        name, len(losses), seconds, len(losses) * config.batch_size / max(seconds, 1e-9)))
    real_vs_real = quality.score(other_real)
    print('{} quality at step {}: {}'.format(name, len(losses), format_scores(quality.history[-1])))
    print('{} real images, for comparison:  {}'.format(name, format_scores(real_vs_real)))
    path = lambda suffix: os.path.join(output_dir, f'{name}_{suffix}')   # noqa: E731
    pictures.save_grid(samples, dataset.image_mode, path('samples.png'))
    pictures.save_losses(losses, path('losses.csv'))
    write_json(dict(steps=len(losses), seconds=round(seconds, 1), samples_scored=len(quality.reference),
                    final=quality.history[-1], real_vs_real=real_vs_real, history=quality.history),
               path('metrics.json'))
    animation = os.path.join(run_dir, PROGRESS_ANIMATION)
    if os.path.exists(animation):   # every progress grid of the run, kept up to date by the hooks
        with atomic_file(path('progress.gif')) as tmp:
            shutil.copyfile(animation, tmp)
    if show:
        pictures.show_images(samples, dataset.image_mode, '{}: final samples'.format(name))
    pictures.plot_losses(losses, '{}: losses'.format(name), path('losses.png'))
    pictures.plot_quality(quality.history, real_vs_real, '{}: sample quality'.format(name), path('quality.png'))
    return losses, samples
