"""Data-parallel training on several devices, and on several machines, with TensorFlow's own engine,
tf.distribute, in the notebook's tf.compat.v1 graph mode.

    devices=1              exactly the notebook's single-device graph: no strategy at all
    devices=N              tf.compat.v1.distribute.MirroredStrategy over N devices of this machine: N GPUs
                           when it has them, else the CPU split into N logical devices (so the whole path
                           runs, and is tested, anywhere)
    TF_CONFIG (2+ tasks)   tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy: every worker
                           runs the same command; devices is then the GPUs of each worker (1 on a CPU-only
                           worker); the chief (worker 0) writes the run folder, the others only train

One training step on R replicas (R = N, or workers x devices):
  - input: every worker reads the same global batch (batch_size images, once, from its cache) and its
    latent vectors; they are split on the host into R equal slices and each replica takes its own, so no
    replica holds a copy of the data set;
  - each replica builds the notebook's model_loss and model_opt on its slice
    (strategy.extended.call_for_each_replica); the variables are mirrored, one copy per device under the
    single-device names, so checkpoints are interchangeable between device counts;
  - Adam (tf.compat.v1.train.AdamOptimizer) sums the replicas' gradients with an all-reduce; each replica's
    loss is divided by R first, so the sum is the gradient of the global batch's mean loss;
  - batch norm is synchronised: a layer's batch mean and variance are summed over the replicas, so every
    replica normalises with the statistics of the whole global batch, as one device does, and the moving
    averages are updated from those same statistics on every copy. Per-replica statistics would need no
    exchange, but a 28x28 DCGAN's batches are small (32 images on 8 GPUs is 4 a device): they would be
    noisy, the model's function would depend on R, and a run moved to another device count would not go on
    as it would have. The exchange is two small all-reduces per batch-norm layer (a few hundred numbers),
    next to the 2.5 million gradients the optimizer all-reduces anyway.
"""
import contextlib
import os
import re
import select
import signal
import sys
import threading
import time

import tensorflow.compat.v1 as tf

from dcgan.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, DcganError

TF_CONFIG = 'TF_CONFIG'        # the environment variable describing a multi-worker cluster
WORKER_JOBS = ('chief', 'worker')
GRACE = 1.0                    # seconds a worker has at least to stop by itself after a second Ctrl-C
CHIEF_WORK_SECONDS = 3600      # how long the other workers wait while the chief saves and scores


class DevicesError(DcganError):
    """The devices or cluster a run asks for cannot be had in this process."""


def gpu_count():
    """How many GPUs TensorFlow sees (without initialising its devices)."""
    return len(tf.config.list_physical_devices('GPU'))


def cpu_devices_configured():
    """How many logical CPU devices this process is set up with, or None if that is still open."""
    configured = tf.config.get_logical_device_configuration(tf.config.list_physical_devices('CPU')[0])
    return len(configured) if configured else None


def prepare(count):
    """The names of `count` devices of this machine to train on: the first `count` GPUs, or (no GPU) the
    CPU split into `count` logical devices. The split must happen before TensorFlow initialises its
    devices; raise DevicesError, saying what to do, when that is too late or there are too few GPUs."""
    gpus = gpu_count()
    if gpus:
        if count > gpus:
            raise DevicesError(f'devices={count} asks for {count} GPUs, but this machine has {gpus}. Use '
                               f'devices={gpus} (or fewer).')
        return [f'/device:GPU:{i}' for i in range(count)]
    configured = cpu_devices_configured()
    if count > 1 and (configured is None or configured < count):
        try:
            tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0],
                                                       [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            raise DevicesError(
                f'devices={count} needs the CPU split into {count} logical devices, but TensorFlow has already '
                f'set up its devices in this process ({configured or 1} CPU device). The split must come '
                f'before anything else runs TensorFlow: in a notebook, restart the kernel and run the cells '
                f'from the top (the devices are set up before any training); in your own script, call '
                f'dcgan.distribute.set_up(devices) before any other TensorFlow work.') from None
    return [f'/device:CPU:{i}' for i in range(count)]


def set_up(devices):
    """Make a run's devices ready before anything initialises TensorFlow's: on one machine with devices > 1,
    prepare() them (the CPU split, where there is no GPU); nothing for one device or a cluster."""
    if devices > 1 and cluster() is None:
        prepare(devices)


def cluster():
    """The TF_CONFIG cluster resolver of a multi-worker run, or None (no TF_CONFIG, or a single task)."""
    if not os.environ.get(TF_CONFIG):
        return None
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    try:
        spec = resolver.cluster_spec().as_dict()
    except (ValueError, TypeError, AttributeError) as error:
        raise DevicesError(f'TF_CONFIG cannot be read ({error.__class__.__name__}: {error}). It must be JSON '
                           f'like {{"cluster": {{"worker": ["host1:port", "host2:port"]}}, "task": {{"type": '
                           f'"worker", "index": 0}}}} (see docs/devices.md), or unset for one machine.') from None
    return resolver if worker_count(spec) > 1 else None


def worker_count(spec):
    """How many workers (the chief included) a cluster spec {job: [addresses]} has."""
    return sum(len(spec.get(job, ())) for job in WORKER_JOBS)


def is_chief(resolver=None):
    """True for the process that writes the run folder: the only one, or the chief of a cluster (the
    'chief' task, else worker 0)."""
    resolver = resolver or cluster()
    if resolver is None:
        return True
    if 'chief' in resolver.cluster_spec().as_dict():
        return resolver.task_type == 'chief'
    return resolver.task_type == 'worker' and resolver.task_id == 0


def describe(count):
    """One line: the devices (and workers) `count` replicas per worker train on."""
    resolver = cluster()
    if resolver:
        workers = worker_count(resolver.cluster_spec().as_dict())
        where = f'{count} GPU{"s" if count > 1 else ""} each' if gpu_count() else 'its CPU each'
        return (f'Devices: {workers} workers ({where}; this is {resolver.task_type} {resolver.task_id}'
                f'{", the chief" if is_chief(resolver) else ""}), tf.distribute.MultiWorkerMirroredStrategy')
    if count == 1:
        return 'Devices: 1'
    if gpu_count():
        return f'Devices: {count} GPUs, one replica each (tf.distribute.MirroredStrategy)'
    return (f'Devices: {count} logical CPU devices, one replica each (tf.distribute.MirroredStrategy); they '
            f'share this CPU\'s cores, so this tests the path rather than speeding it up')


def lost_worker(step, error, kept=None):
    """The DevicesError of a multi-worker run that lost a worker (TensorFlow's UnavailableError)."""
    target = re.search(r'remote target /job:(\w+)/replica:\d+/task:(\d+)', error.message)
    who = f'{target.group(1)} {target.group(2)}' if target else 'another worker'
    where = f'The newest checkpoint is kept: {kept}. ' if kept else ''
    return DevicesError(f'Training stopped after step {step}: {who} of this multi-worker run cannot be reached '
                        f'({error.__class__.__name__}: it stopped, or the network between them failed). {where}'
                        f'Start every worker again with the same command to resume.')


def silent_workers(step, timeout, kept=None, stopped=False):
    """The message of a multi-worker run whose other workers gave no answer for `timeout` seconds (or,
    `stopped`, the end of that of a worker stopped while it waited for them)."""
    where = f'The newest checkpoint is kept: {kept}. ' if kept else ''
    if stopped:
        return f'{where}Start every worker again with the same command to go on.'
    if step is None:
        return (f'Training could not start: the other workers of this multi-worker run did not all join within '
                f'worker_timeout={timeout:g} s (one has not been started, has stopped, or cannot be reached at '
                f'the address TF_CONFIG gives it). {where}Start every worker with the same command; each waits '
                f'worker_timeout seconds for the others (raise it when workers start further apart).')
    return (f'Training stopped after step {step}: the other workers of this multi-worker run gave no answer for '
            f'worker_timeout={timeout:g} s (one stopped, or the network between them failed). {where}'
            f'Start every worker again with the same command to resume.')


class Watchdog:
    """Ends a worker of a multi-worker run that waits too long for the others.

    TensorFlow's collectives wait for every worker without a limit: a worker that is gone before a
    collective has started (while the others start up, or between steps) leaves the rest waiting forever,
    and neither a session's timeout nor closing it reaches them; nor does Ctrl-C, whose Python handler only
    runs once the wait is over. So a thread ends the process after `timeout` seconds without a beat (a
    finished step; CHIEF_WORK_SECONDS after a beat that `holds`, a step after which the chief saves or
    scores while the others wait): it runs `before_exit`, prints `message(stopped=False)` and exits
    EXIT_USER_ERROR. A second Ctrl-C (seen through the signal wakeup fd) that the worker has not acted on
    within the grace (GRACE, or twice the longest time between beats) ends it the same way, with
    EXIT_INTERRUPTED. While the worker does its own work (saving, scoring: `paused()`) it never fires, so
    nothing is left half-written."""

    def __init__(self, timeout, message, before_exit=()):
        self.timeout, self.message, self.before_exit = timeout, message, list(before_exit)
        self.last, self.limit, self.longest, self.pauses = time.monotonic(), timeout, 0.0, 0
        self.interrupts, self.second_interrupt = 0, None   # Ctrl-Cs since the last beat
        self.lock, self.stopped = threading.RLock(), threading.Event()
        self.thread = threading.Thread(target=self.watch, name='worker-watchdog', daemon=True)
        self.wakeup = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            read, write = os.pipe()
            os.set_blocking(write, False)
            previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
            if previous == -1:
                self.wakeup = (read, write)
            else:   # an event loop listens there already (a notebook's kernel): leave it to that
                signal.set_wakeup_fd(previous)
                os.close(read)
                os.close(write)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        if self.wakeup:
            os.write(self.wakeup[1], b'\0')   # wakes the thread's select (0 is no signal)
        self.thread.join()
        if self.wakeup:
            signal.set_wakeup_fd(-1)
            for fd in self.wakeup:
                os.close(fd)

    def beat(self, hold=False):
        """Something finished: the wait starts again (a long one if `hold`: the chief's own work follows)."""
        with self.lock:
            now = time.monotonic()
            self.longest = max(self.longest, now - self.last)
            self.last, self.limit = now, max(self.timeout, CHIEF_WORK_SECONDS) if hold else self.timeout
            self.interrupts, self.second_interrupt = 0, None

    @contextlib.contextmanager
    def paused(self):
        """This worker's own work, however long it takes: never cut short."""
        with self.lock:
            self.pauses += 1
        try:
            yield
        finally:
            with self.lock:   # the worker's own Python code ran meanwhile: its handlers saw any Ctrl-C
                self.pauses -= 1
                self.last, self.interrupts, self.second_interrupt = time.monotonic(), 0, None

    def watch(self):
        interval = min(GRACE, self.timeout / 4)
        while not self.stopped.is_set():
            if self.wakeup and select.select([self.wakeup[0]], [], [], interval)[0]:
                self.count_interrupts(os.read(self.wakeup[0], 64))
            elif not self.wakeup:
                self.stopped.wait(interval)
            with self.lock:
                if self.stopped.is_set() or self.pauses:
                    continue
                now, grace = time.monotonic(), max(GRACE, 2 * self.longest)
                if self.second_interrupt and now - self.second_interrupt >= grace:
                    self.end_process(EXIT_INTERRUPTED, f'Ctrl-C again, and this worker did not stop within {grace:.0f} '
                                                       f's: it waits inside TensorFlow (for the other workers, or a '
                                                       f'long step), where Python cannot interrupt it. Stopped at '
                                                       f'once. {self.message(stopped=True)}')
                if now - self.last >= self.limit:
                    self.end_process(EXIT_USER_ERROR, f'error: {self.message()}')

    def count_interrupts(self, received):
        """Note the Ctrl-Cs (SIGINT) among the signal numbers the wakeup fd received: as in training, only a
        second Ctrl-C means stop at once (SIGTERM, and a first Ctrl-C, ask for a checkpoint first)."""
        with self.lock:
            self.interrupts += sum(number == signal.SIGINT for number in received)
            if self.interrupts >= 2 and self.second_interrupt is None:
                self.second_interrupt = time.monotonic()

    def end_process(self, code, message):
        """Run before_exit, print `message` and end the process with `code`, whatever fails on the way."""
        try:
            for cleanup in self.before_exit:
                try:
                    cleanup()
                except BaseException:   # a folder gone, a full disk: the process must end all the same
                    pass
            sys.stdout.flush()
            print(f'\n{message}', file=sys.stderr, flush=True)
        except BaseException:
            pass
        finally:
            os._exit(code)


def replicas():
    """How many replicas train in sync here: R inside a replica of an R-replica strategy, else 1."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


class Replicas:
    """The replicas of the model: on this machine's devices (MirroredStrategy) or, with a TF_CONFIG
    cluster, on every worker's (MultiWorkerMirroredStrategy)."""

    def __init__(self, devices, batch_size):
        self.resolver, self.server = cluster(), None
        if self.resolver is None:
            self.strategy = tf.distribute.MirroredStrategy(prepare(devices))
            self.host = '/device:CPU:0'
        else:
            self.strategy = tf.distribute.experimental.MultiWorkerMirroredStrategy(
                cluster_resolver=self.worker_resolver(devices))
            self.host = f'/job:{self.resolver.task_type}/task:{self.resolver.task_id}/device:CPU:0'
        self.count = self.strategy.num_replicas_in_sync
        if batch_size % self.count:
            raise DevicesError(f'batch_size ({batch_size}) must be a multiple of the {self.count} replicas '
                               f'(workers x devices), so each gets an equal share of the global batch.')

    def worker_resolver(self, devices):
        """This worker's cluster resolver, with `devices` GPUs (a CPU-only worker is one replica)."""
        gpus = gpu_count()
        if devices > max(gpus, 1):
            raise DevicesError(f'devices={devices}, but this worker has {gpus or "no"} GPU{"s" * (gpus != 1)}: '
                               f'in a multi-worker run, devices is the number of GPUs of each worker, and a '
                               f'worker without GPUs is one replica (devices=1).')
        return tf.distribute.cluster_resolver.SimpleClusterResolver(
            self.resolver.cluster_spec(), task_type=self.resolver.task_type, task_id=self.resolver.task_id,
            num_accelerators={'GPU': devices} if gpus else {}, rpc_layer=self.resolver.rpc_layer or 'grpc')

    def session(self, config):
        """(the session config for this strategy, the session target: '' on one machine, this worker's
        gRPC server in a cluster, started on first use)."""
        config = self.strategy.update_config_proto(config)
        if self.resolver is None:
            return config, ''
        if self.server is None:
            self.server = tf.distribute.Server(self.resolver.cluster_spec(), job_name=self.resolver.task_type,
                                               task_index=self.resolver.task_id, config=config, start=True)
        return config, self.server.target

    def on_each_device(self, build, *global_inputs):
        """Call build(*slices) once per replica, each on its own slice of the fed global tensors, and
        return its outputs merged: tensors averaged over all replicas (the global batch's mean loss),
        training ops grouped with every replica's batch-norm updates."""
        with self.strategy.scope():
            with tf.device(self.host):
                slices = [tf.split(tensor, self.count) for tensor in global_inputs]

            @tf.autograph.experimental.do_not_convert
            def build_replica():
                index = tf.get_static_value(tf.distribute.get_replica_context().replica_id_in_sync_group)
                return build(*(parts[index] for parts in slices))
            before = set(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
            outputs = self.strategy.extended.call_for_each_replica(build_replica)
            updates = [op for op in tf.get_collection(tf.GraphKeys.UPDATE_OPS) if op not in before]
            return tuple(self.merge(output, updates) for output in outputs)

    def merge(self, output, updates):
        """One replica-independent value of a call_for_each_replica output."""
        values = self.strategy.experimental_local_results(output)
        if isinstance(values[0], tf.Operation):
            return tf.group(*dict.fromkeys(values), *updates)
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, output, axis=None)


class MeanOfReplicasAdam(tf.train.AdamOptimizer):
    """Adam whose summed replica gradients are the global batch's mean gradient: each replica's loss is
    divided by the number of replicas before differentiating."""

    def compute_gradients(self, loss, *args, **kwargs):
        return super().compute_gradients(loss / replicas(), *args, **kwargs)


def synchronised_batch_norm(x, gamma, beta, moving_mean, moving_variance, decay, epsilon):
    """Batch norm of NHWC maps with the statistics of the whole global batch (summed over the replicas):
    what tf.nn.fused_batch_norm computes on one device (a two-pass variance; the unbiased one for the
    moving average); the moving-average updates go to UPDATE_OPS."""
    axes = [0, 1, 2]
    local_count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
    total, count = differentiable_sum([tf.reduce_sum(x, axes)], constants=[local_count])
    mean = total / count
    squares, = differentiable_sum([tf.reduce_sum(tf.square(x - mean), axes)])
    variance = squares / count
    y = tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon)
    unbiased = variance * count / tf.maximum(count - 1, 1)
    for moving, value in ((moving_mean, mean), (moving_variance, unbiased)):
        tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, update_every_copy(moving, value, decay))
    return y


def sum_over_replicas(values):
    """Each of this replica's `values` summed over all replicas (one batched all-reduce; no gradient)."""
    def reduce(strategy, *per_replica):
        return strategy.extended.batch_reduce_to(tf.distribute.ReduceOp.SUM, [(v, v) for v in per_replica])
    return tf.distribute.get_replica_context().merge_call(reduce, args=tuple(values))


def differentiable_sum(local, constants=()):
    """The `local` tensors summed over the replicas, with the gradient of that sum (each replica's local
    values get the gradients of every replica, summed), then the `constants` summed (no gradient).

    ReplicaContext.all_reduce has such a gradient, but in graph mode its tf.custom_gradient looks for the
    variables behind the reduced values, walks into the other replicas' graphs and fails on their copies'
    names; here the reduction is an input of the custom gradient, so that walk stops at once."""
    sums = sum_over_replicas(list(local) + list(constants))

    @tf.custom_gradient
    def with_gradient(*tensors):
        def gradient(*upstream):
            return list(sum_over_replicas(upstream)) + [None] * len(local)
        return [tf.identity(t) for t in tensors[len(local):]], gradient
    return list(with_gradient(*local, *sums[:len(local)])) + [tf.stop_gradient(s) for s in sums[len(local):]]


def update_every_copy(moving, value, decay):
    """moving -= (moving - value) * (1 - decay) on every device's copy, as one op all replicas share.
    `value` is the same on every replica (synchronised statistics), so the copies stay equal."""
    def assign(strategy, value):
        return strategy.extended.update(
            moving, lambda copy, value: tf.assign_sub(copy, (copy - value) * (1 - decay)), args=(value,),
            group=True)
    return tf.distribute.get_replica_context().merge_call(assign, args=(value,))
