"""A run is first-class: its folder holds its whole configuration, the history of changes made to it, a
lock while it trains, its checkpoints, quality numbers, TensorBoard records and progress grids.

    run_dir/config.json       {"config": {...every setting...}, "history": [{"step", "changes", "how"}]}
    run_dir/quality.json      the quality numbers logged during training
    run_dir/.lock             held (flock) by the process training into the run
    run_dir/checkpoints/      see dcgan.checkpoints
    run_dir/progress/         the fixed-z sample grid every show_every batches
    run_dir/tensorboard/      event files

Resuming compares the settings asked for with the ones the newest checkpoint was trained with: model
changes are refused, data and dynamics changes are refused unless allowed by name, safe ones are applied
and reported.
"""
import fcntl
import json
import os
import time
from dataclasses import dataclass, field

from dcgan import checkpoints, config as settings
from dcgan.atomic import write_json
from dcgan.errors import ConfigError, RunLocked, RunMismatch, RunRecordDamaged

RUN_CONFIG = 'config.json'
QUALITY = 'quality.json'
LOCK = '.lock'
PROGRESS = 'progress'
KIND_WORDS = {settings.MODEL: "the networks' shape", settings.DATA: 'the training data',
              settings.DYNAMICS: 'the training dynamics', settings.SAFE: 'safe to change'}


def default_run_dir(dataset, root='runs'):
    """Where a data set's run goes when no folder is named: runs/<data set>."""
    return os.path.join(root, dataset)


def fresh_run_dir(run_dir):
    """`run_dir` if it holds no run yet, else the first of run_dir-2, run_dir-3, ... that does not exist."""
    if not holds_run(run_dir):
        return run_dir
    number = 2
    while os.path.exists(f'{run_dir}-{number}'):
        number += 1
    return f'{run_dir}-{number}'


def holds_run(run_dir):
    """True when `run_dir` has a saved configuration or checkpoints."""
    return os.path.exists(os.path.join(run_dir, RUN_CONFIG)) or bool(checkpoints.checkpoint_dirs(run_dir))


class RunLock:
    """An exclusive lock on a run folder for as long as a training writes into it."""

    def __init__(self, run_dir):
        self.path, self.file, self.created = os.path.join(run_dir, LOCK), None, not os.path.exists(run_dir)

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.file = open(self.path, 'a+')
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or 'unknown'
            self.file.close()
            raise RunLocked(f'Another training (process {holder}) is writing into {os.path.dirname(self.path)}. '
                            f'Wait for it to finish or stop it, or train into another run folder.') from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self):
        """Unlock the folder; remove it if this lock created it and nothing was written into it."""
        if self.file.closed:
            return
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
        folder = os.path.dirname(self.path)
        if self.created and os.listdir(folder) == [LOCK]:   # nothing was trained: leave no empty run behind
            os.remove(self.path)
            os.rmdir(folder)


@dataclass
class Plan:
    """How a training starts: from which checkpoint (or none), and what changed."""
    run_dir: str
    checkpoint: str = None       # resume from this one
    init_from: str = None        # or fine-tune from this one of another run (weights only)
    changes: list = field(default_factory=list)   # settings that differ from the saved run (applied)


def describe_changes(changes):
    """One indented line per change, with its kind."""
    return '\n'.join(f'  {c} ({KIND_WORDS[c.kind]})' for c in changes)


def refusal(run_dir, blocked):
    """The RunMismatch for settings that cannot change under a resumed run, saying how to go on."""
    names = [c.name for c in blocked]
    changeable = [c.name for c in blocked if c.kind in settings.CHANGEABLE]
    ways = [f'  - start a new run: add --new (it picks {fresh_run_dir(run_dir)}; in the notebook: '
            f'new_run = True), or choose another run folder;',
            '  - resume with the old values: set ' + ', '.join(f'{c.name}={c.old!r}' for c in blocked) + ';']
    if changeable and len(changeable) == len(names):
        flags = ' '.join(f'--allow-change {n}' for n in changeable)
        ways.append(f'  - go on training this run with the new values: add {flags} (in the notebook: '
                    f'allow_change = {changeable!r}); the change is recorded in the run\'s history.')
    return RunMismatch(f'{run_dir} was trained with other settings, so it is not resumed with these:\n'
                       f'{describe_changes(blocked)}\nTo go on, either\n' + '\n'.join(ways))


def plan(run_dir, config, allow_change=(), init_from=None, report=print):
    """Decide how a training into `run_dir` with `config` starts, or raise RunMismatch / ConfigError.

    Nothing is written: the caller saves the configuration once training really starts."""
    unknown = sorted(set(allow_change) - set(settings.SETTINGS))
    if unknown:
        raise ConfigError(f'allow_change names unknown settings: {", ".join(unknown)}.')
    fixed = sorted(n for n in allow_change if settings.kind(n) == settings.MODEL)
    if fixed:
        raise ConfigError(f'{", ".join(fixed)} change the networks\' shape, so the old weights cannot take '
                          f'them: they cannot be changed on resume. Start a new run (--new) instead.')
    checkpoint = checkpoints.latest(run_dir, report)
    if init_from:
        return fine_tune_plan(run_dir, config, init_from, checkpoint, report)
    if checkpoint is None:
        if checkpoints.checkpoint_dirs(run_dir):
            report(f'No usable checkpoint in {run_dir}: starting again from step 0 (the damaged ones are '
                   f'left as they are).')
        return Plan(run_dir)
    saved, legacy = checkpoints.saved_settings(checkpoints.read_state(checkpoint))
    if legacy:
        report(f'{checkpoint} was saved before runs kept their whole configuration: only '
               f'{", ".join(saved)} can be checked; the other settings are unknown and taken as given now.')
    found = settings.changes(saved, config)
    blocked = [c for c in found if c.kind == settings.MODEL or (
        c.kind in settings.CHANGEABLE and c.name not in allow_change)]
    if blocked:
        raise refusal(run_dir, blocked)
    safe = [c for c in found if c.kind == settings.SAFE]
    allowed = [c for c in found if c.kind != settings.SAFE]
    if safe:
        report('Resuming with changed settings that are safe to change:\n' + describe_changes(safe))
    if allowed:
        report('Resuming with changed settings you allowed (recorded in the run\'s history):\n'
               + describe_changes(allowed))
    return Plan(run_dir, checkpoint=checkpoint, changes=found)


def fine_tune_plan(run_dir, config, init_from, checkpoint, report):
    """A new run in `run_dir` that starts from the weights of run `init_from` (a fine-tune)."""
    if checkpoint is not None:
        raise RunMismatch(f'--init-from starts a new run, but {run_dir} already has checkpoints. Choose a '
                          f'fresh run folder (or --new) for the fine-tune.')
    source = checkpoints.latest(init_from, report)
    if source is None:
        raise RunMismatch(f'--init-from {init_from}: that run has no usable checkpoint.')
    saved, _ = checkpoints.saved_settings(checkpoints.read_state(source))
    shape = [c for c in settings.changes(saved, config) if c.kind == settings.MODEL]
    if shape:
        raise RunMismatch(f'--init-from {init_from}: its networks have another shape, so its weights do not '
                          f'fit:\n{describe_changes(shape)}\nUse the same model settings, or start from scratch.')
    report(f'Fine-tuning: a new run in {run_dir} starting from the weights of {source} '
           f'(fresh optimizer state, step 0).')
    return Plan(run_dir, init_from=source)


def record(run_dir, config, plan_, step):
    """Save the run's configuration, appending what changed (and how the run started) to its history."""
    path = os.path.join(run_dir, RUN_CONFIG)
    history = read_run_config(run_dir).get('history', []) if os.path.exists(path) else []
    if plan_.init_from:
        history.append(dict(step=step, how=f'fine-tune from {plan_.init_from}', time=time.time()))
    elif not history:
        history.append(dict(step=step, how='new run' if plan_.checkpoint is None else 'resumed', time=time.time()))
    if plan_.changes:
        history.append(dict(step=step, how='resumed with changes', time=time.time(),
                            changes={c.name: [c.old, c.new] for c in plan_.changes}))
    write_json(dict(config=config.to_dict(), history=history), path)


def read_record(run_dir, name, empty, kind):
    """The run's JSON record `name` (`empty` when there is none), of type `kind`; RunRecordDamaged, saying
    what to do, when it does not parse: trainings write it whole, so something else changed it."""
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        return empty
    try:
        with open(path) as f:
            record = json.load(f)
        if not isinstance(record, kind):
            raise ValueError(f'it holds a {type(record).__name__}, not a {kind.__name__}')
        return record
    except (ValueError, UnicodeDecodeError) as error:
        raise RunRecordDamaged(f'{path} is damaged ({error}): trainings write it whole, so something else changed '
                               f'it. Put back a good copy, or delete it (the checkpoints keep the settings; what it '
                               f'recorded is lost), and run again.') from None


def read_run_config(run_dir):
    """The run's config.json as a dict ({} when there is none)."""
    return read_record(run_dir, RUN_CONFIG, {}, dict)


def read_quality(run_dir):
    """The quality numbers logged by the run so far ([] when none)."""
    return read_record(run_dir, QUALITY, [], list)


def info(run_dir):
    """The lines `dcgan info RUN` prints: configuration, steps, checkpoints, latest quality, pictures."""
    if not holds_run(run_dir):
        raise ConfigError(f'{run_dir} holds no run (no {RUN_CONFIG}, no checkpoints): pass a run folder '
                          f'that a training wrote, e.g. runs/mnist.')
    saved = read_run_config(run_dir)
    lines = [f'Run {os.path.abspath(run_dir)}']
    good = checkpoints.latest(run_dir, report=lambda line: None)
    state = checkpoints.read_state(good) if good else None
    config = saved.get('config') or (checkpoints.saved_settings(state)[0] if state else {})
    lines.append('Configuration:')
    lines += [f'  {name} = {value!r}' + ('' if value == settings.DEFAULTS.get(name) else '   (default '
              f'{settings.DEFAULTS.get(name)!r})') for name, value in config.items()]
    for entry in saved.get('history', []):
        changed = ', '.join(f'{k} {v[0]!r} -> {v[1]!r}' for k, v in entry.get('changes', {}).items())
        lines.append(f'History: step {entry["step"]}: {entry["how"]}' + (f' ({changed})' if changed else ''))
    lines.append(f'Steps trained: {state["step"] if state else 0}')
    lines.append('Checkpoints:')
    for checkpoint in checkpoints.checkpoint_dirs(run_dir):
        problem = checkpoints.damage(checkpoint)
        lines.append(f'  {checkpoint}: ' + ('good' if problem is None else f'DAMAGED ({problem})'))
    if not checkpoints.checkpoint_dirs(run_dir):
        lines.append('  none yet')
    best = checkpoints.best_dir(run_dir)
    if os.path.isdir(best):
        problem, kept = checkpoints.damage(best), checkpoints.read_state(best).get('best', {})
        lines.append(f'  {best}: ' + (f'best {kept.get("metric")} {kept.get("value", float("nan")):.3g} at step '
                                      f'{kept.get("step")} (dcgan generate --checkpoint {run_dir} --best ...)'
                                      if problem is None else f'DAMAGED ({problem})'))
    history = read_quality(run_dir)
    if history:
        from dcgan.metrics import format_scores
        lines.append(f'Latest quality (step {history[-1]["step"]}): {format_scores(history[-1])}')
    progress = os.path.join(run_dir, PROGRESS)
    grids = sorted(os.listdir(progress)) if os.path.isdir(progress) else []
    lines.append(f'Pictures: {len(grids)} progress grids in {progress}' + (f' (newest {grids[-1]})' if grids else ''))
    lines.append(f'TensorBoard: tensorboard --logdir {os.path.join(run_dir, "tensorboard")}')
    return lines
