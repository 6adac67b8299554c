"""Running a network on whole images: optional tiling with overlap, bounded memory.

Tiling splits the LR image into ``tile`` x ``tile`` pieces, runs each with ``tile_pad``
pixels of context on every side, and keeps only the centre of each output. ESA and CCA look
at the whole input, so plain tiles (``tile_mode='fast'``) differ from the untiled output by
a few grey levels here and there (about 55-59 dB PSNR); ``tile_mode='seamless'`` runs two
passes that give each tile the whole image's CCA statistics and ESA grid (about 70 dB, under
one grey level; see ``alkdsr.inference.seamless`` and docs/inference.md).
"""

from __future__ import annotations

import torch
from torch import nn

from alkdsr.inference.seamless import GRID, SeamlessTiling, has_global_layers

TILE_MODES = ('fast', 'seamless')


def _forward(net: nn.Module, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is not None and x.device.type == 'cuda':
        with torch.autocast('cuda', dtype=dtype):
            return net(x).float()
    return net(x)


@torch.no_grad()
def upscale_tensor(
    net: nn.Module,
    lr: torch.Tensor,
    tile: int | None = None,
    tile_pad: int = 16,
    dtype: torch.dtype | None = None,
    tile_mode: str = 'fast',
) -> torch.Tensor:
    """Super-resolve ``lr`` (N, C, H, W, float in [0, 1]) with ``net``; returns float32, unclamped.

    ``tile`` (LR pixels) bounds peak memory; ``dtype`` (``torch.float16``/``bfloat16``)
    runs the network under autocast on CUDA; ``tile_mode`` is 'fast' (one pass, plain tiles)
    or 'seamless' (two passes, tiles consistent with the whole image).
    """
    h, w = lr.shape[-2:]
    if tile_mode not in TILE_MODES:
        raise ValueError(f'tile_mode must be one of {TILE_MODES} (got {tile_mode!r})')
    if not tile or (h <= tile and w <= tile):
        return _forward(net, lr, dtype).float()
    if tile < 1 or tile_pad < 0:
        raise ValueError(f'tile must be >= 1 and tile_pad >= 0 (got {tile}, {tile_pad})')
    if tile_mode == 'fast' or not has_global_layers(net):
        return _tiled(net, lr, tile, tile_pad, dtype)
    with SeamlessTiling(net, (h, w)) as seamless:
        _tiled(net, lr, tile, tile_pad, dtype, seamless, keep_output=False)
        seamless.apply()
        return _tiled(net, lr, tile, tile_pad, dtype, seamless)


def _tiled(net, lr, tile, tile_pad, dtype, seamless: SeamlessTiling | None = None, keep_output: bool = True):
    """Run ``net`` tile by tile; with ``seamless``, tile origins sit on ESA's grid and are reported to it."""
    scale = net.upscale
    n, _, h, w = lr.shape
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - tile_pad, 0), max(left - tile_pad, 0)
            if seamless is not None:
                t0, l0 = t0 // GRID * GRID, l0 // GRID * GRID
                seamless.set_tile((t0, l0), (top - t0, bottom - t0, left - l0, right - l0))
            b0, r0 = min(bottom + tile_pad, h), min(right + tile_pad, w)
            sr = _forward(net, lr[:, :, t0:b0, l0:r0], dtype).float()
            if not keep_output:
                continue
            if out is None:
                out = torch.empty(n, sr.shape[1], h * scale, w * scale, dtype=torch.float32, device=sr.device)
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = sr[
                :, :, (top - t0) * scale : (bottom - t0) * scale, (left - l0) * scale : (right - l0) * scale
            ]
    return out
