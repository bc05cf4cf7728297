"""What a training run does besides training, as hooks the notebook's train() calls at fixed points:
resuming, checkpoints, TensorBoard, quality checks, progress grids, the divergence guard, a clean stop
on Ctrl-C or SIGTERM and, in a multi-worker run, a watchdog for workers that stay silent.

    hooks = Hooks.for_call(hooks, epoch_count, ...)      # plain hooks when train() is called the course's way
    d_loss, g_loss, d_opt, g_opt = hooks.on_each_device(build, input_real, input_z)   # one copy per device
    with hooks.session() as sess:
        step = hooks.begin(sess, input_z, sampler, monitors)   # initialise, or resume a checkpoint
        for epoch_i, batch_images in hooks.batches(get_batches):
            ... one training step ...
            hooks.after_step(step, d_value, g_value, feed)     # record, guard, log, score, checkpoint
            hooks.save_samples(step, show_generator_output(...))   # every show_every batches
        hooks.end(step)                                        # final checkpoint and score
"""
import contextlib
import functools
import os
import signal
import threading

import numpy as np
import tensorflow.compat.v1 as tf

from dcgan import checkpoints, distribute, pictures, quiet, runs, training
from dcgan.animation import GrowingAnimation
from dcgan.atomic import write_json
from dcgan.config import TrainConfig
from dcgan.errors import ConfigError, Interrupted
from dcgan.progress import progress

SAMPLE_COUNT = 64   # the fixed latent vectors shown during training (an 8x8 grid)
COURSE_ARGUMENTS = ('epochs', 'batch_size', 'z_dim', 'learning_rate', 'beta1')   # train()'s first five
PROGRESS_ANIMATION = 'progress.gif'   # in the run folder: every progress grid of the run (thinned when long)
WORSENING_CHECKS = 3      # warn when the score got worse this many quality checks in a row
LOST_CLASSES = 2          # warn when the digits cover this many classes fewer than they did
LOST_SPREAD = 0.5         # warn when the samples' spread falls below this fraction of its highest


def alone(method):
    """A Hooks method that this process does by itself (saving, scoring): see Hooks.own_work."""
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        with self.own_work():
            return method(self, *args, **kwargs)
    return wrapped


class Hooks:
    """The bookkeeping of one training run. Without a run folder it only initialises, draws the noise,
    guards against divergence and records the losses."""

    def __init__(self, config, run_dir=None, plan=None, quality=None, show=True, before_exit=()):
        self.config, self.run_dir, self.quality, self.show = config.validate(), run_dir, quality, show
        self.before_exit = list(before_exit)   # what a worker that the watchdog ends must still do
        self.plan = plan or runs.Plan(run_dir)
        self.losses, self.step, self.kept, self.stop_requested, self.joined = [], 0, None, False, False
        self.guard = training.DivergenceGuard(learning_rate=config.learning_rate, loss=config.loss)
        self.data_shape = self.image_mode = self.sess = self.board = self.animation = self.replicas = None
        self.watchdog = None
        self.watch = QualityWatch()
        self.first_step = contextlib.ExitStack()   # TensorFlow's graph-optimisation chatter (see dcgan.quiet)

    @classmethod
    def for_call(cls, hooks, epoch_count, batch_size, z_dim, learning_rate, beta1, data_shape, data_image_mode):
        """The hooks for one train() call: `hooks` after checking that the call's arguments are its
        configuration's, or plain hooks built from the arguments. Seeds the graph."""
        given = dict(zip(COURSE_ARGUMENTS, (epoch_count, batch_size, z_dim, learning_rate, beta1)),
                     image_size=data_shape[1])
        if hooks is None:
            hooks = cls(TrainConfig(**given))
        differ = [f'{k}={v!r} (configuration: {getattr(hooks.config, k)!r})' for k, v in given.items()
                  if getattr(hooks.config, k) != v]
        if differ:
            raise ConfigError('train() was called with arguments other than its hooks\' configuration: '
                              + ', '.join(differ) + '. Pass the configuration\'s values.')
        hooks.config.check_data(data_shape[0])
        hooks.data_shape, hooks.image_mode = tuple(data_shape), data_image_mode
        tf.set_random_seed(hooks.config.seed)
        config = hooks.config
        if config.devices > 1 or distribute.cluster():
            hooks.replicas = distribute.Replicas(config.devices, config.batch_size)
            count = hooks.replicas.count
            print(f'{distribute.describe(config.devices)}. Global batch {config.batch_size} = {count} replicas '
                  f'x {config.batch_size // count} images.')
        return hooks

    def on_each_device(self, build, *global_inputs):
        """build(*global_inputs) on one device; on several (config.devices), once per device on its slice
        of the fed batch, the outputs merged (dcgan.distribute.Replicas.on_each_device)."""
        if self.replicas is None:
            return build(*global_inputs)
        return self.replicas.on_each_device(build, *global_inputs)

    # -- the pieces train() builds with ----------------------------------------------------------

    def fixed_z(self):
        """The latent vectors of the progress grids: the same for the whole run, so grids compare."""
        return training.noise(np.random.default_rng(self.config.seed), SAMPLE_COUNT, self.config.z_dim,
                              self.config.z_distribution)

    def noise(self, step, count):
        """The latent vectors of training step `step`: fixed by the seed and the step, so a resumed run
        draws exactly what an uninterrupted one would."""
        return training.noise(training.step_rng(self.config.seed, step), count, self.config.z_dim,
                              self.config.z_distribution)

    @contextlib.contextmanager
    def session(self):
        """The training session; while it is open, Ctrl-C and SIGTERM ask for a checkpoint and a stop at
        the end of the current step (a second Ctrl-C stops at once)."""
        config, target = training.session_config(self.config.use_xla, self.config.mixed_precision,
                                                 self.config.devices), ''
        if self.replicas:
            config, target = self.replicas.session(config)
        try:
            with tf.Session(target, config=config) as sess, self.stop_signals(), self.first_step, self.watching():
                self.sess = sess
                try:
                    yield sess
                except tf.errors.UnavailableError as error:
                    if not (self.replicas and self.replicas.resolver):
                        raise
                    raise distribute.lost_worker(self.step, error, self.kept) from None
        finally:
            if self.board:
                self.board.close()

    def watching(self):
        """In a multi-worker run, the watchdog that ends this worker when the others stay silent for
        worker_timeout seconds (dcgan.distribute.Watchdog); elsewhere nothing."""
        if not (self.replicas and self.replicas.resolver):
            return contextlib.nullcontext()
        timeout = self.config.worker_timeout
        self.watchdog = distribute.Watchdog(
            timeout, lambda stopped=False: distribute.silent_workers(self.step if self.joined else None, timeout,
                                                                     self.kept, stopped),
            [self.first_step.close, lambda: self.board and self.board.flush()] + self.before_exit)
        return self.watchdog

    def own_work(self):
        """Around what this process does alone (saving, scoring): the watchdog never cuts it short."""
        return self.watchdog.paused() if self.watchdog else contextlib.nullcontext()

    @contextlib.contextmanager
    def stop_signals(self):
        """Turn SIGINT and SIGTERM into a stop request while training (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            if self.stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.stop_requested = True
            print(f'\n{signal.Signals(signum).name}: saving a checkpoint at the end of this step, then stopping '
                  f'(Ctrl-C again to stop at once).', flush=True)
        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    # -- the calls train() makes -----------------------------------------------------------------

    def begin(self, sess, input_z, sampler, monitors=()):
        """Initialise the variables, or restore the checkpoint the plan names; return the step to start at."""
        self.input_z, self.sampler, self.monitors = input_z, sampler, list(monitors)
        self.scoring_z = training.noise(training.scoring_rng(self.config.seed), self.scored_count(),
                                        self.config.z_dim, self.config.z_distribution)
        if sess is self.sess:   # inside session(), which ends the filter whatever happens
            self.first_step.enter_context(quiet.filtered_stderr())   # until the first step is done
        if self.watchdog:
            print(f'Waiting for the other workers to join (worker_timeout={self.config.worker_timeout} s).', flush=True)
        sess.run(tf.global_variables_initializer())   # in a cluster, the chief's initial values are broadcast
        if self.watchdog:   # all joined; the chief restores and opens its records while the others wait
            self.joined = True
            self.watchdog.beat(hold=not self.run_dir)
        return self.restore_or_start(sess)

    @alone
    def restore_or_start(self, sess):
        """Restore the checkpoint the plan names, or fine-tune's weights; open the run's records."""
        self.saver = tf.train.Saver(max_to_keep=None)
        if self.plan.checkpoint:
            checkpoints.restore(sess, self.saver, self.plan.checkpoint)
            self.step = checkpoints.read_state(self.plan.checkpoint)['step']
            self.losses = [tuple(row) for row in checkpoints.read_losses(self.plan.checkpoint)]
            self.kept = self.plan.checkpoint
            print(f'Resuming from step {self.step}: {self.plan.checkpoint}')
            if self.quality and self.run_dir:   # keep the quality history of the steps before
                earlier = runs.read_quality(self.run_dir)
                self.quality.history[:0] = [h for h in earlier if h['step'] <= self.step]
                for earlier_scores in self.quality.history:   # the watch goes on where it was
                    self.watch.is_best(earlier_scores['step'], earlier_scores)
            if self.run_dir and os.path.isdir(checkpoints.best_dir(self.run_dir)):
                self.watch.best = checkpoints.read_state(checkpoints.best_dir(self.run_dir)).get('best')
        elif self.plan.init_from:
            weights = [v for v in tf.global_variables() if v.name.split('/')[0] in ('generator', 'discriminator')
                       and '/Adam' not in v.name]
            checkpoints.restore(sess, tf.train.Saver(weights), self.plan.init_from)
        if self.run_dir:
            checkpoints.remove_unfinished(self.run_dir)
            runs.record(self.run_dir, self.config, self.plan, self.step)
            self.board = training.board_writer(self.run_dir)
            self.animation = GrowingAnimation(os.path.join(self.run_dir, PROGRESS_ANIMATION))
            self.animation.rewind(self.step)   # frames past the checkpoint are drawn again
        self.saved_step = self.scored_step = self.step
        if self.step >= self.total_steps():
            print(f'The run is complete: step {self.step} of {self.total_steps()} ({self.config.epochs} epochs'
                  f'{", max_steps %d" % self.config.max_steps if self.config.max_steps else ""}). Raise epochs '
                  f'(or max_steps) to train it further, or start a new run.')
        return self.step

    def batches(self, get_batches):
        """(epoch, batch) pairs from the current step to the end of the run, under a progress bar."""
        per_epoch = self.config.steps_per_epoch(self.data_shape[0])
        schedule = training.batch_schedule(get_batches, self.config.batch_size, self.config.epochs,
                                           self.config.max_steps, self.step, per_epoch)
        return progress(schedule, initial=self.step, total=self.total_steps(), desc='Training', unit='batch')

    def after_step(self, step, d_loss, g_loss, feed):
        """Record the step's losses; guard, log, score and checkpoint on schedule; stop if asked to."""
        config, self.step = self.config, step
        if self.watchdog:   # the others wait longer while the chief saves or scores after this step
            self.watchdog.beat(hold=not self.run_dir and self.chief_works_after(step))
        self.first_step.close()
        self.losses.append((d_loss, g_loss))
        self.guard.check(step, d_loss, g_loss, self.kept)
        if self.board and step % config.summary_every == 0:
            values = {'loss/discriminator': d_loss, 'loss/generator': g_loss}
            if self.monitors:
                values.update(zip(('D(x)', 'D(G(z))'), self.sess.run(self.monitors, feed)))
            training.log_scalars(self.board, step, values)
        if self.quality and step % config.metrics_every == 0:
            self.score()
        if self.run_dir and step % config.checkpoint_every == 0:
            self.checkpoint()
        if self.stop_requested:
            where = self.checkpoint() if self.run_dir else None
            raise Interrupted(f'Stopped at step {step}' + (f': saved {where}. Run the same command to resume.'
                                                           if where else ' (no run folder, nothing saved).'))

    @alone
    def save_samples(self, step, samples):
        """With a run folder, save the fixed-z grid (shown by the notebook's show_generator_output when
        self.show) to progress/ and TensorBoard."""
        if self.run_dir:
            grid = pictures.images_square_grid(samples, self.image_mode)
            folder = os.path.join(self.run_dir, runs.PROGRESS)
            pictures.save_image(grid, os.path.join(folder, 'step-{:08d}.png'.format(step)))
            keep_newest(folder, 'step-', self.config.progress_grids_kept)
            self.animation.add(step, grid)
            if step % self.config.board_images_every == 0:
                training.log_image(self.board, step, 'samples', grid)

    def end(self, step):
        """The final checkpoint and quality check, unless this step already had them."""
        if self.run_dir and step != self.saved_step:
            self.checkpoint()
        if self.quality and step != self.scored_step:
            self.score()

    # -- what the hooks do -----------------------------------------------------------------------

    def chief_works_after(self, step):
        """Whether the chief of a multi-worker run saves, scores or draws after `step` (on schedule)."""
        c = self.config
        return any(step % every == 0 for every in (c.checkpoint_every, c.metrics_every, c.show_every))

    def total_steps(self):
        """The step the run ends at."""
        total = self.config.epochs * self.config.steps_per_epoch(self.data_shape[0])
        return min(total, self.config.max_steps or total)

    def scored_count(self):
        """How many generated images each quality check scores."""
        return len(self.quality.reference) if self.quality else self.config.metrics_samples

    def state(self):
        """What a checkpoint records besides the variables: the step, the whole configuration, the data."""
        per_epoch = self.config.steps_per_epoch(self.data_shape[0])
        return dict(step=self.step, epoch=self.step // per_epoch, batch=self.step % per_epoch,
                    config=self.config.to_dict(),
                    data=dict(count=self.data_shape[0], channels=self.data_shape[3], image_mode=self.image_mode))

    @alone
    def checkpoint(self):
        """Save a checkpoint of the current step."""
        self.kept = checkpoints.save(self.sess, self.saver, self.run_dir, self.state(), self.losses,
                                     self.config.keep_checkpoints)
        self.saved_step = self.step
        return self.kept

    @alone
    def score(self):
        """Score the fixed scoring z's samples; keep the best-scored checkpoint, warn when quality worsens
        or variety is lost; log to TensorBoard and the run's quality.json."""
        samples = training.sample(self.sess, self.sampler, self.input_z, self.scoring_z)
        scores = self.quality(self.step, samples)
        if self.watch.is_best(self.step, scores):
            if self.run_dir:
                checkpoints.save_best(self.sess, self.saver, self.run_dir, dict(self.state(), best=self.watch.best),
                                      self.losses)
        for warning in self.watch.warnings(scores, samples, self.run_dir):
            print('WARNING: ' + warning, flush=True)
        if self.board:
            training.log_scalars(self.board, self.step, {'quality/' + k: v for k, v in scores.items()})
        if self.run_dir:
            write_json(self.quality.history, os.path.join(self.run_dir, runs.QUALITY))
        self.scored_step = self.step


def keep_newest(folder, prefix, count):
    """Delete all but the newest `count` files named PREFIX* in `folder` (their names sort by step)."""
    names = sorted(n for n in os.listdir(folder) if n.startswith(prefix))
    for name in names[:-count]:
        os.remove(os.path.join(folder, name))


class QualityWatch:
    """Follows a run's quality checks: which step scored best (digit FD for digits, SWD otherwise; lower
    is better), and whether the score keeps getting worse or the samples lose their variety (fewer digit
    classes, or a smaller spread of the samples: mode collapse)."""

    def __init__(self):
        self.best = self.last = None
        self.worse = self.most_classes = self.widest = 0
        self.warned = set()

    def is_best(self, step, scores):
        """Record this check; True when it is the best so far."""
        metric = 'classifier_fd' if 'classifier_fd' in scores else 'swd'
        value = scores[metric]
        self.worse = self.worse + 1 if self.last is not None and value > self.last else 0
        self.last = value
        if self.best is None or self.best['metric'] != metric or value < self.best['value']:
            self.best = dict(metric=metric, value=value, step=step)
            return True
        return False

    def warnings(self, scores, samples, run_dir=None):
        """The warnings this check earns (each kind once per run)."""
        best = self.best
        where = (f' (kept in {checkpoints.best_dir(run_dir)}; sample it with `dcgan generate --checkpoint {run_dir} '
                 f'--best --out best.png`)') if run_dir else ''
        found = []
        if self.worse == WORSENING_CHECKS:
            found.append(f'quality has worsened {WORSENING_CHECKS} checks in a row ({best["metric"]} {self.last:.3g}); '
                         f'the best was {best["value"]:.3g} at step {best["step"]}{where}.')
        classes = scores.get('classes_covered')
        if classes is not None:
            self.most_classes = max(self.most_classes, classes)
            if classes <= self.most_classes - LOST_CLASSES and 'classes' not in self.warned:
                self.warned.add('classes')
                found.append(f'the samples now cover {classes:.0f} digit classes, down from {self.most_classes:.0f}: '
                             f'mode collapse. The best checkpoint was step {best["step"]}{where}.')
        spread = float(np.std(samples, axis=0).mean())
        self.widest = max(self.widest, spread)
        if spread < LOST_SPREAD * self.widest and 'spread' not in self.warned:
            self.warned.add('spread')
            found.append(f'the samples have lost their variety (spread {spread:.3f}, down from {self.widest:.3f}): '
                         f'mode collapse. The best checkpoint was step {best["step"]}{where}.')
        return found

