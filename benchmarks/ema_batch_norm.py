"""Which batch-norm statistics should samples from the generator's weight average use? Trains one run with
g_ema on the shared MNIST digits, then scores the same 2,000 latent vectors four ways: the averaged weights
with the averaged moving statistics (what the project does), the averaged weights with statistics
recomputed from the batch being sampled (training-mode batch norm over 500 samples), and the trained
weights with their moving statistics or with batch statistics.

    .venv/bin/python -m benchmarks.ema_batch_norm [--steps 2163] [--variant ema] [--seed 1]
                                                  [--json benchmarks/results/ema_batch_norm.json]

2,163 steps are what the `ema` variant of benchmarks/time_to_quality.py trains in 2 minutes here.
"""
import argparse
import os
import tempfile

import tensorflow.compat.v1 as tf

from benchmarks.quality import MNIST_IMAGES, SCORED, headless, load, shared_mnist_missing
from benchmarks.time_to_quality import machine, scorer, variant_config
from dcgan import checkpoints, notebook, trainer, training
from dcgan.atomic import write_json

SAMPLERS = (('averaged weights, averaged moving statistics', True, False),
            ('averaged weights, batch statistics', True, True),
            ('trained weights, moving statistics', False, False),
            ('trained weights, batch statistics', False, True))


def score_samplers(run_config, checkpoint, new_quality):
    """{sampler: scores} of the checkpoint's generator sampled each way on the run's scoring z."""
    model, found = notebook.load(), {}
    z = training.noise(training.scoring_rng(run_config.seed), SCORED, run_config.z_dim)
    for name, averaged, batch_statistics in SAMPLERS:
        with tf.Graph().as_default():
            z_input = tf.placeholder(tf.float32, (None, run_config.z_dim))
            options = dict(image_size=run_config.image_size, **run_config.generator_options())
            training_mode = model.generator(z_input, 1, is_train=True, **options)
            sampling_mode = model.generator(z_input, 1, is_train=False, **options)
            named = run_config if averaged else run_config.replace(g_ema=0.0)
            saver = tf.train.Saver({training.stored_name(v.op.name, named): v for v in tf.global_variables('generator')})
            with tf.Session(config=training.session_config()) as sess:
                checkpoints.restore(sess, saver, checkpoint)
                fake = training.sample(sess, training_mode if batch_statistics else sampling_mode, z_input, z)
        found[name] = new_quality().score(fake)
        print(name, {k: round(v, 3) for k, v in found[name].items()}, flush=True)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--steps', type=int, default=2163)
    parser.add_argument('--variant', default='ema', help='a benchmarks.time_to_quality variant with g_ema')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args(argv)
    if shared_mnist_missing():
        return
    with tempfile.TemporaryDirectory() as work:
        dataset = load('mnist', MNIST_IMAGES, work)
        new_quality, _ = scorer('mnist', dataset, args.seed, work)
        run_config = variant_config(args.variant, 'mnist', args.seed, max_steps=args.steps)
        run_dir = os.path.join(work, 'run')
        trainer.train(notebook.load(), run_config, dataset, run_dir, quality=new_quality())
        found = score_samplers(run_config, checkpoints.latest(run_dir), new_quality)
    if args.json:
        write_json(dict(command='python -m benchmarks.ema_batch_norm ' + ' '.join(argv or []), machine=machine(),
                        variant=args.variant, steps=args.steps, seed=args.seed, scores=found), args.json)


if __name__ == '__main__':
    headless()
    main()
