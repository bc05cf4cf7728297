"""Command line: train the notebook's DCGAN, look at a run, sample from it, export its generator.

    dcgan train --dataset mnist                        trains into runs/mnist; run again to resume it
    dcgan train --dataset celeba --data img_align_celeba.zip --preset classic --new
    dcgan info runs/mnist                              its settings, steps, checkpoints, quality, pictures
    dcgan generate --checkpoint runs/mnist --n 64 --out runs/mnist/grid.png     (.npy, or a folder)
    dcgan generate --checkpoint runs/mnist --interpolate --out runs/mnist/walk.png
    dcgan export --checkpoint runs/mnist --out runs/mnist/saved_model

Exit codes: 0 done; 2 an expected problem, explained in one paragraph (bad settings, missing or damaged
files, a run that cannot be resumed as asked); 130 stopped by Ctrl-C or SIGTERM after saving a
checkpoint; 1 a bug, with its traceback.
"""
import argparse
import os
import sys

from dcgan import __version__, config as settings
from dcgan.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, DcganError, Interrupted

DATA_DIR_ENV = 'DLND_DATA_DIR'   # where data sets are downloaded and extracted (as in the notebook)


def train_command(args):
    """Train on a data set with the notebook's train(), resuming the run folder unless its settings differ."""
    from dcgan import distribute, notebook, runs, trainer
    from dcgan.data.dataset import Dataset
    from dcgan.data.sources import download_extract
    config = settings.from_arguments(args)
    distribute.set_up(config.devices)   # before anything else sets up TensorFlow's devices
    run_dir = args.run_dir or runs.default_run_dir(config.dataset)
    files = download_extract(config.dataset, args.data_dir, source=args.data)
    cache_dir = os.path.join(args.data_dir, 'cache')
    dataset = Dataset(config.dataset, files, config.image_size, max_images=config.max_images, seed=config.seed,
                      cache_dir=cache_dir)
    classifier = trainer.digit_classifier(dataset, files[0], [args.data_dir, os.path.dirname(args.data or '')],
                                          cache_dir) if config.dataset == 'mnist' else None
    quality = trainer.quality_log(dataset, config, classifier)[0] if distribute.is_chief() else None
    losses, _, run_dir = trainer.train(notebook.load(), config, dataset, run_dir, new=args.new,
                                       allow_change=args.allow_change, init_from=args.init_from, quality=quality)
    if distribute.is_chief():
        print(f'Trained to step {len(losses)}: {run_dir} (see: dcgan info {run_dir})')
    else:
        print(f'Trained to step {len(losses)} as a worker of a multi-worker run (the chief saves {run_dir}).')


def info_command(args):
    """Print a run's configuration, steps, checkpoints (good or damaged), latest quality and pictures."""
    from dcgan import runs
    print('\n'.join(runs.info(args.run_dir)))


def generate_command(args):
    """Write samples (grid, PNGs or .npy) or a latent interpolation strip from a checkpoint."""
    from dcgan import generate
    generator = generate.load_generator(args.checkpoint)
    if args.interpolate:
        generate.write_interpolation(generator, args.out, args.rows, args.steps, args.seed)
    else:
        images = generator.sample(generate.latent(generator, args.n, args.seed))
        generate.write_samples(images, generate.image_mode(generator), args.out)
    print(f'Wrote {args.out}')


def export_command(args):
    """Export the checkpoint's generator as a SavedModel."""
    from dcgan import generate
    generate.export_saved_model(generate.load_generator(args.checkpoint), args.out)
    print(f'Exported the generator to {args.out} (signature serving_default: z -> images)')


def parser():
    """The command-line interface; the train options are generated from dcgan.config.TrainConfig."""
    formatter = argparse.RawDescriptionHelpFormatter
    main = argparse.ArgumentParser(prog='dcgan', description=__doc__, formatter_class=formatter)
    main.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    main.add_argument('--debug', action='store_true', help='show the traceback of expected problems too')
    commands = main.add_subparsers(dest='command', required=True)

    train = commands.add_parser('train', help=train_command.__doc__, description=train_command.__doc__)
    train.add_argument('--data', help='your archive or image folder (default: find or download the official one)')
    train.add_argument('--data-dir', default=os.environ.get(DATA_DIR_ENV, 'data'),
                       help=f'where data sets are downloaded and extracted (default: ${DATA_DIR_ENV} or data)')
    train.add_argument('--run-dir', help='checkpoints, TensorBoard and progress grids go here (default: runs/DATASET)')
    train.add_argument('--preset', choices=tuple(settings.PRESETS), default='default',
                       help='a named set of settings the options below override (default: default)')
    train.add_argument('--new', action='store_true', help='start a new run in a fresh folder beside --run-dir '
                                                          'if that one holds a run already')
    train.add_argument('--allow-change', action='append', default=[], metavar='SETTING',
                       help='resume even though this data or dynamics setting changed (repeatable; recorded)')
    train.add_argument('--init-from', metavar='RUN', help='start a new run from the weights of another run (fine-tune)')
    settings.add_arguments(train)
    train.set_defaults(run=train_command)

    info = commands.add_parser('info', help=info_command.__doc__, description=info_command.__doc__)
    info.add_argument('run_dir', metavar='RUN', help='a run folder, e.g. runs/mnist')
    info.set_defaults(run=info_command)

    generate = commands.add_parser('generate', help=generate_command.__doc__, description=generate_command.__doc__)
    generate.add_argument('--checkpoint', required=True, help='a run folder (its newest checkpoint) or a checkpoint')
    generate.add_argument('--n', type=int, default=64, help='how many samples (default: 64)')
    generate.add_argument('--out', required=True, help='grid.png, samples.npy, or a folder for single PNGs')
    generate.add_argument('--seed', type=int, default=0, help='seed of the latent vectors (default: 0)')
    generate.add_argument('--interpolate', action='store_true', help='write a latent interpolation strip')
    generate.add_argument('--rows', type=int, default=8, help='interpolation: how many walks (default: 8)')
    generate.add_argument('--steps', type=int, default=10, help='interpolation: images per walk (default: 10)')
    generate.set_defaults(run=generate_command)

    export = commands.add_parser('export', help=export_command.__doc__, description=export_command.__doc__)
    export.add_argument('--checkpoint', required=True, help='a run folder (its newest checkpoint) or a checkpoint')
    export.add_argument('--out', required=True, help='a new folder for the SavedModel')
    export.set_defaults(run=export_command)
    return main


def main(argv=None):
    """Run one command; expected problems end with their message and EXIT_USER_ERROR, not a traceback."""
    args = parser().parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')   # no screen: curves are saved, never shown
    try:
        args.run(args)
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return EXIT_INTERRUPTED
    except DcganError as error:
        if args.debug:
            raise
        print(f'error: {error}', file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == '__main__':
    sys.exit(main())
