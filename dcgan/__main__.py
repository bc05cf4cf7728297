"""Command line: train the notebook's DCGAN, look at a run, sample from it, export its generator.

    dcgan train --dataset mnist                        trains into runs/mnist; run again to resume it
    dcgan train --dataset celeba --data img_align_celeba.zip --preset classic --new
    dcgan info runs/mnist                              its settings, steps, checkpoints, quality, pictures
    dcgan generate --checkpoint runs/mnist --n 64 --out runs/mnist/grid.png   (.jpg, .gif, .npy, folder/)
    dcgan generate --checkpoint runs/mnist --interpolate --out runs/mnist/walk.gif   (.png: a strip)
    dcgan export --checkpoint runs/mnist --out runs/mnist/saved_model
    dcgan generate --pretrained celeba --n 64 --out faces.png     a shipped generator (pretrained/), no training
    dcgan serve --pretrained celeba                    a generator service and its page on 127.0.0.1:8000
    dcgan tensorboard                                  TensorBoard on runs/ (any tensorboard options)

Exit codes: 0 done; 2 an expected problem, explained in one paragraph (bad settings, missing or damaged
files, a full disk, no permission, a run that cannot be resumed as asked); 130 stopped by Ctrl-C or
SIGTERM after saving a checkpoint; 1 a bug, with its traceback.
"""
import argparse
import os
import sys

from dcgan import __version__, config as settings, disk
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
    """Write samples (a grid image, an animation, an array or a folder of PNGs, by the suffix of --out) or
    latent walks from a checkpoint or a shipped generator."""
    from dcgan import generate, pretrained
    generate.output_kind(args.out)   # refuse a path that names no output before loading anything
    generator = pretrained.load_model(args.pretrained, generate.chosen_checkpoint(args.checkpoint, args.best))
    if args.interpolate:
        generate.write_interpolation(generator, args.out, args.rows, args.steps, args.seed)
        print(f'Wrote {args.rows} latent walks of {args.steps} steps to {args.out}')
    else:
        generate.write_generated(generator, args.n, args.seed, args.out)
        print(f'Wrote {args.n} samples to {args.out}')


def export_command(args):
    """Export the checkpoint's generator as a SavedModel."""
    from dcgan import generate
    generate.export_saved_model(generate.load_generator(generate.chosen_checkpoint(args.checkpoint, args.best)),
                                args.out)
    print(f'Exported the generator to {args.out} (signature serving_default: z -> images)')


def tensorboard_command(args):
    """TensorBoard on the runs' records (--logdir runs unless given), without TensorFlow's C++ start-up lines."""
    from tensorboard import main as board
    given = any(option.split('=')[0] in ('--logdir', '--logdir_spec') for option in args.options)
    sys.argv = ['tensorboard', *([] if given else ['--logdir', 'runs']), *args.options]
    board.run_main()


def at_least(minimum):
    """An argparse type: a whole number of at least `minimum` (argparse reports anything else cleanly)."""
    def whole_number(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be a whole number, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}, got {value}')
        return value
    whole_number.__name__ = f'a whole number of at least {minimum}'
    return whole_number


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
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument('--checkpoint', help='a run folder (its newest checkpoint) or a checkpoint')
    source.add_argument('--pretrained', help='a shipped generator (mnist, celeba: see pretrained/) or its folder')
    generate.add_argument('--best', action='store_true', help=settings.BEST_HELP)
    generate.add_argument('--n', type=at_least(1), default=64, help='how many samples (default: 64)')
    generate.add_argument('--out', required=True,
                          help='its suffix decides: grid.png or grid.jpg (a grid; with --interpolate a strip, a '
                               'walk per row), samples.gif (an animation), samples.npy (float32 array in '
                               '[-0.5, 0.5]), or a folder (existing, or ending in /) of single PNGs')
    generate.add_argument('--seed', type=at_least(0), default=0, help='seed of the latent vectors (default: 0)')
    generate.add_argument('--interpolate', action='store_true', help='write latent walks instead of samples')
    generate.add_argument('--rows', type=at_least(1), default=8, help='interpolation: how many walks (default: 8)')
    generate.add_argument('--steps', type=at_least(2), default=10,
                          help='interpolation: images per walk (default: 10)')
    generate.set_defaults(run=generate_command)

    export = commands.add_parser('export', help=export_command.__doc__, description=export_command.__doc__)
    export.add_argument('--checkpoint', required=True, help='a run folder (its newest checkpoint) or a checkpoint')
    export.add_argument('--best', action='store_true', help=settings.BEST_HELP)
    export.add_argument('--out', required=True, help='a new folder for the SavedModel')
    export.set_defaults(run=export_command)

    board = commands.add_parser('tensorboard', help=tensorboard_command.__doc__, add_help=False,
                                description=tensorboard_command.__doc__)
    board.set_defaults(run=tensorboard_command)   # every other option is tensorboard's own (see main)

    from dcgan import serve
    serve.add_serve_arguments(commands.add_parser('serve', help=serve.serve_command.__doc__))
    return main


def main(argv=None):
    """Run one command; expected problems end with their message and EXIT_USER_ERROR, not a traceback."""
    cli = parser()
    args, args.options = cli.parse_known_args(argv)
    if args.options and args.command != 'tensorboard':
        cli.error(f'unrecognized arguments: {" ".join(args.options)}')
    import matplotlib
    matplotlib.use('Agg')   # no screen: curves are saved, never shown
    try:
        args.run(args)
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:   # outside training: downloads resume, unfinished files are removed next time
        if args.debug:
            raise
        print('Stopped by Ctrl-C. Nothing half-written is used: run the same command to go on.', file=sys.stderr)
        return EXIT_INTERRUPTED
    except DcganError as error:
        if args.debug:
            raise
        print(f'error: {error}', file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:   # a full disk or a missing permission anywhere is no bug: say it plainly
        named = isinstance(error, OSError) and error.filename
        folder = os.path.dirname(os.path.abspath(error.filename)) if named else os.getcwd()
        explained = disk.explain(error, folder, 'write what this command writes',
                                 'Free some space (or fix the permissions) and run the same command again.')
        if explained is None or args.debug:
            raise
        print(f'error: {explained}', file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == '__main__':
    sys.exit(main())
