"""Checkpoints of a training run: one folder per saved step, written atomically, the last few kept.

    run_dir/checkpoints/step-000500/model.*       every global variable: weights, batch-norm statistics,
                                                  Adam's moments and step counters
    run_dir/checkpoints/step-000500/state.json    step, epoch position, seed, the model's configuration
    run_dir/checkpoints/step-000500/losses.csv    the losses of every step so far

A checkpoint is written into a hidden temporary folder and renamed into place, so a run killed while
saving leaves the previous checkpoint as the latest and never a half-written one.
"""
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow.compat.v1 as tf

CHECKPOINTS = 'checkpoints'
PREFIX = 'step-'
MODEL = 'model'
STATE = 'state.json'
LOSSES = 'losses.csv'
CONFIG_KEYS = ('image_size', 'channels', 'z_dim', 'seed')   # what must match to resume a checkpoint


class CheckpointMismatch(Exception):
    """A checkpoint made for a different model than the one being built."""


def checkpoint_root(run_dir):
    """The folder holding a run's checkpoints."""
    return os.path.join(run_dir, CHECKPOINTS)


def checkpoint_dirs(run_dir):
    """The run's complete checkpoints, oldest first."""
    root = checkpoint_root(run_dir)
    if not os.path.isdir(root):
        return []
    names = sorted(n for n in os.listdir(root) if n.startswith(PREFIX) and os.path.exists(
        os.path.join(root, n, STATE)))
    return [os.path.join(root, n) for n in names]


def latest(run_dir):
    """The newest complete checkpoint folder of the run, or None."""
    found = checkpoint_dirs(run_dir) if run_dir else []
    return found[-1] if found else None


def read_state(checkpoint):
    """The state.json of a checkpoint folder."""
    with open(os.path.join(checkpoint, STATE)) as f:
        return json.load(f)


def read_losses(checkpoint):
    """The (steps, 2) losses recorded up to a checkpoint."""
    path = os.path.join(checkpoint, LOSSES)
    return np.loadtxt(path, delimiter=',', ndmin=2).reshape(-1, 2) if os.path.getsize(path) else np.zeros((0, 2))


def check_config(checkpoint, config):
    """Refuse a checkpoint whose model configuration differs from `config`, saying how."""
    saved = read_state(checkpoint)['config']
    different = [f'{k}={saved.get(k)} (this run: {config.get(k)})' for k in CONFIG_KEYS
                 if saved.get(k) != config.get(k)]
    if different:
        raise CheckpointMismatch(
            f'The checkpoint {checkpoint} was made with other settings: {", ".join(different)}. Train with '
            f'the same settings to resume it, or choose another run folder to start a new run.')


def save(sess, saver, run_dir, state, losses, keep):
    """Write a checkpoint of the session and `state` atomically; keep only the newest `keep`; return it."""
    root = checkpoint_root(run_dir)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f'{PREFIX}{state["step"]:08d}')
    tmp = tempfile.mkdtemp(prefix='.saving-', dir=root)
    try:
        saver.save(sess, os.path.join(tmp, MODEL), write_meta_graph=False, write_state=False)
        np.savetxt(os.path.join(tmp, LOSSES), np.asarray(losses).reshape(-1, 2), delimiter=',', fmt='%.9g')
        with open(os.path.join(tmp, STATE), 'w') as f:
            json.dump(state, f, indent=1)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old)
    return final


def restore(sess, saver, checkpoint):
    """Load a checkpoint's variables into the session."""
    saver.restore(sess, os.path.join(checkpoint, MODEL))


def remove_unfinished(run_dir):
    """Delete the temporary folders of saves that a killed run never finished."""
    root = checkpoint_root(run_dir)
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith('.saving-'):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def variables_of(checkpoint):
    """{name: value} of every variable stored in a checkpoint (for comparing runs)."""
    reader = tf.train.load_checkpoint(os.path.join(checkpoint, MODEL))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def resume(sess, saver, run_dir, config):
    """Restore the run's newest checkpoint into the session if there is one (after checking it was made
    for this model); return (its step, the losses so far, the checkpoint or None)."""
    if not run_dir:
        return 0, [], None
    remove_unfinished(run_dir)
    checkpoint = latest(run_dir)
    if checkpoint is None:
        return 0, [], None
    check_config(checkpoint, config)
    restore(sess, saver, checkpoint)
    step = read_state(checkpoint)['step']
    print(f'Resuming from step {step}: {checkpoint}')
    return step, [tuple(row) for row in read_losses(checkpoint)], checkpoint
