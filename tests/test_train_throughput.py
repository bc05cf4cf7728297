"""The throughput benchmark: its peak estimate, and each peer implementation runs a few steps in its own
process with the graph-mode default's parameter count and forward multiply-adds."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'benchmarks', 'train_throughput.py')
SPEC = importlib.util.spec_from_file_location('train_throughput', SCRIPT)
BENCHMARK = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(BENCHMARK)
DEFAULT_MACS = [27_345_920, 15_015_936]     # generator, discriminator: dcgan/flops.py on the default model


def run_only(name):
    """The JSON result of a tiny `--only name` run in a fresh process."""
    command = [sys.executable, SCRIPT, '--only', name, '--batch-size', '4', '--windows', '1',
               '--steps-per-window', '2', '--warmup', '1']
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads([line for line in output.splitlines() if line.startswith(BENCHMARK.RESULT)][-1][7:])


def test_flops_per_cycle_follows_vendor_and_flags():
    assert BENCHMARK.flops_per_cycle('AuthenticAMD', ['avx2', 'fma', 'avx512f'])[0] == 32
    assert BENCHMARK.flops_per_cycle('GenuineIntel', ['avx2', 'fma', 'avx512f'])[0] == 64
    assert BENCHMARK.flops_per_cycle('GenuineIntel', ['avx', 'avx2', 'fma'])[0] == 32


def test_cpuinfo_reads_the_first_processor(tmp_path):
    path = tmp_path / 'cpuinfo'
    path.write_text('vendor_id\t: AuthenticAMD\ncpu MHz\t\t: 2596.1\nflags\t\t: fma avx2\n\n'
                    'vendor_id\t: Other\n')
    assert BENCHMARK.cpuinfo(str(path)) == {'vendor_id': 'AuthenticAMD', 'cpu MHz': '2596.1', 'flags': 'fma avx2'}


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
