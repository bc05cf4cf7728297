"""One run, one configuration: every setting of a training run, with its default, type, one-line help,
kind and rules, in one dataclass that the command line, the notebook, the checkpoints and the benchmarks
all use.

The kind of a setting says what changing it means for a run that resumes:
    model     the networks' shapes: the old weights do not fit, so only a new run can change it
    data      what the run trains on: changing it needs --allow-change (or a new run)
    dynamics  how the weights move (learning rate, batch, loss, noise): changing it needs --allow-change
    safe      length, intervals, speed options: changes just apply, and are reported
"""
import argparse
import dataclasses
import typing
from dataclasses import dataclass, field, fields

from dcgan.errors import ConfigError

IMAGE_SIZE = 28              # side of the square images the networks see (the course's size)
LABEL_SMOOTHING = 0.9        # one-sided: real images are labelled 0.9, fakes 0
IMAGE_SIZES = (28, 32, 64)   # what the networks can build: 28 = 7 x 4, 32 and 64 = 4 x 2^k
DATASETS = ('mnist', 'celeba')
Z_DISTRIBUTIONS = ('normal', 'uniform')
ACTIVATIONS = ('lrelu', 'relu')
LOSSES = ('bce', 'hinge')                 # non-saturating cross-entropy (the DCGAN paper's), or the hinge loss
D_NORMS = ('batch', 'spectral', 'none')   # the discriminator's normalisation after its first layer
AUGMENTS = ('translation', 'color', 'cutout')   # differentiable augmentations (DiffAugment), any subset
MODEL, DATA, DYNAMICS, SAFE = 'model', 'data', 'dynamics', 'safe'
KINDS = (MODEL, DATA, DYNAMICS, SAFE)
CHANGEABLE = (DATA, DYNAMICS)   # the kinds --allow-change can change on resume


def setting(default, kind, help, choices=None):
    """A dataclass field with its kind, help and allowed values in the metadata."""
    return field(default=default, metadata=dict(kind=kind, help=help, choices=choices))


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run. Validated by validate(); saved whole with every checkpoint."""
    # data
    dataset: str = setting('mnist', DATA, 'the data set to train on', DATASETS)
    max_images: typing.Optional[int] = setting(None, DATA, 'train on at most this many images (None: all)')
    # model
    image_size: int = setting(IMAGE_SIZE, MODEL, 'side of the square images', IMAGE_SIZES)
    z_dim: int = setting(100, MODEL, 'size of the latent vector z')
    g_filters: typing.Optional[int] = setting(128, MODEL, "filters of the generator's first block, halved at "
                                                            "each upsampling (None: the classic 256, 512 at 64x64)")
    d_filters: int = setting(32, MODEL, "filters of the discriminator's first layer (doubled at each layer)")
    kernel: int = setting(4, MODEL, 'side of every convolution kernel (4: divisible by the stride, no checkerboard)')
    g_activation: str = setting('lrelu', MODEL, "the generator's hidden activation", ACTIVATIONS)
    g_dropout: float = setting(0.0, MODEL, "dropout rate after each hidden generator layer while training "
                                           "(0: none; sampling never drops)")
    d_norm: str = setting('batch', MODEL, "the discriminator's normalisation (its first layer has none): batch norm, "
                                          "spectral normalisation of the weights, or none", D_NORMS)
    g_ema: float = setting(0.999, MODEL, "decay of the moving average of the generator's weights and batch-norm "
                                       "statistics that samples are drawn from (0: sample the trained weights)")
    # dynamics
    batch_size: int = setting(64, DYNAMICS, 'images per training step (the global batch)')
    learning_rate: float = setting(0.0004, DYNAMICS, "Adam's learning rate (the generator's too, unless "
                                                     "g_learning_rate)")
    g_learning_rate: typing.Optional[float] = setting(None, DYNAMICS, "the generator's own learning rate (two "
                                                                      "time-scale rule; None: learning_rate)")
    loss: str = setting('bce', DYNAMICS, 'the GAN loss: non-saturating cross-entropy or hinge', LOSSES)
    r1_gamma: float = setting(0.0, DYNAMICS, "weight of the R1 penalty on the discriminator's gradient at real "
                                             "images (0: none)")
    augment: str = setting('', DYNAMICS, 'differentiable augmentations of real and generated images before the '
                                         'discriminator, comma-separated: translation, color, cutout ("": none)')
    beta1: float = setting(0.5, DYNAMICS, "Adam's first-moment decay (low, as in the DCGAN paper)")
    smoothing: float = setting(LABEL_SMOOTHING, DYNAMICS, "real images' target label (one-sided label smoothing; 1: none)")
    z_distribution: str = setting('normal', DYNAMICS, 'the latent noise: standard normal or uniform in [-1, 1]',
                                  Z_DISTRIBUTIONS)
    seed: int = setting(1, DYNAMICS, 'seed of the weights, the noise and the data order')
    # safe to change on resume
    epochs: int = setting(8, SAFE, 'passes over the data set')
    max_steps: typing.Optional[int] = setting(None, SAFE, 'stop after this many batches in all (None: all epochs)')
    devices: int = setting(1, SAFE, 'replicas of the model, one per device: GPUs, else the CPU split into logical '
                                    'devices; batch_size is split evenly over them (docs/devices.md)')
    worker_timeout: int = setting(600, SAFE, 'seconds a worker of a multi-worker run waits for the others (to join, '
                                             'or at a step) before it stops, saying where to resume')
    use_xla: bool = setting(False, SAFE, 'compile with XLA (GPU; on a CPU only with TF_XLA_FLAGS)')
    mixed_precision: typing.Optional[bool] = setting(None, SAFE, 'None (auto): bfloat16 compute on a CPU with native '
                                                                 'bfloat16 (avx512_bf16/AMX), float32 elsewhere; '
                                                                 'True: also float16 on a GPU; False: float32 '
                                                                 'everywhere (variables are float32 always)')
    checkpoint_every: int = setting(500, SAFE, 'save a checkpoint every N batches (and at the end)')
    keep_checkpoints: int = setting(3, SAFE, 'keep the newest N checkpoints')
    print_every: int = setting(50, SAFE, 'print both losses every N batches')
    show_every: int = setting(100, SAFE, 'show and save the fixed-z sample grid every N batches')
    progress_grids_kept: int = setting(20, SAFE, 'keep the newest N sample grids as PNGs (progress.gif spans '
                                                 'the whole run, at most 256 frames)')
    board_images_every: int = setting(500, SAFE, 'also write the sample grid to TensorBoard every N batches '
                                                 '(a multiple of show_every)')
    summary_every: int = setting(25, SAFE, 'write TensorBoard scalars every N batches')
    metrics_every: int = setting(200, SAFE, 'score the samples every N batches (and at the end)')
    metrics_samples: int = setting(2000, SAFE, 'generated images scored each time, against as many real ones')

    def problems(self):
        """One sentence per setting that cannot make a run (empty when all is well)."""
        found = []
        for f in fields(self):
            value, expected = getattr(self, f.name), field_type(f)
            optional = f.type != expected
            if value is None and optional:
                continue
            if not is_instance(value, expected):
                found.append(f'{f.name} must be {expected.__name__}{" or None" if optional else ""}, '
                             f'got {value!r}.')
            elif f.metadata['choices'] and value not in f.metadata['choices']:
                found.append(f'{f.name}={value!r} is not one of {", ".join(map(str, f.metadata["choices"]))}.')
        if found:
            return found   # the range rules below assume the types are right
        at_least_one = ('z_dim', 'g_filters', 'd_filters', 'kernel', 'batch_size', 'epochs', 'max_steps', 'devices',
                        'checkpoint_every', 'keep_checkpoints', 'print_every', 'show_every', 'summary_every',
                        'metrics_every', 'progress_grids_kept', 'board_images_every', 'worker_timeout')
        found += [f'{name} must be at least 1, got {getattr(self, name)}.' for name in at_least_one
                  if getattr(self, name) is not None and getattr(self, name) < 1]
        if self.seed < 0:
            found.append(f'seed must be at least 0 (numpy seeds are whole numbers >= 0), got {self.seed}.')
        if not self.learning_rate > 0:
            found.append(f'learning_rate must be greater than 0, got {self.learning_rate}.')
        if not 0 <= self.beta1 < 1:
            found.append(f'beta1 must be in [0, 1), got {self.beta1}.')
        if not 0 <= self.g_dropout < 1:
            found.append(f'g_dropout must be in [0, 1), got {self.g_dropout}.')
        if not 0 < self.smoothing <= 1:
            found.append(f'smoothing must be in (0, 1], got {self.smoothing}.')
        if self.g_learning_rate is not None and not self.g_learning_rate > 0:
            found.append(f'g_learning_rate must be greater than 0 (or None), got {self.g_learning_rate}.')
        if not 0 <= self.g_ema < 1:
            found.append(f'g_ema must be in [0, 1) (0: off; 0.999 averages about the last 1,000 steps), '
                         f'got {self.g_ema}.')
        if self.r1_gamma < 0:
            found.append(f'r1_gamma must be at least 0, got {self.r1_gamma}.')
        unknown = [a for a in self.augmentations() if a not in AUGMENTS]
        if unknown:
            found.append(f'augment={self.augment!r} names {", ".join(map(repr, unknown))}: use a comma-separated '
                         f'subset of {", ".join(AUGMENTS)}, or "" for none.')
        if self.devices >= 1 and self.batch_size >= 1 and self.batch_size % self.devices:
            share = self.batch_size // self.devices
            nearest = sorted({max(share, 1) * self.devices, (share + 1) * self.devices})
            found.append(f'batch_size ({self.batch_size}) must be a multiple of devices ({self.devices}): the global '
                         f'batch is split evenly, an equal share per device (e.g. batch_size='
                         f'{" or ".join(map(str, nearest))}).')
        if self.metrics_samples < 2:
            found.append(f'metrics_samples must be at least 2, got {self.metrics_samples}.')
        if self.max_images is not None and self.max_images < self.batch_size:
            found.append(f'max_images ({self.max_images}) must be at least batch_size ({self.batch_size}), '
                         f'or no batch can be formed.')
        return found

    def validate(self):
        """Return self, or raise ConfigError listing every problem."""
        found = self.problems()
        if found:
            raise ConfigError('These settings cannot make a run:\n  ' + '\n  '.join(found))
        return self

    def check_data(self, count):
        """Raise ConfigError unless a data set of `count` images gives this run at least one batch."""
        usable = min(count, self.max_images or count)
        if usable < self.batch_size:
            raise ConfigError(f'The data set has {usable} images, fewer than batch_size={self.batch_size}: '
                              f'no batch can be formed. Lower batch_size or use more images.')

    def replace(self, **changes):
        """A copy with `changes` applied (unknown names refused)."""
        return from_dict({**self.to_dict(), **changes})

    def to_dict(self):
        """{setting: value}, JSON-ready."""
        return dataclasses.asdict(self)

    def generator_options(self):
        """The generator's keyword arguments besides z, channels and is_train."""
        return dict(filters=self.g_filters, kernel=self.kernel, activation=self.g_activation,
                    dropout_rate=self.g_dropout)

    def discriminator_options(self):
        """The discriminator's keyword arguments besides the images and reuse."""
        return dict(filters=self.d_filters, kernel=self.kernel, norm=self.d_norm)

    def loss_options(self):
        """model_loss's keyword arguments besides the inputs, the channels and the networks' options."""
        return dict(loss=self.loss, r1_gamma=self.r1_gamma, augment=self.augmentations())

    def augmentations(self):
        """The augment setting as a tuple of names."""
        return tuple(a.strip() for a in self.augment.split(',') if a.strip())

    def steps_per_epoch(self, count):
        """Batches in one epoch of `count` images (at least one)."""
        return max(min(count, self.max_images or count) // self.batch_size, 1)


def field_type(f):
    """The type a field holds, without Optional."""
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    return args[0] if args else f.type


def is_instance(value, expected):
    """isinstance, except that bool is no int and an int is a fine float."""
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


SETTINGS = {f.name: f for f in fields(TrainConfig)}
DEFAULTS = {name: f.default for name, f in SETTINGS.items()}
# What runs and exports saved before a setting existed (or before its default changed) trained with: a
# saved configuration that lacks one of these keys means this value, not today's default.
EARLIER_DEFAULTS = dict(g_filters=None, d_filters=64, d_norm='batch', g_ema=0.0, g_learning_rate=None, loss='bce',
                        r1_gamma=0.0, augment='', mixed_precision=False, devices=1)


def saved_config(saved):
    """The settings of a saved configuration (a checkpoint's, a run's, an export's): what it lacks takes
    the value it had when it was saved (EARLIER_DEFAULTS), else today's default. Unknown keys are dropped."""
    return {**DEFAULTS, **EARLIER_DEFAULTS, **{k: v for k, v in saved.items() if k in SETTINGS}}


def kind(name):
    """The kind of setting `name` (model, data, dynamics or safe)."""
    return SETTINGS[name].metadata['kind']


def from_dict(values, where='the settings'):
    """A TrainConfig from {setting: value}, refusing unknown names; not yet validated."""
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ConfigError(f'{where} name unknown settings: {", ".join(unknown)}. Known settings: '
                          f'{", ".join(SETTINGS)}.')
    return TrainConfig(**values)


# ----------------------------------------------------------------------------------------------
# Presets: named partial configurations
# ----------------------------------------------------------------------------------------------

PRESETS = {
    'default': {},
    # The classic course DCGAN: 5x5 kernels, a 7x7x512 projection, 64 -> 256 discriminator filters, ReLU
    # in the generator, no label smoothing, uniform z, samples from the trained weights.
    'classic': dict(g_filters=512, d_filters=64, kernel=5, g_activation='relu', smoothing=1.0,
                    z_distribution='uniform', g_ema=0.0),
    # Faces at 64x64: one more layer in each network, at the classic widths (8x8x512 projection; 64 to 512
    # filters in the discriminator), 8.2x the FLOPs per image of the classic widths at 28x28.
    'faces64': dict(dataset='celeba', image_size=64, g_filters=None, d_filters=64),
}


def preset(name, **overrides):
    """The configuration of preset `name` with `overrides` on top (validated)."""
    if name not in PRESETS:
        raise ConfigError(f'Unknown preset {name!r}: choose one of {", ".join(PRESETS)}.')
    return from_dict({**PRESETS[name], **overrides}).validate()


def notebook_config(preset_name, values, **per_dataset):
    """The notebook's configuration of one data set's run: the preset, then the notebook's shared
    settings that differ from the defaults (one left at its default takes the preset's value), then
    the per-data-set ones (dataset, epochs)."""
    changed = {k: v for k, v in values.items() if k not in DEFAULTS or v != DEFAULTS[k]}
    return preset(preset_name, **changed, **per_dataset)


# ----------------------------------------------------------------------------------------------
# The command line's options, generated from the settings
# ----------------------------------------------------------------------------------------------

FLAG_ALIASES = {'use_xla': ('--xla',)}   # shorter spellings some settings also answer to
BEST_HELP = "with --checkpoint RUN: the run's best-scored checkpoint (checkpoints/best) instead of its newest"


def flag(name):
    """The command-line flag of setting `name`."""
    return '--' + name.replace('_', '-')


def add_arguments(parser, exclude=()):
    """Add one option per setting to an argparse parser; each help line shows its default. Options the
    user does not give stay out of the parsed namespace, so presets and saved runs can fill them."""
    groups = {k: parser.add_argument_group(f'{k} settings') for k in KINDS}
    for name, f in SETTINGS.items():
        if name in exclude:
            continue
        options = dict(default=argparse.SUPPRESS, help=f'{f.metadata["help"]} (default: {f.default})')
        expected = field_type(f)
        if expected is bool:
            options['action'] = argparse.BooleanOptionalAction
        else:
            options.update(type=expected, metavar=expected.__name__.upper())
            if f.metadata['choices']:
                options.update(choices=f.metadata['choices'], metavar=None)
        groups[f.metadata['kind']].add_argument(flag(name), *FLAG_ALIASES.get(name, ()), dest=name, **options)


def from_arguments(args):
    """The configuration the parsed options ask for: the preset (if any), then the options given."""
    given = {name: getattr(args, name) for name in SETTINGS if hasattr(args, name)}
    return preset(getattr(args, 'preset', None) or 'default', **given)


# ----------------------------------------------------------------------------------------------
# What changed between a saved run and the settings asked for
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One setting whose value differs between the saved run and this one."""
    name: str
    old: object
    new: object

    @property
    def kind(self):
        return kind(self.name)

    def __str__(self):
        return f'{self.name}: {self.old!r} -> {self.new!r}'


def changes(saved, config):
    """The Changes from a saved {setting: value} to `config`, for the settings the saved run knows."""
    return [Change(name, saved[name], getattr(config, name)) for name in SETTINGS
            if name in saved and saved[name] != getattr(config, name)]
