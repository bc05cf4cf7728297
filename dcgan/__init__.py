"""dcgan: the machinery behind dlnd_face_generation.ipynb: data, configuration, training hooks, metrics,
pictures, checkpoints and the command line (`dcgan --help`)."""
from dcgan import quiet

# TensorFlow's C++ start-up lines are chatter, not problems: hide them wherever the project starts (the
# command line, the notebook, the benchmarks, the tests all import dcgan before TensorFlow). See quiet.py.
quiet.install()

__version__ = '0.3.0'
