"""Upscaling decoded images: channels, bit depth and alpha handled around an RGB network.

The network sees RGB floats in [0, 1] (8-bit values / 255, 16-bit values / 65535) and its
output is rounded back the way BasicSR's ``tensor2img`` does (clamp to [0, 1], scale, round),
so 8-bit results equal the benchmark path pixel for pixel. Gray images are replicated to
three channels and the RGB result converted back with the ITU-R BT.601 luma weights (what
Pillow's ``convert('L')`` uses). Alpha is not shown to the network: it is upscaled alone by
bicubic interpolation.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import torch
from PIL import Image
from torch import nn

from alkdsr.archs.inputs import check_network
from alkdsr.errors import AlkdsrError
from alkdsr.files.images import check_pixels
from alkdsr.inference.fast import runner
from alkdsr.inference.tiling import upscale_tensor
from alkdsr.zoo.checkpoint import load_model

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def load_upscaler(weights: str | os.PathLike, device: str | torch.device = 'cpu') -> nn.Module:
    """The eval-mode network of a checkpoint file or registered weights name, recognised from its contents."""
    return require_rgb(load_model(weights, device), weights)


def require_rgb(model: nn.Module, weights) -> nn.Module:
    """``model``, if it takes and gives RGB images (3 channels), which is what every image is made into."""
    channels = (model.config.get('num_in_ch', 3), model.config.get('num_out_ch', 3))
    if channels != (3, 3):
        raise AlkdsrError(
            f'{weights}: a network for {channels[0]}-channel images; images reach it as RGB (3 channels), '
            'which it cannot take'
        )
    return model


def autocast_dtype(device: torch.device, half: bool = False, bf16: bool = False) -> torch.dtype | None:
    """The autocast dtype for ``--half`` / ``--bf16``; reduced precision runs on CUDA only."""
    dtype = torch.float16 if half else torch.bfloat16 if bf16 else None
    if dtype is not None and device.type != 'cuda':
        raise AlkdsrError(f'--{"half" if half else "bf16"} needs a CUDA device (inference on the CPU runs in float32)')
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise AlkdsrError('--bf16: this GPU does not support bfloat16')
    return dtype


def upscale_image(
    model: nn.Module,
    pixels: np.ndarray,
    tile: int | None = None,
    tile_pad: int = 32,
    dtype: torch.dtype | None = None,
    tile_mode: str = 'seamless',
    backend: str | None = 'auto',
) -> np.ndarray:
    """Super-resolve one image (H x W x C uint8/uint16, C = 1..4); returns the same kind, s times larger.

    ``tile`` (LR pixels, None = whole image) bounds memory, see ``alkdsr.inference.tiling``;
    ``tile_mode`` 'seamless' (two passes) or 'fast'; ``dtype`` (float16/bfloat16) runs the
    network under CUDA autocast. ``backend`` picks how the network runs, as ``alkdsr upscale --backend``
    does (``alkdsr.inference.fast.runner``); None runs ``model`` as it is.
    """
    options = dict(tile=tile, tile_pad=tile_pad, dtype=dtype, tile_mode=tile_mode, backend=backend)
    return upscale_images(model, [pixels], **options)[0]


def upscale_images(
    model: nn.Module,
    images: list[np.ndarray],
    tile: int | None = None,
    tile_pad: int = 32,
    dtype: torch.dtype | None = None,
    tile_mode: str = 'seamless',
    backend: str | None = 'auto',
) -> list[np.ndarray]:
    """Super-resolve several images; those of equal size go through the network as one batch.

    ``backend`` as in :func:`upscale_image`.
    """
    check_network(model)
    for pixels in images:  # first: a ValueError of one line, not one from inside the network
        check_pixels(pixels)
    if backend is not None:
        model = runner(model, backend, work=sum(pixels.shape[0] * pixels.shape[1] for pixels in images))
    groups = defaultdict(list)
    for i, pixels in enumerate(images):
        groups[pixels.shape[:2]].append(i)
    results: list[np.ndarray | None] = [None] * len(images)
    weight = next(model.parameters())  # the batch is made in the weights' dtype (float16 ones too) and device
    for indices in groups.values():
        batch = torch.stack([colour_tensor(images[i]) for i in indices]).to(weight.device, weight.dtype)
        sr = upscale_tensor(model, batch, tile=tile, tile_pad=tile_pad, dtype=dtype, tile_mode=tile_mode)
        del batch
        for j, i in enumerate(indices):
            results[i] = _to_pixels(sr[j], images[i], model.upscale)
    return results


def max_value(pixels: np.ndarray) -> float:
    return 65535.0 if pixels.dtype == np.uint16 else 255.0


def colour_tensor(pixels: np.ndarray) -> torch.Tensor:
    """The network's input: 3 x H x W float32 RGB in [0, 1] (gray replicated, alpha left out)."""
    colour = pixels[..., :3] if pixels.shape[2] >= 3 else pixels[..., :1]
    x = torch.from_numpy(colour.transpose(2, 0, 1).astype(np.float32)).div_(max_value(pixels))
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x


def _to_pixels(sr: torch.Tensor, source: np.ndarray, scale: int) -> np.ndarray:
    """3 x sH x sW float output -> sH x sW x C integers like ``source`` (gray and alpha restored)."""
    if source.shape[2] in (1, 2):  # the clamped RGB result, converted to gray
        weights = torch.tensor(LUMA_WEIGHTS, dtype=sr.dtype, device=sr.device)
        sr = (sr.clamp(0, 1) * weights[:, None, None]).sum(0, keepdim=True)
    colour = quantize(sr, source.dtype)
    if source.shape[2] in (2, 4):
        alpha = upscale_bicubic(source[..., -1:], scale)
        return np.concatenate([colour, alpha], axis=2)
    return colour


def quantize(sr: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """C x H x W float -> H x W x C integers: clamp to [0, 1], scale, round (BasicSR's tensor2img)."""
    peak = 65535.0 if dtype == np.uint16 else 255.0
    torch_dtype = torch.int32 if dtype == np.uint16 else torch.uint8
    ints = sr.clamp(0, 1).mul_(peak).round_().to(torch_dtype).cpu()
    return np.ascontiguousarray(ints.permute(1, 2, 0).numpy().astype(dtype, copy=False))


def upscale_bicubic(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upscaling (Pillow's, a = -0.5 as in MATLAB) of H x W x C integers, channel by channel."""
    h, w, c = pixels.shape
    peak = max_value(pixels)
    out = np.empty((h * scale, w * scale, c), dtype=pixels.dtype)
    for ch in range(c):
        plane = Image.fromarray(pixels[..., ch].astype(np.float32))
        big = np.asarray(plane.resize((w * scale, h * scale), Image.Resampling.BICUBIC))
        out[..., ch] = np.clip(np.round(big), 0, peak).astype(pixels.dtype)
    return out
