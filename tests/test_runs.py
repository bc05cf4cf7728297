"""Run identity: a run resumes only with the settings it was trained with; other settings are refused with
each change named and the ways to go on, or allowed by name, or start a new run; safe changes apply."""
import json
import os
import shutil

import numpy as np
import pytest
from conftest import FakeData

from dcgan import checkpoints, notebook, runs, trainer
from dcgan.__main__ import main
from dcgan.config import TrainConfig, preset
from dcgan.errors import ConfigError, RunLocked, RunMismatch

BASE = dict(batch_size=4, z_dim=16, epochs=1, checkpoint_every=3, show_every=10 ** 6, print_every=10 ** 6)


def train(run_dir, data=None, **options):
    """Train FakeData into run_dir with BASE settings changed by `options` (trainer keywords apart)."""
    keywords = {k: options.pop(k) for k in ('new', 'allow_change', 'init_from') if k in options}
    config = TrainConfig(**dict(BASE, **options))
    return trainer.train(notebook.load(), config, data or FakeData(), str(run_dir), **keywords)


@pytest.fixture
def trained(tmp_path):
    run = tmp_path / 'run'
    train(run)
    return run


@pytest.mark.parametrize('change, kind', [(dict(z_dim=32), "the networks' shape"),
                                          (dict(kernel=5), "the networks' shape"),
                                          (dict(learning_rate=0.001), 'the training dynamics'),
                                          (dict(batch_size=6), 'the training dynamics'),
                                          (dict(smoothing=1.0), 'the training dynamics'),
                                          (dict(z_distribution='uniform'), 'the training dynamics'),
                                          (dict(max_images=12), 'the training data')])
def test_a_changed_setting_is_refused_naming_it_and_nothing_is_touched(trained, change, kind):
    before = {p: os.path.getmtime(p) for p in checkpoints.checkpoint_dirs(str(trained))}
    with pytest.raises(RunMismatch) as refusal:
        train(trained, **change)
    name, new = next(iter(change.items()))
    message = str(refusal.value)
    assert f'{name}: {BASE.get(name, TrainConfig().to_dict()[name])!r} -> {new!r} ({kind})' in message
    assert '--new' in message and 'new_run = True' in message
    assert ('--allow-change' in message) == (kind != "the networks' shape")
    assert {p: os.path.getmtime(p) for p in checkpoints.checkpoint_dirs(str(trained))} == before


def test_a_preset_is_refused_listing_every_setting_it_changes(trained):
    classic = preset('classic', **{k: v for k, v in BASE.items()})
    with pytest.raises(RunMismatch) as refusal:
        trainer.train(notebook.load(), classic, FakeData(), str(trained))
    for name in ('g_filters', 'kernel', 'g_activation', 'smoothing', 'z_distribution'):
        assert f'  {name}: ' in str(refusal.value)


def test_safe_changes_apply_and_are_reported(trained, capsys):
    losses, _, _ = train(trained, epochs=2, checkpoint_every=4, mixed_precision=True)
    out = capsys.readouterr().out
    assert 'safe to change' in out and 'epochs: 1 -> 2' in out and 'Resuming from step 6' in out
    assert len(losses) == 12


def test_allowed_changes_continue_the_run_and_are_recorded(trained, capsys):
    losses, _, _ = train(trained, epochs=2, learning_rate=0.001, allow_change=['learning_rate'])
    assert len(losses) == 12 and 'you allowed' in capsys.readouterr().out
    saved = runs.read_run_config(str(trained))
    assert saved['config']['learning_rate'] == 0.001
    assert saved['history'][-1]['changes'] == {'learning_rate': [0.0004, 0.001], 'epochs': [1, 2]}
    state = checkpoints.read_state(checkpoints.latest(str(trained)))
    assert state['config']['learning_rate'] == 0.001 and state['step'] == 12


def test_model_settings_cannot_be_allowed(trained):
    with pytest.raises(ConfigError, match="z_dim change the networks' shape"):
        train(trained, z_dim=32, allow_change=['z_dim'])


def test_new_picks_a_fresh_folder_and_says_which(trained, capsys):
    _, _, run_dir = train(trained, learning_rate=0.001, new=True)
    assert run_dir == f'{trained}-2' and f'New run: {trained}-2' in capsys.readouterr().out
    assert runs.read_run_config(run_dir)['config']['learning_rate'] == 0.001
    assert runs.fresh_run_dir(str(trained)) == f'{trained}-3'


def test_the_same_settings_resume_and_a_finished_run_says_so(trained, capsys):
    losses, _, _ = train(trained)
    out = capsys.readouterr().out
    assert len(losses) == 6 and 'The run is complete: step 6 of 6' in out and 'Raise epochs' in out


def test_every_checkpoint_carries_the_whole_configuration(trained):
    for checkpoint in checkpoints.checkpoint_dirs(str(trained)):
        state = checkpoints.read_state(checkpoint)
        assert state['config'] == TrainConfig(**BASE).to_dict() and state['version'] == 2
        assert state['data'] == dict(count=24, channels=1, image_mode='L')


def test_an_old_checkpoint_with_four_settings_resumes_with_a_warning(trained, capsys):
    for checkpoint in checkpoints.checkpoint_dirs(str(trained)):
        path = os.path.join(checkpoint, checkpoints.STATE)
        state = json.load(open(path))
        state['config'] = dict(image_size=28, channels=1, z_dim=16, seed=1)
        del state['version'], state['data']
        json.dump(state, open(path, 'w'))
    os.remove(os.path.join(trained, runs.RUN_CONFIG))
    losses, _, _ = train(trained, epochs=2, learning_rate=0.001)   # unknown to it: taken as given
    out = capsys.readouterr().out
    assert 'saved before runs kept their whole configuration' in out and len(losses) == 12
    with pytest.raises(RunMismatch, match='z_dim: 16 -> 32'):
        shutil.rmtree(trained / 'checkpoints' / 'step-00000012')
        train(trained, z_dim=32, epochs=2)


def test_fine_tune_starts_a_new_run_from_the_weights(trained, tmp_path, capsys):
    losses, _, run_dir = train(tmp_path / 'tuned', learning_rate=0.0001, init_from=str(trained))
    assert 'Fine-tuning' in capsys.readouterr().out and len(losses) == 6
    source = checkpoints.variables_of(checkpoints.latest(str(trained)))
    tuned = checkpoints.variables_of(checkpoints.latest(run_dir))
    assert not np.allclose(source['generator/project/w'], tuned['generator/project/w'])   # trained further
    assert runs.read_run_config(run_dir)['history'][0]['how'].startswith('fine-tune from')
    with pytest.raises(RunMismatch, match="another shape"):
        train(tmp_path / 'other', z_dim=8, init_from=str(trained))
    assert not (tmp_path / 'other').exists(), 'a refused run leaves no folder behind'


def test_a_second_training_of_the_same_run_is_refused(tmp_path):
    with runs.RunLock(str(tmp_path / 'run')):
        with pytest.raises(RunLocked, match=f'process {os.getpid()}'):
            train(tmp_path / 'run')


def test_info_shows_settings_steps_checkpoints_and_pictures(trained, capsys):
    (trained / 'checkpoints' / 'step-00000006' / 'model.index').write_bytes(b'damaged')
    assert main(['info', str(trained)]) == 0
    out = capsys.readouterr().out
    assert 'batch_size = 4   (default 64)' in out and 'Steps trained: 3' in out
    assert 'step-00000006: DAMAGED' in out and 'step-00000003: good' in out and 'progress grids' in out
    assert main(['info', str(trained / 'nothing')]) == 2


def test_command_line_refusal_exits_2_and_new_run_goes_on(tmp_path, mnist_gz, capsys):
    common = ['train', '--dataset', 'mnist', '--data', mnist_gz, '--data-dir', str(tmp_path / 'data'),
              '--run-dir', str(tmp_path / 'run'), '--epochs', '1', '--batch-size', '16', '--z-dim', '8',
              '--metrics-samples', '8', '--show-every', '1000']
    assert main(common) == 0
    assert main(common + ['--learning-rate', '0.001']) == 2
    err = capsys.readouterr().err
    assert 'learning_rate: 0.0004 -> 0.001 (the training dynamics)' in err and 'Traceback' not in err
    assert main(common + ['--learning-rate', '0.001', '--new']) == 0
    assert f'Trained to step 4: {tmp_path / "run"}-2' in capsys.readouterr().out
