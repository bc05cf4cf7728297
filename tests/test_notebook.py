"""The whole notebook runs top to bottom, headless, on small generated data, and writes its results."""
import gzip
import json
import os

import nbformat
import numpy as np
import papermill
from PIL import Image

from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)
SAMPLE_GRID_SIDE = 8 * 28 * 2   # 8x8 samples of 28 pixels, saved at twice the size


def outputs_text(notebook):
    """All text the executed notebook's cells printed."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get('outputs', []):
            texts.append(output.get('text', '') or output.get('data', {}).get('text/plain', ''))
    return '\n'.join(texts)


def test_notebook_runs_headless_and_writes_grids_and_finite_losses(tmp_path, mnist_gz, celeba_zip):
    labels = np.random.default_rng(0).integers(0, 10, 64).astype(np.uint8)
    with gzip.open(os.path.join(os.path.dirname(mnist_gz), 'train-labels-idx1-ubyte.gz'), 'wb') as f:
        f.write(np.array([0x00000801, 64], dtype='>u4').tobytes() + labels.tobytes())
    assets = tmp_path / 'assets'
    executed = tmp_path / 'executed.ipynb'
    papermill.execute_notebook(
        NOTEBOOK, str(executed), cwd=ROOT, kernel_name='python3', progress_bar=False,
        parameters=dict(data_dir=str(tmp_path / 'data'), mnist_source=mnist_gz, celeba_source=celeba_zip,
                        output_dir=str(assets), checkpoint_dir=str(tmp_path / 'runs'), batch_size=8,
                        mnist_epochs=2, celeba_epochs=1, max_steps=12, print_every=2, show_every=4, checkpoint_every=5, metrics_every=6,
                        metrics_samples=16))
    notebook = nbformat.read(str(executed), as_version=4)
    text = outputs_text(notebook)
    assert text.count('Tests Passed') == 5
    assert 'NOT checksum-verified' in text
    assert 'mnist: 12 steps' in text           # 64 images / 8 = 8 steps per epoch, 2 epochs, capped at 12
    assert 'celeba: 5 steps' in text           # 40 images / 8, one epoch
    shown = sum('image/png' in o.get('data', {}) for c in notebook.cells for o in c.get('outputs', []))
    assert shown >= 2 + 3 + 1 + 2 + 2           # data previews, MNIST grids every 4 steps, CelebA grid, finals, curves
    for name, mode in (('mnist', 'L'), ('celeba', 'RGB')):
        grid = Image.open(assets / f'{name}_samples.png')
        assert grid.size == (SAMPLE_GRID_SIDE, SAMPLE_GRID_SIDE) and grid.mode == mode
        assert np.asarray(grid).std() > 0, 'the sample grid is not blank'
        assert Image.open(assets / f'{name}_losses.png').size[0] > 100
        losses = np.loadtxt(assets / f'{name}_losses.csv', delimiter=',', skiprows=1, ndmin=2)
        assert losses.shape[1] == 3 and np.isfinite(losses).all() and (losses[:, 1:] > 0).all()
    assert Image.open(assets / 'mnist_progress.gif').n_frames == 3      # grids at steps 4, 8 and 12
    assert Image.open(assets / 'celeba_progress.gif').n_frames == 1     # step 4 of 5
    assert sorted(os.listdir(assets)) == sorted(f'{n}_{k}' for n in ('mnist', 'celeba') for k in (
        'samples.png', 'losses.png', 'losses.csv', 'progress.gif', 'metrics.json', 'quality.png'))
    mnist = json.loads((assets / 'mnist_metrics.json').read_text())
    assert [h['step'] for h in mnist['history']] == [6, 12] and mnist['samples_scored'] == 16
    for scores in (mnist['final'], mnist['real_vs_real']):
        assert {'swd', 'classifier_fd', 'classifier_kid', 'class_entropy', 'classes_covered'} <= scores.keys()
        assert all(np.isfinite(v) for v in scores.values())
    celeba = json.loads((assets / 'celeba_metrics.json').read_text())
    assert [h['step'] for h in celeba['history']] == [5] and set(celeba['final']) == {'step', 'swd'}
    assert 'Trained the digit classifier' in text and 'quality at step 12' in text
    assert sorted(os.listdir(tmp_path / 'runs' / 'mnist' / 'checkpoints')) == [
        'best', 'step-00000005', 'step-00000010', 'step-00000012']   # best: the best-scored of steps 6 and 12
    assert sorted(os.listdir(tmp_path / 'runs' / 'celeba' / 'checkpoints')) == ['best', 'step-00000005']
