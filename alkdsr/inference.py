"""Running a network on whole images: optional tiling with overlap, bounded memory.

Tiling splits the LR image into ``tile`` x ``tile`` pieces, runs each with ``tile_pad``
pixels of context on every side, and keeps only the centre of each output. ESA and CCA see
statistics of the tile rather than of the whole image, so a generous ``tile_pad`` (16 or
more) keeps tiled output within a fraction of a grey level of the untiled one.
"""

from __future__ import annotations

import torch
from torch import nn


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
) -> torch.Tensor:
    """Super-resolve ``lr`` (N, C, H, W, float in [0, 1]) with ``net``; returns float32, unclamped.

    ``tile`` (LR pixels) bounds peak memory; ``dtype`` (``torch.float16``/``bfloat16``)
    runs the network under autocast on CUDA.
    """
    scale = net.upscale
    n, c, h, w = lr.shape
    if not tile or (h <= tile and w <= tile):
        return _forward(net, lr, dtype).float()
    if tile < 1 or tile_pad < 0:
        raise ValueError(f'tile must be >= 1 and tile_pad >= 0 (got {tile}, {tile_pad})')
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - tile_pad, 0), max(left - tile_pad, 0)
            b0, r0 = min(bottom + tile_pad, h), min(right + tile_pad, w)
            sr = _forward(net, lr[:, :, t0:b0, l0:r0], dtype).float()
            if out is None:
                out = torch.empty(n, sr.shape[1], h * scale, w * scale, dtype=torch.float32, device=sr.device)
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = sr[
                :, :, (top - t0) * scale : (bottom - t0) * scale, (left - l0) * scale : (right - l0) * scale
            ]
    return out
