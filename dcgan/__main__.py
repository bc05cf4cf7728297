"""Command line: train the notebook's DCGAN, sample from a checkpoint, export a SavedModel.

    python -m dcgan train --dataset mnist --data ../shared/datasets/mnist/t10k-images-idx3-ubyte.gz --run-dir runs/mnist
    python -m dcgan generate --checkpoint runs/mnist --n 64 --out grid.png      (or a folder, or samples.npy)
    python -m dcgan generate --checkpoint runs/mnist --interpolate --out walk.png
    python -m dcgan export --checkpoint runs/mnist --out exported/mnist
    python -m dcgan generate --pretrained celeba --n 64 --out faces.png      (a shipped generator, pretrained/)
    python -m dcgan serve --pretrained celeba                                (a generator service and a page)
"""
import argparse
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('MPLBACKEND', 'Agg')


def train_command(args):
    """Train on a data set with the notebook's train(), resuming the run folder's newest checkpoint."""
    import tensorflow.compat.v1 as tf

    import helper
    from dcgan.notebook import load_notebook_functions
    notebook = load_notebook_functions()
    files = helper.download_extract(args.dataset, args.data_dir, source=args.data)
    dataset = helper.Dataset(args.dataset, files, args.image_size, max_images=args.max_images, seed=args.seed,
                             cache_dir=os.path.join(args.data_dir, 'cache'))
    with tf.Graph().as_default():
        losses, _ = notebook['train'](
            args.epochs, args.batch_size, args.z_dim, args.learning_rate, args.beta1, dataset.get_batches,
            dataset.shape, dataset.image_mode, print_every=args.print_every, show_every=args.show_every,
            max_steps=args.max_steps, z_distribution=args.z_distribution, seed=args.seed, run_dir=args.run_dir,
            checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep)
    print(f'Trained to step {len(losses)}: {args.run_dir}')


def generate_command(args):
    """Write samples (grid, PNGs or .npy) or a latent interpolation strip from a checkpoint or a shipped generator."""
    from dcgan import generate, pretrained
    generator = pretrained.load_model(args.pretrained, args.checkpoint)
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
    """The command-line interface."""
    main = argparse.ArgumentParser(prog='python -m dcgan', description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest='command', required=True)

    train = commands.add_parser('train', help=train_command.__doc__)
    train.add_argument('--dataset', choices=('mnist', 'celeba'), required=True)
    train.add_argument('--data', help='your archive or image folder (default: find or download the official one)')
    train.add_argument('--data-dir', default='data')
    train.add_argument('--run-dir', required=True, help='checkpoints, TensorBoard and progress grids go here')
    train.add_argument('--epochs', type=int, default=2)
    train.add_argument('--max-steps', type=int)
    train.add_argument('--max-images', type=int)
    train.add_argument('--image-size', type=int, default=28, choices=(28, 32, 64))
    train.add_argument('--batch-size', type=int, default=32)
    train.add_argument('--z-dim', type=int, default=100)
    train.add_argument('--z-distribution', default='normal', choices=('normal', 'uniform'))
    train.add_argument('--learning-rate', type=float, default=0.0002)
    train.add_argument('--beta1', type=float, default=0.5)
    train.add_argument('--seed', type=int, default=1)
    train.add_argument('--checkpoint-every', type=int, default=500)
    train.add_argument('--keep', type=int, default=3, help='how many of the newest checkpoints to keep')
    train.add_argument('--print-every', type=int, default=50)
    train.add_argument('--show-every', type=int, default=100)
    train.set_defaults(run=train_command)

    generate = commands.add_parser('generate', help=generate_command.__doc__)
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument('--checkpoint', help='a run folder (its newest checkpoint) or a checkpoint')
    source.add_argument('--pretrained', help='a shipped generator (mnist, celeba: see pretrained/) or its folder')
    generate.add_argument('--n', type=int, default=64, help='how many samples')
    generate.add_argument('--out', required=True, help='grid.png, samples.npy, or a folder for single PNGs')
    generate.add_argument('--seed', type=int, default=0)
    generate.add_argument('--interpolate', action='store_true', help='write a latent interpolation strip')
    generate.add_argument('--rows', type=int, default=8, help='interpolation: how many walks')
    generate.add_argument('--steps', type=int, default=10, help='interpolation: images per walk')
    generate.set_defaults(run=generate_command)

    export = commands.add_parser('export', help=export_command.__doc__)
    export.add_argument('--checkpoint', required=True)
    export.add_argument('--out', required=True, help='a new folder for the SavedModel')
    export.set_defaults(run=export_command)

    from dcgan import serve
    serve.add_serve_arguments(commands.add_parser('serve', help=serve.serve_command.__doc__))
    return main


def main(argv=None):
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == '__main__':
    main()
