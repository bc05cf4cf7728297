"""The project's files agree with each other: requirements, environment, README commands, CI, notebook."""
import os
import re
import tomllib

import nbformat
import yaml

from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)


def read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def requirement_lines(lines):
    """Normalised 'name>=version' specs, ignoring comments and blank lines."""
    return sorted(re.sub(r'\s+', '', line).lower() for line in lines if line.strip() and not line.startswith('#'))


def pyproject_requirements(*extras):
    """pyproject.toml's dependencies plus those of `extras`, normalised."""
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    specs = project['dependencies'] + [s for e in extras for s in project['optional-dependencies'][e]]
    return requirement_lines(specs)


def test_requirements_txt_is_pyproject_with_the_course_and_dev_extras_then_the_project():
    lines = requirement_lines(read('requirements.txt').splitlines())
    assert '-e.' in lines, 'requirements.txt must install the project itself (-e .)'
    assert [line for line in lines if line != '-e.'] == pyproject_requirements('course', 'dev')


def test_environment_yml_pins_the_same_packages_as_requirements():
    environment = yaml.safe_load(read('environment.yml'))
    pip_lists = [d['pip'] for d in environment['dependencies'] if isinstance(d, dict) and 'pip' in d]
    assert len(pip_lists) == 1
    assert requirement_lines(pip_lists[0]) == requirement_lines(read('requirements.txt').splitlines())
    assert any(str(d).startswith('python=3') for d in environment['dependencies'])


def test_every_requirement_has_a_lower_bound_and_tensorflow_stays_on_its_major_version():
    for spec in pyproject_requirements('course', 'dev', 'gpu'):
        assert '>=' in spec, f'{spec} needs a lower bound'
    assert all(',<3' in s for s in pyproject_requirements('gpu') if s.startswith('tensorflow'))


def readme_commands():
    """The shell commands in the README's code blocks that set up a fresh machine."""
    return [line.strip() for line in read('README.md').splitlines() if line.startswith('python3 -m venv .venv')]


def test_ci_runs_the_readme_test_command():
    tests = [c for c in readme_commands() if 'pytest' in c]
    assert len(tests) == 1, 'the README must give exactly one test command'
    assert tests[0] in read('.ci/run').splitlines()


def test_readme_run_command_executes_the_notebook():
    runs = [c for c in readme_commands() if 'papermill dlnd_face_generation.ipynb' in c]
    assert runs, 'the README must give the command that runs the notebook'


def test_top_level_layout():
    for name in ('dlnd_face_generation.ipynb', 'helper.py', 'problem_unittests.py', 'data/README.md',
                 'assets', 'environment.yml', 'README.md', 'requirements.txt', '.ci/run'):
        assert os.path.exists(os.path.join(ROOT, name)), name


def test_notebook_is_committed_without_outputs_and_with_parameters():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == 'code']
    assert all(not c.outputs and c.execution_count is None for c in code), 'clear the outputs before committing'
    assert sum('parameters' in c.metadata.get('tags', []) for c in code) == 1
