"""Shipped generators: export to float16 + info.json, checksum-verified loading, the command line, and the
committed pretrained/ files drawing the grids in assets/ with the metrics the README shows."""
import json
import os
import shutil
import subprocess
import sys

import importlib

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from conftest import write_idx_gz
from dcgan import generate, pretrained
from dcgan.download import file_hash
from dcgan.notebook import load_notebook_functions

SHIPPED = ('celeba', 'mnist')
MAX_SHIPPED_BYTES = 12 * 10 ** 6
PIXEL_TOLERANCE = 1            # of 255: CPUs pick different oneDNN kernels, so grids match closely, not exactly
PIXELS_WITHIN = 0.999          # share of pixels that must be within PIXEL_TOLERANCE
SUBPROCESS_TIMEOUT = 120
Z_DIM = 16


def command_line():
    """dcgan.__main__, imported without leaving its MPLBACKEND=Agg default in this process's environment
    (the notebook test's kernel inherits it and would then show no images)."""
    before = os.environ.get('MPLBACKEND')
    module = importlib.import_module('dcgan.__main__')
    if before is None:
        os.environ.pop('MPLBACKEND', None)
    return module


def dcgan_main(argv):
    """`python -m dcgan ARGV`, in this process."""
    return command_line().main(argv)


def tiny_run(run_dir, channels=3, steps=6):
    """Train the notebook's model for a few batches of random images into run_dir; return run_dir."""
    notebook = load_notebook_functions()
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (4 * steps, 28, 28, channels)).astype(np.float32)

    def get_batches(batch_size, epoch=0, start=0):
        for first in range(start * batch_size, len(images) - batch_size + 1, batch_size):
            yield images[first:first + batch_size]
    with tf.Graph().as_default():
        notebook['train'](1, 4, Z_DIM, 0.0002, 0.5, get_batches, images.shape, 'L' if channels == 1 else 'RGB',
                          print_every=10 ** 6, show_every=10 ** 6, run_dir=str(run_dir))
    return str(run_dir)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp('pretrained')
    run = tiny_run(root / 'run', channels=1)
    write_idx_gz(root / 'digits.gz', count=64)
    folder = pretrained.export(run, 'tiny', 'mnist', str(root / 'digits.gz'), data_dir=str(root / 'data'),
                               command='python -m dcgan train --dataset mnist ...', out_root=str(root / 'shipped'),
                               grid_path=str(root / 'grid.png'))
    return dict(folder=folder, run=run, root=root)


def test_export_writes_float16_generator_weights_and_their_description(exported):
    folder = exported['folder']
    assert sorted(os.listdir(folder)) == ['generator.npz', 'info.json']
    assert os.listdir(os.path.dirname(folder)) == ['tiny'], 'no temporary folder left behind'
    assert os.stat(folder).st_mode & 0o777 == 0o755 and os.stat(os.path.join(folder, 'generator.npz')).st_mode & 0o777 == 0o644
    info = json.load(open(os.path.join(folder, 'info.json')))
    assert info['weights']['sha256'] == file_hash(os.path.join(folder, 'generator.npz'), 'sha256')
    assert info['config']['z_dim'] == Z_DIM and info['config']['channels'] == 1 and info['dataset'] == 'mnist'
    assert info['training'] == dict(steps=6, epochs_done=1, command='python -m dcgan train --dataset mnist ...')
    assert 'CC BY-SA 3.0' in info['terms']
    with np.load(os.path.join(folder, 'generator.npz')) as weights:
        names = set(weights.files)
        assert all(weights[n].dtype == np.float16 for n in names)
        assert {n: list(weights[n].shape) for n in names} == info['weights']['variables']
    assert 'generator/project/w' in names and any('moving_mean' in n for n in names)
    assert not any('Adam' in n or n.startswith('discriminator') for n in names)
    metrics = info['metrics']
    assert metrics['samples_scored'] == 32 and metrics['generated']['swd'] > metrics['real_vs_real']['swd']
    assert 0 < metrics['float16_max_pixel_difference'] < 0.01


def test_loaded_weights_draw_what_the_checkpoint_draws(exported):
    shipped = pretrained.load_pretrained(exported['folder'])
    assert isinstance(shipped, generate.Generator)
    assert {k: shipped.config[k] for k in ('z_dim', 'channels', 'image_size', 'z_distribution')} == dict(
        z_dim=Z_DIM, channels=1, image_size=28, z_distribution='normal')
    assert shipped.info['id'] == shipped.info['weights']['sha256'][:16] and shipped.info['source'] == 'pretrained'
    z = generate.latent(shipped, 8, 1)
    original = generate.load_generator(exported['run'])
    np.testing.assert_allclose(shipped.sample(z), original.sample(z), atol=0.01)


def test_generate_pretrained_writes_the_exported_grid(exported, tmp_path, capsys):
    dcgan_main(['generate', '--pretrained', exported['folder'], '--n', '64', '--out', str(tmp_path / 'grid.png')])
    assert 'Wrote' in capsys.readouterr().out
    ours = np.asarray(Image.open(tmp_path / 'grid.png')).astype(int)
    stored = np.asarray(Image.open(exported['root'] / 'grid.png')).astype(int)
    assert ours.shape == stored.shape == (8 * 56, 8 * 56) and np.abs(ours - stored).max() <= PIXEL_TOLERANCE


def copy_of(exported, tmp_path):
    folder = tmp_path / 'copy'
    shutil.copytree(exported['folder'], folder)
    return folder


def test_damaged_weights_are_refused_with_what_to_do(exported, tmp_path):
    folder = copy_of(exported, tmp_path)
    data = bytearray((folder / 'generator.npz').read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / 'generator.npz').write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match='damaged or was changed.*git checkout pretrained/'):
        pretrained.load_pretrained(str(folder))
    with pytest.raises(SystemExit, match='^error: .*damaged'):
        dcgan_main(['generate', '--pretrained', str(folder), '--out', str(tmp_path / 'x.png')])
    assert not (tmp_path / 'x.png').exists()


def test_weights_that_do_not_fit_the_generator_are_refused(exported, tmp_path):
    folder = copy_of(exported, tmp_path)
    with np.load(folder / 'generator.npz') as stored:
        weights = {name.replace('project', 'projection'): stored[name] for name in stored.files}
    np.savez(folder / 'generator.npz', **weights)
    info = json.loads((folder / 'info.json').read_text())
    info['weights']['sha256'] = file_hash(str(folder / 'generator.npz'), 'sha256')
    (folder / 'info.json').write_text(json.dumps(info))
    with pytest.raises(pretrained.PretrainedError, match='do not fit the notebook.s generator'):
        pretrained.load_pretrained(str(folder))


@pytest.mark.parametrize('damage, message', [('remove info', 'has no info.json'), ('bad json', 'not valid JSON'),
                                             ('remove weights', 'generator.npz is missing'),
                                             ('new format', 'this code reads format 1')])
def test_broken_pretrained_folders_are_refused(exported, tmp_path, damage, message):
    folder = copy_of(exported, tmp_path)
    if damage == 'remove info':
        os.remove(folder / 'info.json')
    elif damage == 'bad json':
        (folder / 'info.json').write_text('{"format": 1,')
    elif damage == 'remove weights':
        os.remove(folder / 'generator.npz')
    else:
        (folder / 'info.json').write_text(json.dumps(dict(json.loads((folder / 'info.json').read_text()), format=2)))
    with pytest.raises(pretrained.PretrainedError, match=message):
        pretrained.load_pretrained(str(folder))


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(pretrained.PretrainedError, match="No pretrained generator 'faces'.*celeba, mnist"):
        pretrained.load_pretrained('faces')
    with pytest.raises(SystemExit, match="^error: No pretrained generator 'faces'"):
        pretrained.load_model(pretrained='faces')


def test_generate_takes_a_checkpoint_or_a_pretrained_generator_not_both(tmp_path):
    for argv in (['generate', '--out', 'x.png'], ['generate', '--pretrained', 'mnist', '--checkpoint', 'runs/x',
                                                  '--out', 'x.png']):
        with pytest.raises(SystemExit) as stop:
            dcgan_main(argv)
        assert stop.value.code == 2


def test_values_float16_cannot_hold_are_refused(tmp_path):
    with pytest.raises(pretrained.PretrainedError, match='generator/x holds values that float16 cannot store'):
        pretrained.write_weights({'generator/x': np.array([1.0, 1e6], np.float32)}, str(tmp_path / 'w.npz'))
    assert os.listdir(tmp_path) == []


def test_export_refuses_a_name_that_is_not_a_plain_word(exported):
    with pytest.raises(pretrained.PretrainedError, match='not a usable name'):
        pretrained.export(exported['run'], '../celeba', 'celeba', None)


# ----------------------------------------------------------------------------------------------
# The committed pretrained/ folder
# ----------------------------------------------------------------------------------------------

def test_shipped_folder_holds_only_generator_weights_and_is_small():
    files = []
    for folder, _, names in os.walk(pretrained.PRETRAINED_DIR):
        files += [os.path.relpath(os.path.join(folder, n), pretrained.PRETRAINED_DIR) for n in names]
    expected = ['README.md'] + [os.path.join(n, f) for n in SHIPPED for f in ('generator.npz', 'info.json')]
    assert sorted(files) == sorted(expected)
    total = sum(os.path.getsize(os.path.join(pretrained.PRETRAINED_DIR, f)) for f in files)
    assert total <= MAX_SHIPPED_BYTES, f'pretrained/ holds {total / 1e6:.1f} MB'
    assert pretrained.available() == list(SHIPPED)


def test_shipped_generators_draw_the_grids_in_assets(tmp_path):
    """`dcgan generate --pretrained NAME` on this clone, no training, no download, against assets/."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    runs = {name: subprocess.Popen([sys.executable, '-m', 'dcgan', 'generate', '--pretrained', name, '--n', '64',
                                    '--out', str(tmp_path / f'{name}.png')], cwd=pretrained.ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for name in SHIPPED}
    for name, process in runs.items():
        output, _ = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        assert process.returncode == 0, output
        info = pretrained.read_info(pretrained.resolve(name))
        assert (info['grid']['seed'], info['grid']['n']) == (0, 64)
        ours = np.asarray(Image.open(tmp_path / f'{name}.png')).astype(int)
        stored = np.asarray(Image.open(os.path.join(pretrained.ASSETS_DIR, f'pretrained_{name}.png'))).astype(int)
        assert ours.shape == stored.shape
        within = (np.abs(ours - stored) <= PIXEL_TOLERANCE).mean()
        assert within >= PIXELS_WITHIN, f'{name}: only {within:.4%} of the pixels match the stored grid'


def test_readmes_show_the_shipped_metrics():
    table = pretrained.metrics_table()
    for readme in ('README.md', os.path.join('pretrained', 'README.md')):
        with open(os.path.join(pretrained.ROOT, readme)) as f:
            assert table in f.read(), f'{readme}: update the table with `python -m dcgan.pretrained --table`'


def test_pretrained_readme_states_the_terms_and_the_commands():
    with open(os.path.join(pretrained.PRETRAINED_DIR, 'README.md')) as f:
        text = f.read()
    assert 'non-commercial research' in text and 'CC BY-SA 3.0' in text
    for name in SHIPPED:
        info = pretrained.read_info(pretrained.resolve(name))
        assert info['training']['command'] in text and info['weights']['sha256'] in text
