"""The README's run command on a fresh clone with no ../shared: it downloads the data (from 127.0.0.1,
standing in for the download hosts through $DLND_DOWNLOAD_URL and $DLND_DOWNLOAD_MD5), trains, shows
steady progress and no TensorFlow chatter, writes only under runs/ and data/ (git status stays clean),
and its TensorBoard records load in TensorBoard with the tags the README names."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import nbformat
import pytest
from conftest import FakeData
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_sources import serve_fixture_data

from dcgan import notebook, quiet, trainer
from dcgan.config import TrainConfig
from dcgan.data import sources
from dcgan.data.lock import LOCK_NAME
from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)
BIN = os.path.dirname(sys.executable)
SETUP_STEPS = ('python3 -m venv .venv', '.venv/bin/pip install ')   # done already: the tests run in that .venv


def readme():
    with open(os.path.join(ROOT, 'README.md')) as f:
        return f.read()


def readme_run_steps():
    """The steps of the README's run command after the set-up (creating and filling .venv), with .venv/bin/
    meaning the environment running these tests."""
    run = [line for line in readme().splitlines() if line.startswith('python3 -m venv .venv') and 'papermill' in line]
    assert len(run) == 1
    steps = [step.strip() for step in run[0].split('&&')]
    return [shlex.split(step.replace('.venv/bin/', BIN + '/')) for step in steps if not step.startswith(SETUP_STEPS)]


def git(*args, cwd):
    return subprocess.run(['git', *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def fresh_clone(folder):
    """A clone of the project as it would be committed now (tracked files and new, unignored ones, as they
    are in the work tree), committed in a repository of its own."""
    files = git('ls-files', '-z', '--cached', '--others', '--exclude-standard', cwd=ROOT).split('\0')
    for name in filter(None, files):
        if os.path.isfile(os.path.join(ROOT, name)):
            os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(folder, name))
    git('init', '--quiet', cwd=folder)
    git('add', '--all', cwd=folder)
    git('-c', 'user.name=test', '-c', 'user.email=test@example.org', 'commit', '--quiet', '-m', 'clone', cwd=folder)


def stream_texts(executed):
    """Every stream output (stdout and stderr) of the executed notebook."""
    return [o.get('text', '') for c in executed.cells for o in c.get('outputs', []) if o.get('output_type') == 'stream']


@pytest.fixture
def clone(tmp_path):
    if subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True).returncode:
        pytest.skip('the project is not a git checkout')
    folder = tmp_path / 'dlnd-face-generation'   # beside it there is no ../shared
    folder.mkdir()
    fresh_clone(str(folder))
    return folder


def test_the_readme_run_command_works_on_a_fresh_clone_and_leaves_git_clean(clone, http_server):
    served, url = http_server
    table = serve_fixture_data(served)
    env = {k: v for k, v in os.environ.items() if k not in (quiet.LOG_LEVEL_ENV, 'DLND_DATA_DIR', sources.MIRROR_ENV)}
    env.update({sources.DOWNLOAD_URL_ENV: url, sources.CHECKSUMS_ENV: str(table)})
    for step in readme_run_steps():
        done = subprocess.run(step, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f'{step[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}'
    assert git('status', '--porcelain', '--untracked-files=all', cwd=clone) == ''
    executed = nbformat.read(str(clone / 'runs' / 'dlnd_face_generation.ipynb'), as_version=4)
    assert not [o for c in executed.cells for o in c.get('outputs', []) if o.get('output_type') == 'error']
    texts = stream_texts(executed)
    text = ''.join(texts)
    for name in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 'img_align_celeba.zip'):
        assert f'Downloading {name} into {clone / "data"}' in text
        assert re.search(rf'^{re.escape(name)}: 100%\|#+\| ', text, flags=re.M), f'no progress line for {name}'
    for name in ('train-images-idx3-ubyte.gz', 'img_align_celeba.zip'):
        assert f'data/{name} is {name} (md5 verified against ${sources.CHECKSUMS_ENV})' in text
    assert 'Trained the digit classifier' in text and 'Tests Passed' in text
    assert re.search(r'^Training: 100%\|#+\| 8/8 ', text, flags=re.M)   # 64 digits, batch 64, 8 epochs
    assert not any('\r' in t for t in texts), 'progress must be lines, not carriage returns'
    chatter = [line for t in texts for line in t.splitlines()
               if quiet.ABSL_LINE.match(line) or 'absl::' in line or 'cuInit' in line or 'oneDNN' in line]
    assert chatter == []
    for name in ('mnist', 'celeba'):
        assert (clone / 'runs' / f'{name}_samples.png').is_file()
        assert os.listdir(clone / 'runs' / name / 'tensorboard')
    assert sorted(set(os.listdir(clone / 'data')) - {LOCK_NAME}) == sorted([   # the lock file stays, empty
        'README.md', 'cache', 'celeba', 'img_align_celeba.zip', 'mnist', 'train-images-idx3-ubyte.gz',
        'train-labels-idx1-ubyte.gz'])


def readme_tensorboard_tags():
    """The tags the README's TensorBoard paragraph names (in backquotes, after 'shows the scalars')."""
    paragraph = readme().split('\nTensorBoard: ', 1)[1].split('\n\n')[0]
    return re.findall(r'`([^`]+)`', paragraph.split('shows the scalars', 1)[1])


def test_the_run_records_load_in_tensorboard_with_the_tags_the_readme_names(tmp_path):
    assert os.path.isfile(os.path.join(BIN, 'tensorboard')), 'the tensorboard command is installed'
    config = TrainConfig(epochs=1, batch_size=4, z_dim=16, summary_every=2, show_every=2, board_images_every=2,
                         metrics_every=3,
                         metrics_samples=8, checkpoint_every=100)
    data = FakeData(count=24)
    quality, _ = trainer.quality_log(data, config)
    trainer.train(notebook.load(), config, data, str(tmp_path / 'run'), quality=quality)
    events = EventAccumulator(str(tmp_path / 'run' / 'tensorboard'))
    events.Reload()
    found = events.Tags()
    tags = readme_tensorboard_tags()
    assert {'loss/discriminator', 'loss/generator', 'samples'} <= set(tags)
    for tag in tags:
        kind = 'images' if tag == 'samples' else 'scalars'
        assert tag in found[kind], f'TensorBoard has no {kind[:-1]} {tag!r}: {found}'
    assert [e.step for e in events.Scalars('loss/generator')] == [2, 4, 6]
    assert [e.step for e in events.Images('samples')] == [2, 4, 6]
    assert [e.step for e in events.Scalars('quality/swd')] == [3, 6]
    grid = events.Images('samples')[-1]
    assert grid.width == grid.height > 16 and grid.encoded_image_string.startswith(b'\x89PNG')
