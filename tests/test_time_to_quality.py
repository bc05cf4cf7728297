"""The quality-per-minute benchmark's variants mean what its tables say: 'old' is the default before the
quality work, NEW is today's default, and the calibrated step budgets and results file behave."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks import time_to_quality as ttq
from dcgan import config


def test_old_is_the_earlier_default_and_new_is_todays_default():
    old = config.preset('default', **ttq.variant_settings('old'))
    assert old == config.TrainConfig(**{**config.EARLIER_DEFAULTS, 'batch_size': 32, 'learning_rate': 0.0002})
    new = config.preset('default', **ttq.variant_settings(ttq.NEW))
    auto = config.TrainConfig()
    assert new.replace(mixed_precision=auto.mixed_precision) == auto, 'NEW must be the defaults'
    assert new.mixed_precision is True and auto.mixed_precision is None   # bf16 where the CPU has it, both


def test_variants_combine_levers_and_unknown_ones_are_refused():
    combined = ttq.variant_settings('ema+hinge')
    assert combined['g_ema'] == 0.999 and combined['loss'] == 'hinge' and combined['batch_size'] == 32
    with pytest.raises(SystemExit, match=r"Unknown variant 'ema\+fancy'"):
        ttq.variant_settings('ema+fancy')


def test_results_merge_rather_than_overwrite(tmp_path):
    path = str(tmp_path / 'results.json')
    ttq.update_results(path, rates={'mnist': {'old': dict(steps_per_s=10.0)}})
    ttq.update_results(path, run=dict(dataset='mnist', variant='old', seed=1, minutes=1, clock='steps', steps=600,
                                      scores=dict(swd=30.0), diverged=None))
    ttq.update_results(path, rates={'mnist': {'ema': dict(steps_per_s=9.0)}}, real={'mnist/1': dict(swd=15.0)})
    saved = json.loads(open(path).read())
    assert set(saved['rates']['mnist']) == {'old', 'ema'} and len(saved['runs']) == 1
    assert saved['real_vs_real'] == {'mnist/1': dict(swd=15.0)} and saved['machine']['cores'] >= 1


def test_a_mark_measured_again_replaces_the_earlier_one(tmp_path):
    path = str(tmp_path / 'results.json')
    run = dict(dataset='celeba', variant='old', seed=1, minutes=5, clock='steps', diverged=None)
    ttq.update_results(path, run=dict(run, steps=400, scores=dict(swd=50.0)))
    ttq.update_results(path, run=dict(run, seed=2, steps=400, scores=dict(swd=52.0)))
    ttq.update_results(path, run=dict(run, steps=690, scores=dict(swd=40.0)))
    saved = json.loads(open(path).read())
    assert sorted((r['seed'], r['steps']) for r in saved['runs']) == [(1, 690), (2, 400)]
    assert [(r['seed'], r['steps']) for r in saved['superseded']] == [(1, 400)]


def test_the_table_shows_mean_and_half_range_over_seeds(tmp_path, capsys):
    path = str(tmp_path / 'results.json')
    for seed, swd in ((1, 20.0), (2, 24.0)):
        ttq.update_results(path, run=dict(dataset='celeba', variant=ttq.NEW, seed=seed, minutes=5, clock='steps',
                                          steps=1000, scores=dict(swd=swd), diverged=None))
    ttq.update_results(path, real={'celeba/1': dict(swd=19.0), 'celeba/2': dict(swd=21.0), 'celeba@64/1': dict(swd=15.0)})
    ttq.main(['table', '--results', path])
    out = capsys.readouterr().out
    assert f'| celeba | **{ttq.NEW} (the new default)** | 5 | 2 | 1000 | 22.0 ± 2.0 |' in out
    assert '| celeba | real images | - | 2 | - | 20.0 ± 1.0 |' in out and '| celeba | real images @64 | - | 1 | - | 15.0 |' in out


def test_numbers_from_another_machine_say_so(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / 'results.json')
    run = dict(dataset='celeba', variant='old', seed=1, minutes=5, clock='steps', steps=900, diverged=None)
    ttq.update_results(path, run=dict(run, scores=dict(swd=30.0)))
    here = ttq.machine()
    monkeypatch.setattr(ttq, 'machine', lambda: dict(here, cpu='Other CPU'))
    ttq.update_results(path, rates={'celeba': {'ema': dict(steps_per_s=9.0)}},
                       run=dict(run, variant='ema', scores=dict(swd=28.0)))
    saved = json.loads(open(path).read())
    assert saved['machine'] == here and 'machine' not in saved['runs'][0]
    assert saved['runs'][1]['machine']['cpu'] == saved['rates']['celeba']['ema']['machine']['cpu'] == 'Other CPU'
    ttq.main(['table', '--results', path])
    out = capsys.readouterr().out
    assert f"({here['cpu']}; † on another machine of this kind (Other CPU" in out
    assert '| celeba | old | 5 |' in out and '| celeba | ema † | 5 |' in out


def test_the_table_is_written_between_the_markers_of_a_page(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text(f'# Title\n{ttq.TABLE_START}\nold table\n{ttq.TABLE_END}\nafter\n')
    ttq.write_between_markers(str(page), '| new | table |')
    assert page.read_text() == f'# Title\n{ttq.TABLE_START}\n| new | table |\n{ttq.TABLE_END}\nafter\n'
    (tmp_path / 'bare.md').write_text('no markers')
    with pytest.raises(SystemExit, match='has no'):
        ttq.write_between_markers(str(tmp_path / 'bare.md'), 'x')


def test_importing_the_benchmarks_leaves_the_environment_alone():
    """Other tests' notebook kernels inherit this process's environment: only a benchmark run as a script
    sets its own matplotlib backend."""
    code = ('import os; os.environ.pop("MPLBACKEND", None)\n'
            'import benchmarks.time_to_quality, benchmarks.ema_batch_norm, benchmarks.generator_dropout\n'
            'print(os.environ.get("MPLBACKEND"))')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == 'None'
