"""problem_unittests.py passes the notebook's functions and fails each deliberately broken variant.

The broken variants are the notebook's own function sources with one bug put in by text replacement,
so the checks are proven against the code the notebook really runs.
"""
import pytest

import problem_unittests
from dcgan.notebook import load_namespace, notebook_cells

NOTEBOOK = load_namespace()


def function_source(name):
    """The source of the notebook cell that defines `name`."""
    sources = [s for s in notebook_cells('functions') if f'def {name}(' in s]
    assert len(sources) == 1, f'expected one notebook cell defining {name}'
    return sources[0]


def broken(name, old, new):
    """The notebook's function `name` rebuilt with `old` replaced by `new` in its source."""
    source = function_source(name)
    assert old in source, f'{old!r} is no longer in the notebook\'s {name}: update this broken variant'
    namespace = dict(NOTEBOOK)
    exec(compile(source.replace(old, new), f'<broken {name}>', 'exec'), namespace)
    return namespace[name]


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
    ('generator', 'wrong scope name', "variable_scope('generator'", "variable_scope('painter'"),
    ('generator', 'reuse not tied to is_train', "reuse=not is_train)", "reuse=False)"),
    ('generator', 'always reusing', "reuse=not is_train)", "reuse=tf.AUTO_REUSE)"),
    ('generator', 'output in [-1, 1]', "return 0.5 * tf.tanh(logits)", "return tf.tanh(logits)"),
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
