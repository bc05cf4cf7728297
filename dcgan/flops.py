"""Analytic FLOP counts of a DCGAN, read off the layers of the graph the notebook's functions build.

Multiply-adds (MACs) of one forward pass per image: convolutions out_h * out_w * k * k * c_in * c_out,
transposed convolutions in_h * in_w * k * k * c_in * c_out, dense layers in * out. One training image then
costs the usual 6 x (G MACs + 2 x D MACs) FLOPs: a forward and a backward pass (2x the forward), 2 FLOPs per
multiply-add, and the discriminator sees a real and a generated image.
"""
import numpy as np
import tensorflow.compat.v1 as tf

from dcgan.config import TrainConfig

FORWARD_AND_BACKWARD = 3     # the backward pass costs about twice the forward one
FLOPS_PER_MAC = 2
MAC_OPS = ('Conv2D', 'Conv2DBackpropInput', 'MatMul')


def op_macs(op):
    """Multiply-adds of one convolution, transposed convolution or matrix product, per image."""
    if op.type == 'Conv2D':
        kernel = op.inputs[1].shape.as_list()                     # k, k, c_in, c_out
        return int(np.prod(op.outputs[0].shape.as_list()[1:3]) * np.prod(kernel))
    if op.type == 'Conv2DBackpropInput':                          # the forward pass of a transposed convolution
        kernel = op.inputs[1].shape.as_list()                     # k, k, c_out, c_in
        return int(np.prod(op.inputs[2].shape.as_list()[1:3]) * np.prod(kernel))
    inputs, outputs = op.inputs[0].shape.as_list()[1], op.outputs[0].shape.as_list()[1]
    return int(inputs * outputs)


def network_macs(build):
    """Forward multiply-adds per image of the network `build()` makes in a fresh graph."""
    with tf.Graph().as_default() as graph:
        build()
        return sum(op_macs(op) for op in graph.get_operations() if op.type in MAC_OPS)


def model_flops(model, config=None, channels=1):
    """{'generator_macs', 'discriminator_macs', 'parameters', 'training_flops_per_image'} of the notebook's
    generator and discriminator (a NotebookModel) built with a run configuration's architecture."""
    config = config or TrainConfig()
    size = config.image_size

    def generator():
        model.generator(tf.placeholder(tf.float32, (None, config.z_dim)), channels, image_size=size,
                        **config.generator_options())

    def discriminator():
        model.discriminator(tf.placeholder(tf.float32, (None, size, size, channels)), **config.discriminator_options())

    with tf.Graph().as_default():
        generator()
        discriminator()
        parameters = sum(int(np.prod(v.shape.as_list())) for v in tf.trainable_variables())
    g, d = network_macs(generator), network_macs(discriminator)
    return dict(generator_macs=g, discriminator_macs=d, parameters=parameters,
                training_flops_per_image=FORWARD_AND_BACKWARD * FLOPS_PER_MAC * (g + 2 * d))
