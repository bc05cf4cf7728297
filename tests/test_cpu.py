"""CPU facts and what the mixed_precision setting (True, False, None = auto) turns into on this machine."""
from dcgan import cpu, training
from dcgan.config import TrainConfig


def test_cpuinfo_reads_the_first_processor(tmp_path):
    path = tmp_path / 'cpuinfo'
    path.write_text('vendor_id\t: AuthenticAMD\ncpu MHz\t\t: 2596.1\nflags\t\t: fma avx2\n\n'
                    'vendor_id\t: Other\n')
    assert cpu.cpuinfo(str(path)) == {'vendor_id': 'AuthenticAMD', 'cpu MHz': '2596.1', 'flags': 'fma avx2'}
    assert cpu.cpuinfo(str(tmp_path / 'missing')) == {}


def test_bfloat16_needs_avx512_bf16_or_amx():
    assert cpu.has_bfloat16({'flags': 'fma avx2 avx512f avx512_bf16'})
    assert cpu.has_bfloat16({'flags': 'avx512f amx_bf16 amx_tile'})
    assert not cpu.has_bfloat16({'flags': 'fma avx2 avx512f avx512_vnni'})
    assert not cpu.has_bfloat16({})


def test_mixed_precision_picks_float16_on_gpu_bfloat16_on_capable_cpu_else_float32(monkeypatch):
    rewrites = training.rewriter_config_pb2.RewriterConfig
    monkeypatch.setattr(training, 'has_gpu', lambda: False)
    monkeypatch.setattr(cpu, 'has_bfloat16', lambda info=None: True)
    options = training.session_config(mixed_precision=True).graph_options.rewrite_options
    assert options.auto_mixed_precision_onednn_bfloat16 == rewrites.ON
    assert options.auto_mixed_precision != rewrites.ON
    assert not isinstance(training.adam(0.1, 0.5, mixed_precision=True),
                          training.tf.mixed_precision.MixedPrecisionLossScaleOptimizer)
    off = training.session_config(mixed_precision=False).graph_options.rewrite_options
    assert off.auto_mixed_precision_onednn_bfloat16 != rewrites.ON

    monkeypatch.setattr(cpu, 'has_bfloat16', lambda info=None: False)
    options = training.session_config(mixed_precision=True).graph_options.rewrite_options
    assert rewrites.ON not in (options.auto_mixed_precision, options.auto_mixed_precision_onednn_bfloat16)
    assert 'staying float32' in training.describe_device(mixed_precision=True)[-1]

    monkeypatch.setattr(training, 'has_gpu', lambda: True)
    options = training.session_config(mixed_precision=True).graph_options.rewrite_options
    assert options.auto_mixed_precision == rewrites.ON
    assert isinstance(training.adam(0.1, 0.5, mixed_precision=True),
                      training.tf.mixed_precision.MixedPrecisionLossScaleOptimizer)


def test_session_threads_match_the_cores():
    config = training.session_config()
    assert config.intra_op_parallelism_threads == cpu.cores() and config.inter_op_parallelism_threads == 2


def test_auto_mixed_precision_is_bfloat16_only_on_a_cpu_that_has_it_and_is_reported(monkeypatch):
    rewrites = training.rewriter_config_pb2.RewriterConfig
    assert TrainConfig().mixed_precision is None, 'the default is auto'
    monkeypatch.setattr(training, 'has_gpu', lambda: False)
    monkeypatch.setattr(cpu, 'has_bfloat16', lambda info=None: True)
    assert training.mixed_precision_kind(None) == 'bfloat16'
    assert training.session_config(mixed_precision=None).graph_options.rewrite_options \
        .auto_mixed_precision_onednn_bfloat16 == rewrites.ON
    assert 'Mixed precision: auto: bfloat16' in '\n'.join(training.describe_device(mixed_precision=None))
    assert training.mixed_precision_kind(False) is None
    monkeypatch.setattr(cpu, 'has_bfloat16', lambda info=None: False)
    assert training.mixed_precision_kind(None) is None
    assert 'Mixed precision: auto: float32' in '\n'.join(training.describe_device(mixed_precision=None))
    monkeypatch.setattr(training, 'has_gpu', lambda: True)
    assert training.mixed_precision_kind(None) is None and training.mixed_precision_kind(True) == 'float16'
    assert not isinstance(training.adam(0.1, 0.5, mixed_precision=None),
                          training.tf.mixed_precision.MixedPrecisionLossScaleOptimizer)
