"""Unit tests for the notebook's graph-building functions, on tf.compat.v1 graph mode, CPU or GPU.

Each test builds its own graph, checks the tensors the function returns (types, ranks, shapes, variable
scopes and reuse) and runs them once on random data. A failed check raises AssertionError saying what is
wrong; a passed test prints 'Tests Passed'.
"""
import numpy as np
import tensorflow.compat.v1 as tf

IMAGE_SIZE = 28
Z_DIM = 100
BATCH = 4
CHANNEL_CASES = (1, 3)   # MNIST (grayscale) and CelebA (RGB)
SATURATING_Z = 1e4       # z this large drives the output activation to its limits


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
        _check_tensor(learning_rate, 'learning_rate', [])
    print('Tests Passed')


def test_discriminator(discriminator):
    """discriminator: (sigmoid output, logits), each (None, 1), variables in scope 'discriminator' reused on request."""
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
                discriminator(images, reuse=True)
            except ValueError as error:
                raise AssertionError('discriminator(images, reuse=True) must reuse the existing variables '
                                     f"(variable_scope('discriminator', reuse=reuse)): {error}") from None
            _check(len(tf.trainable_variables()) == len(variables),
                   'discriminator(images, reuse=True) must not create new variables.')
            _check(_raises_value_error(lambda: discriminator(images, reuse=False)),
                   'discriminator(images, reuse=False) must create the variables anew, so calling it twice '
                   "with reuse=False must fail: use variable_scope('discriminator', reuse=reuse), not AUTO_REUSE.")
            with _session(graph) as sess:
                sess.run(tf.global_variables_initializer())
                out, logit = sess.run([output, logits], {images: _random_images(channels)})
            _check(out.shape == (BATCH, 1) and np.all(np.isfinite(logit)),
                   f'discriminator outputs must be finite, one per image: got shape {out.shape}.')
            _check(np.allclose(out, 1 / (1 + np.exp(-logit)), atol=1e-5),
                   'the discriminator output must be sigmoid(logits).')
    print('Tests Passed')


def test_generator(generator):
    """generator: (None, 28, 28, C) images in [-0.5, 0.5], scope 'generator', reused when is_train=False."""
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
                sampler = generator(z, channels, is_train=False)
            except ValueError as error:
                raise AssertionError('generator(z, C, is_train=False) must reuse the training variables '
                                     f"(variable_scope('generator', reuse=not is_train)): {error}") from None
            _check_tensor(sampler, 'generator output (is_train=False)', [None, IMAGE_SIZE, IMAGE_SIZE, channels])
            _check(len(tf.trainable_variables()) == len(variables),
                   'generator(z, C, is_train=False) must not create new variables.')
            with _session(graph) as sess:
                sess.run(tf.global_variables_initializer())
                train_out, sample_out = sess.run([images, sampler], {z: _random_z()})
                saturated = sess.run(sampler, {z: _random_z() * SATURATING_Z})
            for name, values in (('is_train=True', train_out), ('is_train=False', sample_out),
                                 ('is_train=False, very large z', saturated)):
                _check(np.all(np.isfinite(values)), f'generator output ({name}) must be finite.')
                _check(values.min() >= -0.5 and values.max() <= 0.5,
                       f'generator output ({name}) must lie in [-0.5, 0.5] like the real images '
                       f'(e.g. 0.5 * tanh): got [{values.min():.3f}, {values.max():.3f}].')
        with tf.Graph().as_default():
            z = tf.placeholder(tf.float32, (None, Z_DIM))
            _check(_raises_value_error(lambda: generator(z, channels, is_train=False)),
                   'generator(z, C, is_train=False) in a fresh graph must fail, because it reuses variables '
                   "that do not exist yet: use variable_scope('generator', reuse=not is_train).")
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


def test_model_opt(model_opt):
    """model_opt: one training op per network; each updates only its own scope's trainable variables and
    runs that network's batch-norm update ops."""
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
