"""Tiles of thin and of short wide images.

The network pads an image of fewer than ``min_size`` rows (or columns) up to it and takes CCA's statistics
and ESA's grid over the padded image; tiles must see that same image. A short wide image is cut into a few
long tiles of its whole height (``tile_grid``): each seam misses some context beyond the pad."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import official_weights, requires_shared
from corpus import SHORT_WIDE_IMAGES, THIN_IMAGES

import alkdsr
from alkdsr.files.images import read_image
from alkdsr.inference.image import upscale_image
from alkdsr.inference.tiling import tile_grid, upscale_tensor

pytestmark = pytest.mark.usefixtures('no_grad')


def _strip(shared, rows: int, width: int) -> torch.Tensor:
    """A thin natural image: rows of Set14's baboon repeated across to ``width`` columns (or, for a thin
    column, columns repeated down to ``rows``)."""
    image = cv2.imread(str(shared / 'datasets' / 'benchmark' / 'Set14' / 'HR' / 'baboon.png'))[:, :, ::-1]
    if rows > width:
        return _strip(shared, width, rows).transpose(2, 3).contiguous()
    strip = np.concatenate([image[100 : 100 + rows]] * (width // image.shape[1] + 1), axis=1)[:, :width]
    return torch.from_numpy(np.ascontiguousarray(strip.transpose(2, 0, 1))).float()[None] / 255


def _grey_levels(a: torch.Tensor, b: torch.Tensor) -> int:
    """Largest difference of the 8-bit images, as ``alkdsr upscale`` writes them."""
    return int(((a.clamp(0, 1) * 255).round() - (b.clamp(0, 1) * 255).round()).abs().max())


@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize(
    'case',
    # the 6000-pixel strips take half a minute a scale: the slow suite's
    [pytest.param(case, marks=pytest.mark.slow) if '6000' in case else case for case in THIN_IMAGES],
)
def test_thin_images_in_seamless_tiles_match_the_untiled_output(shared, scale, case):
    _, (rows, width, tile, tile_pad) = THIN_IMAGES[case]
    net = alkdsr.load_model(official_weights(scale))
    lr = _strip(shared, rows, width)
    untiled = upscale_tensor(net, lr, tile=None)
    tiled = upscale_tensor(net, lr, tile=tile, tile_pad=tile_pad, tile_mode='seamless')
    assert tiled.shape == untiled.shape == (1, 3, rows * scale, width * scale)
    assert _grey_levels(tiled, untiled) <= 1


@requires_shared
@pytest.mark.parametrize(
    'case',
    # the three larger strips take 20 to 50 s each: the slow suite's
    [pytest.param(case, marks=pytest.mark.slow) if i >= 2 else case for i, case in enumerate(SHORT_WIDE_IMAGES)],
)
def test_short_wide_images_in_default_tiles_match_the_untiled_output(shared, case):
    """As ``alkdsr upscale`` runs them by default on the CPU: tile 256, pad 32, seamless."""
    mistake, (name, rows, width, levels) = SHORT_WIDE_IMAGES[case]
    assert mistake.expect == f'within {levels} grey level{"s" if levels > 1 else ""} of the untiled output'
    from PIL import Image

    image = read_image(shared / 'datasets' / 'benchmark' / 'Set14' / 'HR' / f'{name}.png').pixels
    pixels = np.asarray(Image.fromarray(image).resize((width, rows), Image.BICUBIC))
    net = alkdsr.load_model(official_weights(4))
    untiled = upscale_image(net, pixels, backend=None)
    tiled = upscale_image(net, pixels, tile=256, tile_pad=32, backend=None)
    assert tiled.shape == untiled.shape == (rows * 4, width * 4, 3)
    assert np.abs(tiled.astype(int) - untiled).max() <= levels


@pytest.mark.parametrize(
    'size, tile, tile_pad, expected',
    [
        ((40, 3000), 256, 32, (40, 1500)),  # the whole height: 320^2 / 40 - 64 = 2496 columns, made equal
        ((3000, 40), 256, 32, (1500, 40)),  # a tall narrow one, the same across
        ((512, 512), 256, 32, (256, 256)),  # sides multiples of the tile: square tiles of it
        ((1000, 1000), 256, 32, (250, 250)),  # four bands of 250, not three of 256 and one of 232
        ((300, 1200), 256, 32, (150, 400)),  # 2 bands of 150 rows (+32 above or below): 320^2 / 182 - 64 = 498
        ((100, 100), 40, 8, (34, 34)),  # 3 bands of 34 (+ 16 of context): 56^2 / 50 - 16 = 46 -> 3 tiles of 34
    ],
)
def test_tile_grid_by_hand(size, tile, tile_pad, expected):
    tile_h, tile_w = tile_grid(*size, tile, tile_pad)
    assert (tile_h, tile_w) == expected
    bands, pieces = -(-size[0] // tile_h), -(-size[1] // tile_w)
    context = (tile_h + tile_pad * min(bands - 1, 2)) * (tile_w + tile_pad * min(pieces - 1, 2))
    assert context <= (tile + 2 * tile_pad) ** 2  # no tile with its context holds more than a square one
