"""dcgan: the machinery behind dlnd_face_generation.ipynb: data, configuration, training hooks, metrics,
pictures, checkpoints and the command line (`dcgan --help`)."""
import os

# TensorFlow's C++ start-up lines (oneDNN notices, CUDA probes, CPU-feature notes) are INFO and WARNING
# chatter, not problems: hide them before TensorFlow loads, wherever the project starts. Errors still show.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

__version__ = '0.3.0'
