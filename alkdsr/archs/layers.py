"""Small building blocks of ALKDNet and BSRN, each one concept of the paper.

Every layer is channels-first (N, C, H, W) so no permute copies are needed anywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv1x1(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=bias)


def depthwise(channels: int, kernel_size: tuple[int, int], stride: int = 1, padding=None) -> nn.Conv2d:
    """A depthwise conv; 'same' padding unless ``padding`` is given."""
    if padding is None:
        padding = (kernel_size[0] // 2, kernel_size[1] // 2)
    return nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=padding, groups=channels)


def check_kernel_size(kernel_size: int) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f'kernel_size must be an odd integer >= 3 (got {kernel_size!r})')
    return kernel_size


class PixelNorm(nn.Module):
    """LayerNorm over the channels of each pixel, computed channels-first (paper's Norm_pixel).

    Equivalent to ``nn.LayerNorm(C)`` applied to an NHWC view, without the permute copies.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()  # statistics in float32 also for half-precision inputs
        mean = x.mean(1, keepdim=True)
        centred = x - mean
        var = centred.pow(2).mean(1, keepdim=True)
        x = centred * torch.rsqrt(var + self.eps)
        return (x * self.weight[:, None, None].float() + self.bias[:, None, None].float()).to(dtype)

    def extra_repr(self) -> str:
        return f'{self.weight.numel()}, eps={self.eps}'


class BSConv(nn.Module):
    """Blueprint separable conv (BSConv-U): 1x1 pointwise without bias, then a k x k depthwise."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding=None):
        super().__init__()
        self.pw = conv1x1(in_ch, out_ch, bias=False)
        self.dw = depthwise(out_ch, (kernel_size, kernel_size), stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))


class ALKConv(nn.Module):
    """Asymmetric large kernel conv (paper Sec. 3.3).

    A k x k receptive field from a k x 1 and a 1 x k depthwise conv beside a 3 x 3 one:
    F_out = Norm_pixel(GELU(DW_kx1(F)) + GELU(DW_1xk(F)) + GELU(DW_3x3(F))), F = PW(F_in).
    The branches cannot be merged into one conv: each has its own GELU. With ``fused`` set
    (``alkdsr.fast.use_fused_kernels``; training: ``train: fused_alkconv``), CUDA runs everything
    after ``pw`` as one Triton kernel, with a fused backward for training.
    """

    fused = False

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 9, norm_eps: float = 1e-6):
        super().__init__()
        k = check_kernel_size(kernel_size)
        self.kernel_size = k
        self.pw = conv1x1(in_ch, out_ch, bias=False)
        self.vertical = depthwise(out_ch, (k, 1))
        self.horizontal = depthwise(out_ch, (1, k))
        self.square = depthwise(out_ch, (3, 3))
        self.norm = PixelNorm(out_ch, eps=norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pw(x)
        if self.fused and x.is_cuda:
            return self._fused_branches(x)
        x = F.gelu(self.vertical(x)) + F.gelu(self.horizontal(x)) + F.gelu(self.square(x))
        return self.norm(x)

    def _fused_branches(self, x: torch.Tensor) -> torch.Tensor:
        from ..kernels.alkconv_triton import alkconv_branches

        c, k = x.shape[1], self.kernel_size
        return alkconv_branches(
            x, self.vertical.weight.view(c, k), self.vertical.bias, self.horizontal.weight.view(c, k),
            self.horizontal.bias, self.square.weight.view(c, 9), self.square.bias,
            self.norm.weight, self.norm.bias, self.norm.eps,
        )  # fmt: skip


class ESA(nn.Module):
    """Enhanced spatial attention (RFDN/BSRN): a coarse, strided-and-pooled attention mask.

    ``down_padding`` is the padding of the stride-2 conv: 0 in BSRN, 1 in ALKDNet. That conv
    followed by a 7x7/3 max-pool needs inputs of at least ``min_size`` pixels on each side.
    """

    def __init__(self, channels: int, reduced: int = 16, down_padding: int = 0):
        super().__init__()
        self.min_size = 15 - 2 * down_padding
        self.reduce = conv1x1(channels, reduced)
        self.skip = conv1x1(reduced, reduced)
        self.down = BSConv(reduced, reduced, 3, stride=2, padding=down_padding)
        self.pool_conv1 = BSConv(reduced, reduced, 3)
        self.pool_conv2 = BSConv(reduced, reduced, 3)
        self.pool_conv3 = BSConv(reduced, reduced, 3)
        self.expand = conv1x1(reduced, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        coarse = F.max_pool2d(self.down(reduced), kernel_size=7, stride=3)
        coarse = F.gelu(self.pool_conv1(coarse))
        coarse = F.gelu(self.pool_conv2(coarse))
        coarse = self.pool_conv3(coarse)
        coarse = F.interpolate(coarse, size=x.shape[-2:], mode='bilinear', align_corners=False)
        mask = torch.sigmoid(self.expand(coarse + self.skip(reduced)))
        return x * mask


class CCA(nn.Module):
    """Contrast-aware channel attention (IMDN): squeeze by mean + standard deviation per channel."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.squeeze = conv1x1(channels, channels // reduction)
        self.excite = conv1x1(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # statistics in float32 also for half-precision inputs
        mean = xf.mean(dim=(2, 3), keepdim=True)
        std = (xf - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        contrast = (std + mean).to(x.dtype)
        weights = torch.sigmoid(self.excite(F.relu(self.squeeze(contrast))))
        return x * weights
