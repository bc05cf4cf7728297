"""problem_unittests.py passes the notebook's functions, accepts the course's call forms and the course's
conventions, and fails each deliberately broken variant.

The variants are the notebook's own function sources with one change put in by text replacement, so the
checks are proven against the code the notebook really runs.
"""
import pytest
import tensorflow.compat.v1 as tf

import problem_unittests
from dcgan import ops
from dcgan.notebook import load_namespace, notebook_cells

NOTEBOOK = load_namespace()


def function_source(name):
    """The source of the notebook cell that defines `name`."""
    sources = [s for s in notebook_cells('functions') if f'def {name}(' in s]
    assert len(sources) == 1, f'expected one notebook cell defining {name}'
    return sources[0]


def variant(name, *replacements):
    """The notebook's function `name` rebuilt with each (old, new) of `replacements` applied to its source."""
    source = function_source(name)
    for old, new in replacements:
        assert old in source, f'{old!r} is no longer in the notebook\'s {name}: update this variant'
        source = source.replace(old, new)
    namespace = dict(NOTEBOOK)
    exec(compile(source, f'<variant of {name}>', 'exec'), namespace)
    return namespace[name]


def broken(name, old, new):
    """The notebook's function `name` rebuilt with `old` replaced by `new` in its source."""
    return variant(name, (old, new))


CHECKS = {
    'model_inputs': problem_unittests.test_model_inputs,
    'discriminator': problem_unittests.test_discriminator,
    'generator': problem_unittests.test_generator,
    'model_loss': problem_unittests.test_model_loss,
    'model_opt': problem_unittests.test_model_opt,
}

BROKEN = [
    ('model_inputs', 'int images', "tf.placeholder(tf.float32, (None, image_width",
     "tf.placeholder(tf.int32, (None, image_width"),
    ('model_inputs', 'z of the wrong size', "(None, z_dim)", "(None, image_channels)"),
    ('model_inputs', 'learning rate not a scalar', "(), name='learning_rate'", "(None,), name='learning_rate'"),
    ('model_inputs', 'flat images', "(None, image_width, image_height, image_channels)",
     "(None, image_width * image_height * image_channels)"),
    ('model_inputs', 'a variable, not a placeholder',
     "tf.placeholder(tf.float32, (None, image_width, image_height, image_channels), name='input_real')",
     "tf.Variable(tf.zeros((1, image_width, image_height, image_channels)))"),
    ('model_inputs', 'two values returned', "return inputs_real, inputs_z, learning_rate",
     "return inputs_real, inputs_z"),
    ('discriminator', 'wrong scope name', "variable_scope('discriminator'", "variable_scope('critic'"),
    ('discriminator', 'reuse ignored', "reuse=reuse)", "reuse=False)"),
    ('discriminator', 'always reusing', "reuse=reuse)", "reuse=tf.AUTO_REUSE)"),
    ('discriminator', 'output is not the sigmoid', "return tf.sigmoid(logits), logits", "return logits, logits"),
    ('discriminator', 'two logits per image', "dense(flatten(x), 1, 'logits')", "dense(flatten(x), 2, 'logits')"),
    ('discriminator', "an inner tf.variable_scope last (the course's tests check the last call)",
     "logits = dense(flatten(x), 1, 'logits')",
     "with tf.variable_scope('head'):\n            logits = dense(flatten(x), 1, 'logits')"),
    ('discriminator', "reuse through scope.reuse_variables() (the course's tests see no reuse flag)",
     "with tf.variable_scope('discriminator', reuse=reuse):",
     "with tf.variable_scope('discriminator') as scope:\n        if reuse:\n            scope.reuse_variables()"),
    ('generator', 'wrong scope name', "variable_scope('generator'", "variable_scope('painter'"),
    ('generator', 'reuse not tied to is_train', "reuse=not is_train)", "reuse=False)"),
    ('generator', 'always reusing', "reuse=not is_train)", "reuse=tf.AUTO_REUSE)"),
    ('generator', 'output in [-2, 2]', "return 0.5 * tf.tanh(logits)", "return 2 * tf.tanh(logits)"),
    ('generator', 'no output activation', "return 0.5 * tf.tanh(logits)", "return logits"),
    ('generator', 'channels ignored', "deconv2d(x, out_channel_dim, 'deconv%d' % upsamplings, kernel=kernel)",
     "deconv2d(x, 3, 'deconv%d' % upsamplings, kernel=kernel)"),
    ('generator', '14x14 output', "deconv2d(x, out_channel_dim, 'deconv%d' % upsamplings, kernel=kernel)",
     "deconv2d(x, out_channel_dim, 'deconv%d' % upsamplings, kernel=kernel, stride=1)"),
    ('model_loss', 'per-image generator loss', "g_loss = tf.reduce_mean(cross_entropy(logits=d_logits_fake, "
     "labels=tf.ones_like(d_logits_fake)))", "g_loss = cross_entropy(logits=d_logits_fake, "
     "labels=tf.ones_like(d_logits_fake))"),
    ('model_loss', 'generator loss blind to the generator', "return d_loss_real + d_loss_fake, g_loss",
     "return d_loss_real + d_loss_fake, d_loss_real"),
    ('model_loss', 'discriminator loss on real images only', "return d_loss_real + d_loss_fake, g_loss",
     "return d_loss_real, g_loss"),
    ('model_opt', 'generator op trains every variable',
     "g_vars = [v for v in t_vars if v.name.startswith('generator/')]", "g_vars = t_vars"),
    ('model_opt', 'global, not trainable, variables', "t_vars = tf.trainable_variables()",
     "t_vars = tf.global_variables()"),
    ('model_opt', 'batch-norm updates not run', "with tf.control_dependencies(g_updates):",
     "with tf.control_dependencies([]):"),
    ('model_opt', 'the same op twice', "return d_train_opt, g_train_opt", "return d_train_opt, d_train_opt"),
    ('model_opt', 'one op per network missing', "return d_train_opt, g_train_opt",
     "return tf.group(d_train_opt, g_train_opt)"),
]


@pytest.mark.parametrize('name', CHECKS)
def test_notebook_functions_pass(name, capsys):
    CHECKS[name](NOTEBOOK[name])
    assert 'Tests Passed' in capsys.readouterr().out


@pytest.mark.parametrize('name, bug, old, new', BROKEN, ids=[f'{n}: {b}' for n, b, _, _ in BROKEN])
def test_broken_variant_fails(name, bug, old, new, capsys):
    with pytest.raises(AssertionError) as failure:
        CHECKS[name](broken(name, old, new))
    assert 'Tests Passed' not in capsys.readouterr().out
    assert str(failure.value), 'the failure must say what is wrong'


COURSE_PASSES_TF = ('discriminator', 'generator', 'model_opt')   # the course's notebook calls tests.test_X(X, tf)


@pytest.mark.parametrize('name', COURSE_PASSES_TF)
def test_the_course_call_with_the_tensorflow_module_passes(name, capsys):
    CHECKS[name](NOTEBOOK[name], tf)
    assert 'Tests Passed' in capsys.readouterr().out


COURSE_FORMS = [
    ('model_inputs', 'a learning-rate placeholder of unknown shape',
     [("(), name='learning_rate'", "name='learning_rate'")]),
    ('generator', 'the training flag under another name', [('is_train', 'training')]),
    ('discriminator', 'the reuse flag under another name', [('reuse=False, filters', 'share=False, filters'),
                                                            ('reuse=reuse)', 'reuse=share)')]),
]


@pytest.mark.parametrize('name, form, replacements', COURSE_FORMS, ids=[f'{n}: {f}' for n, f, _ in COURSE_FORMS])
def test_course_forms_pass(name, form, replacements, capsys):
    CHECKS[name](variant(name, *replacements), *((tf,) if name in COURSE_PASSES_TF else ()))
    assert 'Tests Passed' in capsys.readouterr().out


def test_a_plain_tanh_generator_passes_and_the_range_is_reported(capsys):
    problem_unittests.test_generator(broken('generator', 'return 0.5 * tf.tanh(logits)', 'return tf.tanh(logits)'), tf)
    out = capsys.readouterr().out
    assert 'Generator output range: [-1, 1]' in out and 'batch_images * 2' in out and 'Tests Passed' in out
    problem_unittests.test_generator(NOTEBOOK['generator'], tf)
    assert 'Generator output range: [-0.5, 0.5]' in capsys.readouterr().out


@pytest.mark.parametrize('name', ['discriminator', 'generator'])
def test_layer_helpers_with_fixed_names_fail_under_the_mocked_variable_scope(name, monkeypatch, capsys):
    """Helpers that open the public tf.variable_scope(name) and call every variable 'w' and 'b' work under a
    real scope, but collide when the course's tests mock the scope away: the check must say so."""
    monkeypatch.setattr(ops, 'unique_scope', lambda layer_name: tf.variable_scope(layer_name))
    with pytest.raises(AssertionError, match='tf.variable_scope does nothing') as failure:
        CHECKS[name](NOTEBOOK[name], tf)
    assert 'already exists' in str(failure.value) and 'Tests Passed' not in capsys.readouterr().out


def test_a_module_without_variable_scope_is_refused_with_the_reason():
    import tensorflow
    with pytest.raises(AssertionError, match='tensorflow.compat.v1'):
        problem_unittests.test_discriminator(NOTEBOOK['discriminator'], tensorflow)
