"""Unit tests for the notebook's graph-building functions, on tf.compat.v1 graph mode, CPU or GPU.

Each test builds its own graph, checks the tensors the function returns (types, ranks, shapes, variable
scopes and reuse) and runs them once on random data. A failed check raises AssertionError saying what is
wrong; a passed test prints 'Tests Passed'.

The course's call forms work too: test_discriminator(discriminator, tf), test_generator(generator, tf) and
test_model_opt(model_opt, tf) take the notebook's TensorFlow module as an optional second argument; a
learning-rate placeholder of unknown shape is accepted; the generator may output [-0.5, 0.5] or a plain
tanh's [-1, 1] (said which); flags are passed positionally. Like the course's tests, the discriminator and
generator tests also build the network with the module's tf.variable_scope replaced by a mock that records
its calls and does nothing, so networks that pass here pass the course's own tests of them too.
"""
from unittest import mock

import dcgan  # noqa: F401  (before TensorFlow loads: routes tf.compat.v1.layers to tf-keras when installed)
import numpy as np
import tensorflow.compat.v1 as tf

IMAGE_SIZE = 28
Z_DIM = 100
BATCH = 4
CHANNEL_CASES = (1, 3)   # MNIST (grayscale) and CelebA (RGB)
SATURATING_Z = 1e4       # z this large drives the output activation to its limits
OUTPUT_RANGES = {0.5: '[-0.5, 0.5], the real images\' range',
                 1.0: '[-1, 1] (a plain tanh): train must scale the real images to [-1, 1] (batch_images * 2)'}
RANGE_TOLERANCE = 1e-6


def _session(graph):
    """A session that places ops on a GPU when there is one and on the CPU otherwise."""
    return tf.Session(graph=graph, config=tf.ConfigProto(allow_soft_placement=True))


def _check(condition, message):
    """Raise AssertionError(message) unless condition holds."""
    if not condition:
        raise AssertionError(message)


def _check_tensor(tensor, name, shape, dtype=tf.float32):
    """Check that `tensor` is a tf.Tensor of the given dtype and static shape (None = any batch size)."""
    _check(isinstance(tensor, tf.Tensor), f'{name} must be a tf.Tensor, got {type(tensor).__name__}.')
    _check(tensor.dtype == dtype, f'{name} must have dtype {dtype.name}, got {tensor.dtype.name}.')
    actual = tensor.shape.as_list() if tensor.shape.rank is not None else None
    _check(actual is not None and len(actual) == len(shape),
           f'{name} must have rank {len(shape)} (shape {shape}), got shape {actual}.')
    _check(actual == list(shape), f'{name} must have shape {list(shape)}, got {actual}.')


def _scope_variables(scope, trainable=True):
    """The (trainable) variables of the default graph whose names start with scope + '/'."""
    variables = tf.trainable_variables() if trainable else tf.global_variables()
    return [v for v in variables if v.name.startswith(scope + '/')]


def _random_images(channels, batch=BATCH):
    """A batch of random images in [-0.5, 0.5]."""
    return np.random.default_rng(0).uniform(-0.5, 0.5, (batch, IMAGE_SIZE, IMAGE_SIZE, channels)).astype(np.float32)


def _random_z(batch=BATCH):
    """A batch of random latent vectors."""
    return np.random.default_rng(1).standard_normal((batch, Z_DIM)).astype(np.float32)


def test_model_inputs(model_inputs):
    """model_inputs: placeholders for real images (None, W, H, C), z (None, z_dim) and a scalar learning rate."""
    with tf.Graph().as_default():
        returned = model_inputs(IMAGE_SIZE, IMAGE_SIZE, 3, Z_DIM)
        _check(isinstance(returned, (tuple, list)) and len(returned) == 3,
               'model_inputs must return (input_real, input_z, learning_rate).')
        input_real, input_z, learning_rate = returned
        for tensor, name in ((input_real, 'input_real'), (input_z, 'input_z'), (learning_rate, 'learning_rate')):
            _check(isinstance(tensor, tf.Tensor) and tensor.op.type == 'Placeholder',
                   f'{name} must be a placeholder (tf.placeholder), got {getattr(tensor, "op", tensor)!r}.')
        _check_tensor(input_real, 'input_real', [None, IMAGE_SIZE, IMAGE_SIZE, 3])
        _check_tensor(input_z, 'input_z', [None, Z_DIM])
        _check(learning_rate.shape.rank in (None, 0),
               f'learning_rate must be a scalar placeholder (shape () or unknown), got shape {learning_rate.shape}.')
        _check(learning_rate.dtype == tf.float32,
               f'learning_rate must have dtype float32, got {learning_rate.dtype.name}.')
    print('Tests Passed')


def test_discriminator(discriminator, tf_module=tf):
    """discriminator: (sigmoid output, logits), each (None, 1), variables in scope 'discriminator' reused on
    request (discriminator(images, True)); tf_module is the TensorFlow module the notebook calls as `tf`."""
    for channels in CHANNEL_CASES:
        with tf.Graph().as_default() as graph:
            images = tf.placeholder(tf.float32, (None, IMAGE_SIZE, IMAGE_SIZE, channels))
            returned = discriminator(images)
            _check(isinstance(returned, (tuple, list)) and len(returned) == 2,
                   'discriminator must return (output, logits).')
            output, logits = returned
            _check_tensor(output, 'discriminator output', [None, 1])
            _check_tensor(logits, 'discriminator logits', [None, 1])
            variables = _scope_variables('discriminator')
            _check(variables, "discriminator must create its variables inside tf.variable_scope('discriminator').")
            _check(len(variables) == len(tf.trainable_variables()),
                   "every variable the discriminator creates must be inside the scope 'discriminator'.")
            try:
                discriminator(images, True)
            except ValueError as error:
                raise AssertionError('discriminator(images, True) must reuse the existing variables '
                                     f"(variable_scope('discriminator', reuse=reuse)): {error}") from None
            _check(len(tf.trainable_variables()) == len(variables),
                   'discriminator(images, True) must not create new variables.')
            _check(_raises_value_error(lambda: discriminator(images, False)),
                   'discriminator(images, False) must create the variables anew, so calling it twice '
                   "with reuse=False must fail: use variable_scope('discriminator', reuse=reuse), not AUTO_REUSE.")
            with _session(graph) as sess:
                sess.run(tf.global_variables_initializer())
                out, logit = sess.run([output, logits], {images: _random_images(channels)})
            _check(out.shape == (BATCH, 1) and np.all(np.isfinite(logit)),
                   f'discriminator outputs must be finite, one per image: got shape {out.shape}.')
            _check(np.allclose(out, 1 / (1 + np.exp(-logit)), atol=1e-5),
                   'the discriminator output must be sigmoid(logits).')
    _check_with_mocked_scope(tf_module, 'discriminator', (
        (lambda images: discriminator(images), False, 'discriminator(images)'),
        (lambda images: discriminator(images, True), True, 'discriminator(images, True)')),
        lambda: tf.placeholder(tf.float32, (None, IMAGE_SIZE, IMAGE_SIZE, 3)))
    print('Tests Passed')


def test_generator(generator, tf_module=tf):
    """generator: (None, 28, 28, C) images in [-0.5, 0.5] or [-1, 1] (said which), scope 'generator', reused
    when the training flag is False (generator(z, C, False)); tf_module is the notebook's `tf`."""
    ranges = set()
    for channels in CHANNEL_CASES:
        with tf.Graph().as_default() as graph:
            z = tf.placeholder(tf.float32, (None, Z_DIM))
            images = generator(z, channels)
            _check_tensor(images, 'generator output', [None, IMAGE_SIZE, IMAGE_SIZE, channels])
            variables = _scope_variables('generator')
            _check(variables, "generator must create its variables inside tf.variable_scope('generator').")
            _check(len(variables) == len(tf.trainable_variables()),
                   "every variable the generator creates must be inside the scope 'generator'.")
            try:
                sampler = generator(z, channels, False)
            except ValueError as error:
                raise AssertionError('generator(z, C, False) must reuse the training variables '
                                     f"(variable_scope('generator', reuse=not is_train)): {error}") from None
            _check_tensor(sampler, 'generator output (is_train=False)', [None, IMAGE_SIZE, IMAGE_SIZE, channels])
            _check(len(tf.trainable_variables()) == len(variables),
                   'generator(z, C, False) must not create new variables.')
            with _session(graph) as sess:
                sess.run(tf.global_variables_initializer())
                train_out, sample_out = sess.run([images, sampler], {z: _random_z()})
                saturated = sess.run(sampler, {z: _random_z() * SATURATING_Z})
            for name, values in (('is_train=True', train_out), ('is_train=False', sample_out),
                                 ('is_train=False, very large z', saturated)):
                _check(np.all(np.isfinite(values)), f'generator output ({name}) must be finite.')
                limit = min((r for r in OUTPUT_RANGES if np.abs(values).max() <= r + RANGE_TOLERANCE), default=None)
                _check(limit is not None,
                       f'generator output ({name}) must lie in [-0.5, 0.5] like the real images (0.5 * tanh) or '
                       f'in [-1, 1] (tanh, with the real images scaled by 2 in train): got '
                       f'[{values.min():.3f}, {values.max():.3f}].')
                ranges.add(limit)
        with tf.Graph().as_default():
            z = tf.placeholder(tf.float32, (None, Z_DIM))
            _check(_raises_value_error(lambda: generator(z, channels, False)),
                   'generator(z, C, False) in a fresh graph must fail, because it reuses variables '
                   "that do not exist yet: use variable_scope('generator', reuse=not is_train).")
    _check_with_mocked_scope(tf_module, 'generator', (
        (lambda z: generator(z, 5), False, 'generator(z, 5)'),
        (lambda z: generator(z, 5, False), True, 'generator(z, 5, False)')),
        lambda: tf.placeholder(tf.float32, (None, Z_DIM)))
    print('Generator output range: ' + OUTPUT_RANGES[max(ranges)])
    print('Tests Passed')


def test_model_loss(model_loss):
    """model_loss: two finite scalar losses over variables in the 'discriminator' and 'generator' scopes."""
    for channels in CHANNEL_CASES:
        with tf.Graph().as_default() as graph:
            input_real = tf.placeholder(tf.float32, (None, IMAGE_SIZE, IMAGE_SIZE, channels))
            input_z = tf.placeholder(tf.float32, (None, Z_DIM))
            returned = model_loss(input_real, input_z, channels)
            _check(isinstance(returned, (tuple, list)) and len(returned) == 2,
                   'model_loss must return (d_loss, g_loss).')
            d_loss, g_loss = returned
            _check_tensor(d_loss, 'd_loss', [])
            _check_tensor(g_loss, 'g_loss', [])
            _check(_scope_variables('discriminator') and _scope_variables('generator'),
                   'model_loss must build the generator and the discriminator (in their scopes).')
            d_vars, g_vars = _scope_variables('discriminator'), _scope_variables('generator')
            _check(all(g is not None for g in tf.gradients(g_loss, g_vars)),
                   'g_loss must depend on every generator variable (through discriminator(generator(z))).')
            _check(all(g is not None for g in tf.gradients(d_loss, d_vars)),
                   'd_loss must depend on every discriminator variable.')
            _check(any(g is not None for g in tf.gradients(d_loss, g_vars)),
                   'd_loss must include the discriminator\'s loss on generated images, not only on real ones.')
            with _session(graph) as sess:
                sess.run(tf.global_variables_initializer())
                values = sess.run([d_loss, g_loss], {input_real: _random_images(channels), input_z: _random_z()})
            _check(all(np.isfinite(v) and v > 0 for v in values),
                   f'both losses must be finite and positive (cross-entropies): got {values}.')
    print('Tests Passed')


def test_model_opt(model_opt, tf_module=tf):
    """model_opt: one training op per network; each updates only its own scope's trainable variables and
    runs that network's batch-norm update ops. tf_module (the course's call passes the notebook's `tf`) is
    accepted; the check runs real training ops and mocks nothing."""
    with tf.Graph().as_default() as graph:
        d_vars, g_vars, counters = _toy_networks()
        frozen = [v for v in tf.global_variables() if 'moving_mean' in v.name]
        d_loss = tf.reduce_sum([tf.reduce_sum(tf.square(v - 1.0)) for v in d_vars + g_vars + frozen])
        g_loss = tf.reduce_sum([tf.reduce_sum(tf.square(v + 1.0)) for v in d_vars + g_vars + frozen])
        learning_rate = tf.placeholder(tf.float32, ())
        try:
            returned = model_opt(d_loss, g_loss, learning_rate, 0.5)
        except (TypeError, ValueError) as error:
            raise AssertionError(f'model_opt failed to build its training ops ({type(error).__name__}: {error}). '
                                 'Train only the trainable variables of each scope.') from error
        _check(isinstance(returned, (tuple, list)) and len(returned) == 2,
               'model_opt must return (d_train_opt, g_train_opt).')
        d_train_opt, g_train_opt = returned
        for op, name in ((d_train_opt, 'd_train_opt'), (g_train_opt, 'g_train_opt')):
            _check(isinstance(op, (tf.Operation, tf.Tensor)), f'{name} must be a training op, got {op!r}.')
        _check(d_train_opt is not g_train_opt, 'model_opt must return one op per network, not the same op twice.')
        with _session(graph) as sess:
            sess.run(tf.global_variables_initializer())
            for op, name, own, other, counter in ((d_train_opt, 'd_train_opt', d_vars, g_vars, counters[0]),
                                                  (g_train_opt, 'g_train_opt', g_vars, d_vars, counters[1])):
                before = sess.run(own + other + frozen + [counter])
                sess.run(op, {learning_rate: 0.1})
                after = sess.run(own + other + frozen + [counter])
                own_before, own_after = before[:len(own)], after[:len(own)]
                rest_before, rest_after = before[len(own):-1], after[len(own):-1]
                _check(all(not np.allclose(b, a) for b, a in zip(own_before, own_after)),
                       f'{name} must update every trainable variable of its own network.')
                _check(all(np.array_equal(b, a) for b, a in zip(rest_before, rest_after)),
                       f'{name} must update only its own network\'s trainable variables (pick them from '
                       'tf.trainable_variables() by scope name), not the other network\'s or non-trainable ones.')
                _check(after[-1] > before[-1],
                       f'{name} must run its network\'s batch-norm update ops (tf.GraphKeys.UPDATE_OPS) '
                       'through tf.control_dependencies.')
    print('Tests Passed')


def _toy_networks():
    """Two tiny 'networks' in the scopes discriminator/ and generator/, each with a trainable weight pair,
    a non-trainable statistic and an update op in UPDATE_OPS that counts how often it ran."""
    variables, counters = {}, []
    for scope in ('discriminator', 'generator'):
        with tf.variable_scope(scope):
            variables[scope] = [tf.get_variable(n, [3], initializer=tf.zeros_initializer()) for n in ('w', 'b')]
            tf.get_variable('moving_mean', [3], initializer=tf.zeros_initializer(), trainable=False)
            counter = tf.get_variable('update_count', [], initializer=tf.zeros_initializer(), trainable=False)
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, tf.assign_add(counter, 1.0))
            counters.append(counter)
    return variables['discriminator'], variables['generator'], counters


def _raises_value_error(build):
    """True when calling `build` raises ValueError (what get_variable raises on a reuse mismatch)."""
    try:
        build()
    except ValueError:
        return True
    return False


def _scope_call(call):
    """(scope name, reuse) of one recorded call of tf.variable_scope(name_or_scope, ..., reuse=...)."""
    args, kwargs = call
    return (args[0] if args else kwargs.get('name_or_scope'),
            kwargs.get('reuse', args[8] if len(args) > 8 else None))


def _check_with_mocked_scope(tf_module, scope, calls, make_input):
    """The course's check: with tf_module.variable_scope replaced by a mock that records its calls and does
    nothing, each of `calls` (build, expected reuse, description) must still build (so its layers name
    their variables uniquely, as tf.layers do, instead of relying on the scope to keep fixed names apart)
    and its last variable_scope call must be the network's own, with that reuse."""
    _check(hasattr(tf_module, 'variable_scope'), f'the second argument must be the TensorFlow module the notebook '
                                                 f'calls tf (tensorflow.compat.v1), got {tf_module!r}.')
    with tf.Graph().as_default(), mock.patch.object(tf_module, 'variable_scope') as variable_scope:
        inputs = make_input()
        for build, reuse, description in calls:
            variable_scope.reset_mock()
            try:
                build(inputs)
            except ValueError as error:
                raise AssertionError(
                    f'{description} fails when tf.variable_scope does nothing, as in the course\'s unit tests '
                    f'(they replace it with a mock): {error} Layer helpers that give every layer the same '
                    "variable names ('w', 'b') under their own tf.variable_scope collide there: use tf.layers, "
                    'or name the variables uniquely (a scope with default_name).') from None
            _check(variable_scope.called, f"{description} must open tf.variable_scope('{scope}', reuse=...).")
            name, used = _scope_call(variable_scope.call_args)
            _check(name == scope, f'the last tf.variable_scope call of {description} must be the network\'s own, '
                                  f"tf.variable_scope('{scope}', reuse=...), got {variable_scope.call_args}: layer "
                                  'helpers must not open tf.variable_scope themselves (tf.layers do not; the '
                                  'course\'s tests check that last call).')
            right_reuse = used is True or used == 1 if reuse else not used   # AUTO_REUSE is neither
            _check(right_reuse, f"{description} must call tf.variable_scope('{scope}', reuse={reuse}), got "
                                f'{variable_scope.call_args}: pass the reuse flag to tf.variable_scope itself '
                                '(the course\'s tests check that call; scope.reuse_variables() is not seen).')
