"""Training throughput on this CPU: the project's graph-mode step against the same model as a TensorFlow 2
tf.function and in PyTorch.

    .venv/bin/python -m benchmarks.train_throughput [--batch-size 64] [--rounds 3] [--windows 5]
                                                    [--steps-per-window 30] [--warmup 20] [--xla]

One training step is what the notebook's train() does per batch: one forward pass of both networks, the
gradients of both losses, then both Adam updates (simultaneous updates). The rows: the project's graph-mode
step (notebook functions, tf.compat.v1 Session) for the default model at the 256/64-filter widths (ARCHITECTURE, what the peers implement) and the classic preset; with --xla,
the default again with XLA; on a CPU with native bfloat16 (avx512_bf16 or AMX), the default with
mixed_precision=True (oneDNN bfloat16 compute, float32 variables); the default architecture as a TF2
tf.function (tf.Variables, tf.nn ops, no Keras); and the same in PyTorch, when torch is importable. Each row
runs in its own subprocess (`--only NAME`, which prints one JSON line): the notebook's imports turn eager
execution off for the whole process, and each process imports only its own framework, so its peak memory
is its own. The rows run in --rounds interleaved rounds, so a slow spell of this shared machine falls on
every row rather than on one.

Prints the CPU's estimated FP32 peak, then a Markdown table: images/s over the median of all timed windows,
achieved GFLOP/s from the analytic training FLOPs per image (dcgan/flops.py; the peers have the same
architecture, checked by their parameter counts and forward multiply-adds), the fraction of the peak and
the peak resident memory; then the speed ratios.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from dcgan.cpu import cores, cpuinfo, has_bfloat16   # no TensorFlow: the parent process stays light

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BATCH_SIZE, WINDOWS, STEPS_PER_WINDOW, WARMUP, ROUNDS = 64, 5, 30, 20, 3
IMAGE_SIZE, CHANNELS, Z_DIM = 28, 1, 100
LEARNING_RATE, BETA1, BETA2, ADAM_EPSILON = 0.0002, 0.5, 0.999, 1e-8   # beta2, epsilon: the v1 Adam defaults
LEAK, SMOOTHING, WEIGHT_STDDEV = 0.2, 0.9, 0.02                        # as dcgan/ops.py and the notebook
BN_EPSILON, BN_DECAY = 1e-5, 0.9
POOL = 8                          # pre-generated image batches, cycled through
SEED = 1
SGEMM_SIZE = 2048                  # the matrix product that measures an achievable FLOP/s ceiling
SGEMM_REPEATS = 5
KNOWN_BOOST_MHZ = {                # (vendor, family, model) -> maximum boost, for VMs that hide cpufreq
    ('AuthenticAMD', '25', '17'): (3700, 'AMD EPYC 9004 "Genoa" (Zen 4, family 25 model 17): 3.7 GHz'),
}
# The architecture every row times (the peers implement it by hand): the generator's 7x7x256 block and the
# discriminator's 64 -> 256 filters, the defaults before the quality work narrowed them to 128 and 32.
ARCHITECTURE = dict(g_filters=None, d_filters=64)
DEFAULT_PARAMETERS = 2_455_874    # trainable parameters of that 28x28x1 model
RESULT = 'RESULT '                # prefix of the JSON line a subprocess prints
LABELS = {
    'graph': 'graph-mode default (tf.compat.v1 Session)',
    'classic': 'graph-mode classic preset',
    'xla': 'graph-mode default + XLA',
    'bf16': 'graph-mode default + bfloat16 (mixed_precision=True)',
    'tf2': 'TF2 tf.function, default architecture',
    'torch': 'PyTorch eager, default architecture',
}


def parse_args(argv=None):
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=BATCH_SIZE)
    parser.add_argument('--windows', type=int, default=WINDOWS, help='timed windows; the median one counts')
    parser.add_argument('--steps-per-window', type=int, default=STEPS_PER_WINDOW)
    parser.add_argument('--warmup', type=int, default=WARMUP, help='untimed steps first')
    parser.add_argument('--rounds', type=int, default=ROUNDS,
                        help='times every row runs, interleaved, each in a fresh process; all windows count')
    parser.add_argument('--xla', action='store_true', help='add the graph-mode default with XLA')
    parser.add_argument('--only', choices=sorted(LABELS), help=argparse.SUPPRESS)   # internal: one subprocess
    return parser.parse_args(argv)


def flops_per_cycle(vendor, flags):
    """(FP32 FLOPs per cycle per core, the assumption behind it) from the CPU vendor and SIMD flags."""
    if 'avx512f' in flags and vendor == 'AuthenticAMD':
        return 32, ('AMD with avx512f: assumed Zen 4, whose 2 FMA pipes are 256 bits wide and run a 512-bit '
                    'FMA as two halves: 2 pipes x 8 lanes x 2 FLOPs')
    if 'avx512f' in flags:
        return 64, 'Intel with avx512f: assumed 2 512-bit FMA units: 2 x 16 lanes x 2 FLOPs'
    if 'avx2' in flags and 'fma' in flags:
        return 32, 'avx2 + fma: assumed 2 256-bit FMA units: 2 x 8 lanes x 2 FLOPs'
    if 'avx' in flags:
        return 16, 'avx without fma: one 256-bit add and one multiply per cycle: 8 + 8 FLOPs'
    return 8, 'SSE only: one 128-bit add and one multiply per cycle: 4 + 4 FLOPs'


def max_clock_mhz(info):
    """(the highest clock the cores may run at, in MHz, where that figure comes from)."""
    path = '/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq'
    if os.path.exists(path):
        with open(path) as f:
            return int(f.read()) / 1e3, path
    key = (info.get('vendor_id'), info.get('cpu family'), info.get('model'))
    if key in KNOWN_BOOST_MHZ:
        mhz, name = KNOWN_BOOST_MHZ[key]
        return mhz, f'no cpufreq in this VM; the maximum boost of {name}'
    return float(info['cpu MHz']), "/proc/cpuinfo 'cpu MHz' (the nominal clock: boost unknown)"


def sgemm_gflops(size=SGEMM_SIZE, repeats=SGEMM_REPEATS):
    """The best FP32 matrix-multiply rate NumPy reaches here: an achievable ceiling, measured."""
    a, b = (np.random.default_rng(i).random((size, size), dtype=np.float32) for i in (0, 1))
    a @ b
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def cpu_peak():
    """(the CPU's peak FP32 GFLOP/s or None, lines saying how it was estimated)."""
    info = cpuinfo()
    if 'cpu MHz' not in info:
        return None, 'CPU peak FP32: unknown (no /proc/cpuinfo): no % of peak'
    per_cycle, why = flops_per_cycle(info.get('vendor_id', ''), info.get('flags', '').split())
    mhz, source = max_clock_mhz(info)
    theoretical = cores() * mhz * per_cycle / 1e3
    measured = sgemm_gflops()
    peak = max(theoretical, measured)
    return peak, (f"CPU peak FP32 ~ {peak:,.1f} GFLOP/s. From the flags and clock: {cores()} cores "
                  f"(os.sched_getaffinity) x {mhz:,.0f} MHz ({source}) x {per_cycle} FLOPs/cycle/core ({why}) "
                  f"= {theoretical:,.1f} GFLOP/s. Measured: NumPy's {SGEMM_SIZE}x{SGEMM_SIZE} float32 matrix "
                  f"product reaches {measured:,.1f} GFLOP/s (the peak is taken as the larger of the two). "
                  f"Nominal clock {float(info['cpu MHz']):,.0f} MHz. CPU: {info.get('model name', '?')}, "
                  f"{info.get('vendor_id', '?')} family {info.get('cpu family', '?')} model {info.get('model', '?')}.")


def image_pool(batch_size):
    """POOL random float32 batches (POOL, B, 28, 28, C) in [-0.5, 0.5]: content does not change the speed."""
    rng = np.random.default_rng(SEED)
    return rng.uniform(-0.5, 0.5, (POOL, batch_size, IMAGE_SIZE, IMAGE_SIZE, CHANNELS)).astype(np.float32)


def latent(step, batch_size):
    """Step `step`'s standard normal z, drawn the way dcgan.training.noise(step_rng(SEED, step)) does."""
    return np.random.default_rng([SEED, step]).standard_normal((batch_size, Z_DIM), dtype=np.float32)


def time_steps(step, args):
    """Seconds of each timed window of step(i) calls, after args.warmup untimed calls."""
    for i in range(args.warmup):
        step(i)
    seconds, i = [], args.warmup
    for _ in range(args.windows):
        start = time.perf_counter()
        for _ in range(args.steps_per_window):
            step(i)
            i += 1
        seconds.append(time.perf_counter() - start)
    return seconds


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_graph(args, preset='default', use_xla=False, mixed_precision=False):
    """Time the project's graph-mode step: the notebook's model_inputs, model_loss and model_opt, one
    sess.run of both train ops and both losses per batch, z drawn per step as train() draws it."""
    import tensorflow.compat.v1 as tf
    from dcgan import training
    from dcgan.flops import model_flops
    from dcgan import config, notebook
    run_config = config.preset(preset, **(ARCHITECTURE if preset == 'default' else {}), z_dim=Z_DIM,
                               image_size=IMAGE_SIZE)
    model, distribution = notebook.load(), run_config.z_distribution
    flops = model_flops(model, run_config, CHANNELS)
    pool = image_pool(args.batch_size)
    with tf.Graph().as_default():
        tf.set_random_seed(SEED)
        input_real, input_z, lr = model.model_inputs(IMAGE_SIZE, IMAGE_SIZE, CHANNELS, Z_DIM)
        d_loss, g_loss = model.model_loss(input_real, input_z, CHANNELS, smoothing=run_config.smoothing,
                                          g_options=run_config.generator_options(),
                                          d_options=run_config.discriminator_options())
        d_opt, g_opt = model.model_opt(d_loss, g_loss, lr, BETA1, mixed_precision)
        with tf.Session(config=training.session_config(use_xla, mixed_precision)) as sess:
            sess.run(tf.global_variables_initializer())

            def step(i):
                z = training.noise(training.step_rng(SEED, i), args.batch_size, Z_DIM, distribution)
                return sess.run([d_opt, g_opt, d_loss, g_loss],
                                {input_real: pool[i % POOL], input_z: z, lr: LEARNING_RATE})[2:]
            seconds = time_steps(step, args)
    return dict(seconds=seconds, parameters=flops['parameters'], flops_per_image=flops['training_flops_per_image'],
                macs=[flops['generator_macs'], flops['discriminator_macs']], framework=f'tensorflow {tf.__version__}')


def tf2_variables():
    """{name: tf.Variable} of the default model, named and shaped as the notebook's variables;
    batch norm moving averages are not trainable."""
    import tensorflow as tf
    shapes = {
        'generator/project/w': [Z_DIM, 7 * 7 * 256], 'generator/project/b': [7 * 7 * 256],
        'generator/deconv1/w': [4, 4, 128, 256], 'generator/deconv1/b': [128],
        'generator/deconv2/w': [4, 4, CHANNELS, 128], 'generator/deconv2/b': [CHANNELS],
        'discriminator/conv1/w': [4, 4, CHANNELS, 64], 'discriminator/conv1/b': [64],
        'discriminator/conv2/w': [4, 4, 64, 128], 'discriminator/conv2/b': [128],
        'discriminator/conv3/w': [4, 4, 128, 256], 'discriminator/conv3/b': [256],
        'discriminator/logits/w': [4 * 4 * 256, 1], 'discriminator/logits/b': [1],
    }
    variables = {name: tf.Variable(tf.random.normal(shape, stddev=WEIGHT_STDDEV) if name.endswith('/w')
                                   else tf.zeros(shape), name=name) for name, shape in shapes.items()}
    for name, size in (('generator/bn0', 256), ('generator/bn1', 128),
                       ('discriminator/bn2', 128), ('discriminator/bn3', 256)):
        variables[name + '/gamma'] = tf.Variable(tf.ones([size]), name=name + '/gamma')
        variables[name + '/beta'] = tf.Variable(tf.zeros([size]), name=name + '/beta')
        variables[name + '/moving_mean'] = tf.Variable(tf.zeros([size]), trainable=False)
        variables[name + '/moving_variance'] = tf.Variable(tf.ones([size]), trainable=False)
    return variables


def tf2_batch_norm(v, x, name):
    """Training-mode batch norm with the project's fused kernel, updating the moving averages like dcgan/ops.py."""
    import tensorflow as tf
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, v[name + '/gamma'], v[name + '/beta'],
                                                         epsilon=BN_EPSILON, is_training=True)
    v[name + '/moving_mean'].assign_sub((v[name + '/moving_mean'] - mean) * (1 - BN_DECAY))
    v[name + '/moving_variance'].assign_sub((v[name + '/moving_variance'] - variance) * (1 - BN_DECAY))
    return y


def tf2_deconv(v, x, name, filters):
    """4x4 stride-2 'SAME' transposed convolution plus bias: doubles the side."""
    import tensorflow as tf
    shape = tf.stack([tf.shape(x)[0], x.shape[1] * 2, x.shape[2] * 2, filters])
    y = tf.nn.conv2d_transpose(x, v[name + '/w'], shape, strides=2, padding='SAME')
    return tf.nn.bias_add(y, v[name + '/b'])


def tf2_conv(v, x, name):
    """4x4 stride-2 'SAME' convolution plus bias: halves the side (7 -> 4 with TF's padding)."""
    import tensorflow as tf
    return tf.nn.bias_add(tf.nn.conv2d(x, v[name + '/w'], strides=2, padding='SAME'), v[name + '/b'])


def tf2_generator(v, z):
    """The default generator: z -> 7x7x256 -> 14x14x128 -> 28x28xC in [-0.5, 0.5]."""
    import tensorflow as tf
    x = tf.reshape(tf.nn.bias_add(tf.matmul(z, v['generator/project/w']), v['generator/project/b']), (-1, 7, 7, 256))
    x = tf.nn.leaky_relu(tf2_batch_norm(v, x, 'generator/bn0'), LEAK)
    x = tf.nn.leaky_relu(tf2_batch_norm(v, tf2_deconv(v, x, 'generator/deconv1', 128), 'generator/bn1'), LEAK)
    return 0.5 * tf.tanh(tf2_deconv(v, x, 'generator/deconv2', CHANNELS))


def tf2_discriminator(v, images):
    """The default discriminator's logits: 28x28 -> 14x14x64 -> 7x7x128 -> 4x4x256 -> 1."""
    import tensorflow as tf
    x = tf.nn.leaky_relu(tf2_conv(v, images, 'discriminator/conv1'), LEAK)
    x = tf.nn.leaky_relu(tf2_batch_norm(v, tf2_conv(v, x, 'discriminator/conv2'), 'discriminator/bn2'), LEAK)
    x = tf.nn.leaky_relu(tf2_batch_norm(v, tf2_conv(v, x, 'discriminator/conv3'), 'discriminator/bn3'), LEAK)
    flat = tf.reshape(x, (-1, 4 * 4 * 256))
    return tf.nn.bias_add(tf.matmul(flat, v['discriminator/logits/w']), v['discriminator/logits/b'])


def tf2_losses(v, images, z):
    """(d_loss, g_loss) of one forward pass, as the notebook's model_loss: D sees real and fake batches apart."""
    import tensorflow as tf
    real, fake = tf2_discriminator(v, images), tf2_discriminator(v, tf2_generator(v, z))
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits
    d_loss = (tf.reduce_mean(cross_entropy(logits=real, labels=tf.ones_like(real) * SMOOTHING))
              + tf.reduce_mean(cross_entropy(logits=fake, labels=tf.zeros_like(fake))))
    return d_loss, tf.reduce_mean(cross_entropy(logits=fake, labels=tf.ones_like(fake)))


def tf2_adam(variables):
    """Adam state per trainable variable (m, v) plus the beta powers, as tf.compat.v1.train.AdamOptimizer keeps."""
    import tensorflow as tf
    slots = {id(var): (tf.Variable(tf.zeros_like(var)), tf.Variable(tf.zeros_like(var))) for var in variables}
    return slots, tf.Variable(BETA1), tf.Variable(BETA2)


def tf2_apply_adam(adam, pairs):
    """One Adam update of (gradient, variable) pairs with the same fused kernel as the v1 optimizer."""
    import tensorflow as tf
    slots, beta1_power, beta2_power = adam
    for grad, var in pairs:
        m, s = slots[id(var)]
        tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=s.handle, beta1_power=beta1_power,
                                     beta2_power=beta2_power, lr=LEARNING_RATE, beta1=BETA1, beta2=BETA2,
                                     epsilon=ADAM_EPSILON, grad=grad)
    beta1_power.assign(beta1_power * BETA1)
    beta2_power.assign(beta2_power * BETA2)


def tf2_train_step(v, d_adam, g_adam):
    """A tf.function training step: both losses' gradients from one forward pass, then both Adam updates."""
    import tensorflow as tf
    d_vars = [var for name, var in v.items() if name.startswith('discriminator/') and var.trainable]
    g_vars = [var for name, var in v.items() if name.startswith('generator/') and var.trainable]
    signature = [tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), tf.float32),
                 tf.TensorSpec((None, Z_DIM), tf.float32)]

    @tf.function(input_signature=signature)
    def step(images, z):
        with tf.GradientTape(persistent=True) as tape:
            d_loss, g_loss = tf2_losses(v, images, z)
        d_grads, g_grads = tape.gradient(d_loss, d_vars), tape.gradient(g_loss, g_vars)
        tf2_apply_adam(d_adam, zip(d_grads, d_vars))
        tf2_apply_adam(g_adam, zip(g_grads, g_vars))
        return d_loss, g_loss
    return step


def tf2_macs(v):
    """[generator, discriminator] forward multiply-adds per image, counted by dcgan.flops on the traced graphs."""
    import tensorflow as tf
    from dcgan.flops import MAC_OPS, op_macs
    generator = tf.function(lambda z: tf2_generator(v, z)).get_concrete_function(tf.TensorSpec((None, Z_DIM)))
    images = tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, CHANNELS))
    discriminator = tf.function(lambda x: tf2_discriminator(v, x)).get_concrete_function(images)
    return [sum(op_macs(op) for op in f.graph.get_operations() if op.type in MAC_OPS)
            for f in (generator, discriminator)]


def run_tf2(args):
    """Time the default architecture as a TF2 tf.function step (eager mode, same thread pools as the project)."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(cores())
    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.random.set_seed(SEED)
    v = tf2_variables()
    trainable = [var for var in v.values() if var.trainable]
    d_adam = tf2_adam([var for name, var in v.items() if name.startswith('discriminator/') and var.trainable])
    g_adam = tf2_adam([var for name, var in v.items() if name.startswith('generator/') and var.trainable])
    train_step, pool = tf2_train_step(v, d_adam, g_adam), image_pool(args.batch_size)

    def step(i):
        d_loss, g_loss = train_step(pool[i % POOL], latent(i, args.batch_size))
        return d_loss.numpy(), g_loss.numpy()
    seconds = time_steps(step, args)
    return dict(seconds=seconds, parameters=sum(int(np.prod(var.shape)) for var in trainable), macs=tf2_macs(v),
                framework=f'tensorflow {tf.__version__}')


def torch_networks():
    """(generator, discriminator) of the default architecture in PyTorch (NCHW), weights N(0, 0.02).

    TF's 'SAME' padding: 28 -> 14 and 14 -> 7 pad 1 on each side (padding=1); 7 -> 4 pads 1 before and 2
    after (ZeroPad2d((1, 2, 1, 2)), then padding=0). The 4x4 stride-2 transposed convolutions with
    padding=1 give 7 -> 14 -> 28, as 'SAME' does."""
    from torch import nn
    generator = nn.Sequential(
        nn.Linear(Z_DIM, 7 * 7 * 256), nn.Unflatten(1, (256, 7, 7)), nn.BatchNorm2d(256, BN_EPSILON, 1 - BN_DECAY),
        nn.LeakyReLU(LEAK), nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128, BN_EPSILON, 1 - BN_DECAY),
        nn.LeakyReLU(LEAK), nn.ConvTranspose2d(128, CHANNELS, 4, 2, 1), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(CHANNELS, 64, 4, 2, 1), nn.LeakyReLU(LEAK),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128, BN_EPSILON, 1 - BN_DECAY), nn.LeakyReLU(LEAK),
        nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(128, 256, 4, 2, 0), nn.BatchNorm2d(256, BN_EPSILON, 1 - BN_DECAY),
        nn.LeakyReLU(LEAK), nn.Flatten(), nn.Linear(4 * 4 * 256, 1))
    for layer in list(generator) + list(discriminator):
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, WEIGHT_STDDEV)
            nn.init.zeros_(layer.bias)
    return generator, discriminator


def torch_losses(generator, discriminator, images, z):
    """(d_loss, g_loss) of one forward pass, as the notebook's model_loss: D sees real and fake batches apart."""
    import torch
    from torch.nn.functional import binary_cross_entropy_with_logits as cross_entropy
    real, fake = discriminator(images), discriminator(0.5 * generator(z))
    d_loss = cross_entropy(real, torch.full_like(real, SMOOTHING)) + cross_entropy(fake, torch.zeros_like(fake))
    return d_loss, cross_entropy(fake, torch.ones_like(fake))


def torch_train_step(generator, discriminator):
    """A PyTorch training step: both losses' gradients from one forward pass, then both Adam updates."""
    import torch
    d_params, g_params = list(discriminator.parameters()), list(generator.parameters())
    d_adam = torch.optim.Adam(d_params, LEARNING_RATE, betas=(BETA1, BETA2), eps=ADAM_EPSILON)
    g_adam = torch.optim.Adam(g_params, LEARNING_RATE, betas=(BETA1, BETA2), eps=ADAM_EPSILON)

    def step(images, z):
        d_loss, g_loss = torch_losses(generator, discriminator, images, z)
        d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, g_params)
        for param, grad in zip(d_params + g_params, d_grads + g_grads):
            param.grad = grad
        d_adam.step()
        g_adam.step()
        return d_loss.item(), g_loss.item()
    return step


def torch_macs(generator, discriminator):
    """[generator, discriminator] forward multiply-adds per image, from PyTorch's own FLOP counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counts = []
    for network, shape in ((generator, (2, Z_DIM)), (discriminator, (2, CHANNELS, IMAGE_SIZE, IMAGE_SIZE))):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network(torch.zeros(shape))
        counts.append(counter.get_total_flops() // (2 * shape[0]))    # 2 FLOPs per multiply-add
    return counts


def run_torch(args):
    """Time the default architecture in PyTorch on the CPU; {'skipped': why} when torch is not importable."""
    try:
        import torch
    except ImportError as error:
        return dict(skipped=f'PyTorch row skipped: torch is not importable here ({error})')
    torch.set_num_threads(cores())
    torch.manual_seed(SEED)
    generator, discriminator = torch_networks()
    macs = torch_macs(generator, discriminator)
    train_step = torch_train_step(generator, discriminator)
    pool = torch.from_numpy(image_pool(args.batch_size).transpose(0, 1, 4, 2, 3).copy())   # NHWC -> NCHW

    def step(i):
        return train_step(pool[i % POOL], torch.from_numpy(latent(i, args.batch_size)))
    seconds = time_steps(step, args)
    parameters = sum(p.numel() for p in list(generator.parameters()) + list(discriminator.parameters()))
    return dict(seconds=seconds, parameters=parameters, macs=macs,
                framework=f'torch {torch.__version__}, {torch.get_num_threads()} threads')


def run_only(name, args):
    """Run one implementation in this process and print its result as one JSON line."""
    runners = {'graph': lambda: run_graph(args), 'classic': lambda: run_graph(args, 'classic'),
               'xla': lambda: run_graph(args, use_xla=True), 'bf16': lambda: run_graph(args, mixed_precision=True),
               'tf2': lambda: run_tf2(args),
               'torch': lambda: run_torch(args)}
    result = runners[name]()
    if 'seconds' in result:
        result.update(images_per_second=rate(args, statistics.median(result['seconds'])), peak_rss_mb=peak_rss_mb())
    print(RESULT + json.dumps(result), flush=True)


def run_subprocess(name, args):
    """The result of `--only name` in a fresh Python process (XLA's CPU JIT switched on for 'xla'); its
    stderr (TensorFlow's start-up log lines) is shown only when it fails."""
    command = [sys.executable, '-m', 'benchmarks.train_throughput', '--only', name, '--batch-size', str(args.batch_size),
               '--windows', str(args.windows), '--steps-per-window', str(args.steps_per_window),
               '--warmup', str(args.warmup)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    if name == 'xla':
        env['TF_XLA_FLAGS'] = (env.get('TF_XLA_FLAGS', '') + ' --tf_xla_cpu_global_jit').strip()
    print(f'running: {LABELS[name]} ...', file=sys.stderr, flush=True)
    process = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT)]
    if process.returncode or not lines:
        print(process.stdout + process.stderr, file=sys.stderr)
        return dict(error=f'failed (exit code {process.returncode}); its output is above')
    return json.loads(lines[-1][len(RESULT):])


def rate(args, seconds):
    """Images/second of a timed window (or of the median window)."""
    return args.batch_size * args.steps_per_window / seconds


def run_rounds(names, args):
    """{name: result} with every row run args.rounds times, interleaved (each round starts one row later,
    so no row always runs first or last); a row's images/s is over the median of all its windows, and
    its per-round rates are kept for the per-round ratios."""
    results = {}
    for round_index in range(args.rounds):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            result = run_subprocess(name, args)
            if 'seconds' not in result:          # skipped or failed: the row says so, whatever other rounds did
                results[name] = result
            if 'seconds' not in result or 'seconds' not in results.get(name, {'seconds': []}):
                continue
            merged = results.setdefault(name, dict(result, seconds=[], round_rates=[]))
            merged['seconds'] += result['seconds']
            merged['round_rates'].append(result['images_per_second'])
            merged['peak_rss_mb'] = max(merged['peak_rss_mb'], result['peak_rss_mb'])
    for result in results.values():
        if 'seconds' in result:
            result['images_per_second'] = rate(args, statistics.median(result['seconds']))
    return results


def check_same_model(results):
    """Assert the peers have the graph-mode default's parameter count and forward multiply-adds, and give
    them its FLOPs per image (same architecture, same FLOPs)."""
    default = results['graph']
    assert default['parameters'] == DEFAULT_PARAMETERS, default['parameters']
    for name in ('tf2', 'torch'):
        peer = results.get(name, {})
        if 'seconds' in peer:
            assert peer['parameters'] == default['parameters'], (name, peer['parameters'], default['parameters'])
            assert peer['macs'] == default['macs'], (name, peer['macs'], default['macs'])
            peer['flops_per_image'] = default['flops_per_image']


def table(results, names, peak):
    """The Markdown table of the measured rows (skipped and failed ones say so)."""
    lines = ['| implementation | images/s | GFLOP/s | % of peak | peak RSS MB |', '|---|---:|---:|---:|---:|']
    for name in names:
        r = results[name]
        if 'seconds' not in r:
            lines.append(f"| {LABELS[name]} | {r.get('skipped') or r.get('error')} | | | |")
            continue
        gflops = r['images_per_second'] * r['flops_per_image'] / 1e9 if 'flops_per_image' in r else None
        share = f'{100 * gflops / peak:.1f} %' if peak and gflops else 'n/a'
        if name == 'bf16':
            share += ' of FP32'    # bfloat16 dot products have twice the FP32 peak
        lines.append(f"| {LABELS[name]} | {r['images_per_second']:,.0f} | "
                     f"{f'{gflops:,.1f}' if gflops else 'n/a'} | {share} | {r['peak_rss_mb']:,.0f} |")
    return '\n'.join(lines)


def details(results, names, args):
    """One line per measured row: framework, parameters, FLOPs per image and the spread of the windows."""
    lines = []
    for name in names:
        r = results[name]
        if 'seconds' in r:
            rates = sorted(rate(args, s) for s in r['seconds'])
            lines.append(f"- {LABELS[name]}: {r['framework']}; {r['parameters']:,} parameters; "
                         f"{r.get('flops_per_image', 0):,} training FLOPs/image; forward MACs G {r['macs'][0]:,}, "
                         f"D {r['macs'][1]:,}; windows {rates[0]:,.0f}-{rates[-1]:,.0f} images/s")
    return '\n'.join(lines)


def ratios(results):
    """The speed ratios (images/s over all windows, then round by round) of the rows that ran: the graph-mode
    default against its peers, and its bfloat16 variant against it."""
    lines = []
    for top, bottom, label in (('graph', 'tf2', 'graph-mode default / tf.function'),
                               ('graph', 'torch', 'graph-mode default / PyTorch'),
                               ('bf16', 'graph', 'bfloat16 / float32 graph-mode default')):
        if 'seconds' in results.get(top, {}) and 'seconds' in results.get(bottom, {}):
            ratio = results[top]['images_per_second'] / results[bottom]['images_per_second']
            rounds = ', '.join(f'{a / b:.2f}' for a, b in zip(results[top]['round_rates'],
                                                             results[bottom]['round_rates']))
            lines.append(f'{label}: {ratio:.2f}x (round by round: {rounds})')
    return '\n'.join(lines)


def main():
    args = parse_args()
    if args.only:
        run_only(args.only, args)
        return
    peak, how = cpu_peak()
    names = (['graph', 'classic'] + (['xla'] if args.xla else []) + (['bf16'] if has_bfloat16() else [])
             + ['tf2', 'torch'])
    results = run_rounds(names, args)
    if 'seconds' in results['graph']:
        check_same_model(results)
    print(f'\nTraining throughput, batch size {args.batch_size}, 28x28x1 images, {cores()} cores: {args.rounds} '
          f'interleaved rounds, each row in a fresh process per round with {args.warmup} warm-up steps, then '
          f'{args.windows} timed windows of {args.steps_per_window} steps; images/s over the median of all '
          f'{args.rounds * args.windows} windows.')
    print(how)
    print(f'Load average before the runs: {os.getloadavg()[0]:.2f} (other busy processes make the numbers noisy, '
          f'PyTorch\'s OpenMP threads most of all).\n')
    print(table(results, names, peak) + '\n')
    print(details(results, names, args))
    print(ratios(results))
    if any('error' in r for r in results.values()):
        sys.exit(1)


if __name__ == '__main__':
    main()
