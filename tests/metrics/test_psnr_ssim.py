"""alkdsr.metrics.psnr_ssim gives BasicSR's ``calculate_psnr`` / ``calculate_ssim`` numbers, to the bit."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import requires_shared

from alkdsr.metrics import psnr_ssim


def _basicsr(img, img2, crop_border, y):
    from basicsr.metrics import calculate_psnr, calculate_ssim

    return (
        calculate_psnr(img, img2, crop_border=crop_border, test_y_channel=y),
        calculate_ssim(img, img2, crop_border=crop_border, test_y_channel=y),
    )


def _ours(img, img2, crop_border, y):
    return psnr_ssim.psnr(img, img2, crop_border, y), psnr_ssim.ssim(img, img2, crop_border, y)


@pytest.mark.parametrize('crop_border', [0, 3])
@pytest.mark.parametrize('y', [True, False])
@pytest.mark.parametrize('channels', [3, 1, None])
def test_random_images_score_as_in_basicsr(crop_border, y, channels):
    rng = np.random.default_rng(crop_border + 7 * y)
    shape = (37, 29) if channels is None else (37, 29, channels)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, shape), 0, 255).astype(np.uint8)
    assert _ours(a, b, crop_border, y) == _basicsr(a, b, crop_border, y)
    assert psnr_ssim.psnr(a, a, crop_border, y) == _basicsr(a, a, crop_border, y)[0] == float('inf')


@requires_shared
def test_set5_bicubic_scores_as_in_basicsr(shared):
    """Real images: Set5's HR against its bicubic-upscaled MATLAB LR, as the benchmark scores them."""
    folder = shared / 'datasets' / 'benchmark' / 'Set5'
    for hr_path in sorted((folder / 'HR').glob('*.png')):
        hr = cv2.imread(str(hr_path))
        lr = cv2.imread(str(folder / 'LR_bicubic' / 'X4' / f'{hr_path.stem}x4.png'))
        sr = cv2.resize(lr, (lr.shape[1] * 4, lr.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
        hr = hr[: sr.shape[0], : sr.shape[1]]
        assert psnr_ssim.y_psnr_ssim(sr, hr, 4) == _basicsr(sr, hr, 4, True), hr_path.name


def test_images_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match='different shapes'):
        psnr_ssim.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)), 0)
