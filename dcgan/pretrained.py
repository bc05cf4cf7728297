"""Shipped generators: a checkpoint's generator exported as float16 weights with what describes it, and
loaded back (checksum verified) into the notebook's own generator, with no training and no download.

    pretrained/NAME/generator.npz   {variable name: float16 array} of the generator's global variables
                                    (weights and batch-norm moving averages)
    pretrained/NAME/info.json       data set, model configuration, training steps and command, metrics,
                                    the data set's terms and the sha256 of generator.npz

    python -m dcgan.pretrained --checkpoint RUN --name celeba --dataset celeba --data ARCHIVE   (export)
"""
import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import checkpoints, generate, metrics, notebook, training
from dcgan.atomic import atomic_dir, atomic_file, write_json
from dcgan.config import BEST_HELP, from_dict, saved_config
from dcgan.data.dataset import Dataset
from dcgan.data.images import to_float
from dcgan.data.sources import download_extract, find_mnist_labels
from dcgan.download import file_hash
from dcgan.errors import EXIT_USER_ERROR, DcganError
from dcgan.metrics.classifier import MNIST_SHAPE, mnist_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED_DIR = os.path.join(ROOT, 'pretrained')
ASSETS_DIR = os.path.join(ROOT, 'assets')
WEIGHTS = 'generator.npz'
INFO = 'info.json'
FOLDER_MODE, FILE_MODE = 0o755, 0o644   # what an export's folder and files are readable as
STORED_DTYPE = np.float16          # the shipped weights; the graph computes in float32
NAME_PATTERN = r'[a-z0-9][a-z0-9_-]{0,39}'
FORMAT_VERSION = 1
GRID_SEED, GRID_COUNT = 0, 64      # the fixed-seed sample grid kept in assets/ and checked by the tests
METRICS_SAMPLES = 2000             # generated images scored, against as many real ones (as in the notebook)
TERMS = {
    'mnist': 'MNIST: copyright Yann LeCun and Corinna Cortes, a derivative work of NIST data, made available '
             'under the terms of the Creative Commons Attribution-Share Alike 3.0 license (CC BY-SA 3.0).',
    'celeba': 'CelebA (Liu, Luo, Wang and Tang, MMLAB, The Chinese University of Hong Kong) is available for '
              'non-commercial research purposes only; the images belong to their owners. This generator was '
              'trained on CelebA images, so use it for non-commercial research only.',
}


class PretrainedError(DcganError):
    """A pretrained generator that cannot be used, with what to do instead."""


@dataclass
class DescribedGenerator(generate.Generator):
    """A dcgan.generate.Generator with what describes it: data set, training steps, metrics, an id."""
    info: dict


def available():
    """The names of the shipped generators."""
    if not os.path.isdir(PRETRAINED_DIR):
        return []
    return sorted(n for n in os.listdir(PRETRAINED_DIR) if os.path.exists(os.path.join(PRETRAINED_DIR, n, INFO)))


def resolve(name_or_dir):
    """The folder of a shipped generator's name, or `name_or_dir` itself when it is a folder."""
    if re.fullmatch(NAME_PATTERN, name_or_dir) and os.path.exists(os.path.join(PRETRAINED_DIR, name_or_dir, INFO)):
        return os.path.join(PRETRAINED_DIR, name_or_dir)
    if os.path.isdir(name_or_dir):
        return name_or_dir
    names = ', '.join(available()) or 'none are installed'
    raise PretrainedError(f'No pretrained generator {name_or_dir!r}: choose one of the shipped ones ({names}) '
                          f'or pass a folder holding {INFO} and {WEIGHTS}.')


def read_info(folder):
    """The info.json of a pretrained folder."""
    path = os.path.join(folder, INFO)
    try:
        with open(path) as f:
            info = json.load(f)
    except FileNotFoundError:
        raise PretrainedError(f'{folder} is not a pretrained generator: it has no {INFO}.') from None
    except json.JSONDecodeError as error:
        raise PretrainedError(f'{path} is not valid JSON ({error}): restore it (git checkout pretrained/).') from None
    if info.get('format') != FORMAT_VERSION:
        raise PretrainedError(f'{path} has format {info.get("format")!r}; this code reads format {FORMAT_VERSION}.')
    return info


def verify_weights(folder, info):
    """Refuse a weights file that is missing or whose sha256 is not the one info.json records."""
    path = os.path.join(folder, info['weights']['file'])
    if not os.path.exists(path):
        raise PretrainedError(f'{path} is missing: restore it (git checkout pretrained/) or export it again.')
    found = file_hash(path, 'sha256')
    if found != info['weights']['sha256']:
        raise PretrainedError(f'{path} is damaged or was changed: its sha256 is {found}, {INFO} records '
                              f'{info["weights"]["sha256"]}. Restore it (git checkout pretrained/) or export it again.')
    return path


def build_generator(config):
    """A new graph with the notebook's generator for `config` (a run configuration with 'channels'; old
    exports carry only the shape keys): (graph, z placeholder, sampled images, {variable name: variable} of
    the generator's global variables)."""
    settings = from_dict(saved_config(config))
    options = dict(image_size=settings.image_size, **settings.generator_options())
    model, graph = notebook.load(), tf.Graph()
    with graph.as_default():
        z = tf.placeholder(tf.float32, (None, settings.z_dim), name='z')
        model.generator(z, config['channels'], is_train=True, **options)
        sampled = model.generator(z, config['channels'], is_train=False, **options)
        images = tf.identity(sampled, name='images')
        variables = {v.op.name: v for v in tf.global_variables('generator')}
    return graph, z, images, variables


def assign_weights(graph, variables, weights):
    """A session whose generator variables hold `weights` ({name: array}), after checking that names and
    shapes match exactly."""
    missing, unknown = sorted(set(variables) - set(weights)), sorted(set(weights) - set(variables))
    if missing or unknown:
        raise PretrainedError(f'The weights do not fit the notebook\'s generator: missing {missing[:3]}, '
                              f'unexpected {unknown[:3]}. Export them again from a checkpoint.')
    for name, variable in variables.items():
        if tuple(weights[name].shape) != tuple(variable.shape.as_list()):
            raise PretrainedError(f'The weights of {name} have shape {weights[name].shape}, the generator needs '
                                  f'{tuple(variable.shape.as_list())}. Export them again from a checkpoint.')
    with graph.as_default():
        feeds = {name: tf.placeholder(v.dtype.base_dtype, v.shape) for name, v in variables.items()}
        assign = tf.group(*[tf.assign(variables[name], feeds[name]) for name in variables])
        session = tf.Session(graph=graph, config=training.session_config())
        session.run(assign, {feeds[name]: weights[name].astype(np.float32) for name in variables})
    return session


def load_pretrained(name_or_dir):
    """The shipped generator `name_or_dir` (or a pretrained folder), checksum verified, in a session."""
    folder = resolve(name_or_dir)
    info = read_info(folder)
    path = verify_weights(folder, info)
    with np.load(path, allow_pickle=False) as stored:
        weights = {name: stored[name] for name in stored.files}
    graph, z, images, variables = build_generator(info['config'])
    session = assign_weights(graph, variables, weights)
    described = dict(info, id=info['weights']['sha256'][:16], source='pretrained')
    print(f'Loaded the pretrained generator {info["name"]} ({info["dataset"]}, step {info["training"]["steps"]})')
    return DescribedGenerator(session, z, images, info['config'], described)


def checkpoint_generator(path):
    """A checkpoint's (or a run's newest) generator, described by its step and configuration."""
    checkpoint = generate.find_checkpoint(path)
    loaded = generate.load_generator(checkpoint)
    state = checkpoints.read_state(checkpoint)
    digest = hashlib.sha256()
    for name in sorted(os.listdir(checkpoint)):
        if name.startswith(checkpoints.MODEL):
            digest.update(name.encode() + file_hash(os.path.join(checkpoint, name), 'sha256').encode())
    run = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))))
    info = dict(name=run, dataset=None, config=loaded.config, training=dict(steps=state['step']), metrics={},
                terms=None, id=digest.hexdigest()[:16], source='checkpoint')
    return DescribedGenerator(loaded.session, loaded.z, loaded.images, loaded.config, info)


def load_model(pretrained=None, checkpoint=None):
    """The generator of a shipped name or pretrained folder, or else of a checkpoint (a bad one raises a
    DcganError saying why)."""
    return load_pretrained(pretrained) if pretrained else checkpoint_generator(checkpoint)


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------

def checkpoint_weights(checkpoint, config):
    """{variable name: float32 array} of the generator variables the notebook's generator has, read from
    a checkpoint (Adam's slots and the discriminator are left out)."""
    _, _, _, variables = build_generator(config)
    reader = tf.train.load_checkpoint(os.path.join(checkpoint, checkpoints.MODEL))
    stored = reader.get_variable_to_shape_map()
    settings = from_dict(saved_config(config))
    names = {name: training.stored_name(name, settings) for name in variables}
    missing = sorted(set(names.values()) - set(stored))
    if missing:
        raise PretrainedError(f'{checkpoint} lacks generator variables {missing[:3]}: is it a checkpoint of this model?')
    return {name: reader.get_tensor(names[name]) for name in sorted(variables)}


def write_weights(weights, path):
    """Save {name: array} as STORED_DTYPE into the .npz `path` atomically; refuse values float16 cannot hold."""
    for name, value in weights.items():
        if not np.all(np.isfinite(value)) or np.abs(value).max(initial=0) > np.finfo(STORED_DTYPE).max:
            raise PretrainedError(f'{name} holds values that {np.dtype(STORED_DTYPE).name} cannot store.')
    with atomic_file(path) as tmp:
        with open(tmp, 'wb') as f:
            np.savez_compressed(f, **{name: value.astype(STORED_DTYPE) for name, value in weights.items()})
        os.chmod(tmp, FILE_MODE)


def real_images(dataset, data, data_dir, image_size):
    """The data set's images (uint8, cached) and, for MNIST, the labels next to them (or None)."""
    files = download_extract(dataset, data_dir, source=data)
    images = Dataset(dataset, files, image_size, cache_dir=os.path.join(data_dir, 'cache')).images
    labels = None
    if dataset == 'mnist':
        labels = find_mnist_labels(files[0], len(images), [data_dir, os.path.dirname(data or '')])
    return images, labels


def score(generator, images, labels, data_dir, seed):
    """The notebook's quality numbers for `generator`: METRICS_SAMPLES generated images (the training's
    scoring latent vectors) against as many real ones, and those real ones against as many others."""
    count = min(METRICS_SAMPLES, len(images) // 2)
    picks = np.random.default_rng(seed).permutation(len(images))
    reference = to_float(images[np.sort(picks[:count])])
    classifier = None
    if labels is not None and generator.config['image_size'] == MNIST_SHAPE[0]:
        classifier = mnist_classifier(to_float(images), labels, cache_dir=os.path.join(data_dir, 'cache'))
    quality = metrics.QualityLog(reference, classifier, seed)
    z = training.noise(training.scoring_rng(seed), count, generator.config['z_dim'],
                       generator.config.get('z_distribution', 'normal'))
    fake = training.sample(generator.session, generator.images, generator.z, z)
    generated = quality.score(fake)
    real_vs_real = quality.score(to_float(images[np.sort(picks[count:2 * count])]))
    return dict(samples_scored=count, generated=generated, real_vs_real=real_vs_real), z, fake


def export(checkpoint_path, name, dataset, data, data_dir='data', command=None, out_root=PRETRAINED_DIR,
           grid_path=None):
    """Export a checkpoint's generator to out_root/name (float16 weights, info.json with the metrics of the
    exported weights), and its fixed-seed sample grid to `grid_path`; return the folder."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise PretrainedError(f'{name!r} is not a usable name: lower-case letters, digits, - and _ only.')
    checkpoint = generate.find_checkpoint(checkpoint_path)
    state = checkpoints.read_state(checkpoint)
    config, channels = generate.checkpoint_config(state).to_dict(), checkpoints.data_info(state)['channels']
    print(f'Exporting the generator of {checkpoint} (step {state["step"]}) as {name}')
    weights = checkpoint_weights(checkpoint, dict(config, channels=channels))
    final = os.path.join(out_root, name)
    with atomic_dir(final, replace=True, prefix=f'.export-{name}-') as staged:
        tmp = staged.folder
        write_weights(weights, os.path.join(tmp, WEIGHTS))
        info = dict(format=FORMAT_VERSION, name=name, dataset=dataset, config=dict(config, channels=channels),
                    weights=dict(file=WEIGHTS, dtype=np.dtype(STORED_DTYPE).name,
                                 sha256=file_hash(os.path.join(tmp, WEIGHTS), 'sha256'),
                                 parameters=int(sum(v.size for v in weights.values())),
                                 variables={n: list(v.shape) for n, v in weights.items()}),
                    training=dict(steps=state['step'], epochs_done=state['epoch'], command=command),
                    terms=TERMS.get(dataset), grid=dict(seed=GRID_SEED, n=GRID_COUNT))
        write_json(info, os.path.join(tmp, INFO))
        print('Scoring the exported (float16) weights against real images ...')
        shipped = load_pretrained(tmp)
        images, labels = real_images(dataset, data, data_dir, config['image_size'])
        info['metrics'], z, fake = score(shipped, images, labels, data_dir, config['seed'])
        original = generate.load_generator(checkpoint)
        float32 = training.sample(original.session, original.images, original.z, z)
        info['metrics']['float16_max_pixel_difference'] = float(np.abs(float32 - fake).max())
        write_json(info, os.path.join(tmp, INFO))
    if grid_path:
        grid = load_pretrained(final)
        generate.write_samples(grid.sample(generate.latent(grid, GRID_COUNT, GRID_SEED)),
                               generate.image_mode(grid), grid_path)
        print(f'Wrote the seed-{GRID_SEED} sample grid {grid_path}')
    return final


TABLE_COLUMNS = (('swd', 'SWD x1e3', '{:.1f}'), ('classifier_fd', 'digit FD', '{:.2f}'),
                 ('classifier_kid', 'digit KID', '{:.4f}'), ('class_entropy', 'class entropy', '{:.3f}'),
                 ('classes_covered', 'classes', '{:.0f} of 10'))


def metrics_table(names=None):
    """The README's markdown table of the shipped generators' metrics, from their info.json."""
    lines = ['| generator | training steps | samples scored | ' + ' | '.join(c[1] for c in TABLE_COLUMNS) + ' |',
             '| --- | ---: | --- | ' + ' | '.join('---:' for _ in TABLE_COLUMNS) + ' |']
    for name in names or available():
        info = read_info(resolve(name))
        for label, scores in (('generated', info['metrics']['generated']), ('real images', info['metrics']['real_vs_real'])):
            cells = [form.format(scores[key]) if key in scores else '' for key, _, form in TABLE_COLUMNS]
            steps = f'{info["training"]["steps"]:,}' if label == 'generated' else ''
            lines.append(f'| `{name}`, {label} | {steps} | {info["metrics"]["samples_scored"]:,} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    """Command line: export a checkpoint's generator into pretrained/ (or print the metrics table)."""
    parser = argparse.ArgumentParser(prog='python -m dcgan.pretrained', description=main.__doc__)
    parser.add_argument('--table', action='store_true', help='print the shipped generators\' metrics table and stop')
    parser.add_argument('--checkpoint', help='a run folder (its newest checkpoint) or a checkpoint')
    parser.add_argument('--best', action='store_true', help=BEST_HELP)
    parser.add_argument('--name', help='the name to ship it under (e.g. celeba)')
    parser.add_argument('--dataset', choices=sorted(TERMS), help='what it was trained on')
    parser.add_argument('--data', help='the training archive or folder: the metrics compare against it')
    parser.add_argument('--data-dir', default='data')
    parser.add_argument('--command', help='the command that trained it, recorded in info.json')
    parser.add_argument('--out-root', default=PRETRAINED_DIR)
    parser.add_argument('--grid', help=f'also write the seed-{GRID_SEED} {GRID_COUNT}-sample grid here '
                                       f'(e.g. assets/pretrained_celeba.png)')
    args = parser.parse_args(argv)
    if args.table:
        print(metrics_table())
        return 0
    if not (args.checkpoint and args.name and args.dataset):
        parser.error('exporting needs --checkpoint, --name and --dataset')
    try:
        folder = export(generate.chosen_checkpoint(args.checkpoint, args.best), args.name, args.dataset, args.data, args.data_dir, args.command,
                        args.out_root, args.grid)
    except DcganError as error:
        print(f'error: {error}', file=sys.stderr)
        return EXIT_USER_ERROR
    info = read_info(folder)
    print(f'Exported {folder}: {os.path.getsize(os.path.join(folder, WEIGHTS)) / 1e6:.2f} MB, sha256 '
          f'{info["weights"]["sha256"]}')
    print(json.dumps(info['metrics'], indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
