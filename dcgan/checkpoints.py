"""Checkpoints of a training run: one folder per saved step, written atomically, the last few kept.

    run_dir/checkpoints/step-000500/model.*       every global variable: weights, batch-norm statistics,
                                                  Adam's moments and step counters
    run_dir/checkpoints/step-000500/state.json    step, epoch position, the whole run configuration and
                                                  what the data looked like (count, channels, mode)
    run_dir/checkpoints/step-000500/losses.csv    the losses of every step so far

A checkpoint is written into a hidden temporary folder and renamed into place, so a run killed while
saving leaves the previous checkpoint as the latest and never a half-written one. A checkpoint damaged
afterwards (a truncated or missing file) is detected before use, and the newest good one is used instead.
"""
import glob
import json
import os
import shutil

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import disk
from dcgan.atomic import atomic_dir
from dcgan.config import saved_config
from dcgan.errors import CheckpointError

CHECKPOINTS = 'checkpoints'
PREFIX = 'step-'
SAVING_PREFIX = '.saving-'
MODEL = 'model'
BEST = 'best'                # checkpoints/best: the step whose samples scored best, never rotated away
STATE = 'state.json'
LOSSES = 'losses.csv'
STATE_VERSION = 2            # 1: only the model's shape was saved ('config' held six keys)
LEGACY_KEYS = ('image_size', 'z_dim', 'seed', 'z_distribution')   # the settings version-1 checkpoints know


def checkpoint_root(run_dir):
    """The folder holding a run's checkpoints."""
    return os.path.join(run_dir, CHECKPOINTS)


def checkpoint_dirs(run_dir):
    """The run's checkpoint folders (complete saves, damaged or not), oldest first."""
    root = checkpoint_root(run_dir)
    if not os.path.isdir(root):
        return []
    return [os.path.join(root, n) for n in sorted(os.listdir(root)) if n.startswith(PREFIX)]


def damage(checkpoint):
    """Why a checkpoint folder cannot be used (a short phrase), or None when it is whole: its state must
    parse and its variables must all be readable."""
    try:
        read_state(checkpoint)
        read_losses(checkpoint)
    except CheckpointError as error:
        return str(error)
    if not glob.glob(os.path.join(checkpoint, MODEL + '.data-*')) or not os.path.exists(
            os.path.join(checkpoint, MODEL + '.index')):
        return 'its variable files are missing'
    try:
        reader = tf.train.load_checkpoint(os.path.join(checkpoint, MODEL))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as error:   # IndexError: a truncated data file
        return f'its variables cannot be read ({error.__class__.__name__})'
    return None


def latest(run_dir, report=print):
    """The newest whole checkpoint folder of the run, or None; each newer damaged one is reported."""
    for checkpoint in reversed(checkpoint_dirs(run_dir) if run_dir else []):
        problem = damage(checkpoint)
        if problem is None:
            return checkpoint
        report(f'Skipping the damaged checkpoint {checkpoint}: {problem}. Using an older one if there is '
               f'one (delete the damaged folder to silence this).')
    return None


def read_state(checkpoint):
    """The state.json of a checkpoint folder."""
    path = os.path.join(checkpoint, STATE)
    try:
        with open(path) as f:
            state = json.load(f)
        state['step'], state['config']
        return state
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f'{path} is missing or damaged ({error.__class__.__name__})') from None


def read_losses(checkpoint):
    """The (steps, 2) losses recorded up to a checkpoint."""
    path = os.path.join(checkpoint, LOSSES)
    try:
        losses = np.loadtxt(path, delimiter=',', ndmin=2).reshape(-1, 2) if os.path.getsize(path) else np.zeros((0, 2))
    except (OSError, ValueError) as error:
        raise CheckpointError(f'{path} is missing or damaged ({error.__class__.__name__})') from None
    return losses


def saved_settings(state):
    """(the run settings a checkpoint records, whether it is an old checkpoint that knows only a few)."""
    if state.get('version', 1) >= STATE_VERSION:   # a setting added since the save had its default then
        return saved_config(state['config']), False
    return {k: state['config'][k] for k in LEGACY_KEYS if k in state['config']}, True


def data_info(state):
    """{'channels', 'image_mode', 'count'} of the data a checkpoint was trained on (count None if unknown)."""
    if 'data' in state:
        return state['data']
    config = state['config']
    return dict(channels=config['channels'], image_mode=config.get('image_mode', 'L' if config['channels'] == 1
                                                                   else 'RGB'), count=None)


def save(sess, saver, run_dir, state, losses, keep):
    """Write a checkpoint of the session and `state` atomically; keep only the newest `keep`; return it.
    A full disk (or a folder it may not write) stops the run with that said, the older checkpoints kept."""
    final = os.path.join(checkpoint_root(run_dir), f'{PREFIX}{state["step"]:08d}')
    previous = checkpoint_dirs(run_dir)
    kept = f'the checkpoint {previous[-1]} is kept' if previous else 'there is no earlier checkpoint'
    write(sess, saver, final, state, losses, f'save the checkpoint of step {state["step"]}', kept)
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old)
    return final


def best_dir(run_dir):
    """The folder of a run's best-scored checkpoint (it may not exist)."""
    return os.path.join(checkpoint_root(run_dir), BEST)


def save_best(sess, saver, run_dir, state, losses):
    """Replace the run's best checkpoint with the session's variables now; rotation never removes it."""
    write(sess, saver, best_dir(run_dir), state, losses, f'save the best checkpoint (step {state["step"]})',
          'the previous best checkpoint is kept')
    return best_dir(run_dir)


def write(sess, saver, folder, state, losses, action, kept):
    """Write the session's variables, the losses and `state` as the checkpoint folder `folder`, atomically
    (an older one there is replaced only once the new one is whole). A full disk says so: `action` failed,
    `kept` is what is still there."""
    try:
        with atomic_dir(folder, replace=True, prefix=SAVING_PREFIX) as staged:
            saver.save(sess, os.path.join(staged.folder, MODEL), write_meta_graph=False, write_state=False)
            np.savetxt(os.path.join(staged.folder, LOSSES), np.asarray(losses).reshape(-1, 2), delimiter=',',
                       fmt='%.9g')
            with open(os.path.join(staged.folder, STATE), 'w') as f:
                json.dump(dict(state, version=STATE_VERSION), f, indent=1)
    except (OSError, tf.errors.OpError) as error:
        explained = disk.explain(error, os.path.dirname(folder), action,
                                 f'Training stopped; {kept}. Free some space and run the same command to resume.')
        if explained is None:
            raise
        raise explained from error


def restore(sess, saver, checkpoint):
    """Load a checkpoint's variables into the session."""
    saver.restore(sess, os.path.join(checkpoint, MODEL))


def remove_unfinished(run_dir):
    """Delete the temporary folders of saves that a killed run never finished."""
    root = checkpoint_root(run_dir)
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith(SAVING_PREFIX):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def variables_of(checkpoint):
    """{name: value} of every variable stored in a checkpoint (for comparing runs)."""
    reader = tf.train.load_checkpoint(os.path.join(checkpoint, MODEL))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
