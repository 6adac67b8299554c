"""Seamless tiling: each tile computed as it would be inside the whole image.

Two layers of ALKDNet look beyond a pixel's neighbourhood. CCA squeezes every channel to its
mean plus standard deviation over the *whole* input, and ESA computes a coarse mask on a grid
of stride 6 (stride-2 conv, then a 7x7 max-pool of stride 3) that it stretches back to the
input size by bilinear interpolation. A plain tile uses its own statistics and stretches its
own grid, so neighbouring tiles disagree: on screen content with 64-pixel tiles, by up to 20
grey levels (about 55 dB PSNR against the untiled output).

``SeamlessTiling`` removes both differences, at the cost of a second pass:

1. *collect*: every tile is run once and each CCA accumulates per-channel sums of its input
   over the tile's core (the part the tile contributes to the output);
2. *apply*: every tile is run again; CCA uses the whole-image mean and standard deviation of
   pass 1, and ESA maps each pixel to the coarse grid exactly as the whole image would, on
   tiles whose origins are multiples of the grid period.

What remains is the truncated receptive field at tile borders, which ``tile_pad`` controls
(measured in ``docs/inference.md``: 70 dB and under one grey level at tile 64, pad 32).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from alkdsr.archs.arch_util import CCA, ESA

# ESA's coarse grid: a stride-2 conv then a max-pool of kernel 7 and stride 3
ESA_DOWN_STRIDE, ESA_POOL_KERNEL, ESA_POOL_STRIDE = 2, 7, 3
GRID = ESA_DOWN_STRIDE * ESA_POOL_STRIDE  # tile origins are aligned to multiples of this


def has_global_layers(net: nn.Module) -> bool:
    return any(isinstance(m, (CCA, ESA)) for m in net.modules())


class SeamlessTiling:
    """Context manager that reroutes CCA and ESA; the tiler reports each tile with ``set_tile``.

    Inside the context the ``forward`` of every CCA and ESA of ``net`` is replaced (an instance
    attribute, so the class and other networks are untouched); leaving it restores them.
    """

    def __init__(self, net: nn.Module, full_size: tuple[int, int]):
        self.net = net
        self.full_size = full_size
        self.collecting = True
        self.origin = (0, 0)
        self.core = (0, 0, 0, 0)  # top, bottom, left, right of the tile's core, in tile coordinates
        self._sums: dict[int, list] = {}
        self._patched: list[tuple[nn.Module, object]] = []

    def __enter__(self) -> SeamlessTiling:
        ccas = [m for m in self.net.modules() if isinstance(m, CCA)]
        esas = [m for m in self.net.modules() if isinstance(m, ESA)]
        for index, module in enumerate(ccas):
            self._patch(module, functools.partial(self._cca_forward, module, index))
        for module in esas:
            self._patch(module, functools.partial(self._esa_forward, module))
        return self

    def __exit__(self, *exc) -> None:
        for module, previous in reversed(self._patched):
            if previous is None:
                del module.forward
            else:
                module.forward = previous
        self._patched = []

    def _patch(self, module: nn.Module, forward) -> None:
        self._patched.append((module, module.__dict__.get('forward')))
        module.forward = forward

    def set_tile(self, origin: tuple[int, int], core: tuple[int, int, int, int]) -> None:
        self.origin, self.core = origin, core

    def apply(self) -> None:
        """End pass 1: from now on CCA uses the whole-image statistics and ESA the image's grid."""
        self.collecting = False

    def _cca_forward(self, module: CCA, index: int, x: torch.Tensor) -> torch.Tensor:
        if self.collecting:
            top, bottom, left, right = self.core
            core = x[..., top:bottom, left:right]  # a view: the reductions below copy nothing
            sums = self._sums.setdefault(index, [0.0, 0.0, 0])
            sums[0] = sums[0] + core.sum(dim=(2, 3)).double()
            sums[1] = sums[1] + torch.linalg.vector_norm(core, dim=(2, 3)).double().square()
            sums[2] += core.shape[2] * core.shape[3]
            return type(module).forward(module, x)
        total, total_sq, count = self._sums[index]
        mean = total / count
        std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
        squeezed = (mean + std).to(x.dtype)[:, :, None, None]
        return x * torch.sigmoid(module.excite(F.relu(module.squeeze(squeezed))))

    def _esa_forward(self, module: ESA, x: torch.Tensor) -> torch.Tensor:
        if self.collecting:
            return type(module).forward(module, x)
        return aligned_esa(module, x, self.origin, self.full_size)


def coarse_length(n: int, down_padding: int) -> int:
    """Length of ESA's coarse grid along an input side of length ``n``."""
    down = (n + 2 * down_padding - 3) // ESA_DOWN_STRIDE + 1
    return (down - ESA_POOL_KERNEL) // ESA_POOL_STRIDE + 1


def aligned_esa(esa: ESA, x: torch.Tensor, origin: tuple[int, int], full_size: tuple[int, int]) -> torch.Tensor:
    """ESA on a tile at ``origin`` (multiples of GRID) of an image of ``full_size``, as inside the image.

    Same layers as ``ESA.forward``; only the bilinear upsampling of the coarse map differs: it
    uses the whole image's coordinates (align_corners=False) instead of the tile's.
    """
    reduced = esa.reduce(x)
    coarse = F.max_pool2d(esa.down(reduced), kernel_size=ESA_POOL_KERNEL, stride=ESA_POOL_STRIDE)
    coarse = F.gelu(esa.pool_conv1(coarse))
    coarse = F.gelu(esa.pool_conv2(coarse))
    coarse = esa.pool_conv3(coarse)
    padding = esa.down.dw.padding[0]
    (h, w), (top, left) = x.shape[-2:], origin
    rows = _bilinear_taps(h, top, full_size[0], coarse_length(full_size[0], padding), coarse.shape[2], x.device)
    cols = _bilinear_taps(w, left, full_size[1], coarse_length(full_size[1], padding), coarse.shape[3], x.device)
    (r0, r1, wr), (c0, c1, wc) = rows, cols
    wr, wc = wr.to(coarse.dtype)[:, None], wc.to(coarse.dtype)
    coarse = coarse[:, :, r0] * (1 - wr) + coarse[:, :, r1] * wr
    upsampled = coarse[..., c0] * (1 - wc) + coarse[..., c1] * wc
    mask = torch.sigmoid(esa.expand(upsampled + esa.skip(reduced)))
    return x * mask


def _bilinear_taps(n: int, origin: int, full: int, coarse_full: int, coarse_tile: int, device):
    """Source indices (in the tile's coarse grid) and weights of PyTorch's bilinear upsampling
    (align_corners=False) from ``coarse_full`` to ``full`` samples, for tile pixels origin..origin+n."""
    dst = torch.arange(origin, origin + n, device=device, dtype=torch.float32)
    src = ((dst + 0.5) * (coarse_full / full) - 0.5).clamp_min(0)
    i0 = src.floor().long()
    weight = src - i0
    i1 = torch.clamp(i0 + 1, max=coarse_full - 1)
    offset = origin // GRID
    return (i0 - offset).clamp(0, coarse_tile - 1), (i1 - offset).clamp(0, coarse_tile - 1), weight
