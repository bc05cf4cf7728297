"""Cloud GPU launch: GPU install variants, the container recipe, the hosted-runtime cell, speed options."""
import json
import os
import re
import subprocess
import sys
import tomllib

import nbformat

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import yaml
from test_project_files import pyproject_requirements, read, requirement_lines

from dcgan import __version__, notebook
from dcgan.config import TrainConfig
from dcgan.hooks import Hooks
from dcgan.notebook import NOTEBOOK, notebook_cells

ROOT = os.path.dirname(NOTEBOOK)


def pip_requirements(name):
    """The requirement specs of a pip file, following '-r other.txt' lines."""
    specs = []
    for line in read(name).splitlines():
        if line.startswith('-r '):
            specs += pip_requirements(line.split(maxsplit=1)[1])
        elif line.strip() and not line.startswith('#'):
            specs.append(line)
    return specs


def test_gpu_requirements_are_the_requirements_with_the_gpu_extra():
    gpu = requirement_lines(pip_requirements('requirements-gpu.txt'))
    assert set(pyproject_requirements('gpu')) <= set(gpu)
    assert set(requirement_lines(pip_requirements('requirements.txt'))) <= set(gpu)


def test_gpu_environment_agrees_with_gpu_requirements():
    environment = yaml.safe_load(read('environment-gpu.yml'))
    pip = [d['pip'] for d in environment['dependencies'] if isinstance(d, dict)][0]
    cpu_only = set(s for s in pyproject_requirements() if s.startswith('tensorflow>='))
    expected = set(requirement_lines(pip_requirements('requirements-gpu.txt'))) - cpu_only
    assert set(requirement_lines(pip)) == expected


def dockerfile():
    """The Dockerfile's instructions as (INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r'\\\n', ' ', read('Dockerfile'))
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith('#'):
            instruction, _, arguments = line.strip().partition(' ')
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def json_or_words(arguments):
    """A Dockerfile argument list: its JSON array form, or whitespace-separated words."""
    return json.loads(arguments) if arguments.startswith('[') else arguments.split()


CONTAINER_PROJECT = '/home/dcgan/dlnd-face-generation'   # the project inside the image
PORTS = {'8888', '6006'}                                  # Jupyter Lab, TensorBoard


def test_the_container_recipe_uses_the_official_gpu_jupyter_image_and_installs_the_project():
    steps = dockerfile()
    args = [a for i, a in steps if i == 'ARG']
    assert any(re.fullmatch(r'TF_IMAGE=tensorflow/tensorflow:[\d.]+-gpu-jupyter', a) for a in args)
    assert ('FROM', '${TF_IMAGE}') in steps
    assert ('WORKDIR', CONTAINER_PROJECT) in steps
    assert any(i == 'RUN' and 'pip install --no-cache-dir -r requirements.txt' in a for i, a in steps)
    assert ('ENV', 'DLND_DATA_DIR=/data') in steps
    ignored = read('.dockerignore').split()
    assert {'.venv', '.git', 'data', 'runs'} <= set(ignored)


def test_the_container_runs_as_a_user_with_volumes_for_data_and_runs_and_the_tensorboard_port():
    steps = dockerfile()
    users = [(n, a) for n, (i, a) in enumerate(steps) if i == 'USER']
    assert len(users) == 1 and users[0][1] not in ('root', '0')
    user = users[0][1]
    assert any(i == 'RUN' and re.search(rf'useradd .*\b{user}$', a) for i, a in steps[:users[0][0]])
    assert any(i == 'COPY' and f'--chown={user}:{user}' in a for i, a in steps)
    volumes = [v for i, a in steps if i == 'VOLUME' for v in json_or_words(a)]
    assert set(volumes) == {'/data', f'{CONTAINER_PROJECT}/runs'}, 'data/ and runs/ are volumes; assets/ is not'
    exposed = {p for i, a in steps if i == 'EXPOSE' for p in a.split()}
    assert exposed == PORTS
    command = [a for i, a in steps if i == 'CMD']
    assert len(command) == 1 and steps[-1][0] == 'CMD'
    words = json_or_words(command[0])
    assert words[:2] == ['jupyter', 'lab'] and 'dlnd_face_generation.ipynb' in words
    assert '--allow-root' not in words and '--port=8888' in words


def documented_docker_runs():
    """The `docker run` lines of docs/cloud.md."""
    return [line.strip() for line in read('docs/cloud.md').splitlines() if line.startswith('docker run ')]


def test_the_documented_docker_run_lines_mount_data_and_runs_never_assets():
    runs = documented_docker_runs()
    jupyter = [r for r in runs if r.endswith(' dlnd-face-generation')]
    train = [r for r in runs if r.endswith('dlnd-face-generation dcgan train --dataset mnist')]
    assert len(jupyter) == 1 and len(train) == 1
    for line in jupyter + train:
        assert '--gpus all' in line and '-v "$PWD/data:/data"' in line
        assert f'-v "$PWD/runs:{CONTAINER_PROJECT}/runs"' in line
    assert all('assets' not in line for line in runs)
    assert all(f'127.0.0.1:{port}:{port}' in jupyter[0] for port in PORTS)
    assert any('tensorboard --logdir runs --bind_all' in r and '127.0.0.1:6006:6006' in r for r in runs)
    assert "data_dir = os.environ.get('DLND_DATA_DIR', 'data')" in notebook_cells('parameters')[0]
    header = [line for line in read('Dockerfile').splitlines() if line.startswith('#   docker run')]
    assert header and all(line[len('#   '):] in runs for line in header), 'the Dockerfile\'s lines are the docs\''


def hosted_cell():
    cells = notebook_cells('hosted-setup')
    assert len(cells) == 1
    return cells[0]


def with_parameters(cell, **values):
    """The hosted-setup cell with its parameter lines (NAME = '...') set as a user would edit them."""
    for name, value in values.items():
        pattern = rf"^{name} = '[^']*'"
        assert len(re.findall(pattern, cell, flags=re.M)) == 1, f'the cell has no {name} parameter line'
        cell = re.sub(pattern, f'{name} = {value!r}', cell, flags=re.M)
    return cell


def cell_parameter(name):
    return re.search(rf"^{name} = '([^']*)'", hosted_cell(), flags=re.M).group(1)


def test_the_hosted_cell_pins_the_released_tag_and_the_badges_open_that_version():
    assert cell_parameter('PROJECT_REF') == f'v{__version__}'
    repository = cell_parameter('PROJECT_URL').removeprefix('https://github.com/')
    badge = f'https://colab.research.google.com/github/{repository}/blob/{cell_parameter("PROJECT_REF")}/'
    notebook_intro = nbformat.read(NOTEBOOK, as_version=4).cells[0].source
    for text in (notebook_intro, read('docs/cloud.md')):
        links = re.findall(r'https://colab\.research\.google\.com/github/\S+?\.ipynb', text)
        assert links and all(link == badge + 'dlnd_face_generation.ipynb' for link in links), links


def test_hosted_runtime_cell_does_nothing_outside_a_hosted_runtime(tmp_path, monkeypatch):
    for name in ('COLAB_RELEASE_TAG', 'KAGGLE_KERNEL_RUN_TYPE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(subprocess, 'run', lambda *a, **k: pytest.fail(f'ran {a}'))
    exec(hosted_cell(), {})
    assert os.getcwd() == str(tmp_path) and os.listdir(tmp_path) == []


def git(*args, cwd):
    return subprocess.run(['git', *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def tagged_origin(tmp_path):
    """A local clone of this project standing in for the published repository, with a commit on top of
    the tag TAG (so a checkout of the default branch would be the wrong version); yields (path, tag)."""
    if subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True).returncode:
        pytest.skip('the project is not a git checkout')
    origin = tmp_path / 'origin'
    git('clone', '--quiet', ROOT, str(origin), cwd=tmp_path)
    git('-c', 'user.name=test', '-c', 'user.email=test@example.org', 'tag', '-a', 'v9.9.9', '-m', 'release',
        cwd=origin)
    (origin / 'LATER.md').write_text('a commit after the release\n')
    git('add', 'LATER.md', cwd=origin)
    git('-c', 'user.name=test', '-c', 'user.email=test@example.org', 'commit', '--quiet', '-m', 'later', cwd=origin)
    return origin, 'v9.9.9'


def test_the_hosted_cell_clones_the_tag_verifies_it_and_installs_nothing_present(tmp_path, monkeypatch,
                                                                                  tagged_origin, capsys):
    origin, tag = tagged_origin
    monkeypatch.setenv('COLAB_RELEASE_TAG', 'release-colab-test')
    runtime = tmp_path / 'content'
    runtime.mkdir()
    monkeypatch.chdir(runtime)
    exec(with_parameters(hosted_cell(), PROJECT_URL=str(origin), PROJECT_REF=tag), {})
    clone = runtime / 'dlnd-face-generation'
    assert os.getcwd() == str(clone) and (clone / 'helper.py').exists() and not (clone / 'LATER.md').exists()
    assert git('rev-parse', 'HEAD', cwd=clone) == git('rev-parse', f'{tag}^{{commit}}', cwd=origin)
    assert f'at {tag} (commit ' in capsys.readouterr().out


def test_the_hosted_cell_refuses_an_old_clone_of_another_version(tmp_path, monkeypatch, tagged_origin):
    origin, tag = tagged_origin
    monkeypatch.setenv('KAGGLE_KERNEL_RUN_TYPE', 'Interactive')
    runtime = tmp_path / 'working'
    runtime.mkdir()
    git('clone', '--quiet', str(origin), 'dlnd-face-generation', cwd=runtime)   # the newest commit, not the tag
    monkeypatch.chdir(runtime)
    with pytest.raises(RuntimeError, match=f'dlnd-face-generation/ is at commit .*, not at {tag}.*delete the folder'):
        exec(with_parameters(hosted_cell(), PROJECT_URL=str(origin), PROJECT_REF=tag), {})
    assert os.getcwd() == str(runtime)


def test_the_hosted_cell_says_what_to_check_when_the_ref_does_not_exist(tmp_path, monkeypatch, tagged_origin):
    origin, _ = tagged_origin
    monkeypatch.setenv('COLAB_RELEASE_TAG', 'release-colab-test')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match='(?s)checkout .*v0.0.404.*Check PROJECT_URL and PROJECT_REF'):
        exec(with_parameters(hosted_cell(), PROJECT_URL=str(origin), PROJECT_REF='v0.0.404'), {})


def test_the_hosted_cell_installs_what_the_runtime_lacks(tmp_path, monkeypatch, tagged_origin):
    import importlib.util
    origin, tag = tagged_origin
    monkeypatch.setenv('COLAB_RELEASE_TAG', 'release-colab-test')
    monkeypatch.chdir(tmp_path)
    real_run, installs = subprocess.run, []

    def run(command, **options):
        if command[1:4] == ['-m', 'pip', 'install']:
            installs.append(command)
            return subprocess.CompletedProcess(command, 0)
        return real_run(command, **options)
    monkeypatch.setattr(subprocess, 'run', run)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None if name in ('tqdm', 'tensorboard')
                        else real_find_spec(name))
    exec(with_parameters(hosted_cell(), PROJECT_URL=str(origin), PROJECT_REF=tag), {})
    assert installs == [[sys.executable, '-m', 'pip', 'install', '-q', 'tensorboard', 'tqdm']]


def test_the_hosted_cell_checks_for_every_dependency_of_the_package():
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        needed = {re.split(r'[<>=\[]', spec)[0] for spec in tomllib.load(f)['project']['dependencies']}
    missing = hosted_cell().split('missing = ')[1].split('if missing')[0]   # the (module, pip name) pairs
    checked = set(re.findall(r"\('\w+', '([\w-]+)'\)", missing))
    assert checked == needed


def test_cpu_run_with_xla_and_mixed_precision_switched_on_trains_with_finite_losses():
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (12, 28, 28, 1)).astype(np.float32)

    def get_batches(batch_size):
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size]
    with tf.Graph().as_default():
        hooks = Hooks(TrainConfig(epochs=1, batch_size=4, z_dim=16, use_xla=True, mixed_precision=True), show=False)
        losses, samples = notebook.load().train(1, 4, 16, 0.0004, 0.5, get_batches, images.shape, 'L', hooks=hooks)
    assert losses.shape == (3, 2) and np.isfinite(losses).all() and np.isfinite(samples).all()
