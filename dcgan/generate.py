"""Sample a trained generator without the notebook: grids, single PNGs, raw arrays, latent interpolations,
and a SavedModel that plain TensorFlow loads.

The generator is the notebook's own `generator`, rebuilt from the configuration saved with the checkpoint
and loaded with the checkpoint's generator variables (weights and batch-norm moving averages).
"""
import os
from dataclasses import dataclass

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import checkpoints, notebook, pictures, training
from dcgan.atomic import atomic_dir, write_npy
from dcgan.config import DEFAULTS, from_dict
from dcgan.errors import GenerateError

GRID_SCALE = 2               # grids are saved enlarged so that small images stay readable
SAVED_MODEL_SIGNATURE = 'serving_default'


@dataclass
class Generator:
    """A session holding a restored generator: feed z, fetch images in [-0.5, 0.5]."""
    session: tf.Session
    z: tf.Tensor
    images: tf.Tensor
    config: dict

    def sample(self, z):
        """Images for the latent vectors z, shape (N, size, size, channels), float32 in [-0.5, 0.5]."""
        return self.session.run(self.images, {self.z: z})


def find_checkpoint(path):
    """The checkpoint folder at `path`, or the newest whole one of the run folder `path`."""
    if os.path.exists(os.path.join(path, checkpoints.STATE)):
        problem = checkpoints.damage(path)
        if problem:
            raise GenerateError(f'The checkpoint {path} is damaged: {problem}. Pass its run folder to use the '
                                f'newest good checkpoint, or another checkpoint.')
        return path
    found = checkpoints.latest(path)
    if found is None:
        raise GenerateError(f'No usable checkpoint in {path}: pass a run folder (with checkpoints/) or one of '
                            f'its checkpoints/step-* folders.')
    return found


def checkpoint_config(state):
    """The run configuration a checkpoint was trained with (old checkpoints: defaults for what they lack)."""
    saved, _ = checkpoints.saved_settings(state)
    return from_dict({**DEFAULTS, **saved})


def load_generator(path):
    """Rebuild the notebook's generator for a checkpoint (or a run's newest) and restore its variables."""
    checkpoint = find_checkpoint(path)
    state = checkpoints.read_state(checkpoint)
    config, data = checkpoint_config(state), checkpoints.data_info(state)
    model = notebook.load()
    graph = tf.Graph()
    with graph.as_default():
        z = tf.placeholder(tf.float32, (None, config.z_dim), name='z')
        options = dict(image_size=config.image_size, **config.generator_options())
        model.generator(z, data['channels'], is_train=True, **options)
        sampled = model.generator(z, data['channels'], is_train=False, **options)
        images = tf.identity(sampled, name='images')
        saver = tf.train.Saver(tf.global_variables('generator'))
        session = tf.Session(graph=graph, config=training.session_config())
        checkpoints.restore(session, saver, checkpoint)
    print(f'Loaded the generator of {checkpoint} (step {state["step"]})')
    return Generator(session, z, images, dict(config.to_dict(), channels=data['channels'],
                                              image_mode=data['image_mode']))


def latent(generator, count, seed):
    """`count` latent vectors drawn like the training noise."""
    return training.noise(np.random.default_rng(seed), count, generator.config['z_dim'],
                          generator.config.get('z_distribution', 'normal'))


def slerp(a, b, t):
    """Spherical interpolation between latent vectors a and b (t in [0, 1]): stays where Gaussian z live."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    angle = np.arccos(np.clip(cos, -1, 1))
    if angle < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)


def interpolation_z(generator, rows, steps, seed):
    """rows x steps latent vectors: each row walks from one random z to another."""
    ends = latent(generator, 2 * rows, seed)
    walk = slerp if generator.config.get('z_distribution', 'normal') == 'normal' else (
        lambda a, b, t: (1 - t) * a + t * b)
    return np.array([walk(ends[2 * r], ends[2 * r + 1], t) for r in range(rows)
                     for t in np.linspace(0, 1, steps)], dtype=np.float32)


def image_mode(generator):
    """'L' for one channel, 'RGB' for three."""
    return 'L' if generator.config['channels'] == 1 else 'RGB'


def write_samples(images, mode, out):
    """Write images to `out`: a .png grid, a .npy array (N, H, W, C) float32 in [-0.5, 0.5], or a folder
    of single PNGs (any other path)."""
    if out.endswith('.npy'):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        write_npy(images.astype(np.float32), os.path.abspath(out))
    elif out.endswith('.png'):
        pictures.save_grid(images, mode, out, scale=GRID_SCALE)
    else:
        os.makedirs(out, exist_ok=True)
        for i, image in enumerate(images):
            pictures.save_image(pictures.images_grid(image[None], 1, mode), os.path.join(out, f'{i:06d}.png'))


def write_interpolation(generator, out, rows, steps, seed):
    """Save a strip of latent walks: `rows` rows of `steps` images each."""
    images = generator.sample(interpolation_z(generator, rows, steps, seed))
    pictures.save_enlarged(pictures.images_grid(images, steps, image_mode(generator)), out, GRID_SCALE)


def export_saved_model(generator, out):
    """Write a SavedModel (signature 'serving_default': z -> images) that plain TensorFlow loads; refuse to
    overwrite an existing folder, and write it whole or not at all."""
    if os.path.exists(out):
        raise GenerateError(f'{out} already exists: choose a new folder for the SavedModel (nothing is overwritten).')
    with atomic_dir(out, prefix='.export-') as staged:
        staged.publish = os.path.join(staged.folder, 'model')   # the builder makes this folder itself
        builder = tf.saved_model.Builder(staged.publish)
        with generator.session.graph.as_default():
            signature = tf.saved_model.predict_signature_def(inputs={'z': generator.z},
                                                             outputs={'images': generator.images})
            builder.add_meta_graph_and_variables(generator.session, [tf.saved_model.SERVING],
                                                 signature_def_map={SAVED_MODEL_SIGNATURE: signature})
        builder.save()
