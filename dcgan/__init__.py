"""dcgan: the machinery behind dlnd_face_generation.ipynb: data, configuration, training hooks, metrics,
pictures, checkpoints and the command line (`dcgan --help`)."""
import importlib.util
import os

from dcgan import quiet

# TensorFlow's C++ start-up lines are chatter, not problems: hide them wherever the project starts (the
# command line, the notebook, the benchmarks, the tests all import dcgan before TensorFlow). See quiet.py.
quiet.install()

# Keras 3 has no tf.compat.v1.layers (tf.layers.dense, conv2d, batch_normalization, ...), which classic
# course notebooks use; the tf-keras package (the course extra) still has them, and TensorFlow routes to
# it when this is set before it loads. Only set where tf-keras is installed (else tf.keras would break).
if importlib.util.find_spec('tf_keras') is not None:
    os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

__version__ = '0.3.0'
