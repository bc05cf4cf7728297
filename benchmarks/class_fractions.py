"""The share of each digit class among a checkpoint's samples: is every class there at 5 % or more?

    .venv/bin/python -m benchmarks.class_fractions RUN [RUN ...] [--json benchmarks/results/class_fractions.json]

For each MNIST run folder (its newest checkpoint) it samples the 2,000 latent vectors that training scored
(the run's seed), classifies them with the project's digit classifier (trained on the shared labelled
digits) and prints each class's share and the smallest; the runs of `benchmarks/time_to_quality.py train
--runs DIR` are such folders.
"""
import argparse
import os
import tempfile

import numpy as np

from benchmarks.quality import (MNIST_IMAGES, SCORED, digit_classifier, load, reference_sets,
                                shared_mnist_missing)
from dcgan import checkpoints, generate, training
from dcgan.atomic import write_json
from dcgan.metrics.classifier import classifier_metrics


def fractions(run_dir, dataset, classifier):
    """{'step', 'fractions', 'smallest', 'classifier_fd'} of the run's newest checkpoint."""
    checkpoint = checkpoints.latest(run_dir)
    generator = generate.load_generator(checkpoint)
    seed, z_dim = generator.config['seed'], generator.config['z_dim']
    fake = training.sample(generator.session, generator.images, generator.z,
                           training.noise(training.scoring_rng(seed), SCORED, z_dim))
    reference, _ = reference_sets(dataset, seed)
    found = classifier_metrics(classifier, reference, fake, seed=seed)
    counts = np.asarray(found['class_histogram'], float)
    share = counts / counts.sum()
    return dict(step=checkpoints.read_state(checkpoint)['step'], fractions=[round(float(f), 4) for f in share],
                smallest=float(share.min()), classifier_fd=float(found['classifier_fd']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='MNIST run folders')
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args(argv)
    if shared_mnist_missing():
        return
    with tempfile.TemporaryDirectory() as work:
        dataset = load('mnist', MNIST_IMAGES, work)
        classifier = digit_classifier(dataset, work)
        found = {}
        for run in args.runs:
            found[os.path.basename(os.path.normpath(run))] = result = fractions(run, dataset, classifier)
            print(f'{run}: step {result["step"]}, smallest class {result["smallest"]:.1%}, shares '
                  + ' '.join(f'{f:.1%}' for f in result['fractions']), flush=True)
    if args.json:
        write_json(found, args.json)


if __name__ == '__main__':
    main()
