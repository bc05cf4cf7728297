"""Pieces the notebook's train() uses: session settings, optimizers, latent noise, the batch schedule,
the divergence guard and TensorBoard records."""
import contextlib
import inspect
import io
import os
import re
import uuid

import numpy as np
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from dcgan import cpu, distribute
from dcgan.config import Z_DISTRIBUTIONS
from dcgan.errors import TrainingDiverged
from dcgan.ops import layer_scope

MIXED_PRECISION_LINES = {
    'float16': 'float16 compute, float32 variables, dynamic loss scaling',
    'bfloat16': 'bfloat16 compute on this CPU (oneDNN; avx512_bf16/amx), float32 variables',
    None: 'requested, but this CPU has no native bfloat16 or float16 speed-up: staying float32',
}
AUTO_PRECISION_LINES = {   # mixed_precision=None
    'bfloat16': 'Mixed precision: auto: bfloat16 compute on this CPU (native avx512_bf16/AMX; about 1.4x the '
                'steps per minute), float32 variables. mixed_precision = False for float32 throughout.',
    None: 'Mixed precision: auto: float32 (no native bfloat16 on this CPU; on a GPU, mixed_precision = True '
          'turns float16 on).',
}
COLLAPSE_G_LOSS = 10.0       # g_loss above this: D(G(z)) < 5e-5, the discriminator is certain every sample is fake
COLLAPSE_PATIENCE = 200      # consecutive steps of that before the run is called collapsed
TENSORBOARD = 'tensorboard'  # the run's TensorBoard folder
SCORING_STREAM = 2 ** 31     # random stream of the scored latent vectors, apart from the per-step ones
SAMPLE_BATCH = 500           # latent vectors per sampler run when scoring many
AVERAGE_SCOPE = 'generator_ema'   # the moving average of generator/x is generator_ema/x
AVERAGED_VARIABLES = ('w', 'b', 'beta', 'gamma', 'moving_mean', 'moving_variance')   # what the average covers
AVERAGE_WARMUP = 10          # the average's decay ramps up as t / (t + 10) towards g_ema: early steps count


def has_gpu():
    """True when TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices('GPU'))


def mixed_precision_kind(mixed_precision):
    """What the mixed_precision setting computes in here: with True, 'float16' on a GPU; with True or None
    (auto), 'bfloat16' on a CPU with native bfloat16 dot products; None (float32) otherwise and with False.
    Auto stays float32 on a GPU, where float16 needs loss scaling and is a choice to make on purpose."""
    if mixed_precision is False:
        return None
    if has_gpu():
        return 'float16' if mixed_precision else None
    return 'bfloat16' if cpu.has_bfloat16() else None


def session_config(use_xla=False, mixed_precision=False, devices=1):
    """A session config whose thread pools match this machine's cores, with soft placement for CPU or GPU.

    Two inter-op threads let independent ops (the real and fake discriminator passes, the two networks'
    gradients) overlap; one was 5-10 % slower on 2 cores. use_xla compiles clusters of ops with XLA (on a
    CPU only if TF_XLA_FLAGS has --tf_xla_cpu_global_jit). mixed_precision turns on TensorFlow's float16
    graph rewrite on a GPU, or its oneDNN bfloat16 rewrite on a CPU with native bfloat16 (variables stay
    float32 either way); elsewhere the graph stays float32, so both options fall back cleanly. devices > 1
    without a GPU gives the session that many CPU devices (the logical devices of dcgan.distribute).
    """
    config = tf.ConfigProto(intra_op_parallelism_threads=cpu.cores(), inter_op_parallelism_threads=2,
                            allow_soft_placement=True)
    if devices > 1 and not has_gpu():
        config.device_count['CPU'] = devices
    if use_xla:
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    kind = mixed_precision_kind(mixed_precision)
    if kind == 'float16':
        config.graph_options.rewrite_options.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON
    if kind == 'bfloat16':
        config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = \
            rewriter_config_pb2.RewriterConfig.ON
    return config


def adam(learning_rate, beta1, mixed_precision=False):
    """Adam (inside a replica of several, the variant that averages the replicas' gradients); with float16
    mixed precision, wrapped in dynamic loss scaling so float16 gradients do not underflow (bfloat16 has
    float32's exponent range and needs none)."""
    adam_class = distribute.MeanOfReplicasAdam if distribute.replicas() > 1 else tf.train.AdamOptimizer
    optimizer = adam_class(learning_rate, beta1=beta1)
    if mixed_precision_kind(mixed_precision) == 'float16':
        optimizer = tf.mixed_precision.MixedPrecisionLossScaleOptimizer(optimizer, loss_scale='dynamic')
    return optimizer


def describe_device(use_xla=False, mixed_precision=False, devices=1):
    """One line per fact: the TensorFlow version, the devices training will use, and the speed options.
    With devices > 1 it first sets those devices up (dcgan.distribute.set_up), which must come before
    other TensorFlow work in the process."""
    distribute.set_up(devices)
    gpus = tf.config.list_physical_devices('GPU')
    lines = ['TensorFlow Version: {}'.format(tf.__version__)]
    if gpus:
        lines.append('Default GPU Device: {}'.format(gpus[0].name))
    else:
        lines.append('WARNING: no GPU found: training runs on the CPU (slower, but it works).')
    if devices > 1 or distribute.cluster():
        lines.append(distribute.describe(devices))
    if use_xla:
        lines.append('XLA: on' + ('' if gpus else ' (on a CPU only with TF_XLA_FLAGS=--tf_xla_cpu_global_jit)'))
    if mixed_precision is None:
        lines.append(AUTO_PRECISION_LINES[mixed_precision_kind(None)])
    elif mixed_precision:
        lines.append('Mixed precision: ' + MIXED_PRECISION_LINES[mixed_precision_kind(mixed_precision)])
    elif not gpus and cpu.has_bfloat16():
        lines.append('Tip: this CPU computes bfloat16 natively: mixed_precision = None (auto) trains faster '
                     '(float32 variables; see docs/performance.md).')
    return lines


def averaged_name(name):
    """The name of the moving average of the generator variable `name` (generator/x -> generator_ema/x)."""
    return AVERAGE_SCOPE + name[name.index('/'):]


def average_generator(after, decay):
    """An op that runs `after` (the generator's training step), then moves a shadow copy of each of the
    generator's weights and batch-norm statistics towards its new value: shadow <- d * shadow + (1 - d) *
    value, with d = min(decay, t / (t + AVERAGE_WARMUP)) after t updates (the first update copies).
    Sampling from the shadows (averaged_weights) gives smoother, better samples than the last step's
    weights; the shadows and t are variables, so checkpoints keep them and a resume continues exactly."""
    averaged = [v for v in tf.global_variables('generator/') if v.dtype.base_dtype == tf.float32
                and '/Adam' not in v.op.name]
    with tf.control_dependencies([after]):
        values = [v.read_value() for v in averaged]
    options = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    with layer_scope(AVERAGE_SCOPE, reuse=tf.AUTO_REUSE):   # on several devices: one mirrored shadow each
        shadows = [tf.get_variable(re.sub(r'/replica_\d+$', '', v.op.name.split('/', 1)[1]), v.shape, tf.float32,
                                   initializer=tf.zeros_initializer(), **options) for v in averaged]
        updates = tf.get_variable('updates', [], tf.float32, initializer=tf.zeros_initializer(), **options)
    t = updates.read_value()
    d = tf.minimum(float(decay), t / (t + AVERAGE_WARMUP))
    moves = [tf.assign(shadow, d * shadow + (1 - d) * value) for shadow, value in zip(shadows, values)]
    with tf.control_dependencies(moves):
        counted = tf.assign_add(updates, 1.0)
    return tf.group(after, counted)


def stored_name(name, config):
    """The checkpoint name a sampling generator's variable `name` is restored from: with config.g_ema,
    its moving average for weights and batch-norm statistics (what training sampled from)."""
    averaged = config.g_ema and name.rsplit('/', 1)[-1] in AVERAGED_VARIABLES
    return averaged_name(name) if averaged else name


@contextlib.contextmanager
def averaged_weights(on=True):
    """Inside, the generator's variables resolve to their moving averages (average_generator), so a
    generator built here samples from them; without `on` (or without averages), nothing changes."""
    shadows = {v.op.name: v for v in tf.global_variables(AVERAGE_SCOPE + '/')} if on else {}
    if not shadows:
        yield
        return

    def shadow_getter(getter, name, *args, **kwargs):
        return shadows.get(averaged_name(name), getter(name, *args, **kwargs))
    with layer_scope(tf.get_variable_scope(), custom_getter=shadow_getter):
        yield


def noise(rng, count, z_dim, distribution='normal'):
    """`count` latent vectors of size z_dim: standard normal, or uniform in [-1, 1]."""
    if distribution == 'normal':
        return rng.standard_normal((count, z_dim), dtype=np.float32)
    if distribution == 'uniform':
        return rng.uniform(-1, 1, (count, z_dim)).astype(np.float32)
    raise ValueError(f'z_distribution={distribution!r}: choose one of {Z_DISTRIBUTIONS}.')


def step_rng(seed, step):
    """The random generator of one training step: the same seed and step always give the same noise,
    so a resumed run draws exactly what an uninterrupted one would."""
    return np.random.default_rng([seed, step])


def scoring_rng(seed):
    """The random generator of the latent vectors that quality checks score: one fixed set for the run."""
    return np.random.default_rng([seed, SCORING_STREAM])


def sample(sess, images, z_input, z, batch_size=SAMPLE_BATCH):
    """Run the sampler over many latent vectors in batches; return (N, H, W, C) images."""
    return np.concatenate([sess.run(images, {z_input: z[i:i + batch_size]}) for i in range(0, len(z), batch_size)])


def accepts_epoch(get_batches):
    """True when get_batches(batch_size, epoch=..., start=...) can serve any epoch from any batch."""
    parameters = inspect.signature(get_batches).parameters
    return 'epoch' in parameters and 'start' in parameters


def batch_schedule(get_batches, batch_size, epoch_count, max_steps=None, start_step=0, steps_per_epoch=None):
    """Yield (epoch, batch) from batch number start_step on, over epoch_count epochs, stopping after
    max_steps batches in all if given. Resuming (start_step > 0) needs a get_batches that takes epoch and
    start, like helper.Dataset's, so the data order is the one an uninterrupted run would see."""
    exact = accepts_epoch(get_batches)
    if start_step and not (exact and steps_per_epoch):
        raise ValueError('Resuming needs get_batches(batch_size, epoch, start) and steps_per_epoch.')
    first_epoch, skip = divmod(start_step, steps_per_epoch) if start_step else (0, 0)
    step = start_step
    for epoch in range(first_epoch, epoch_count):
        start = skip if epoch == first_epoch else 0
        batches = get_batches(batch_size, epoch=epoch, start=start) if exact else get_batches(batch_size)
        for batch in batches:
            if max_steps is not None and step >= max_steps:
                return
            step += 1
            yield epoch, batch


class DivergenceGuard:
    """Stops a run whose losses are not finite, or whose discriminator rejects every generated image
    with certainty for `patience` steps in a row (the generator then gets no useful gradient)."""

    def __init__(self, patience=COLLAPSE_PATIENCE, g_loss_limit=COLLAPSE_G_LOSS, learning_rate=None, loss='bce'):
        self.patience, self.g_loss_limit, self.streak = patience, g_loss_limit, 0
        self.learning_rate, self.loss = learning_rate, loss

    def advice(self):
        """How to go on: resume with a lower learning rate (the exact options), or start a new run."""
        if self.learning_rate is None:
            return 'Lower the learning rate and resume, or start a new run.'
        lower = f'{self.learning_rate / 2:g}'
        return (f'Lower the learning rate and resume: the same command with --learning-rate {lower} '
                f'--allow-change learning_rate (in the notebook: learning_rate = {lower} and allow_change = '
                f"['learning_rate']), or start a new run (--new).")

    def check(self, step, d_loss, g_loss, kept):
        """Raise TrainingDiverged if this step's losses show divergence; `kept` is the last good checkpoint."""
        where = f'The last good checkpoint is kept: {kept}.' if kept else 'No checkpoint was saved yet.'
        if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
            raise TrainingDiverged(f'Training diverged at step {step}: the losses are not finite '
                                   f'(d_loss={d_loss}, g_loss={g_loss}). {where} {self.advice()}')
        if self.loss != 'bce':   # the collapse rule reads a cross-entropy g_loss; the hinge loss has no such scale
            return
        self.streak = self.streak + 1 if g_loss > self.g_loss_limit else 0
        if self.streak >= self.patience:
            raise TrainingDiverged(f'Training collapsed at step {step}: the discriminator has rejected every '
                                   f'generated image for {self.patience} steps (g_loss > {self.g_loss_limit}), '
                                   f'so the generator learns nothing. {where} {self.advice()}')


def board_writer(run_dir):
    """A TensorBoard event writer for the run (view with: tensorboard --logdir RUN_DIR/tensorboard). Its file
    gets a suffix of its own: TensorFlow names event files by the second, so a run resumed within the same
    second would otherwise overwrite the records written before."""
    return tf.summary.FileWriter(os.path.join(run_dir, TENSORBOARD), filename_suffix=f'.{uuid.uuid4().hex[:12]}')


def log_scalars(writer, step, values):
    """Write {tag: number} to TensorBoard at `step`."""
    summary = tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()])
    writer.add_summary(summary, step)


def log_image(writer, step, tag, image):
    """Write a PIL image (e.g. the sample grid) to TensorBoard at `step`."""
    buffer = io.BytesIO()
    image.save(buffer, 'PNG')
    channels = {'L': 1, 'RGB': 3}[image.mode]
    value = tf.Summary.Image(height=image.height, width=image.width, colorspace=channels,
                             encoded_image_string=buffer.getvalue())
    writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=tag, image=value)]), step)
    writer.flush()
