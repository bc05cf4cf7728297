"""The project's files agree with each other: requirements, environment, lock, README commands and links,
CI, notebook."""
import os
import re
import tomllib

import nbformat
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dcgan.notebook import NOTEBOOK

ROOT = os.path.dirname(NOTEBOOK)
REQUIREMENTS_EXTRAS = ('course', 'serve', 'dev')   # the extras requirements.txt installs, which the lock pins
LOCK = 'requirements-lock.txt'
README_MAX_LINES = 160
QUICK_START_BY_LINE = 20                  # the README's run command appears this early


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
    assert [line for line in lines if line != '-e.'] == pyproject_requirements(*REQUIREMENTS_EXTRAS)


def test_environment_yml_pins_the_same_packages_as_requirements():
    environment = yaml.safe_load(read('environment.yml'))
    pip_lists = [d['pip'] for d in environment['dependencies'] if isinstance(d, dict) and 'pip' in d]
    assert len(pip_lists) == 1
    assert requirement_lines(pip_lists[0]) == requirement_lines(read('requirements.txt').splitlines())
    assert any(str(d).startswith('python=3') for d in environment['dependencies'])


def test_every_requirement_has_a_lower_bound_and_tensorflow_stays_on_its_major_version():
    for spec in pyproject_requirements('course', 'serve', 'dev', 'gpu'):
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
    runs = [c for c in readme_commands() if re.search(r'papermill .*dlnd_face_generation\.ipynb runs/', c)]
    assert len(runs) == 1, 'the README must give the command that runs the notebook into runs/'


def test_top_level_layout():
    for name in ('dlnd_face_generation.ipynb', 'helper.py', 'problem_unittests.py', 'data/README.md', 'runs/README.md',
                 'assets', 'environment.yml', 'README.md', 'requirements.txt', '.ci/run'):
        assert os.path.exists(os.path.join(ROOT, name)), name


def test_notebook_is_committed_without_outputs_and_with_parameters():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == 'code']
    assert all(not c.outputs and c.execution_count is None for c in code), 'clear the outputs before committing'
    assert sum('parameters' in c.metadata.get('tags', []) for c in code) == 1


def lock_pins():
    """{canonical name: version} of the lock file's 'name==version' lines."""
    pins = {}
    for line in read(LOCK).splitlines():
        line = line.split('#')[0].strip()
        if line:
            name, sign, version = line.partition('==')
            assert sign and version, f'{LOCK}: {line!r} is not name==version'
            pins[canonicalize_name(name)] = version
    return pins


def lock_command():
    """The pip-compile command the lock's header says made it."""
    lines = read(LOCK).splitlines()
    return next(lines[i + 2].lstrip('#').strip() for i, line in enumerate(lines) if 'by the following command' in line)


def test_the_lock_pins_every_requirement_at_a_version_pyproject_allows():
    pins = lock_pins()
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    specs = project['dependencies'] + [s for e in REQUIREMENTS_EXTRAS for s in project['optional-dependencies'][e]]
    for spec in specs:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f'{LOCK} does not pin {requirement.name}: refresh it (docs/install.md)'
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f'{LOCK} pins {name}=={pins[name]}, which pyproject.toml\'s {spec!r} excludes: refresh it (docs/install.md)'


def test_the_lock_was_made_from_pyproject_with_the_extras_requirements_txt_installs():
    command = lock_command()
    assert command.startswith('pip-compile ') and command.endswith(' pyproject.toml')
    assert sorted(re.findall(r'--extra=(\w+)', command)) == sorted(REQUIREMENTS_EXTRAS)
    assert f'--output-file={LOCK}' in command and '--strip-extras' in command
    assert command in read('docs/install.md'), 'docs/install.md must give the command that refreshes the lock'


def test_ci_installs_from_the_lock():
    tests = [c for c in readme_commands() if 'pytest' in c]
    assert f'.venv/bin/pip install -r requirements.txt -c {LOCK}' in tests[0]


def test_the_readme_is_short_with_the_quick_start_first():
    lines = read('README.md').splitlines()
    assert len(lines) < README_MAX_LINES, f'README.md has {len(lines)} lines: move details to docs/'
    run = next(i for i, line in enumerate(lines, 1) if line.startswith('python3 -m venv .venv') and 'papermill' in line)
    assert run <= QUICK_START_BY_LINE
    assert sum('](assets/' in line or 'src="assets/' in line for line in lines) >= 1, 'one picture of results'


def markdown_links(name):
    """The relative link and image targets of a Markdown file (no URLs, no anchors)."""
    text = read(name)
    targets = re.findall(r'\]\(([^)\s]+)\)', text) + re.findall(r'src="([^"]+)"', text)
    return [t.split('#')[0] for t in targets if not re.match(r'[a-z]+:', t) and not t.startswith('#')]


def test_every_relative_link_of_the_readme_and_the_docs_leads_to_a_file():
    pages = ['README.md', 'assets/README.md', 'data/README.md', 'runs/README.md'] + [
        os.path.join('docs', name) for name in sorted(os.listdir(os.path.join(ROOT, 'docs'))) if name.endswith('.md')]
    for page in pages:
        for target in markdown_links(page):
            path = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), target))
            assert os.path.exists(path), f'{page} links to {target}, which does not exist'
    linked = {os.path.normpath(t) for t in markdown_links('README.md')}
    for name in os.listdir(os.path.join(ROOT, 'docs')):
        assert os.path.join('docs', name) in linked, f'the README links to no docs/{name}'


def test_the_readme_also_shows_how_to_use_archives_you_have():
    second = [line.strip() for line in read('README.md').splitlines() if line.startswith('.venv/bin/papermill')]
    assert len(second) == 1 and '-p mirror_dir ../shared/datasets/mnist' in second[0]
    assert '-p celeba_source ../shared/datasets/celeba/' in second[0]
    run = [c for c in readme_commands() if 'papermill' in c][0]
    assert second[0].startswith(run.split(' && ')[-1] + ' -p ')
