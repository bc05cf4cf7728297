"""Quality per minute on this CPU: sample quality on the shared MNIST digits and CelebA faces after 1, 2
and 5 (and 15) minutes of training, for several seeds and model variants (the old default, each quality
lever alone, the new default), with mean and spread.

    .venv/bin/python -m benchmarks.time_to_quality calibrate [--datasets mnist celeba] [--variants ...]
    .venv/bin/python -m benchmarks.time_to_quality train --datasets mnist --variants old new \\
                     --seeds 1 2 3 --minutes 1 2 5 [--clock steps|wall]
    .venv/bin/python -m benchmarks.time_to_quality table [--minutes 2 5]
    .venv/bin/python -m benchmarks.time_to_quality compare --out GRIDS --seeds 1 --minutes 5   # into assets/

How the minutes are counted. This machine's two cores are shared, so a wall-clock budget measures the
load as much as the model. `calibrate` therefore measures each variant's training speed (steps/s of the
notebook's own training step on real batches) in interleaved windows, all variants' sessions open at
once, so a slow spell falls on every variant alike; `train --clock steps` (the default) then trains each
variant for the steps it does in N minutes at that speed. Quality after a fixed number of steps does not
depend on the load, so the runs may share the CPU with other work. `--clock wall` counts real seconds
inside training steps instead (graph building, restoring and scoring never count), for a quiet machine.

Each run trains with the notebook's own train() through the project's trainer, resumes exactly from its
checkpoint at each mark, and scores 2,000 samples against 2,000 real images (SWD; for digits also the
digit classifier's FD, KID and class coverage). Every result is appended to --results (JSON) as soon as
it exists, so a stopped measurement continues where it was (runs already there are skipped), and the
8x8 grid of each mark is saved to --out. `table` prints the Markdown ablation table from --results.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import tensorflow.compat.v1 as tf

from benchmarks.quality import (CELEBA_ZIP, MNIST_IMAGES, SCORED, digit_classifier, headless, load, quiet,
                                reference_sets)
from dcgan import config, cpu, metrics, notebook, pictures, trainer, training
from dcgan.atomic import atomic_file, write_json
from dcgan.data.images import to_float
from dcgan.errors import TrainingDiverged
from dcgan.hooks import Hooks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'benchmarks', 'results', 'time_to_quality.json')
SOURCES = dict(mnist=MNIST_IMAGES, celeba=CELEBA_ZIP)
EPOCHS = 10 ** 6   # the step budget, not the epochs, ends training
# The old default (before issue 14), pinned: the comparisons keep meaning the same when defaults change.
OLD = dict(g_filters=None, d_filters=64, kernel=4, g_activation='lrelu', g_dropout=0.0, d_norm='batch', g_ema=0.0,
           batch_size=32, learning_rate=0.0002, g_learning_rate=None, beta1=0.5, smoothing=0.9, loss='bce',
           r1_gamma=0.0, augment='', z_distribution='normal', mixed_precision=False)
# Each lever alone, on top of the old default.
LEVERS = {
    'ema': dict(g_ema=0.999),
    'ttur': dict(learning_rate=0.0004, g_learning_rate=0.0001),
    'lr2x': dict(learning_rate=0.0004),
    'hinge': dict(loss='hinge'),
    'spectral': dict(d_norm='spectral'),
    'r1': dict(r1_gamma=0.2),
    'augment': dict(augment='translation,color,cutout'),
    'bf16': dict(mixed_precision=True),
    'batch64': dict(batch_size=64, learning_rate=0.0004),
    'narrow': dict(g_filters=128, d_filters=32),
    'classic': dict(config.PRESETS['classic']),
}
NEW = 'narrow+ema+bf16+batch64'   # the levers that won, on top of the old default: today's defaults
CALIBRATION_WARMUP, CALIBRATION_STEPS, CALIBRATION_ROUNDS = 15, 25, 4


def variant_settings(name):
    """The settings of variant `name`: 'old', 'new' (today's defaults), a lever, or levers joined by '+'."""
    if name == 'new':
        return {}
    if name == 'old':
        return dict(OLD)
    settings = dict(OLD)
    for lever in name.split('+'):
        if lever not in LEVERS:
            raise SystemExit(f'Unknown variant {name!r}: use old, new, or levers joined by +: {", ".join(LEVERS)}.')
        settings.update(LEVERS[lever])
    return settings


def variant_config(name, dataset, seed, image_size=config.IMAGE_SIZE, **changes):
    """The run configuration of a variant on a data set (printing and scheduled checks off)."""
    return quiet(config.preset('default', **variant_settings(name), dataset=dataset, seed=seed, image_size=image_size),
                 epochs=EPOCHS, metrics_samples=SCORED, **changes)


def label(variant, image_size):
    """The name results are kept under: the variant, with its image size when not the default."""
    return variant if image_size == config.IMAGE_SIZE else f'{variant}@{image_size}'


def machine():
    """What the numbers were measured on."""
    return dict(cores=os.cpu_count(), cpu=cpu.cpuinfo().get('model name', '?'), bfloat16=cpu.has_bfloat16())


def read_results(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return dict(machine=machine(), rates={}, runs=[])


def update_results(path, rates=None, run=None, real=None):
    """Add calibrated rates ({data set: {variant: ...}}), a run's entry or real-vs-real scores to the
    results file as it is now (another measurement may have added to it meanwhile), atomically. The file's
    `machine` is the one its first numbers came from; what another machine adds carries its own."""
    results, here = read_results(path), machine()

    def stamped(entry):
        """The entry, naming this machine when it is not the file's."""
        return entry if here == results['machine'] else dict(entry, machine=here)
    for name, found in (rates or {}).items():
        results['rates'].setdefault(name, {}).update({v: stamped(m) for v, m in found.items()})
    if run:   # a mark measured again at another step budget (a new calibration) replaces the earlier one
        same = key(run)
        results.setdefault('superseded', []).extend(r for r in results['runs'] if key(r) == same)
        results['runs'] = [r for r in results['runs'] if key(r) != same] + [stamped(run)]
    results.setdefault('real_vs_real', {}).update(real or {})
    write_json(results, path)
    return results


# ---------------------------------------------------------------------------------------------- calibrate


def calibrate(args):
    """Steps/s of each variant's training step on each data set, in interleaved windows."""
    results = read_results(args.results)
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets:
            dataset = load(name, SOURCES[name], work, args.image_size)
            steppers = {v: TrainingStep(variant_config(v, name, 1, args.image_size), dataset) for v in args.variants}
            windows = {v: [] for v in args.variants}
            for _ in range(CALIBRATION_ROUNDS):
                for v, stepper in steppers.items():
                    windows[v].append(stepper.rate(CALIBRATION_STEPS))
            known = results['rates'].get(name, {})
            reference = args.relative_to and known.get(label(args.relative_to, args.image_size))
            for v, stepper in steppers.items():
                stepper.close()
                rate, how = statistics.median(windows[v]), 'median of the windows'
                if reference and v != args.relative_to:   # the machine is busy: keep the ratios, not the speeds
                    ratio = statistics.median(w / r for w, r in zip(windows[v], windows[args.relative_to]))
                    rate, how = reference['steps_per_s'] * ratio, f'{ratio:.3f} x the calibrated {args.relative_to}'
                if v == args.relative_to and reference:
                    continue
                measured = dict(steps_per_s=rate, windows=windows[v], how=how, settings=variant_settings(v), when=now())
                update_results(args.results, rates={name: {label(v, args.image_size): measured}})
                print(f'{name} {v}: {rate:.2f} steps/s, {how} ({", ".join(f"{w:.2f}" for w in windows[v])})',
                      flush=True)


class TrainingStep:
    """The notebook's training step of one configuration in a session of its own, on real batches."""

    def __init__(self, run_config, dataset):
        model, self.graph = notebook.load(), tf.Graph()
        self.batches = dataset.images[:run_config.batch_size * 8]
        with self.graph.as_default():   # what the notebook's train() builds before its first step
            c, (_, width, height, channels) = run_config, dataset.shape
            hooks = Hooks.for_call(Hooks(c, show=False), c.epochs, c.batch_size, c.z_dim, c.learning_rate, c.beta1,
                                   dataset.shape, dataset.image_mode)
            input_real, input_z, lr = model.model_inputs(width, height, channels, c.z_dim)
            d_loss, g_loss = model.model_loss(input_real, input_z, channels, c.smoothing, c.generator_options(),
                                              c.discriminator_options(), **c.loss_options())
            d_opt, g_opt = model.model_opt(d_loss, g_loss, lr, c.beta1, c.mixed_precision, c.g_learning_rate, c.g_ema)
            self.fetches, self.config = [d_opt, g_opt, d_loss, g_loss], c
            self.inputs = (input_real, input_z, lr)
            self.session = tf.Session(config=training.session_config(c.use_xla, c.mixed_precision))
            self.session.run(tf.global_variables_initializer())
            self.hooks, self.step = hooks, 0
        self.rate(CALIBRATION_WARMUP)

    def rate(self, steps):
        """Run `steps` training steps; return steps/s."""
        input_real, input_z, lr = self.inputs
        start = time.perf_counter()
        for _ in range(steps):
            images = to_float(self.batches.reshape(8, -1, *self.batches.shape[1:])[self.step % 8])
            self.session.run(self.fetches, {input_real: images, lr: self.config.learning_rate,
                                            input_z: self.hooks.noise(self.step, len(images))})
            self.step += 1
        return steps / (time.perf_counter() - start)

    def close(self):
        self.session.close()


# ---------------------------------------------------------------------------------------------- train


class StepBudget:
    """Serves a Dataset's batches while counting the seconds spent in training steps (wall clock)."""

    def __init__(self, dataset):
        self.dataset, self.spent, self.resumed = dataset, 0.0, None
        self.images, self.shape, self.image_mode = dataset.images, dataset.shape, dataset.image_mode
        self.budget = None   # seconds (wall clock), or None: max_steps ends training

    def get_batches(self, batch_size, epoch=None, start=0):
        for batch in self.dataset.get_batches(batch_size, epoch=epoch, start=start):
            if self.resumed is None:
                self.resumed = time.perf_counter()
            if self.budget is not None and self.spent + time.perf_counter() - self.resumed >= self.budget:
                self.pause()
                return
            yield batch

    def pause(self):
        if self.resumed is not None:
            self.spent += time.perf_counter() - self.resumed
            self.resumed = None


def scorer(name, dataset, seed, work):
    """A fresh QualityLog against SCORED real images, and the real-vs-real scores."""
    reference, other_real = reference_sets(dataset, seed)
    classifier = None
    if name == 'mnist':
        classifier = digit_classifier(dataset, work)
    floor = metrics.QualityLog(reference, classifier, seed).score(other_real)
    return (lambda: metrics.QualityLog(reference, classifier, seed)), floor


def key(run):
    return (run['dataset'], label(run['variant'], run.get('image_size', config.IMAGE_SIZE)), run['seed'], run['minutes'],
            run['clock'])


def steps_in(minutes, rate):
    """The training steps a mark of `minutes` holds at the calibrated `rate` (steps/s)."""
    return round(minutes * 60 * rate)


def train(args):
    """Train every (data set, variant, seed) up to each mark; append each mark's scores to --results (a mark
    already there is measured again only when its calibrated step budget changed)."""
    results = read_results(args.results)
    done = {key(r): r['steps'] for r in results['runs']}
    marks = sorted(args.minutes)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets:
            dataset = load(name, SOURCES[name], work, args.image_size)
            for seed in args.seeds:
                new_quality, floor = scorer(name, dataset, seed, work)
                results = update_results(args.results, real={f'{label(name, args.image_size)}/{seed}': floor})
                for variant in args.variants:
                    named = label(variant, args.image_size)
                    if args.clock == 'steps':
                        rate = results['rates'].get(name, {}).get(named)
                        if rate is None:
                            raise SystemExit(f'No calibrated speed for {name} {variant}: run `calibrate --datasets '
                                             f'{name} --variants {variant}` first.')
                        rate = rate['steps_per_s']
                    wanted = [m for m in marks if (name, named, seed, m, args.clock) not in done or (
                        args.clock == 'steps' and done[name, named, seed, m, args.clock] not in (None, steps_in(m, rate)))]
                    if not wanted:
                        continue
                    run_dir = os.path.join(args.runs or work, f'{name}-{named}-seed{seed}')
                    quality, budget = new_quality(), StepBudget(dataset)
                    for minutes in marks:
                        changes = dict(max_steps=steps_in(minutes, rate)) if args.clock == 'steps' else {}
                        budget.budget = minutes * 60 if args.clock == 'wall' else None
                        run_config = variant_config(variant, name, seed, args.image_size, **changes)
                        started = time.perf_counter()
                        try:
                            losses, samples, _ = trainer.train(notebook.load(), run_config, budget, run_dir,
                                                               quality=quality)
                            diverged = None
                        except TrainingDiverged as error:
                            losses, samples, diverged = [], None, str(error)
                        budget.pause()
                        if minutes not in wanted:
                            continue
                        entry = dict(dataset=name, variant=variant, image_size=args.image_size, seed=seed,
                                     minutes=minutes, clock=args.clock,
                                     steps=len(losses) if not diverged else None, diverged=diverged,
                                     scores=quality.history[-1] if quality.history and not diverged else None,
                                     settings=variant_settings(variant), seconds=time.perf_counter() - started,
                                     when=now())
                        update_results(args.results, run=entry)
                        if samples is not None:
                            pictures.save_grid(samples[:64], dataset.image_mode,
                                               os.path.join(args.out, f'{name}_{named}_seed{seed}_{minutes:g}min.png'))
                        print(summary_line(entry), flush=True)
                        if diverged:
                            break


def now():
    return time.strftime('%Y-%m-%d %H:%M:%S')


def summary_line(entry):
    scores = entry['scores'] or {}
    shown = ', '.join(f'{k} {scores[k]:.3g}' for k in ('swd', 'classifier_fd', 'classes_covered') if k in scores)
    return (f"{entry['dataset']} {entry['variant']} seed {entry['seed']} {entry['minutes']:g} min: "
            f"{entry['steps']} steps, {shown or 'diverged: ' + str(entry['diverged'])[:80]}")


# ---------------------------------------------------------------------------------------------- table


def spread(values, digits):
    """'mean ± half-range' of the values (one value: just it)."""
    if not values:
        return '-'
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}'


def other_machines(entries):
    """The CPUs named by entries (runs, calibrated rates) measured on a machine other than the results file's."""
    return sorted({entry['machine']['cpu'] for entry in entries if entry.get('machine')})


def table(args):
    """The Markdown table of --results: per data set, variant and mark, the mean ± half-range over seeds."""
    results = read_results(args.results)
    lines = ['| data set | variant | minutes | seeds | steps | SWD x1e3 | digit FD | classes (min) | steps/s |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    groups = {}
    others = other_machines(results['runs'] + [m for rates in results['rates'].values() for m in rates.values()])
    for run in results['runs']:
        if run['clock'] == args.clock and (not args.minutes or run['minutes'] in args.minutes):
            named = label(run['variant'], run.get('image_size', config.IMAGE_SIZE))
            groups.setdefault((run['dataset'], named, run['minutes']), []).append(run)
    order = ['old'] + list(LEVERS)   # then combinations of levers, then the new default

    def rank(variant):
        return order.index(variant) if variant in order else len(order) + (variant == NEW)
    for (name, variant, minutes), runs in sorted(groups.items(), key=lambda g: (
            g[0][0] != 'mnist', g[0][2], rank(g[0][1]), g[0][1])):
        good = [r['scores'] for r in runs if r['scores']]
        diverged = len(runs) - len(good)
        fd = [s['classifier_fd'] for s in good if 'classifier_fd' in s]
        classes = [s['classes_covered'] for s in good if 'classes_covered' in s]
        rate = results['rates'].get(name, {}).get(variant, {}).get('steps_per_s')
        shown = f'**{variant} (the new default)**' if variant == NEW else variant
        elsewhere = other_machines(runs + [results['rates'].get(name, {}).get(variant, {})])
        shown += ''.join(' ' + '†' * (others.index(cpu_name) + 1) for cpu_name in elsewhere)
        lines.append(f"| {name} | {shown} | {minutes:g} | {len(runs)}{f' ({diverged} diverged)' if diverged else ''} "
                     f"| {statistics.fmean(r['steps'] for r in runs if r['steps']) if good else 0:.0f} "
                     f"| {spread([s['swd'] for s in good], 1)} | {spread(fd, 2)} "
                     f"| {min(classes) if classes else '-':} | {f'{rate:.2f}' if rate else '-'} |")
    floors = results.get('real_vs_real', {})   # keyed data set/seed, or data set@size/seed at another size
    for name in sorted({k.split('/')[0] for k in floors}, key=lambda n: (not n.startswith('mnist'), n)):
        real = [v for k, v in floors.items() if k.split('/')[0] == name]
        data, _, size = name.partition('@')
        fd = [s['classifier_fd'] for s in real if 'classifier_fd' in s]
        lines.append(f"| {data} | real images{f' @{size}' if size else ''} | - | {len(real)} | - "
                     f"| {spread([s['swd'] for s in real], 1)} | {spread(fd, 2)} | - | - |")
    m = results['machine']
    marks = ''.join(f"; {'†' * (i + 1)} on another machine of this kind ({cpu_name}, also {m['cores']} cores)"
                    for i, cpu_name in enumerate(others))
    text = (f"Measured on {m['cores']} cores ({m['cpu']}{marks}); mean ± half the range over the seeds; lower "
            f"is better; steps/s: the calibrated training speed.\n\n" + '\n'.join(lines))
    print(text)
    if args.write:
        write_between_markers(args.write, text)


TABLE_START, TABLE_END = '<!-- time_to_quality table -->', '<!-- end of the time_to_quality table -->'


def write_between_markers(path, text):
    """Replace what lies between the table markers in the Markdown file `path` with `text`."""
    with open(path) as f:
        page = f.read()
    if TABLE_START not in page or TABLE_END not in page:
        raise SystemExit(f'{path} has no {TABLE_START} ... {TABLE_END} block to write the table into.')
    before, rest = page.split(TABLE_START, 1)
    after = rest.split(TABLE_END, 1)[1]
    with atomic_file(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(f'{before}{TABLE_START}\n{text}\n{TABLE_END}{after}')
    print(f'Wrote the table into {path}')


def compare(args):
    """assets-style pictures: per data set, the old default's and today's grids after the same minutes and
    seed, side by side with their labels and scores."""
    from PIL import Image, ImageDraw
    results = read_results(args.results)
    minutes, seed = (args.minutes or [5])[0], args.seeds[0]
    for name in args.datasets:
        tiles = []
        for variant, title in (('old', 'old default'), (NEW, 'new default')):
            path = os.path.join(args.out, f'{name}_{variant}_seed{seed}_{minutes:g}min.png')
            run = next((r for r in results['runs'] if (r['dataset'], r['variant'], r['seed'], r['minutes']) ==
                        (name, variant, seed, minutes) and r['scores']), None)
            if not os.path.exists(path) or run is None:
                raise SystemExit(f'{path} or its scores are missing: run `train` for {name} {variant} seed {seed} first.')
            scores = run['scores']
            shown = f"SWD {scores['swd']:.1f}" + (f", digit FD {scores['classifier_fd']:.2f}" if 'classifier_fd' in scores
                                                 else '')
            tiles.append((Image.open(path).convert('RGB'), f'{title}: {minutes:g} min, {run["steps"]} steps, {shown}'))
        width, height, caption = tiles[0][0].width, tiles[0][0].height, 24
        picture = Image.new('RGB', (2 * width + 16, height + caption), 'white')
        draw = ImageDraw.Draw(picture)
        for i, (grid, text) in enumerate(tiles):
            picture.paste(grid, (i * (width + 16), caption))
            draw.text((i * (width + 16) + 4, 6), text, fill='black')
        target = os.path.join(args.pictures, f'{name}_old_vs_new_{minutes:g}min.png')
        picture.save(target)
        print(f'Wrote {target}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('command', choices=('calibrate', 'train', 'table', 'compare'))
    parser.add_argument('--datasets', nargs='+', default=['mnist', 'celeba'], choices=list(SOURCES))
    parser.add_argument('--variants', nargs='+', default=['old', 'new'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--minutes', type=float, nargs='+', default=None,
                        help='the marks (train: default 1 2 5; table: all)')
    parser.add_argument('--clock', choices=('steps', 'wall'), default='steps')
    parser.add_argument('--image-size', type=int, choices=config.IMAGE_SIZES, default=config.IMAGE_SIZE)
    parser.add_argument('--relative-to', metavar='VARIANT',
                        help='calibrate: when the machine is busy, time VARIANT (already calibrated on a quiet '
                             'machine) in the same rounds and scale its calibrated speed by the measured ratios')
    parser.add_argument('--results', default=RESULTS)
    parser.add_argument('--out', default=os.path.join(tempfile.gettempdir(), 'time_to_quality'),
                        help='the 8x8 sample grid of each mark')
    parser.add_argument('--runs', default=None, help='keep the run folders here (default: a temporary folder)')
    parser.add_argument('--write', metavar='MARKDOWN', help='table: also write it into this file, between its '
                                                            'time_to_quality table markers')
    parser.add_argument('--pictures', default=os.path.join(ROOT, 'assets'), help="compare: where its pictures go")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.command not in ('table', 'compare') and not all(os.path.exists(SOURCES[n]) for n in args.datasets):
        print(f'skipped: the shared data is not in {os.path.dirname(os.path.dirname(MNIST_IMAGES))}')
        return
    for v in args.variants:
        variant_settings(v)
    if args.command == 'calibrate':
        calibrate(args)
    elif args.command == 'train':
        args.minutes = args.minutes or [1, 2, 5]
        train(args)
    elif args.command == 'compare':
        compare(args)
    else:
        table(args)


if __name__ == '__main__':
    headless()
    sys.exit(main())
