"""Training throughput against the number of devices: images/s, speed-up and efficiency (speed-up / N).

    .venv/bin/python -m benchmarks.scaling [--devices 1 2 4] [--per-device-batch 32 | --global-batch 64]
                                           [--rounds 3] [--windows 5] [--steps-per-window 20] [--warmup 10]
                                           [--out benchmarks/results/scaling.json]

One step is what the notebook's train() runs per batch, built the way train() builds it: Hooks.for_call
sets up the replicas, hooks.on_each_device builds the notebook's model_loss and model_opt once per device
(dcgan.distribute), hooks.session opens the session; then one sess.run of both train ops and both losses,
fed a global batch (from a pool of random images) and z drawn per step. Each device count runs in its own
process (the CPU is split into logical devices before TensorFlow initialises), in --rounds interleaved
rounds, so a slow spell of a shared machine falls on every row; a row's images/s is over the median of all
its timed windows.

By default the per-device batch is fixed and the global batch grows with N (how more GPUs are used: see
docs/devices.md); --global-batch fixes the global batch instead and splits it (each device gets less work).

Without GPUs the N devices are logical devices of one CPU: they share its cores, so N replicas cannot
compute faster than one, and the numbers measure what replication costs here (the split of the batch, the
all-reduces, the synchronised batch norm, N small matrix products instead of one large one), not a
speed-up. On a machine with N GPUs the same command is the real measurement.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.train_throughput import RESULT, image_pool, peak_rss_mb
from dcgan.atomic import write_json
from dcgan.cpu import cores, cpuinfo   # no TensorFlow: the parent process stays light

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES, PER_DEVICE_BATCH, ROUNDS, WINDOWS, STEPS_PER_WINDOW, WARMUP = (1, 2, 4), 32, 3, 5, 20, 10
SEED, LEARNING_RATE = 1, 0.0002
# The model the committed numbers were measured with (float32, the 256/64-filter widths of the defaults
# before the quality work): the scaling question does not change with the defaults.
MODEL = dict(g_filters=None, d_filters=64, learning_rate=LEARNING_RATE, mixed_precision=False)


def parse_args(argv=None):
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--devices', type=int, nargs='+', default=list(DEVICES), help='device counts to measure')
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument('--per-device-batch', type=int, default=PER_DEVICE_BATCH,
                       help='images per device and step; the global batch is N times this (default)')
    batch.add_argument('--global-batch', type=int, help='images per step in all, split over the N devices')
    parser.add_argument('--rounds', type=int, default=ROUNDS, help='times each N runs, interleaved, fresh process')
    parser.add_argument('--windows', type=int, default=WINDOWS, help='timed windows per run; all are pooled')
    parser.add_argument('--steps-per-window', type=int, default=STEPS_PER_WINDOW)
    parser.add_argument('--warmup', type=int, default=WARMUP, help='untimed steps first')
    parser.add_argument('--out', help='also write the results as JSON here')
    parser.add_argument('--only', type=int, help=argparse.SUPPRESS)   # internal: one device count, one process
    return parser.parse_args(argv)


def runs(args):
    """The (devices, global batch) pairs to measure: the series (per-device batch fixed, or global batch
    fixed), then, for a growing global batch, one device on each larger global batch too, so every row can
    be compared with one device doing the same work."""
    if args.global_batch:
        return [(n, args.global_batch) for n in args.devices]
    series = [(n, args.per_device_batch * n) for n in args.devices]
    return series + [(1, batch) for n, batch in series if n > 1]


def time_windows(step, args):
    """(wall seconds, CPU seconds of this process) of each timed window of step(i) calls, after args.warmup
    untimed calls. CPU time is what the work costs whatever else the machine is running."""
    for i in range(args.warmup):
        step(i)
    wall, cpu, i = [], [], args.warmup
    for _ in range(args.windows):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps_per_window):
            step(i)
            i += 1
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def run_only(devices, batch, args):
    """Time train()'s step on `devices` devices with a global batch of `batch`; return the result."""
    from dcgan import distribute
    distribute.set_up(devices)
    import tensorflow.compat.v1 as tf
    from dcgan import notebook, training
    from dcgan.config import TrainConfig
    from dcgan.hooks import Hooks
    tf.disable_eager_execution()
    config = TrainConfig(batch_size=batch, devices=devices, seed=SEED, **MODEL)
    model, channels, side = notebook.load(), 1, config.image_size
    pool = image_pool(batch)
    with tf.Graph().as_default():
        hooks = Hooks.for_call(Hooks(config, show=False), config.epochs, batch, config.z_dim, LEARNING_RATE,
                               config.beta1, (len(pool) * batch, side, side, channels), 'L')
        input_real, input_z, lr = model.model_inputs(side, side, channels, config.z_dim)

        def losses_and_steps(input_real, input_z):   # as the notebook's train() builds them
            d_loss, g_loss = model.model_loss(input_real, input_z, channels, config.smoothing,
                                              config.generator_options(), config.discriminator_options())
            return (d_loss, g_loss) + model.model_opt(d_loss, g_loss, lr, config.beta1, config.mixed_precision)
        d_loss, g_loss, d_opt, g_opt = hooks.on_each_device(losses_and_steps, input_real, input_z)
        with hooks.session() as sess:
            sess.run(tf.global_variables_initializer())

            def step(i):
                z = training.noise(training.step_rng(SEED, i), batch, config.z_dim)
                return sess.run([d_opt, g_opt, d_loss, g_loss], {input_real: pool[i % len(pool)], input_z: z,
                                                                 lr: LEARNING_RATE})[2:]
            seconds, cpu_seconds = time_windows(step, args)
    return dict(devices=devices, global_batch=batch, per_device_batch=batch // devices, seconds=seconds,
                cpu_seconds=cpu_seconds, images_per_second=batch * args.steps_per_window / statistics.median(seconds),
                peak_rss_mb=peak_rss_mb(), gpus=distribute.gpu_count())


def run_subprocess(devices, batch, args):
    """The result of `--only devices --global-batch batch` in a fresh Python process (its output shown only
    if it fails)."""
    command = [sys.executable, '-m', 'benchmarks.scaling', '--only', str(devices), '--global-batch', str(batch),
               '--windows', str(args.windows), '--steps-per-window', str(args.steps_per_window),
               '--warmup', str(args.warmup)]
    print(f'running: {devices} device{"s" * (devices > 1)}, global batch {batch} ...', file=sys.stderr, flush=True)
    process = subprocess.run(command, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), capture_output=True,
                             text=True, cwd=ROOT)
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT)]
    if process.returncode or not lines:
        print(process.stdout + process.stderr, file=sys.stderr)
        raise SystemExit(f'{devices} devices: failed (exit code {process.returncode}); its output is above')
    return json.loads(lines[-1][len(RESULT):])


def run_rounds(args):
    """{(devices, global batch): result}, every pair run args.rounds times, interleaved (each round starts
    one row later); its images/s over the median of all its windows, its per-round rates kept."""
    results, pairs = {}, runs(args)
    for round_index in range(args.rounds):
        shift = round_index % len(pairs)
        for devices, batch in pairs[shift:] + pairs[:shift]:
            result = run_subprocess(devices, batch, args)
            merged = results.setdefault((devices, batch), dict(result, seconds=[], cpu_seconds=[], round_rates=[]))
            merged['seconds'] += result['seconds']
            merged['cpu_seconds'] += result['cpu_seconds']
            merged['round_rates'].append(result['images_per_second'])
            merged['peak_rss_mb'] = max(merged['peak_rss_mb'], result['peak_rss_mb'])
    for result in results.values():
        images = result['global_batch'] * args.steps_per_window
        result['images_per_second'] = images / statistics.median(result['seconds'])
        result['images_per_cpu_second'] = images / statistics.median(result['cpu_seconds'])
    return results


def scaling(results, args):
    """Add to each row of the series its speed-up over one device (its first row's rate per device),
    efficiency (speed-up / N) and, against one device with the same global batch (when measured), its
    ratio of images/s and of images per CPU-second; return the series' (devices, global batch) pairs."""
    series = runs(args)[:len(args.devices)]
    one_device = results[series[0]]['images_per_second'] / series[0][0]
    for devices, batch in series:
        result, same_work = results[(devices, batch)], results.get((1, batch))
        result['speed_up'] = result['images_per_second'] / one_device
        result['efficiency'] = result['speed_up'] / devices
        for key in ('images_per_second', 'images_per_cpu_second'):
            result[f'{key}_vs_one_device'] = result[key] / same_work[key] if same_work and key in result else None
    return series


def table(results, series):
    """The Markdown table of the series (devices, batches, images/s and per round, speed-up, efficiency,
    images/s and images per CPU-second against one device doing the same work), then the reference rows."""
    ratio = lambda value: f'{value:.2f}x' if value else 'n/a'   # noqa: E731
    lines = ['| devices | global batch | per device | images/s | rounds | speed-up | efficiency | images/s vs 1 '
             'device, same batch | images/CPU-s | images/CPU-s vs 1 device, same batch |',
             '|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|']
    for pair in series:
        r = results[pair]
        rounds = ', '.join(f'{x:,.0f}' for x in r['round_rates'])
        lines.append(f"| {r['devices']} | {r['global_batch']} | {r['per_device_batch']} | "
                     f"{r['images_per_second']:,.0f} | {rounds} | {r['speed_up']:.2f}x | {100 * r['efficiency']:.0f} % "
                     f"| {ratio(r['images_per_second_vs_one_device'])} | {r.get('images_per_cpu_second', 0):,.0f} "
                     f"| {ratio(r['images_per_cpu_second_vs_one_device'])} |")
    for (devices, batch), r in sorted(results.items()):
        if (devices, batch) not in series:
            lines.append(f"| 1 (reference) | {batch} | {batch} | {r['images_per_second']:,.0f} | "
                         f"{', '.join(f'{x:,.0f}' for x in r['round_rates'])} | | | | "
                         f"{r.get('images_per_cpu_second', 0):,.0f} | |")
    return '\n'.join(lines)


def caveat(results):
    """What the numbers mean on this machine."""
    if any(r['gpus'] for r in results.values()):
        return 'Measured on GPUs: one replica per GPU.'
    info = cpuinfo()
    return (f"No GPU: the devices are logical devices of one CPU ({info.get('model name', '?')}, {cores()} cores "
            f"available to this process), which all share its cores: N replicas cannot compute faster than one "
            f"device doing the same work, so on this CPU the columns to read are the ones against 1 device with "
            f"the same batch (ideal: 1.00x; what falls short of it is the price of replication; the CPU-second "
            f"one is the steadier on a busy machine), and a speed-up above 1 with a growing global batch comes "
            f"from the larger batch, not from the devices. These are not GPU figures: docs/devices.md has "
            f"those, labelled as estimates.")


def main():
    args = parse_args()
    if args.only:
        print(RESULT + json.dumps(run_only(args.only, args.global_batch, args)))
        return
    results = run_rounds(args)
    series = scaling(results, args)
    print(table(results, series))
    print()
    print(caveat(results))
    if args.out:
        write_json(dict(machine=cpuinfo().get('model name'), cores=cores(), arguments=vars(args),
                        rows=list(results.values())), args.out)
        print(f'Wrote {args.out}')


if __name__ == '__main__':
    main()
