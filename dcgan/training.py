"""Small pieces the notebook's train() uses: session settings, latent noise and the batch schedule."""
import os

import numpy as np
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

Z_DISTRIBUTIONS = ('normal', 'uniform')


def session_config(use_xla=False, mixed_precision=False):
    """A session config whose thread pools match this machine's cores, with soft placement for CPU or GPU.

    use_xla compiles clusters of ops with XLA (on a CPU only if TF_XLA_FLAGS has --tf_xla_cpu_global_jit);
    mixed_precision turns on the float16 graph rewrite, which acts on GPUs only: on a CPU the graph stays
    float32, so both options fall back cleanly.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    config = tf.ConfigProto(intra_op_parallelism_threads=cores, inter_op_parallelism_threads=2,
                            allow_soft_placement=True)
    if use_xla:
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    if mixed_precision:
        config.graph_options.rewrite_options.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON
    return config


def adam(learning_rate, beta1, mixed_precision=False):
    """Adam; with mixed precision, wrapped in dynamic loss scaling so float16 gradients do not underflow."""
    optimizer = tf.train.AdamOptimizer(learning_rate, beta1=beta1)
    if mixed_precision:
        optimizer = tf.mixed_precision.MixedPrecisionLossScaleOptimizer(optimizer, loss_scale='dynamic')
    return optimizer


def describe_device(use_xla=False, mixed_precision=False):
    """One line per fact: the TensorFlow version, the device training will use, and the speed options."""
    gpus = tf.config.list_physical_devices('GPU')
    lines = ['TensorFlow Version: {}'.format(tf.__version__)]
    if gpus:
        lines.append('Default GPU Device: {}'.format(gpus[0].name))
    else:
        lines.append('WARNING: no GPU found: training runs on the CPU (slower, but it works).')
    if use_xla:
        lines.append('XLA: on' + ('' if gpus else ' (on a CPU only with TF_XLA_FLAGS=--tf_xla_cpu_global_jit)'))
    if mixed_precision:
        lines.append('Mixed precision: ' + ('float16 compute, float32 variables, dynamic loss scaling' if gpus
                                           else 'requested, but a CPU has no float16 speed-up: staying float32'))
    return lines


def noise(rng, count, z_dim, distribution='normal'):
    """`count` latent vectors of size z_dim: standard normal, or uniform in [-1, 1]."""
    if distribution == 'normal':
        return rng.standard_normal((count, z_dim), dtype=np.float32)
    if distribution == 'uniform':
        return rng.uniform(-1, 1, (count, z_dim)).astype(np.float32)
    raise ValueError(f'z_distribution={distribution!r}: choose one of {Z_DISTRIBUTIONS}.')


def batch_schedule(get_batches, batch_size, epoch_count, max_steps=None):
    """Yield (epoch, batch) over epoch_count epochs, stopping early after max_steps batches if given."""
    step = 0
    for epoch in range(epoch_count):
        for batch in get_batches(batch_size):
            if max_steps is not None and step >= max_steps:
                return
            step += 1
            yield epoch, batch
