"""Command line: print every metric computable between two image sets.

    python -m dcgan.metrics --real PATH --fake PATH [--mnist-labels PATH] [--inception-graph PATH]
"""
import argparse
import sys

from dcgan.config import IMAGE_SIZE
from dcgan.data.archives import read_idx_labels
from dcgan.errors import EXIT_USER_ERROR, DcganError
from dcgan.metrics import evaluate, format_results, load_images
from dcgan.metrics.inception import INCEPTION_FILE, INCEPTION_GRAPH_ENV, INCEPTION_SHA256_ENV


def main(argv=None):
    """Command line: print every metric computable between two image sets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--real', required=True, help='.npy of images in [-0.5, 0.5], an image folder or an IDX(.gz)')
    parser.add_argument('--fake', required=True, help='the same kinds of path as --real')
    parser.add_argument('--mnist-labels', help='IDX(.gz) labels of the --real digits: enables the classifier metrics')
    parser.add_argument('--inception-graph', help=f'{INCEPTION_FILE} or its folder (or ${INCEPTION_GRAPH_ENV})')
    parser.add_argument('--inception-sha256', help=f'the sha256 you verified for it (or ${INCEPTION_SHA256_ENV})')
    parser.add_argument('--image-size', type=int, default=IMAGE_SIZE, help='side for image folders')
    parser.add_argument('--grayscale', action='store_true', help='read image folders as grayscale')
    parser.add_argument('--cache-dir', help='where the classifier weights are cached')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    try:
        real = load_images(args.real, args.image_size, args.grayscale)
        fake = load_images(args.fake, args.image_size, args.grayscale)
        labels = read_idx_labels(args.mnist_labels) if args.mnist_labels else None
        print(f'real: {len(real)} images {real.shape[1:]}, fake: {len(fake)} images {fake.shape[1:]}')
        results = evaluate(real, fake, labels, args.inception_graph, args.inception_sha256, args.cache_dir, args.seed)
    except DcganError as error:
        print(f'error: {error}', file=sys.stderr)
        return EXIT_USER_ERROR
    print('\n'.join(format_results(results)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
