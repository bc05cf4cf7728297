"""What a newcomer sees in a terminal or a log: no TensorFlow start-up chatter (real warnings and errors
still shown), and progress as steady lines wherever no terminal redraws them."""
import os
import subprocess
import sys
import textwrap

import pytest

from dcgan import progress, quiet
from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)

# Lines TensorFlow 2.21 printed on this project's machines (and GPU machines) while it loaded.
CHATTER = [
    'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR',
    'I0000 00:00:1796131401.921020   18153 port.cc:153] oneDNN custom operations are on. You may see slightly '
    'different numerical results due to floating-point round-off errors from different computation orders.',
    'I0000 00:00:1796131401.921335   18153 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU '
    'will not be used.',
    '2025-01-01 12:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.',
    'To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the '
    'appropriate compiler flags.',
    'E0000 00:00:1796131404.778782   18153 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: '
    'Failed call to cuInit: UNKNOWN ERROR (303)',
    'E0000 00:00:1711.5   1 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory '
    'for plugin cuDNN when one has already been registered',
    'W0000 00:00:1711.5   1 py_utils.cc:38] TF-TRT Warning: Could not find TensorRT',
    "E0000 00:00:1796131823.403709   22743 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: "
    "Mutation::Apply error: fanout 'gradients/discriminator/LeakyRelu_grad/LeakyReluGrad' exist for missing "
    "node 'discriminator/conv1/BiasAdd'.",
]
REAL = [
    'W0000 00:00:1796131404.1   18153 cpu_allocator_impl.cc:83] Allocation of 1073741824 exceeds 10% of free '
    'system memory.',
    'E0000 00:00:1796131404.1   18153 meta_optimizer.cc:967] layout failed: INVALID_ARGUMENT: Size of values 0 '
    'does not match size of permutation 4.',
    'F0000 00:00:1796131404.1   18153 cpu_feature_guard.cc:36] The TensorFlow library was compiled to use AVX '
    'instructions, but these are not available on your machine.',
    "/work/project/train.py:6: UserWarning: a real Python warning",
    'Traceback (most recent call last):',
]


@pytest.mark.parametrize('line', CHATTER)
def test_start_up_chatter_is_recognised(line):
    assert quiet.is_chatter(line + '\n')


@pytest.mark.parametrize('line', REAL)
def test_real_warnings_and_errors_are_not_chatter(line):
    assert not quiet.is_chatter(line + '\n')


def run_python(code, **env):
    """Run `code` in a fresh interpreter of this environment; return (stdout, stderr)."""
    environment = {k: v for k, v in os.environ.items() if k != quiet.LOG_LEVEL_ENV}
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          env={**environment, **env}, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


FILTER_DEMO = '''
    import os
    from dcgan import quiet
    with quiet.filtered_stderr():
        os.write(2, b"I0000 00:00:1796131401.921020   18153 port.cc:153] oneDNN custom operations are on.\\n")
        os.write(2, b"W0000 00:00:1796131404.1   18153 cpu_allocator_impl.cc:83] Allocation exceeds 10%.\\n")
        print('a Python warning on sys.stderr', file=__import__('sys').stderr)
    os.write(2, b"after the block\\n")
'''


def test_the_filter_drops_chatter_and_passes_real_lines_written_to_file_descriptor_2():
    _, err = run_python(FILTER_DEMO)
    assert err.splitlines() == ['W0000 00:00:1796131404.1   18153 cpu_allocator_impl.cc:83] Allocation exceeds 10%.',
                                'a Python warning on sys.stderr', 'after the block']


def test_log_level_0_shows_everything():
    _, err = run_python(FILTER_DEMO, TF_CPP_MIN_LOG_LEVEL='0')
    assert 'oneDNN custom operations are on' in err


def test_importing_tensorflow_after_dcgan_prints_nothing_and_keeps_tensorflow_working():
    out, err = run_python('''
        import dcgan
        import tensorflow.compat.v1 as tf
        tf.disable_eager_execution()
        with tf.Session() as sess:
            print(sess.run(tf.constant(2.0) * 3))
        import sys
        print(type(sys.modules['tensorflow'].__loader__).__name__, sys.modules['tensorflow'].__spec__.name)
    ''')
    assert out.split() == ['6.0', 'SourceFileLoader', 'tensorflow']
    assert err == '', err


def test_progress_without_a_terminal_writes_one_line_per_redraw():
    out, _ = run_python('''
        from dcgan.progress import progress
        for _ in progress(range(3), desc='Work', unit='step', mininterval=0):
            pass
    ''')
    assert '\r' not in out
    lines = out.splitlines()
    assert lines[0].startswith('Work:   0%|') and lines[-1].startswith('Work: 100%|##########| 3/3')
    assert len(lines) >= 4 and all(line.startswith('Work: ') for line in lines)


def test_line_stream_turns_carriage_returns_into_lines_without_padding_or_repeats():
    class Sink:
        text = ''

        def write(self, text):
            self.text += text

        def flush(self):
            pass
    sink = Sink()
    stream = progress.LineStream(sink)
    for text in ('\rWork:  50%|#####     | 1/2', '\rWork:  50%|#####     | 1/2', '\rWork: 100%|##########| 2/2   ',
                 '\n'):
        stream.write(text)
    assert sink.text == 'Work:  50%|#####     | 1/2\nWork: 100%|##########| 2/2\n'
