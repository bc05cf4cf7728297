"""Generator dropout against none: sample quality on the shared MNIST digits after a fixed training time,
for a few dropout rates and seeds, interleaved (seed by seed, every rate in turn).

    .venv/bin/python -m benchmarks.generator_dropout [--minutes 2] [--seeds 1 2] [--rates 0 0.2 0.5]
                                                     [--out benchmarks/results/generator_dropout.json]

Each run is benchmarks.time_to_quality's: the notebook's own train(), only the time inside training
steps counts, 2,000 samples scored against 2,000 real digits (SWD, digit-classifier FD, KID, class
coverage). Writes the raw results as JSON after every run and prints a Markdown table.
"""
import argparse
import os
import sys
import tempfile

from benchmarks import time_to_quality
from benchmarks.quality import (MNIST_IMAGES, format_row, headless, load, reference_sets, row,
                                shared_mnist_missing)
from dcgan import config, metrics
from dcgan.atomic import write_json
from dcgan.data.archives import read_idx_labels
from dcgan.data.images import to_float
from dcgan.metrics.classifier import mnist_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=2)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--rates', type=float, nargs='+', default=[0.0, 0.2, 0.5])
    parser.add_argument('--out', default=os.path.join(tempfile.gettempdir(), 'generator_dropout.json'))
    args = parser.parse_args()
    if shared_mnist_missing():
        return
    results = []
    lines = [row(['data set', 'g_dropout, seed', 'batches', 'training time', 'SWD x1e3', 'digit FD', 'digit KID',
                  'class entropy', 'classes']), row(['---'] * 9)]
    with tempfile.TemporaryDirectory() as work:
        dataset = load('mnist', MNIST_IMAGES, work)
        labels = read_idx_labels(MNIST_IMAGES.replace('images-idx3', 'labels-idx1'))
        classifier = mnist_classifier(to_float(dataset.images), labels, cache_dir=os.path.join(work, 'cache'))
        for seed in args.seeds:
            reference, other_real = reference_sets(dataset, seed)
            real = metrics.QualityLog(reference, classifier, seed).score(other_real)
            lines.append(format_row('MNIST', f'real images, seed {seed}', '-', '-', real))
            for rate in args.rates:
                name = f'g_dropout={rate:g}'
                config.PRESETS[name] = dict(g_dropout=rate)   # a preset of one setting, for run_model
                quality = metrics.QualityLog(reference, classifier, seed)
                (minutes, steps, scores), = time_to_quality.run_model(
                    name, dataset, quality, [args.minutes], os.path.join(work, 'runs', f'{name}-{seed}'), work, seed)
                results.append(dict(g_dropout=rate, seed=seed, minutes=minutes, steps=steps, scores=scores,
                                    real_vs_real=real))
                write_json(dict(command='python -m benchmarks.generator_dropout ' + ' '.join(sys.argv[1:]),
                                cores=os.cpu_count(), runs=results), args.out)
                lines.append(format_row('MNIST', f'{rate:g}, seed {seed}', str(steps), f'{minutes:g} min', scores))
    print(f'\nBatch size {config.TrainConfig().batch_size}, {os.cpu_count()} cores; raw results in {args.out}\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    headless()
    main()
