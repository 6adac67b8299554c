"""The network as the exports write it: the same weights, in operations that ONNX and ncnn runtimes all have.

``ExportForm(net)`` computes what ``net`` computes, for inputs of at least ``net.min_size`` pixels a side, from
the same weights (the first convolution's summed as below), with these rewrites (each equal to the original
in exact arithmetic; ``tests/test_export_form.py`` compares them for every preset at x2, x3 and x4):

* anchors (ABRL): ``repeat_interleave`` of the LR image, which ncnn has no layer for, is a 1x1 convolution
  with fixed one-hot weights;
* the m replicas of the LR image that the first (pointwise) convolution takes are folded into its weights:
  the m slices of its input channels that see the same LR channel are summed. ncnn's Tile layer, which
  ``repeat`` becomes, has no Vulkan implementation before 2026 (a GPU app would run it on the CPU), and
  ncnn's CPU Concat of one 3-channel blob four times gave wrong values at some sizes (37 x 50);
* pixel norm: its channel means are 1x1 convolutions with weights 1/C, and its affine a depthwise 1x1
  convolution. The original's ``weight[:, None, None]`` broadcast becomes a 5-D blob in ncnn, and ncnn's
  Reduction layer has no Vulkan implementation before 2026 (GPU apps would fall back to the CPU for each);
  ``1 / sqrt`` is written as a division, because the ncnn that realesrgan-ncnn-vulkan and upscayl-bin
  build (April 2022) computes ``rsqrt`` with the CPU's 12-bit approximation;
* CCA's channel statistics: global average pooling instead of a reduction, for the same reason;
* both statistics are taken of the deviations scaled by :data:`HEADROOM` (a power of two, so float32
  results are unchanged): ALKDNet's features reach about 500 before a pixel norm, whose squares
  (2.5e5) would overflow the float16 storage that GPU apps use between layers (largest value 65504);
* ESA's stride-2 convolution is a stride-1 convolution sampled by a 1x1 max-pool of stride 2 (the same
  numbers): chaiNNer reads an ncnn model's scale as its PixelShuffle factors divided by the strides of
  its convolutions, and refuses the file when that is below 1 (ALKDNet's eight ESAs make it 4 / 256);
* no small-input padding: the traced graph has no Python ``if``; the ONNX export adds shape-generic
  padding around this form (``onnx_util.OnnxUpscaler``), and ncnn apps send tiles with 10 pixels of
  context on every side (docs/deploy.md).

Float16 keeps the statistics in float32, as the network does.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from alkdsr.archs.arch_util import CCA, BSConv, PixelNorm

HEADROOM = 1 / 16  # deviations are scaled by this before squaring (exact: a power of two)


class ExportPixelNorm(nn.Module):
    """:class:`PixelNorm` from 1x1 convolutions and element-wise operations only."""

    def __init__(self, norm: PixelNorm):
        super().__init__()
        channels = norm.weight.numel()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps
        self.register_buffer('mean_weight', torch.full((1, channels, 1, 1), 1 / channels), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        mean_weight = self.mean_weight.float()
        centred = (x - F.conv2d(x, mean_weight)) * HEADROOM
        var = F.conv2d(centred * centred, mean_weight)
        normed = (centred / torch.sqrt(var + self.eps * HEADROOM**2)).to(dtype)
        return F.conv2d(normed, self.weight.view(-1, 1, 1, 1), self.bias, groups=self.weight.numel())


class ExportCCA(nn.Module):
    """:class:`CCA` with its mean and standard deviation from global average pooling."""

    def __init__(self, cca: CCA):
        super().__init__()
        self.squeeze, self.excite = cca.squeeze, cca.excite

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        mean = F.adaptive_avg_pool2d(xf, 1)
        centred = (xf - mean) * HEADROOM
        contrast = torch.sqrt(F.adaptive_avg_pool2d(centred * centred, 1)) / HEADROOM + mean
        return x * torch.sigmoid(self.excite(F.relu(self.squeeze(contrast.to(x.dtype)))))


class SampledBSConv(nn.Module):
    """A strided :class:`BSConv` as its stride-1 convolution sampled by a 1x1 max-pool with the stride."""

    def __init__(self, conv: BSConv):
        super().__init__()
        self.pw, self.dw = conv.pw, conv.dw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dw = self.dw
        full = F.conv2d(self.pw(x), dw.weight, dw.bias, padding=dw.padding, groups=dw.groups)
        return F.max_pool2d(full, kernel_size=1, stride=dw.stride)


class ExportForm(nn.Module):
    """``net`` (an ALKDNet of any preset) rewritten for export; ``net`` itself is left as it is.

    Keeps ``upscale``, ``min_size`` and ``config``. Inputs must be at least ``min_size`` on each side.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        net = copy.deepcopy(net).cpu().eval()
        for name, module in list(net.named_modules()):
            if isinstance(module, PixelNorm):
                net.set_submodule(name, ExportPixelNorm(module))
            elif isinstance(module, CCA):
                net.set_submodule(name, ExportCCA(module))
            elif isinstance(module, BSConv) and module.dw.stride != (1, 1):
                net.set_submodule(name, SampledBSConv(module))
        self.shallow, self.blocks, self.fuse, self.smooth, self.upsample = (
            net.shallow, net.blocks, net.fuse, net.smooth, net.upsample
        )  # fmt: skip
        self.upscale, self.min_size, self.config = net.upscale, net.min_size, dict(net.config)
        self.fsrl, self.abrl = net.fsrl, net.abrl
        channels, s = net.config['num_in_ch'], net.upscale
        pw = self.shallow.pw  # input channel r*C + c of the replicated image is LR channel c
        folded = pw.weight.detach().unflatten(1, (net.num_replicas, channels)).sum(1)
        self.shallow.pw = nn.Conv2d(channels, pw.out_channels, 1, bias=False).to(folded.dtype)
        self.shallow.pw.weight = nn.Parameter(folded, requires_grad=pw.weight.requires_grad)
        anchor = torch.zeros(channels * s * s, channels, 1, 1)
        for c in range(channels):  # output channel c*s*s + k repeats input channel c, as repeat_interleave does
            anchor[c * s * s : (c + 1) * s * s, c] = 1
        self.register_buffer('anchor_weight', anchor, persistent=False)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        f_0 = self.shallow(lr)
        features, f_k = [], f_0
        for block in self.blocks:
            f_k = block(f_k)
            features.append(f_k)
        f_fused = self.smooth(F.gelu(self.fuse(torch.cat(features, dim=1))))
        if self.fsrl:
            f_fused = f_fused + f_0
        out = self.upsample(f_fused)
        if self.abrl:
            out = out + F.conv2d(lr, self.anchor_weight)
        return F.pixel_shuffle(out, self.upscale)
