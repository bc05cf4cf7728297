"""The notebook is the one home of the model: this loads its function cells for the command line, the
benchmarks and the tests, once per process.

Only the cells tagged 'functions' are executed, into a namespace holding exactly the names those cells
use (function_globals: the same objects the notebook's imports cell imports, which a test checks); the
imports cell and its side effects are not run. The result is one NotebookModel with named attributes.
"""
import functools
import os
from dataclasses import dataclass
from typing import Callable

import nbformat

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'dlnd_face_generation.ipynb')
FUNCTIONS = ('model_inputs', 'discriminator', 'generator', 'model_loss', 'model_opt', 'train')


@dataclass(frozen=True)
class NotebookModel:
    """The notebook's six graph-building functions; call them with keyword arguments."""
    model_inputs: Callable
    discriminator: Callable
    generator: Callable
    model_loss: Callable
    model_opt: Callable
    train: Callable

    @classmethod
    def from_namespace(cls, namespace):
        """The six functions of a namespace (the notebook's own globals(), or a loaded one)."""
        missing = [name for name in FUNCTIONS if not callable(namespace.get(name))]
        if missing:
            raise NameError(f'The notebook does not define {", ".join(missing)}: run its function cells first.')
        return cls(**{name: namespace[name] for name in FUNCTIONS})


def function_globals():
    """The names the notebook's function cells use, bound as the notebook's imports cell binds them."""
    import numpy as np
    import tensorflow.compat.v1 as tf

    from dcgan import pictures, training
    from dcgan.augment import augment_pair
    from dcgan.config import IMAGE_SIZE, LABEL_SMOOTHING
    from dcgan.hooks import Hooks
    from dcgan.ops import batch_norm, conv2d, deconv2d, dense, dropout, flatten, lrelu
    return dict(np=np, tf=tf, pictures=pictures, training=training, augment_pair=augment_pair, IMAGE_SIZE=IMAGE_SIZE,
                LABEL_SMOOTHING=LABEL_SMOOTHING, Hooks=Hooks, batch_norm=batch_norm, conv2d=conv2d,
                deconv2d=deconv2d, dense=dense, dropout=dropout, flatten=flatten, lrelu=lrelu)


def notebook_cells(tag, path=NOTEBOOK):
    """The sources of the notebook's code cells that carry `tag`."""
    notebook = nbformat.read(path, as_version=4)
    return [c.source for c in notebook.cells if c.cell_type == 'code' and tag in c.metadata.get('tags', [])]


def load_namespace(path=NOTEBOOK):
    """A fresh namespace holding function_globals() and what the notebook's function cells define."""
    namespace = dict(function_globals(), __name__='dlnd_face_generation')
    for source in notebook_cells('functions', path):
        exec(compile(source, path, 'exec'), namespace)
    return namespace


@functools.lru_cache(maxsize=None)
def load(path=NOTEBOOK):
    """The notebook's model functions, loaded once per process."""
    return NotebookModel.from_namespace(load_namespace(path))
