"""The analytic FLOP count agrees with a hand count from the layer sizes."""
from dcgan import config, notebook
from dcgan.flops import model_flops

MODEL = notebook.load()


def conv(out_side, kernel, c_in, c_out):
    return out_side * out_side * kernel * kernel * c_in * c_out


def deconv(in_side, kernel, c_in, c_out):
    return in_side * in_side * kernel * kernel * c_in * c_out


def test_default_model_counts():
    g = 100 * 7 * 7 * 128 + deconv(7, 4, 128, 64) + deconv(14, 4, 64, 1)
    d = conv(14, 4, 1, 32) + conv(7, 4, 32, 64) + conv(4, 4, 64, 128) + 4 * 4 * 128
    counted = model_flops(MODEL)
    assert (counted['generator_macs'], counted['discriminator_macs']) == (g, d)
    assert counted['training_flops_per_image'] == 6 * (g + 2 * d)


def test_classic_preset_counts_and_costs_more():
    g = 100 * 7 * 7 * 512 + deconv(7, 5, 512, 256) + deconv(14, 5, 256, 1)
    d = conv(14, 5, 1, 64) + conv(7, 5, 64, 128) + conv(4, 5, 128, 256) + 4 * 4 * 256
    counted = model_flops(MODEL, config.preset('classic'))
    assert (counted['generator_macs'], counted['discriminator_macs']) == (g, d)
    assert counted['training_flops_per_image'] > 10 * model_flops(MODEL)['training_flops_per_image']


def test_sizes_and_channels_change_the_count():
    small, large = model_flops(MODEL, channels=3), model_flops(MODEL, config.preset('default', image_size=64), 3)
    assert large['training_flops_per_image'] > 4 * small['training_flops_per_image']
    assert large['parameters'] > small['parameters']
