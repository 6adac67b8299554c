"""``alkdsr.inference.image.upscale_image`` from Python: arrays it cannot take are one ValueError, first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from corpus import API_MISTAKES

from alkdsr.archs import ALKDNet
from alkdsr.inference.image import upscale_image

pytestmark = pytest.mark.usefixtures('no_grad')


@pytest.mark.parametrize(
    'case, pixels',
    [('empty array to upscale_image', np.zeros((0, 5, 3), np.uint8)), ('a list to upscale_image', [[1, 2, 3]])],
    ids=['empty', 'list'],
)
def test_pixels_no_image_has_are_one_line(case, pixels):
    """An empty array failed inside torch's padding; a list at its ``.shape``."""
    torch.manual_seed(0)
    net = ALKDNet(upscale=2, num_feat=16, num_block=1).eval()
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError) as info:
        upscale_image(net, pixels)
    assert str(info.value) == API_MISTAKES[case].expect
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
    one_pixel = np.full((1, 1, 3), 9, np.uint8)  # the smallest image there is works
    assert upscale_image(net, one_pixel).shape == (2, 2, 3)
