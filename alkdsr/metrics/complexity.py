"""Parameters and Multi-Adds, counted the way lightweight-SR papers report them.

Multi-Adds are counted for one image whose SR output is 1280x720, i.e. an LR input of
``ceil(720 / s) x ceil(1280 / s)`` (427 x 240 at x3). The reported number is ptflops'
module-level convention, which reproduces the paper's x3 and x4 values (37.3 G, 21.6 G):

- ``conv``: multiply-accumulates of every convolution (output elements x in_ch/groups x kh x kw);
- ``bias``: one addition per output element of every convolution with a bias;
- ``norm``: one operation per element entering a pixel norm (LayerNorm).

``elementwise`` (one per GELU and max-pool input element, one per bilinear-interpolation output
element: what ptflops adds when it also counts functional calls) is reported beside it, not in
the total; with it the count matches the paper's x2 value (83.7 G). docs/benchmarks.md has the
whole comparison. Counting runs on the ``meta`` device, so it costs no arithmetic.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from alkdsr.archs.arch_util import PixelNorm

PAPER_OUTPUT_SIZE = (1280, 720)  # width, height of the SR output the paper counts Multi-Adds for

_aten = torch.ops.aten
_ELEMENTWISE_INPUT_OPS = {_aten.gelu.default, _aten.max_pool2d_with_indices.default, _aten.max_pool2d.default}
_ELEMENTWISE_OUTPUT_OPS = {_aten.upsample_bilinear2d.default, _aten.upsample_bilinear2d.vec}


@dataclass(frozen=True)
class MultiAdds:
    conv: int
    bias: int
    norm: int
    elementwise: int

    @property
    def total(self) -> int:
        """The reported Multi-Adds: conv MACs + bias additions + pixel-norm elements."""
        return self.conv + self.bias + self.norm

    @property
    def total_g(self) -> float:
        return self.total / 1e9

    def as_dict(self) -> dict:
        return {'conv': self.conv, 'bias': self.bias, 'norm': self.norm, 'elementwise': self.elementwise}


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def lr_size_for_output(scale: int, output_size: tuple[int, int] = PAPER_OUTPUT_SIZE) -> tuple[int, int]:
    """(height, width) of the LR input whose x``scale`` output covers ``output_size`` (width, height)."""
    width, height = output_size
    return math.ceil(height / scale), math.ceil(width / scale)


class _ElementwiseCounter(TorchDispatchMode):
    """Counts the element-wise work of functional calls (GELU, max-pool, bilinear interpolation)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _ELEMENTWISE_INPUT_OPS:
            self.count += args[0].numel()
        elif func in _ELEMENTWISE_OUTPUT_OPS:
            self.count += out.numel()
        return out


def count_multi_adds(net: nn.Module, lr_size: tuple[int, int], in_channels: int | None = None) -> MultiAdds:
    """Multi-Adds of one forward pass of ``net`` on a (1, C, height, width) input (``lr_size`` = (h, w))."""
    net = copy.deepcopy(net).to('meta').eval()
    in_channels = in_channels or getattr(net, 'config', {}).get('num_in_ch', 3)
    counts = {'conv': 0, 'bias': 0, 'norm': 0}

    def on_conv(module: nn.Conv2d, inputs, output):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        counts['conv'] += output.numel() * per_output
        if module.bias is not None:
            counts['bias'] += output.numel()

    def on_norm(module: nn.Module, inputs, output):
        counts['norm'] += inputs[0].numel()

    handles = []
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv))
        elif isinstance(module, (PixelNorm, nn.LayerNorm)):
            handles.append(module.register_forward_hook(on_norm))
    try:
        with torch.no_grad(), _ElementwiseCounter() as elementwise:
            net(torch.empty(1, in_channels, *lr_size, device='meta'))
    finally:
        for handle in handles:
            handle.remove()
    return MultiAdds(counts['conv'], counts['bias'], counts['norm'], elementwise.count)


def paper_multi_adds(net: nn.Module, scale: int | None = None) -> MultiAdds:
    """Multi-Adds for a 1280x720 output at the network's scale (the paper's Table 4 convention)."""
    scale = scale or net.upscale
    return count_multi_adds(net, lr_size_for_output(scale))
