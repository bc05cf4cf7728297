"""Pictures: image grids, enlarged sample grids, progress animations, loss and quality curves; every file
written atomically."""
import math

import numpy as np
from PIL import Image

from dcgan.atomic import atomic_file
from dcgan.data.images import to_uint8

FIGURE_DPI = 100                   # resolution of the saved loss and quality curves


def images_grid(images, columns, mode):
    """A PIL image tiling `images` (values in [-0.5, 0.5]) in rows of `columns`."""
    images = to_uint8(images)
    count, height, width, channels = images.shape
    rows = count // columns
    grid = images[:rows * columns].reshape(rows, columns, height, width, channels).swapaxes(1, 2)
    grid = grid.reshape(rows * height, columns * width, channels)
    return Image.fromarray(grid[..., 0] if mode == 'L' else grid, mode)


def images_square_grid(images, mode):
    """A PIL image tiling the largest square number of `images` (values in [-0.5, 0.5]) in a grid."""
    return images_grid(images, int(math.floor(math.sqrt(len(images)))), mode)


def save_image(image, path):
    """Save a PIL image atomically (write a temporary file, then rename)."""
    with atomic_file(path) as tmp:
        image.save(tmp)


def save_grid(images, mode, path, scale=2):
    """Save a square grid of `images` to `path`, enlarged `scale` times so small images stay readable."""
    save_enlarged(images_square_grid(images, mode), path, scale)


def save_enlarged(image, path, scale=2):
    """Save a PIL image enlarged `scale` times with sharp pixels (nearest neighbour), atomically."""
    save_image(image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST), path)


def show_images(images, mode, title=''):
    """Show a square grid of `images` (values in [-0.5, 0.5]) in the notebook."""
    import matplotlib.pyplot as plt
    plt.figure(figsize=(4, 4))
    plt.imshow(images_square_grid(images, mode), cmap='gray' if mode == 'L' else None)
    plt.title(title)
    plt.axis('off')
    plt.show()
    plt.close()


def smooth(values, window):
    """Moving average of `values` over `window` points (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(len(values)) + 1 - counts]) / counts


def plot_losses(losses, title, path=None, window=25):
    """Plot both networks' losses per step (faint) and their moving average; save to `path` if given."""
    import matplotlib.pyplot as plt
    losses = np.asarray(losses)
    figure = plt.figure(figsize=(8, 4))
    steps = np.arange(1, len(losses) + 1)
    for column, label, colour in ((0, 'Discriminator', 'tab:blue'), (1, 'Generator', 'tab:orange')):
        plt.plot(steps, losses[:, column], color=colour, alpha=0.25, linewidth=0.8)
        plt.plot(steps, smooth(losses[:, column], window), color=colour, label=f'{label} (mean of {window})')
    plt.xlabel('training step (batch)')
    plt.ylabel('loss')
    plt.title(title)
    plt.legend()
    plt.grid(alpha=0.3)
    if path:
        save_figure(figure, path)
    plt.show()
    plt.close(figure)


def save_figure(figure, path):
    """Save a matplotlib figure as a PNG, atomically (a temporary file, then a rename)."""
    with atomic_file(path) as tmp:
        figure.savefig(tmp, dpi=FIGURE_DPI, bbox_inches='tight')


def save_losses(losses, path):
    """Write the per-step losses as CSV (step, d_loss, g_loss), atomically."""
    losses = np.asarray(losses)
    table = np.column_stack([np.arange(1, len(losses) + 1), losses])
    with atomic_file(path) as tmp:
        np.savetxt(tmp, table, delimiter=',', header='step,d_loss,g_loss', comments='', fmt=['%d', '%.6f', '%.6f'])


def save_animation(frame_paths, path, seconds_per_frame=0.4):
    """Save image files as an animated GIF (looping, the last frame held longer), atomically."""
    frames = [Image.open(p).convert('RGB') for p in frame_paths]
    durations = [int(seconds_per_frame * 1000)] * (len(frames) - 1) + [int(seconds_per_frame * 5000)]
    with atomic_file(path) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)


def plot_quality(history, real_vs_real, title, path=None):
    """Plot the quality numbers logged during training (lower is better), each beside the value real
    images get (dashed), and save to `path` if given."""
    import matplotlib.pyplot as plt
    from dcgan.metrics import METRICS
    curves = [(m.key, m.label) for m in METRICS.values() if m.plotted and history and m.key in history[0]]
    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    steps = [h['step'] for h in history]
    for axis, (key, label) in zip(axes[0], curves):
        axis.plot(steps, [h[key] for h in history], marker='o', label='generated')
        axis.axhline(real_vs_real[key], color='gray', linestyle='--', label='real images')
        axis.set_xlabel('training step (batch)')
        axis.set_ylabel(label + ' (lower is better)')
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    if path:
        save_figure(figure, path)
    plt.show()
    plt.close(figure)
