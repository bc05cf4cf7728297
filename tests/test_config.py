"""One configuration: every setting validated up front with one sentence per problem; the command line's
options, the notebook's parameters and the dataclass agree; the layout points one way."""
import ast
import glob
import os
import stat
import subprocess
import tokenize

import pytest

from dcgan import config, notebook
from dcgan.__main__ import main, parser
from dcgan.config import TrainConfig
from dcgan.errors import ConfigError
from dcgan.notebook import notebook_cells

ROOT = os.path.dirname(notebook.NOTEBOOK)

INVALID = [   # (settings, what the message must say): one per rule
    (dict(batch_size=0), 'batch_size must be at least 1'),
    (dict(z_dim=0), 'z_dim must be at least 1'),
    (dict(learning_rate=0.0), 'learning_rate must be greater than 0'),
    (dict(learning_rate=-1e-4), 'learning_rate must be greater than 0'),
    (dict(beta1=1.0), r'beta1 must be in \[0, 1\)'),
    (dict(beta1=-0.1), r'beta1 must be in \[0, 1\)'),
    (dict(seed=-1), r'seed must be at least 0 .*got -1'),
    (dict(smoothing=0.0), r'smoothing must be in \(0, 1\]'),
    (dict(smoothing=1.5), r'smoothing must be in \(0, 1\]'),
    (dict(image_size=30), 'image_size=30 is not one of 28, 32, 64'),
    (dict(keep_checkpoints=0), 'keep_checkpoints must be at least 1'),
    (dict(epochs=0), 'epochs must be at least 1'),
    (dict(max_steps=0), 'max_steps must be at least 1'),
    (dict(max_images=16, batch_size=32), r'max_images \(16\) must be at least batch_size \(32\)'),
    (dict(checkpoint_every=0), 'checkpoint_every must be at least 1'),
    (dict(print_every=0), 'print_every must be at least 1'),
    (dict(show_every=0), 'show_every must be at least 1'),
    (dict(metrics_every=0), 'metrics_every must be at least 1'),
    (dict(metrics_samples=1), 'metrics_samples must be at least 2'),
    (dict(z_distribution='cauchy'), "z_distribution='cauchy' is not one of normal, uniform"),
    (dict(dataset='cifar'), "dataset='cifar' is not one of mnist, celeba"),
    (dict(kernel=0), 'kernel must be at least 1'),
    (dict(g_activation='tanh'), "g_activation='tanh' is not one of lrelu, relu"),
    (dict(batch_size=32.5), 'batch_size must be int, got 32.5'),
    (dict(use_xla='yes'), "use_xla must be bool, got 'yes'"),
    (dict(epochs=True), 'epochs must be int, got True'),
]


@pytest.mark.parametrize('settings, message', INVALID, ids=[m for _, m in INVALID])
def test_each_invalid_setting_is_refused_with_one_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**settings).validate()


def test_every_problem_is_listed_at_once():
    problems = TrainConfig(batch_size=0, beta1=2.0, epochs=0).problems()
    assert len(problems) == 3 and all(p.endswith('.') for p in problems)


def test_the_defaults_are_valid_and_unknown_settings_are_named():
    assert TrainConfig().validate() == TrainConfig()
    with pytest.raises(ConfigError, match='unknown settings: lr'):
        config.from_dict({'lr': 0.1})


def test_a_data_set_smaller_than_one_batch_is_refused():
    with pytest.raises(ConfigError, match='has 8 images, fewer than batch_size=64'):
        TrainConfig().check_data(8)


def test_kinds_cover_every_setting():
    assert {config.kind(name) for name in config.SETTINGS} == set(config.KINDS)


def parameters_cell():
    """{name: value} of the notebook's papermill parameters cell."""
    tree = ast.parse(notebook_cells('parameters')[0])
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass   # os.environ.get(...)
    return values


def test_notebook_parameters_have_the_configs_defaults():
    values = parameters_cell()
    shared = [name for name in values if name in config.SETTINGS]
    assert len(shared) >= 15, shared
    for name in shared:
        assert values[name] == config.DEFAULTS[name], f'notebook {name} = {values[name]!r}, config default ' \
                                                      f'{config.DEFAULTS[name]!r}'
    assert values['mnist_epochs'] == config.DEFAULTS['epochs']
    assert values['preset'] == 'default' and values['new_run'] is False and values['allow_change'] == []


def test_command_line_options_are_generated_from_the_config_with_visible_defaults():
    train = parser()._subparsers._group_actions[0].choices['train']
    options = {a.dest: a for a in train._actions}
    for name, f in config.SETTINGS.items():
        assert name in options, f'dcgan train has no {config.flag(name)}'
        assert f'(default: {f.default})' in options[name].help
    text = train.format_help()
    assert '--learning-rate FLOAT' in text and '(default: 0.0004)' in text


def test_command_line_settings_override_the_preset():
    args = parser().parse_args(['train', '--preset', 'classic', '--kernel', '3', '--no-mixed-precision'])
    made = config.from_arguments(args)
    assert (made.kernel, made.g_filters, made.z_distribution, made.mixed_precision) == (3, 512, 'uniform', False)
    assert config.from_arguments(parser().parse_args(['train'])) == TrainConfig()


def test_invalid_command_line_settings_exit_2_with_the_reasons_and_no_traceback(tmp_path, capsys):
    code = main(['train', '--batch-size', '0', '--beta1', '1', '--run-dir', str(tmp_path / 'run')])
    err = capsys.readouterr().err
    assert code == 2 and 'batch_size must be at least 1' in err and 'beta1 must be in [0, 1)' in err
    assert 'Traceback' not in err and not (tmp_path / 'run').exists()


def test_the_notebooks_imports_cell_binds_what_its_functions_are_loaded_with():
    namespace = {}
    exec(compile(notebook_cells('imports')[0], 'imports', 'exec'), namespace)
    for name, value in notebook.function_globals().items():
        assert namespace.get(name) is value, f'the imports cell must bind {name} as dcgan.notebook does'


def test_the_functions_load_once_into_one_object_without_the_imports_cell():
    model = notebook.load()
    assert model is notebook.load() and set(notebook.FUNCTIONS) == set(vars(model))
    assert 'helper' not in model.train.__globals__ and 'tests' not in model.train.__globals__


def git_grep(pattern, *paths):
    found = subprocess.run(['git', 'grep', '--untracked', '-n', '-E', pattern, '--', *paths], cwd=ROOT, capture_output=True,
                           text=True)
    return found.stdout


def test_imports_point_one_way_and_nothing_edits_sys_path():
    assert git_grep(r'^\s*(import helper|from helper )', 'dcgan') == ''
    assert git_grep(r'sys\.path\.(insert|append)', '*.py', '*.ipynb') == ''


def test_one_atomic_write_helper():
    """Files are written through dcgan.atomic, not with hand-made temporary names."""
    hits = git_grep(r"\.tmp['.]|mkstemp|mkdtemp", 'dcgan', 'helper.py').splitlines()
    assert hits and all(h.startswith('dcgan/atomic.py:') for h in hits), hits


def test_the_literal_image_size_lives_in_one_place():
    """28 appears as a number in the code of dcgan/ and helper.py only where IMAGE_SIZE is defined."""
    places = []
    for path in glob.glob(os.path.join(ROOT, 'dcgan', '**', '*.py'), recursive=True) + [os.path.join(ROOT, 'helper.py')]:
        with open(path) as f:
            places += [(os.path.relpath(path, ROOT), t.start[0]) for t in tokenize.generate_tokens(f.readline)
                       if t.type == tokenize.NUMBER and t.string == '28']
    assert {p for p, _ in places} == {'dcgan/config.py'}, places


@pytest.mark.parametrize('umask, mode', [(0o022, 0o644), (0o077, 0o600)])
def test_atomic_files_get_the_mode_any_new_file_gets(tmp_path, umask, mode):
    """A result written atomically is as readable as a file opened for writing would be (mkstemp's 0600 would
    hide a Docker run's pictures from the host's user), and no temporary file stays behind."""
    from dcgan import atomic
    old = os.umask(umask)
    try:
        atomic.write_text('new', str(tmp_path / 'note.txt'))
        atomic.write_json({'a': 1}, str(tmp_path / 'sub' / 'info.json'))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'note.txt').st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / 'sub' / 'info.json').st_mode) == mode
    assert sorted(os.listdir(tmp_path)) == ['note.txt', 'sub'] and os.listdir(tmp_path / 'sub') == ['info.json']
