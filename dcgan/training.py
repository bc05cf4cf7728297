"""Small pieces the notebook's train() uses: session settings, latent noise and the batch schedule."""
import os

import numpy as np
import tensorflow.compat.v1 as tf

Z_DISTRIBUTIONS = ('normal', 'uniform')


def session_config():
    """A session config whose thread pools match this machine's cores; soft placement for CPU or GPU."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return tf.ConfigProto(intra_op_parallelism_threads=cores, inter_op_parallelism_threads=2,
                          allow_soft_placement=True)


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
