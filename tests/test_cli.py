"""The `dcgan` command follows the usual conventions: $DLND_DATA_DIR, the notebook's speed options,
--version, documented exit codes, and no TensorFlow chatter in what it prints."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import tensorflow.compat.v1 as tf
from test_sources import serve_fixture_data

from dcgan import __version__, config, errors, quiet, training
from dcgan.__main__ import DATA_DIR_ENV, parser
from dcgan.data import sources
from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)
BIN = os.path.dirname(sys.executable)
DCGAN = os.path.join(BIN, 'dcgan')   # the console script pyproject.toml declares


def environment(**changes):
    """This process's environment without TF_CPP_MIN_LOG_LEVEL (as a user has it), with `changes`."""
    env = {k: v for k, v in os.environ.items() if k != quiet.LOG_LEVEL_ENV}
    return {**env, **changes}


def dcgan(*args, cwd=ROOT, **env):
    return subprocess.run([DCGAN, *args], cwd=cwd, capture_output=True, text=True, env=environment(**env),
                          timeout=600)


def test_train_downloads_into_the_data_dir_of_the_environment_and_prints_no_tensorflow_lines(tmp_path,
                                                                                            http_server):
    served, url = http_server
    table = serve_fixture_data(served)
    work, data_home = tmp_path / 'work', tmp_path / 'data-home'
    work.mkdir()
    done = dcgan('train', '--dataset', 'mnist', '--max-steps', '2', '--batch-size', '8', '--metrics-samples', '8',
                 cwd=work, **{DATA_DIR_ENV: str(data_home), sources.DOWNLOAD_URL_ENV: url,
                              sources.CHECKSUMS_ENV: str(table)})
    assert done.returncode == 0, done.stderr
    assert {'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 'mnist', 'cache'} <= set(os.listdir(data_home))
    assert sorted(os.listdir(work)) == ['runs'] and os.path.isdir(work / 'runs' / 'mnist' / 'checkpoints')
    out = done.stdout
    assert 'train-images-idx3-ubyte.gz: 100%|' in out and 'Training: 100%|' in out and '\r' not in out
    assert 'Labels for the digits' in out and 'Trained to step 2' in out
    noise = [line for line in done.stderr.splitlines() if quiet.ABSL_LINE.match(line) or 'absl::' in line]
    assert noise == [], done.stderr


def test_the_data_dir_option_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, '/srv/datasets')
    assert parser().parse_args(['train']).data_dir == '/srv/datasets'
    monkeypatch.delenv(DATA_DIR_ENV)
    assert parser().parse_args(['train']).data_dir == 'data'
    assert parser().parse_args(['train', '--data-dir', 'elsewhere']).data_dir == 'elsewhere'


def test_the_notebooks_speed_options_are_options_of_train():
    args = parser().parse_args(['train', '--xla', '--mixed-precision'])
    made = config.from_arguments(args)
    assert made.use_xla is True and made.mixed_precision is True
    assert config.from_arguments(parser().parse_args(['train', '--no-xla'])).use_xla is False
    assert config.from_arguments(parser().parse_args(['train', '--use-xla'])).use_xla is True


def test_version():
    done = dcgan('--version')
    assert (done.returncode, done.stdout.strip()) == (0, f'dcgan {__version__}')


@pytest.mark.parametrize('args, code, says', [
    (('train', '--batch-size', 'many'), 2, "argument --batch-size: invalid int value: 'many'"),
    (('info', 'no-such-run'), 2, 'error: no-such-run holds no run'),
    (('frobnicate',), 2, "invalid choice: 'frobnicate'"),
    (('generate', '--pretrained', 'mnist', '--seed', '-1', '--out', 'x.png'), 2, 'argument --seed: must be at least 0'),
])
def test_bad_input_exits_2_with_one_message_and_no_traceback(args, code, says):
    done = dcgan(*args)
    assert done.returncode == code and says in done.stderr and 'Traceback' not in done.stderr


def test_the_exit_codes_are_documented_where_users_look():
    codes = {0, 1, errors.EXIT_USER_ERROR, errors.EXIT_INTERRUPTED}
    help_text = dcgan('--help').stdout
    with open(os.path.join(ROOT, 'README.md')) as f:
        readme = f.read()
    documented = readme.split('\nExit codes:')[1].split('\n\n')[0]   # the README's paragraph
    for code in codes:
        assert f' {code} ' in help_text.split('Exit codes:')[1], code
        assert f'`{code}`' in documented, code


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_tensorboard_serves_the_runs_folder_without_tensorflow_lines(tmp_path):
    with tf.Graph().as_default():
        writer = training.board_writer(str(tmp_path / 'runs' / 'mnist'))
        training.log_scalars(writer, 1, {'loss/generator': 0.5})
        writer.close()
    port = free_port()
    board = subprocess.Popen([DCGAN, 'tensorboard', '--host', '127.0.0.1', '--port', str(port)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
    try:
        deadline, tags = time.monotonic() + 120, None
        while tags is None and time.monotonic() < deadline and board.poll() is None:
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/data/plugin/scalars/tags', timeout=5) as answer:
                    tags = answer.read().decode()
            except OSError:
                time.sleep(0.5)
    finally:
        board.terminate()
        _, err = board.communicate(timeout=60)
    assert tags is not None, err
    assert '"mnist/tensorboard"' in tags and '"loss/generator"' in tags
    assert 'TensorBoard' in err and f'http://127.0.0.1:{port}/' in err
    assert not [line for line in err.splitlines() if quiet.ABSL_LINE.match(line) or 'absl::' in line], err


def test_options_that_no_command_knows_are_refused():
    done = dcgan('info', 'runs/mnist', '--logdir', 'runs')
    assert done.returncode == 2 and 'unrecognized arguments: --logdir runs' in done.stderr
