"""The throughput benchmark: its peak estimate, and each peer implementation runs a few steps in its own
process with the graph-mode default's parameter count and forward multiply-adds."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks import train_throughput as BENCHMARK

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MACS = [27_345_920, 15_015_936]     # generator, discriminator: dcgan/flops.py on the default model


def run_only(name):
    """The JSON result of a tiny `--only name` run in a fresh process."""
    command = [sys.executable, '-m', 'benchmarks.train_throughput', '--only', name, '--batch-size', '4', '--windows', '1',
               '--steps-per-window', '2', '--warmup', '1']
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads([line for line in output.splitlines() if line.startswith(BENCHMARK.RESULT)][-1][7:])


def test_flops_per_cycle_follows_vendor_and_flags():
    assert BENCHMARK.flops_per_cycle('AuthenticAMD', ['avx2', 'fma', 'avx512f'])[0] == 32
    assert BENCHMARK.flops_per_cycle('GenuineIntel', ['avx2', 'fma', 'avx512f'])[0] == 64
    assert BENCHMARK.flops_per_cycle('GenuineIntel', ['avx', 'avx2', 'fma'])[0] == 32


def test_rounds_interleave_the_rows_and_pool_their_windows(monkeypatch):
    calls = []

    def fake_run(name, args):
        calls.append(name)
        seconds = {'a': [2.0, 4.0], 'b': [1.0, 1.0]}[name]
        return dict(seconds=seconds, images_per_second=0.0, peak_rss_mb=len(calls))
    monkeypatch.setattr(BENCHMARK, 'run_subprocess', fake_run)
    args = BENCHMARK.parse_args(['--rounds', '3', '--batch-size', '10', '--steps-per-window', '2'])
    results = BENCHMARK.run_rounds(['a', 'b'], args)
    assert calls == ['a', 'b', 'b', 'a', 'a', 'b']
    assert results['a']['seconds'] == [2.0, 4.0] * 3 and results['a']['images_per_second'] == 20 / 3.0
    assert results['b']['images_per_second'] == 20.0 and results['b']['peak_rss_mb'] == 6
    assert len(results['a']['round_rates']) == 3


def test_a_row_that_fails_in_any_round_is_reported_failed(monkeypatch):
    for outcomes in ([dict(error='failed'), dict(seconds=[1.0], images_per_second=1.0, peak_rss_mb=1)],
                     [dict(seconds=[1.0], images_per_second=1.0, peak_rss_mb=1), dict(error='failed')]):
        replies = iter(outcomes)
        monkeypatch.setattr(BENCHMARK, 'run_subprocess', lambda name, args: next(replies))
        assert BENCHMARK.run_rounds(['a'], BENCHMARK.parse_args(['--rounds', '2'])) == {'a': {'error': 'failed'}}


def test_graph_mode_step_runs_and_counts_the_default_model():
    result = run_only('graph')
    assert result['parameters'] == BENCHMARK.DEFAULT_PARAMETERS and result['macs'] == DEFAULT_MACS
    assert result['flops_per_image'] == 344_266_752 and result['images_per_second'] > 0


def test_tf_function_step_is_the_default_architecture():
    result = run_only('tf2')
    assert result['parameters'] == BENCHMARK.DEFAULT_PARAMETERS and result['macs'] == DEFAULT_MACS
    assert result['images_per_second'] > 0


def test_pytorch_step_is_the_default_architecture_or_skips():
    result = run_only('torch')
    if 'skipped' in result:
        pytest.importorskip('torch')   # only a missing torch may skip the row
    assert result['parameters'] == BENCHMARK.DEFAULT_PARAMETERS and result['macs'] == DEFAULT_MACS
    assert result['images_per_second'] > 0
