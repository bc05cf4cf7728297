"""Keep TensorFlow's C++ start-up chatter out of terminals, logs and notebook outputs, and nothing else.

TensorFlow prints absl lines while it loads (`I0000 ... oneDNN custom operations are on`, `Could not find
cuda drivers`, CPU-feature notes) before it reads TF_CPP_MIN_LOG_LEVEL, and its first device listing
prints `E0000 ... failed call to cuInit` on every machine without a GPU. No setting hides these. So
importing dcgan installs an import hook: the first `import tensorflow` in the process (whoever makes it)
runs with the process's file descriptor 2 captured, lists the devices once while still captured, and then
writes every captured line back to stderr except the known chatter below. Real warnings and errors pass,
and TF_CPP_MIN_LOG_LEVEL=1 keeps later C++ INFO lines out while C++ warnings still show.

One more line comes later: on CPUs with oneDNN, Grappler's remapper logs an ERROR when it optimises the
training graph on the first step (it cannot fuse the first convolution's bias and leaky ReLU, whose
gradient needs the unfused value) and trains on without that fusion. So the first step of a run
(dcgan.hooks) and the digit classifier's short training run under filtered_stderr too.
TF_CPP_MIN_LOG_LEVEL=0 turns all filtering off: you see everything.
"""
import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

LOG_LEVEL_ENV = 'TF_CPP_MIN_LOG_LEVEL'
LOG_LEVEL = '1'   # TensorFlow's C++ log: hide INFO, show warnings and errors (a value you set wins)


def absl_line(levels):
    """A pattern for TensorFlow's C++ log lines of these levels (of 'IWEF'), in absl's format before it is
    initialised ('I0000 00:00:1796131401.921020   18153 port.cc:153] ...') and after."""
    return re.compile(rf'^[{levels}]\d{{4}} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] '
                      rf'|^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [{levels}] \S+:\d+\] ')


ABSL_LINE = absl_line('IWEF')   # any TensorFlow C++ log line
ABSL_INFO = absl_line('I')      # an INFO line: at start-up, all of them are chatter
CHATTER = tuple(re.compile(pattern) for pattern in (
    r'^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$',
    r'^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$',
    r'\] failed call to cuInit: ',                                  # no GPU or no driver: the notebook says so
    r'\] Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for plugin',
    r'\] TF-TRT Warning: Could not find TensorRT$',
    r'\] computation placer already registered\.',
    r'\] remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout .* exist for missing node ',
))


def is_chatter(line):
    """Whether a line TensorFlow printed while loading is known start-up chatter (an INFO line or one of
    CHATTER), as opposed to a warning or error someone should read."""
    line = line.rstrip('\r\n')
    return bool(ABSL_INFO.match(line)) or any(pattern.search(line) for pattern in CHATTER)


def filtering():
    """Whether to filter at all: not when TF_CPP_MIN_LOG_LEVEL=0 asks for every line TensorFlow prints."""
    return os.environ.get(LOG_LEVEL_ENV) != '0'


@contextlib.contextmanager
def filtered_stderr():
    """Capture file descriptor 2 (C++ writes too) for the block, then write back all but the chatter."""
    if not filtering():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):   # no real stderr to capture (an embedded interpreter)
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors='replace').splitlines(keepends=True)
                    if not is_chatter(line)]
            if kept:
                sys.stderr.write(''.join(kept))
                sys.stderr.flush()


class QuietLoader(importlib.abc.Loader):
    """Runs the real loader of the tensorflow package under filtered_stderr, then steps aside."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader   # the package keeps its real loader
        with filtered_stderr():
            self.loader.exec_module(module)
            list_devices = getattr(getattr(module, 'config', None), 'list_physical_devices', None)
            if list_devices:
                list_devices()   # the CUDA probe prints on the first listing: let it print here


class QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level tensorflow package as the path finder does, with QuietLoader as its loader."""

    def find_spec(self, name, path=None, target=None):
        if name != 'tensorflow':
            return None
        uninstall()   # only the first import; the submodules load normally
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = QuietLoader(spec.loader)
        return spec


def uninstall():
    """Remove the import hook (it has done its job, or TensorFlow is loaded already)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, QuietTensorFlowFinder)]


def install():
    """Set TensorFlow's C++ log level (unless set) and hook the first import of tensorflow."""
    os.environ.setdefault(LOG_LEVEL_ENV, LOG_LEVEL)
    if 'tensorflow' not in sys.modules and not any(isinstance(f, QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowFinder())
