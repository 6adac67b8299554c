"""PSNR and SSIM exactly as BasicSR 1.4.2's ``calculate_psnr`` and ``calculate_ssim`` compute them.

The benchmark (the paper's protocol) and the comparison figures must report BasicSR's numbers to the
last bit, but ``basicsr.metrics`` loads all of BasicSR (its models, torchvision, scipy: over a second)
for a few array operations. These are the same operations, in the same precision and order: the Y
channel of BT.601 (``bgr2ycbcr``: float32 in [0, 1], the weighted sum in float64, back to float32),
``crop_border`` pixels off each side, then float64 arithmetic; SSIM with the 11 x 11 Gaussian window
(sigma 1.5) of the reference MATLAB code, valid part only, averaged over the channels.
tests/metrics/test_psnr_ssim.py holds them equal to BasicSR's own functions.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Y_WEIGHTS_BGR = (24.966, 128.553, 65.481)  # BT.601 luma of B, G, R in [0, 1], on the [16, 235] scale
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5


def y_channel(img: np.ndarray) -> np.ndarray:
    """The Y channel (H, W, 1) in [0, 255], float32, of an [0, 255] BGR image; other channel counts as they are."""
    img = img.astype(np.float32) / 255.0
    if img.ndim == 3 and img.shape[2] == 3:
        luma = np.dot(img, list(Y_WEIGHTS_BGR)) + 16.0
        img = (luma / 255.0).astype(np.float32)[..., None]
    return img * 255.0


def _prepared(img: np.ndarray, crop_border: int, test_y_channel: bool) -> np.ndarray:
    """(H, W, C) float64, the border cut off and, with ``test_y_channel``, reduced to Y."""
    if img.ndim == 2:
        img = img[..., None]
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    if test_y_channel:
        img = y_channel(img)
    return img.astype(np.float64)


def psnr(img: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = False) -> float:
    """PSNR in dB of two [0, 255] HWC (or HW) images; ``inf`` for identical ones."""
    if img.shape != img2.shape:
        raise ValueError(f'images of different shapes: {img.shape} and {img2.shape}')
    a, b = _prepared(img, crop_border, test_y_channel), _prepared(img2, crop_border, test_y_channel)
    mse = np.mean((a - b) ** 2)
    return math.inf if mse == 0 else float(10.0 * np.log10(255.0 * 255.0 / mse))


def ssim(img: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = False) -> float:
    """SSIM of two [0, 255] HWC (or HW) images, the mean of each channel's."""
    if img.shape != img2.shape:
        raise ValueError(f'images of different shapes: {img.shape} and {img2.shape}')
    a, b = _prepared(img, crop_border, test_y_channel), _prepared(img2, crop_border, test_y_channel)
    return float(np.array([_ssim_of_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]).mean())


def _ssim_of_channel(x: np.ndarray, y: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    gaussian = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA)
    window = np.outer(gaussian, gaussian.transpose())
    edge = SSIM_WINDOW // 2

    def blur(image):
        return cv2.filter2D(image, -1, window)[edge:-edge, edge:-edge]

    mu_x, mu_y = blur(x), blur(y)
    mu_xx, mu_yy, mu_xy = mu_x**2, mu_y**2, mu_x * mu_y
    var_x, var_y, cov = blur(x**2) - mu_xx, blur(y**2) - mu_yy, blur(x * y) - mu_xy
    ssim_map = ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def y_psnr_ssim(sr_bgr: np.ndarray, hr_bgr: np.ndarray, scale: int) -> tuple[float, float]:
    """The paper's metrics of two uint8 BGR images: Y channel, ``crop_border = scale``."""
    return psnr(sr_bgr, hr_bgr, scale, test_y_channel=True), ssim(sr_bgr, hr_bgr, scale, test_y_channel=True)
