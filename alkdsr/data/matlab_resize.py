"""MATLAB's ``imresize(img, scale, 'bicubic')`` for uint8 images, reproducing MATLAB's output exactly.

The SR benchmarks and DIV2K's ``LR_bicubic`` images were made with MATLAB. For uint8 input MATLAB resizes
one dimension at a time (rows first when both scales are equal) and rounds back to uint8 after *each* pass.
Doing the same in float64 with round-half-up reproduces the shipped Set5/Set14 LR images pixel for pixel;
resizing both passes in float without the intermediate rounding (``basicsr.utils.matlab_functions.imresize``)
leaves 10-15% of the pixels off, by up to 12 grey levels on Set14 (see tests/data/test_prepare.py).
"""

from __future__ import annotations

import math

import numpy as np

KERNEL_WIDTH = 4.0  # the bicubic kernel's support, in input pixels, before antialiasing widens it


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, MATLAB's ``cubic``."""
    a = np.abs(x)
    a2, a3 = a * a, a * a * a
    near = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1)
    far = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return near + far


def contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and 0-based input indices, each (out_length, taps), of every output pixel along one dimension.

    As MATLAB's ``contributions``: output pixel centres map back as ``u = x / scale + (1 - 1 / scale) / 2``,
    the kernel is stretched by 1 / scale when shrinking (antialiasing), rows are normalised to sum to 1,
    indices beyond the border are mirrored (symmetric padding) and all-zero tap columns are dropped.
    """
    width = KERNEL_WIDTH / scale if scale < 1 else KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if scale < 1 else _cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)
    return weights[:, used], indices[:, used]


def _resize_axis(img: np.ndarray, out_length: int, scale: float, axis: int) -> np.ndarray:
    """One MATLAB pass: resample ``axis`` of a float64 image and round half up to uint8 values."""
    weights, indices = contributions(img.shape[axis], out_length, scale)
    src = np.moveaxis(img, axis, 0)
    out = np.zeros((out_length,) + src.shape[1:], dtype=np.float64)
    expand = (-1,) + (1,) * (src.ndim - 1)
    for tap in range(weights.shape[1]):
        out += weights[:, tap].reshape(expand) * src[indices[:, tap]]
    np.clip(np.floor(out + 0.5), 0, 255, out=out)  # MATLAB rounds half away from zero, then saturates
    return np.moveaxis(out, 0, axis)


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """Resize a uint8 image (H, W) or (H, W, C) by ``scale`` with MATLAB's bicubic ``imresize``.

    The output is ``ceil(H * scale) x ceil(W * scale)``, uint8, channels resized independently.
    """
    if img.dtype != np.uint8:
        raise TypeError(f'imresize expects a uint8 image, got {img.dtype}')
    if scale <= 0:
        raise ValueError(f'scale must be positive, got {scale}')
    out = img.astype(np.float64)
    for axis in (0, 1):  # equal scales: MATLAB resizes rows first
        out = _resize_axis(out, math.ceil(img.shape[axis] * scale), scale, axis)
    return out.astype(np.uint8)


def mod_crop(img: np.ndarray, multiple: int) -> np.ndarray:
    """``img`` cut at the bottom and right to sides that are multiples of ``multiple`` (BasicSR's ``mod_crop``)."""
    return np.ascontiguousarray(img[: img.shape[0] - img.shape[0] % multiple, : img.shape[1] - img.shape[1] % multiple])


def bicubic_downsample(hr: np.ndarray, scale: int) -> np.ndarray:
    """The EDSR/DIV2K LR image: ``hr`` cropped to a multiple of ``scale``, then MATLAB ``imresize(., 1/scale)``."""
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale  # BasicSR's mod_crop
    hr = hr[:h, :w]
    if h == 0 or w == 0:
        raise ValueError(f'image smaller than the scale {scale}')
    lr = imresize(hr, 1 / scale)
    assert lr.shape[:2] == (h // scale, w // scale), (lr.shape, hr.shape, scale)
    return lr
