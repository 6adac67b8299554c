"""Running a network on whole images: optional tiling with overlap, bounded memory, fast or seamless.

Tiling splits the LR image into pieces of at most ``tile`` x ``tile`` pixels with their context
(:func:`tile_grid`), runs each with ``tile_pad`` pixels of context on every side, and keeps only
the centre of each output. ESA and CCA look
at the whole input, so plain tiles (``tile_mode='fast'``) differ from the untiled output by
a few grey levels here and there (about 55-59 dB PSNR); ``tile_mode='seamless'`` runs two
passes that give each tile the whole image's CCA statistics and ESA grid (about 70 dB, under
one grey level; see :class:`SeamlessTiling` and docs/inference.md).

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
(measured in ``docs/inference.md``: 70 dB and under one grey level at tile 64, pad 32), and which
the fewer seams of :func:`tile_grid` meet less often.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from alkdsr.archs.arch_util import CCA, ESA, pad_to_min_size
from alkdsr.archs.inputs import check_count, check_network, check_tensor
from alkdsr.inference import TILE_MODES


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

    ``tile`` (LR pixels) bounds peak memory: an image of at most tile x tile pixels (counting the
    padding up to the network's ``min_size`` that a thin one gets) runs whole, in no more memory
    than one tile with its context; a larger one in the tiles of :func:`tile_grid`, each with
    ``tile_pad`` on each side, none with more pixels than a tile x tile one with that context.
    ``dtype`` (``torch.float16``/``bfloat16``) runs the network under autocast on CUDA; ``tile_mode`` is
    'fast' (one pass, plain tiles) or 'seamless' (two passes, tiles consistent with the whole image).
    """
    tile, tile_pad = _check_arguments(net, lr, tile, tile_pad, dtype, tile_mode)
    h, w = lr.shape[-2:]
    least = getattr(net, 'min_size', 1)  # a thinner image is padded up to it
    if not tile or max(h, least) * max(w, least) <= tile * tile:
        return _forward(net, lr, dtype).float()
    if h < least or w < least:
        # the network pads a thin image up to ``least`` and takes CCA's statistics and ESA's grid over all of
        # it: tiles of the image padded the same way see that image, not tiles each padded on its own
        s = net.upscale
        return upscale_tensor(net, pad_to_min_size(lr, least), tile, tile_pad, dtype, tile_mode)[..., : h * s, : w * s]
    if tile_mode == 'fast' or not has_global_layers(net):
        return _tiled(net, lr, tile, tile_pad, dtype)
    with SeamlessTiling(net, (h, w)) as seamless:
        _tiled(net, lr, tile, tile_pad, dtype, seamless, keep_output=False)
        seamless.apply()
        return _tiled(net, lr, tile, tile_pad, dtype, seamless)


def _check_arguments(net, lr, tile, tile_pad, dtype, tile_mode) -> tuple[int | None, int]:
    """Refuse in one line, naming it, an argument the network would fail on (deep inside torch) or take for
    another: a float or a bool as ``tile``, a tensor of another shape, dtype or device than the weights'."""
    check_network(net)
    if tile_mode not in TILE_MODES:
        raise ValueError(f'tile_mode must be one of {TILE_MODES} (got {tile_mode!r})')
    tile = check_count('tile', tile, least=0, none=True)  # 0 or None: the whole image; a numpy one as an int
    tile_pad = check_count('tile_pad', tile_pad, least=0)
    if dtype is not None:
        if dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f'dtype must be None, torch.float16 or torch.bfloat16 (got {dtype!r})')
        if isinstance(lr, torch.Tensor) and lr.device.type != 'cuda':
            raise ValueError(f'dtype {dtype} runs the network under CUDA autocast: the input is on {lr.device}')
    ambient = isinstance(lr, torch.Tensor) and torch.is_autocast_enabled(lr.device.type)  # the caller's own
    check_tensor(net, lr, autocast=dtype is not None or ambient)
    return tile, tile_pad


def _tiled(net, lr, tile, tile_pad, dtype, seamless: SeamlessTiling | None = None, keep_output: bool = True):
    """Run ``net`` tile by tile; with ``seamless``, tile origins sit on ESA's grid and are reported to it."""
    scale = net.upscale
    n, _, h, w = lr.shape
    out = None
    tile_h, tile_w = tile_grid(h, w, tile, tile_pad)
    for top in range(0, h, tile_h):
        for left in range(0, w, tile_w):
            bottom, right = min(top + tile_h, h), min(left + tile_w, w)
            t0, l0 = max(top - tile_pad, 0), max(left - tile_pad, 0)
            if seamless is not None:
                t0, l0 = t0 // ESA.GRID * ESA.GRID, l0 // ESA.GRID * ESA.GRID
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


def tile_grid(h: int, w: int, tile: int, tile_pad: int) -> tuple[int, int]:
    """The height and width of the tiles an h x w image is cut into: equal bands across its shorter side, each
    cut into equal tiles as long as a tile x tile one with its context allows.

    Across the shorter side, ``ceil(side / tile)`` bands of equal size (no sliver of a few pixels at the far
    edge); along the longer side, tiles as long as keeps a tile and its context within the pixels of a
    tile x tile one with ``tile_pad`` on each side (the context counted only where the image has some), then
    made equal. A square image whose sides are multiples of ``tile`` gets tile x tile tiles; a short wide one
    gets its whole height and a few long tiles, not a row of short square ones: each seam, where the
    context beyond ``tile_pad`` is missing, costs grey levels (docs/inference.md).
    """
    h, w, tile, tile_pad = int(h), int(w), int(tile), int(tile_pad)  # numpy integers would overflow below
    short, long = sorted((h, w))
    bands = -(-short // tile)
    across = -(-short // bands)
    context = tile_pad * min(bands - 1, 2)  # above and below a band, where there are bands beside it
    along = max((tile + 2 * tile_pad) ** 2 // (across + context) - 2 * tile_pad, 1)
    pieces = -(-long // min(along, long))
    along = -(-long // pieces)
    return (across, along) if h <= w else (along, across)


def has_global_layers(net: nn.Module) -> bool:
    return any(isinstance(m, (CCA, ESA)) for m in net.modules())


class SeamlessTiling:
    """Context manager that gives each tile the whole image's CCA statistics and ESA grid.

    Pass 1 (collecting) observes every CCA's input through a forward pre-hook; :meth:`apply` then sets
    each CCA's ``given_contrast`` and, per tile (:meth:`set_tile`), each ESA's ``placement``. Leaving the
    context removes the hooks and clears both, so the network is as it was.
    """

    def __init__(self, net: nn.Module, full_size: tuple[int, int]):
        self.full_size = full_size
        self.ccas = [m for m in net.modules() if isinstance(m, CCA)]
        self.esas = [m for m in net.modules() if isinstance(m, ESA)]
        self.core = (0, 0, 0, 0)  # top, bottom, left, right of the tile's core, in tile coordinates
        self._sums: dict[int, list] = {}
        self._hooks = []

    def __enter__(self) -> SeamlessTiling:
        for index, module in enumerate(self.ccas):
            self._hooks.append(module.register_forward_pre_hook(functools.partial(self._collect, index)))
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        for module in self.ccas:
            module.given_contrast = None
        for module in self.esas:
            module.placement = None

    def set_tile(self, origin: tuple[int, int], core: tuple[int, int, int, int]) -> None:
        self.core = core
        if not self._hooks:  # pass 2
            for module in self.esas:
                module.placement = (origin, self.full_size)

    def apply(self) -> None:
        """End pass 1: from now on CCA uses the whole-image statistics and ESA the image's grid."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        for index, module in enumerate(self.ccas):
            total, total_sq, count = self._sums[index]
            mean = total / count
            std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
            module.given_contrast = (mean + std)[:, :, None, None]

    def _collect(self, index: int, module: CCA, args: tuple) -> None:
        top, bottom, left, right = self.core
        core = args[0][..., top:bottom, left:right]  # a view: the reductions below copy nothing
        sums = self._sums.setdefault(index, [0.0, 0.0, 0])
        sums[0] = sums[0] + core.sum(dim=(2, 3)).double()
        sums[1] = sums[1] + torch.linalg.vector_norm(core, dim=(2, 3)).double().square()
        sums[2] += core.shape[2] * core.shape[3]


def aligned_esa(esa: ESA, x: torch.Tensor, origin: tuple[int, int], full_size: tuple[int, int]) -> torch.Tensor:
    """ESA on a tile at ``origin`` (multiples of ``ESA.GRID``) of an image of ``full_size``, as inside the image."""
    return esa(x, placement=(origin, full_size))
