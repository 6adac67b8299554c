"""Tiles of thin images: the network pads an image of fewer than ``min_size`` rows (or columns) up to it and
takes CCA's statistics and ESA's grid over the padded image; tiles must see that same image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import official_weights, requires_shared
from corpus import THIN_IMAGES

import alkdsr
from alkdsr.inference.tiling import upscale_tensor

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
