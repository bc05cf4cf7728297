"""Sample a trained generator without the notebook: grids, single PNGs, raw arrays, latent interpolations,
and a SavedModel that plain TensorFlow loads.

The generator is the notebook's own `generator`, rebuilt from the configuration saved with the checkpoint
and loaded with the checkpoint's generator variables (weights and batch-norm moving averages).
"""
import math
import os
from dataclasses import dataclass

import numpy as np
import tensorflow.compat.v1 as tf
from PIL import Image

from dcgan import checkpoints, disk, notebook, pictures, training
from dcgan.animation import save_frames
from dcgan.atomic import atomic_dir, atomic_file, staged_files
from dcgan.config import from_dict, saved_config
from dcgan.data.images import to_uint8
from dcgan.errors import GenerateError

SAMPLE_BATCH = 256           # samples per session call: memory stays flat however many are asked for
GRID_SCALE = 2               # small grids are saved enlarged so that small images stay readable...
MAX_ENLARGED_SIDE = 4096     # ...unless the enlarged grid would be wider or taller than this
JPEG_QUALITY = 95
SAMPLE_FRAME_SECONDS = 0.5   # .gif of samples: one sample per frame
WALK_FRAME_SECONDS = 0.1     # .gif of latent walks: one step of every walk per frame
OUTPUT_SUFFIXES = {'image': ('.png', '.jpg', '.jpeg'), 'animation': ('.gif',), 'array': ('.npy',)}
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


def chosen_checkpoint(checkpoint, best=False):
    """What a command reads: `checkpoint`, or with `best` the best-scored checkpoint of the run folder
    `checkpoint` (kept by training's quality checks)."""
    if not best:
        return checkpoint
    if not checkpoint:
        raise GenerateError('--best picks the best-scored checkpoint of a run: pass the run with --checkpoint RUN.')
    folder = checkpoints.best_dir(checkpoint)
    if not os.path.isdir(folder):
        raise GenerateError(f'{checkpoint} has no best checkpoint ({folder}): training keeps one when it scores its '
                            f'samples (every metrics_every batches, and at the end). Leave out --best to use the '
                            f'newest checkpoint.')
    return folder


def checkpoint_config(state):
    """The run configuration a checkpoint was trained with (old checkpoints: defaults for what they lack)."""
    saved, _ = checkpoints.saved_settings(state)
    return from_dict(saved_config(saved))


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
        saver = tf.train.Saver({training.stored_name(v.op.name, config): v for v in tf.global_variables('generator')})
        session = tf.Session(graph=graph, config=training.session_config())
        checkpoints.restore(session, saver, checkpoint)
    print(f'Loaded the generator of {checkpoint} (step {state["step"]})')
    return Generator(session, z, images, dict(config.to_dict(), channels=data['channels'],
                                              image_mode=data['image_mode']))


def latent(generator, count, seed):
    """`count` latent vectors drawn like the training noise."""
    return training.noise(np.random.default_rng(seed), count, generator.config['z_dim'],
                          generator.config.get('z_distribution', 'normal'))


def latent_batches(generator, count, seed, batch=None):
    """The same `count` latent vectors as latent(), drawn `batch` (SAMPLE_BATCH) at a time: memory stays
    flat in `count`."""
    rng, batch = np.random.default_rng(seed), batch or SAMPLE_BATCH
    for start in range(0, count, batch):
        yield training.noise(rng, min(batch, count - start), generator.config['z_dim'],
                             generator.config.get('z_distribution', 'normal'))


def sample_batches(generator, count, seed):
    """The images of latent(generator, count, seed), SAMPLE_BATCH at a time."""
    for z in latent_batches(generator, count, seed):
        yield generator.sample(z)


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


# -- where samples go: the output path's suffix decides the container --------------------------------

def output_kind(out):
    """What `out` asks for: 'image' (.png, .jpg), 'animation' (.gif), 'array' (.npy) or 'folder' (an
    existing folder, or a path ending in /). Anything else is refused before the generator is loaded."""
    if out.endswith(('/', os.sep)) or os.path.isdir(out):
        return 'folder'
    suffix = os.path.splitext(out)[1].lower()
    for kind, suffixes in OUTPUT_SUFFIXES.items():
        if suffix in suffixes:
            if os.path.exists(out) and not os.path.isfile(out):
                raise GenerateError(f'--out {out} exists and is not a file: choose another path.')
            return kind
    named = f'the suffix {suffix!r}' if suffix else 'no suffix'
    raise GenerateError(f'--out {out} has {named}, which names no output. Use grid.png or grid.jpg (one '
                        f'image), samples.gif (an animation), samples.npy (an array), or a folder: an existing '
                        f'one or a path ending in / (one PNG per sample). Nothing was written.')


def grid_columns(count):
    """Columns of a near-square grid of `count` images (every image shown; the last row may be short)."""
    return math.ceil(math.sqrt(count))


def grid_scale(width, height):
    """Enlarge small grids GRID_SCALE times so small images stay readable; big ones stay as they are."""
    return GRID_SCALE if max(width, height) * GRID_SCALE <= MAX_ENLARGED_SIDE else 1


def save_picture(image, path):
    """Save a PIL image as PNG or JPEG (by suffix), atomically, enlarged if small."""
    scale = grid_scale(image.width, image.height)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    with atomic_file(path) as tmp:
        image.save(tmp, **({'quality': JPEG_QUALITY} if path.lower().endswith(('.jpg', '.jpeg')) else {}))


def write_grid(batches, count, mode, out):
    """Tile `count` images arriving in batches into one grid image at `out` (.png or .jpg)."""
    canvas, columns, filled = None, grid_columns(count), 0
    for images in batches:
        tiles = to_uint8(images)
        if canvas is None:
            height, width, channels = tiles.shape[1:]
            canvas = np.zeros((math.ceil(count / columns) * height, columns * width, channels), np.uint8)
        for tile in tiles:
            row, column = divmod(filled, columns)
            canvas[row * height:(row + 1) * height, column * width:(column + 1) * width] = tile
            filled += 1
    save_picture(Image.fromarray(canvas[..., 0] if mode == 'L' else canvas, mode), out)


def sample_frames(batches, mode):
    """One enlarged PIL image per sample."""
    for images in batches:
        for image in images:
            yield enlarged(pictures.images_grid(image[None], 1, mode))


def enlarged(image):
    """A small PIL image enlarged GRID_SCALE times with sharp pixels."""
    scale = grid_scale(image.width, image.height)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def write_array(batches, count, out, shape=None):
    """Stream float32 images into the .npy file `out` with plain writes: (count, H, W, C), or `shape`."""
    with atomic_file(os.path.abspath(out)) as tmp, open(tmp, 'wb') as f:
        written = 0
        for images in batches:
            if written == 0:
                header = dict(descr=np.lib.format.dtype_to_descr(np.dtype(np.float32)), fortran_order=False,
                              shape=tuple(shape or (count,) + images.shape[1:]))
                np.lib.format.write_array_header_1_0(f, header)
            f.write(np.ascontiguousarray(images, dtype=np.float32).tobytes())
            written += len(images)


def write_folder(batches, mode, out, names):
    """One PNG per image into the folder `out`: a new folder appears whole; into an existing one nothing
    is overwritten (files of the same names refuse the whole output)."""
    names = list(names)
    clashing = [n for n in names if os.path.exists(os.path.join(out, n))] if os.path.isdir(out) else []
    if clashing:
        raise GenerateError(f'{out} already holds {len(clashing)} of the files to write (e.g. {clashing[0]}): '
                            f'nothing is overwritten. Choose another folder, or move those files away.')
    if os.path.isdir(out):
        with staged_files(out) as staging:
            write_pngs(batches, mode, staging, names)
        return
    with atomic_dir(out.rstrip('/' + os.sep)) as staged:
        write_pngs(batches, mode, staged.folder, names)


def write_pngs(batches, mode, folder, names):
    """Save each image of the batches as the next name of `names` in `folder`."""
    names = iter(names)
    for images in batches:
        for image in images:
            pictures.images_grid(image[None], 1, mode).save(os.path.join(folder, next(names)))


def write_generated(generator, count, seed, out):
    """Write `count` samples to `out`, a batch at a time: a grid image, an animation (a sample per frame),
    an array or a folder of PNGs, as output_kind(out) says."""
    kind, mode = output_kind(out), image_mode(generator)
    batches = sample_batches(generator, count, seed)
    with explained_write(out):
        if kind == 'image':
            write_grid(batches, count, mode, out)
        elif kind == 'animation':
            save_frames(sample_frames(batches, mode), out, SAMPLE_FRAME_SECONDS)
        elif kind == 'array':
            write_array(batches, count, out)
        else:
            write_folder(batches, mode, out, (f'{i:06d}.png' for i in range(count)))


def write_interpolation(generator, out, rows, steps, seed):
    """Write latent walks (`rows` walks of `steps` images): a strip image (a walk per row), an animation
    that walks all of them at once (forth and back), an array (rows, steps, H, W, C) or a folder of PNGs."""
    kind, mode = output_kind(out), image_mode(generator)
    images = generator.sample(interpolation_z(generator, rows, steps, seed))
    with explained_write(out):
        if kind == 'image':
            save_picture(pictures.images_grid(images, steps, mode), out)
        elif kind == 'animation':
            walks = images.reshape(rows, steps, *images.shape[1:])
            order = list(range(steps)) + list(range(steps - 2, 0, -1))
            frames = (enlarged(pictures.images_grid(walks[:, t], rows, mode)) for t in order)
            save_frames(frames, out, WALK_FRAME_SECONDS)
        elif kind == 'array':
            write_array([images], len(images), out, shape=(rows, steps) + images.shape[1:])
        else:
            write_folder([images], mode, out, (f'walk-{r:03d}-{t:03d}.png' for r in range(rows)
                                              for t in range(steps)))


def write_samples(images, mode, out):
    """Write images already in memory to `out` (the containers of write_generated)."""
    kind = output_kind(out)
    with explained_write(out):
        if kind == 'image':
            write_grid([images], len(images), mode, out)
        elif kind == 'animation':
            save_frames(sample_frames([images], mode), out, SAMPLE_FRAME_SECONDS)
        elif kind == 'array':
            write_array([images], len(images), out)
        else:
            write_folder([images], mode, out, (f'{i:06d}.png' for i in range(len(images))))


def explained_write(out):
    """A full disk or a missing permission while writing `out`, said as such (nothing half-written is kept)."""
    return disk.explained_os_errors(os.path.dirname(os.path.abspath(out.rstrip('/' + os.sep))),
                                    f'write {out}', 'Free some space or choose another --out.')


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
