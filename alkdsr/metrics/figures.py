"""Visual comparisons in the style of the paper's Figures 7 and 8.

The HR image with a marked box, then that box cut from HR, bicubic and each model's output,
each captioned with its PSNR/SSIM. The numbers are the whole-image values computed the
benchmark way (``alkdsr.metrics.psnr_ssim``: BasicSR's PSNR/SSIM on uint8 images, Y channel,
``crop_border`` = scale), so a caption equals that image's line in a benchmark table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from alkdsr.data import matlab_resize
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import atomic_path
from alkdsr.inference.image import upscale_image
from alkdsr.metrics import psnr_ssim
from alkdsr.utils.packages import require


@dataclass
class Panel:
    """One method's full-size RGB uint8 result and its scores against HR (None for HR itself)."""

    label: str
    image: np.ndarray
    psnr: float | None = None
    ssim: float | None = None

    @property
    def caption(self) -> str:
        if self.psnr is None:
            return f'{self.label}\nPSNR/SSIM'
        return f'{self.label}\n{self.psnr:.3f} dB / {self.ssim:.4f}'


def rgb_y_psnr_ssim(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR and SSIM on the Y channel of RGB uint8 images, ``scale`` border pixels cropped (BasicSR's)."""
    return psnr_ssim.y_psnr_ssim(sr[..., ::-1], hr[..., ::-1], scale)  # the Y conversion expects BGR


def matlab_bicubic(rgb: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB's ``imresize`` (bicubic, antialiased when shrinking) of an RGB uint8 image, exactly as MATLAB
    rounds it: the same LR images ``alkdsr prepare`` and ``benchmark --hr-only`` make."""
    return matlab_resize.imresize(rgb, scale)


def paired_images(hr: np.ndarray, lr: np.ndarray | None, scale: int, name: str = 'HR') -> tuple[np.ndarray, np.ndarray]:
    """HR cropped to a multiple of ``scale`` that matches LR (made by MATLAB bicubic if not given)."""
    if lr is None:
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        if min(h, w) < 1:
            raise AlkdsrError(f'{name}: {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {scale}')
        hr = hr[: h * scale, : w * scale]
        return hr, matlab_bicubic(hr, 1 / scale)
    h, w = lr.shape[:2]
    if h * scale > hr.shape[0] or w * scale > hr.shape[1]:
        raise AlkdsrError(
            f'{name}: LR {w}x{h} times {scale} is larger than HR {hr.shape[1]}x{hr.shape[0]}; wrong LR or scale?'
        )
    return hr[: h * scale, : w * scale], lr


def comparison_panels(
    hr: np.ndarray, lr: np.ndarray, models: list[tuple[str, object]], scale: int, tile: int | None = None
) -> list[Panel]:
    """HR, bicubic and each (label, model) as scored panels; HR and LR are RGB uint8 with HR = scale * LR."""
    bicubic = matlab_bicubic(lr, scale)
    panels = [Panel('HR', hr), Panel('Bicubic', bicubic, *rgb_y_psnr_ssim(bicubic, hr, scale))]
    for label, model in models:
        sr = upscale_image(model, lr, tile=tile)
        panels.append(Panel(label, sr, *rgb_y_psnr_ssim(sr, hr, scale)))
    return panels


def pick_box(hr: np.ndarray, size: int, border: int = 0) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the ``size`` square with the most detail (gradient energy of the luma)."""
    height, width = hr.shape[:2]
    size = max(1, min(size, height - 2 * border, width - 2 * border))
    luma = hr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    energy = np.zeros_like(luma)
    energy[:, 1:] += np.diff(luma, axis=1) ** 2
    energy[1:, :] += np.diff(luma, axis=0) ** 2
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    valid = sums[border : height - size - border + 1, border : width - size - border + 1]
    y, x = np.unravel_index(np.argmax(valid), valid.shape)
    return int(x + border), int(y + border), size, size


def check_box(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > shape[1] or y + h > shape[0]:
        raise AlkdsrError(f'--box {x} {y} {w} {h} is not inside the {shape[1]}x{shape[0]} HR image')
    return box


def draw_comparison(panels: list[Panel], box: tuple[int, int, int, int], title: str = ''):
    """The figure: HR with the box on the left, the captioned crops in two rows on the right."""
    require('drawing the comparison figure', 'matplotlib')
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    x, y, w, h = box
    columns = (len(panels) + 1) // 2
    fig = plt.figure(figsize=(4 + 2.2 * columns, 4.6), layout='constrained')
    grid = fig.add_gridspec(2, 2 + columns, width_ratios=[1, 1] + [1] * columns)
    ax = fig.add_subplot(grid[:, :2])
    ax.imshow(panels[0].image)
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor='red', linewidth=1.5))
    ax.set_xlabel(title)
    _no_ticks(ax)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(grid[i // columns, 2 + i % columns])
        ax.imshow(panel.image[y : y + h, x : x + w], interpolation='nearest')
        ax.set_xlabel(panel.caption, fontsize=9)
        _no_ticks(ax)
    return fig


def _no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> None:
    """Write ``fig`` as PNG, atomically, and release it."""
    from matplotlib import pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format='png', dpi=dpi)
    finally:
        plt.close(fig)
