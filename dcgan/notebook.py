"""The notebook is the one home of the model: this loads its function cells for the command line and tests.

Cells tagged 'imports' and 'functions' in dlnd_face_generation.ipynb define model_inputs, discriminator,
generator, model_loss, model_opt and train; executing them gives those functions without a copy.
"""
import os

import nbformat

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'dlnd_face_generation.ipynb')


def notebook_cells(tag, path=NOTEBOOK):
    """The sources of the notebook's code cells that carry `tag`."""
    notebook = nbformat.read(path, as_version=4)
    return [c.source for c in notebook.cells if c.cell_type == 'code' and tag in c.metadata.get('tags', [])]


def load_notebook_functions(path=NOTEBOOK):
    """A namespace holding what the notebook's 'imports' and 'functions' cells define."""
    namespace = {'__name__': 'dlnd_face_generation'}
    for source in notebook_cells('imports', path) + notebook_cells('functions', path):
        exec(compile(source, path, 'exec'), namespace)
    return namespace
