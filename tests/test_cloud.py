"""Cloud GPU launch: GPU install variants, the container recipe, the hosted-runtime cell, speed options."""
import os
import re
import subprocess

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import yaml
from test_project_files import pyproject_requirements, read, requirement_lines

from dcgan import notebook
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


def dockerfile_lines():
    return [line.strip() for line in read('Dockerfile').splitlines() if line.strip() and not line.startswith('#')]


def test_container_recipe_uses_the_official_gpu_jupyter_image_and_the_project():
    lines = dockerfile_lines()
    image = [line for line in lines if line.startswith('ARG TF_IMAGE=')][0]
    assert re.fullmatch(r'ARG TF_IMAGE=tensorflow/tensorflow:[\d.]+-gpu-jupyter', image)
    assert 'FROM ${TF_IMAGE}' in lines
    assert 'RUN pip install --no-cache-dir -r requirements.txt' in lines
    assert 'ENV DLND_DATA_DIR=/data' in lines
    assert 'dlnd_face_generation.ipynb' in lines[-1] and lines[-1].startswith('CMD')
    for needed in ('requirements.txt', 'dlnd_face_generation.ipynb', 'helper.py'):
        assert os.path.exists(os.path.join(ROOT, needed))
    assert '.venv' in read('.dockerignore').split() and 'data' in read('.dockerignore').split()


def test_readme_gives_the_docker_run_line_with_gpus_and_data_mounted_where_the_notebook_looks():
    runs = [line for line in read('README.md').splitlines() if line.startswith('docker run ')]
    assert runs and '--gpus all' in runs[0] and ':/data' in runs[0]
    assert "data_dir = os.environ.get('DLND_DATA_DIR', 'data')" in notebook_cells('parameters')[0]


def hosted_cell():
    cells = notebook_cells('hosted-setup')
    assert len(cells) == 1
    return cells[0]


def test_hosted_runtime_cell_does_nothing_outside_a_hosted_runtime(tmp_path, monkeypatch):
    for name in ('COLAB_RELEASE_TAG', 'KAGGLE_KERNEL_RUN_TYPE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(subprocess, 'run', lambda *a, **k: pytest.fail(f'ran {a}'))
    exec(hosted_cell(), {})
    assert os.getcwd() == str(tmp_path) and os.listdir(tmp_path) == []


def test_hosted_runtime_cell_fetches_the_project_and_installs_what_is_missing(tmp_path, monkeypatch):
    import importlib.util
    monkeypatch.setenv('COLAB_RELEASE_TAG', 'release-colab-test')
    monkeypatch.chdir(tmp_path)
    commands = []

    def run(command, check):
        commands.append(command)
        if command[:2] == ['git', 'clone']:
            os.mkdir(command[-1])
    monkeypatch.setattr(subprocess, 'run', run)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None if name == 'tqdm' else real_find_spec(name))
    namespace = {}
    exec(hosted_cell(), namespace)
    assert commands[0] == ['git', 'clone', '--depth', '1', namespace['PROJECT_URL'], 'dlnd-face-generation']
    assert commands[1][-2:] == ['-q', 'tqdm'] and commands[1][1:4] == ['-m', 'pip', 'install']
    assert os.getcwd() == str(tmp_path / 'dlnd-face-generation')


def test_cpu_run_with_xla_and_mixed_precision_switched_on_trains_with_finite_losses():
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (12, 28, 28, 1)).astype(np.float32)

    def get_batches(batch_size):
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size]
    with tf.Graph().as_default():
        hooks = Hooks(TrainConfig(epochs=1, batch_size=4, z_dim=16, use_xla=True, mixed_precision=True), show=False)
        losses, samples = notebook.load().train(1, 4, 16, 0.0002, 0.5, get_batches, images.shape, 'L', hooks=hooks)
    assert losses.shape == (3, 2) and np.isfinite(losses).all() and np.isfinite(samples).all()
