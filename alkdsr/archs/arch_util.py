"""Small building blocks of ALKDNet and BSRN, each one concept of the paper.

Every layer is channels-first (N, C, H, W) so no permute copies are needed anywhere.
"""

from __future__ import annotations

import numbers

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


def check_kernel_size(kernel_size: int, name: str = 'kernel_size') -> int:
    """``kernel_size`` as an int, or a ValueError naming the argument ``name`` it was given as."""
    if not is_integer(kernel_size) or kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f'{name} must be an odd integer >= 3 (got {kernel_size!r})')
    return int(kernel_size)


def is_integer(value) -> bool:
    """An integer (a numpy one too), not a bool: ``True`` would otherwise pass for 1."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


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
    (:func:`use_fused_kernels`; training: ``train: fused_alkconv``), CUDA runs everything
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
        from alkdsr.ops.alkconv_triton import alkconv_branches

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

    The coarse mask lies on a grid of period :attr:`GRID` that is stretched back to the input's size.
    ``placement`` ``(origin, full_size)`` says that the input is a tile at ``origin`` (multiples of
    ``GRID``) of an image of ``full_size``: the mask is then stretched as in the whole image (seamless
    tiling, ``alkdsr.inference.tiling``). It defaults to the attribute of that name (None: the input is
    the whole image).
    """

    DOWN_STRIDE, POOL_KERNEL, POOL_STRIDE = 2, 7, 3
    GRID = DOWN_STRIDE * POOL_STRIDE  # the coarse grid's period, in input pixels

    def __init__(self, channels: int, reduced: int = 16, down_padding: int = 0):
        super().__init__()
        self.min_size = 15 - 2 * down_padding
        self.reduce = conv1x1(channels, reduced)
        self.skip = conv1x1(reduced, reduced)
        self.down = BSConv(reduced, reduced, 3, stride=self.DOWN_STRIDE, padding=down_padding)
        self.pool_conv1 = BSConv(reduced, reduced, 3)
        self.pool_conv2 = BSConv(reduced, reduced, 3)
        self.pool_conv3 = BSConv(reduced, reduced, 3)
        self.expand = conv1x1(reduced, channels)
        self.placement: tuple[tuple[int, int], tuple[int, int]] | None = None

    def forward(self, x: torch.Tensor, placement=None) -> torch.Tensor:
        placement = placement or self.placement
        reduced = self.reduce(x)
        coarse = F.max_pool2d(self.down(reduced), kernel_size=self.POOL_KERNEL, stride=self.POOL_STRIDE)
        coarse = F.gelu(self.pool_conv1(coarse))
        coarse = F.gelu(self.pool_conv2(coarse))
        coarse = self.pool_conv3(coarse)
        if placement is None:
            coarse = F.interpolate(coarse, size=x.shape[-2:], mode='bilinear', align_corners=False)
        else:
            coarse = self._upsample_in_place(coarse, x.shape[-2:], *placement)
        mask = torch.sigmoid(self.expand(coarse + self.skip(reduced)))
        return x * mask

    def coarse_length(self, n: int) -> int:
        """Length of the coarse grid along an input side of length ``n``."""
        down = (n + 2 * self.down.dw.padding[0] - 3) // self.DOWN_STRIDE + 1
        return (down - self.POOL_KERNEL) // self.POOL_STRIDE + 1

    def _upsample_in_place(self, coarse: torch.Tensor, size, origin, full_size) -> torch.Tensor:
        """PyTorch's bilinear upsampling (align_corners=False) of the whole image's grid, at the tile's pixels."""
        (r0, r1, wr), (c0, c1, wc) = (
            self._bilinear_taps(n, start, full, coarse_tile, coarse.device)
            for n, start, full, coarse_tile in zip(size, origin, full_size, coarse.shape[2:])
        )
        wr, wc = wr.to(coarse.dtype)[:, None], wc.to(coarse.dtype)
        coarse = coarse[:, :, r0] * (1 - wr) + coarse[:, :, r1] * wr
        return coarse[..., c0] * (1 - wc) + coarse[..., c1] * wc

    def _bilinear_taps(self, n: int, origin: int, full: int, coarse_tile: int, device):
        """Source indices (in the tile's coarse grid) and weights of the upsampling from the whole image's
        coarse grid to ``full`` samples, for tile pixels origin..origin+n."""
        coarse_full = self.coarse_length(full)
        dst = torch.arange(origin, origin + n, device=device, dtype=torch.float32)
        src = ((dst + 0.5) * (coarse_full / full) - 0.5).clamp_min(0)
        i0 = src.floor().long()
        weight = src - i0
        i1 = torch.clamp(i0 + 1, max=coarse_full - 1)
        offset = origin // self.GRID
        return (i0 - offset).clamp(0, coarse_tile - 1), (i1 - offset).clamp(0, coarse_tile - 1), weight


class CCA(nn.Module):
    """Contrast-aware channel attention (IMDN): squeeze by mean + standard deviation per channel.

    ``given_contrast`` (N x C x 1 x 1), when set, replaces the input's own mean + standard deviation:
    seamless tiling gives each tile the whole image's (``alkdsr.inference.tiling``).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.squeeze = conv1x1(channels, channels // reduction)
        self.excite = conv1x1(channels // reduction, channels)
        self.given_contrast: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        contrast = self.given_contrast if self.given_contrast is not None else self.contrast(x)
        weights = torch.sigmoid(self.excite(F.relu(self.squeeze(contrast.to(x.dtype)))))
        return x * weights

    @staticmethod
    def contrast(x: torch.Tensor) -> torch.Tensor:
        """Mean + standard deviation of each channel, in float32 also for half-precision inputs."""
        xf = x.float()
        mean = xf.mean(dim=(2, 3), keepdim=True)
        std = (xf - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return std + mean


def use_fused_kernels(net: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every ALKConv of ``net`` to (or from) the fused Triton kernel; returns ``net``."""
    for module in net.modules():
        if isinstance(module, ALKConv):
            module.fused = enabled
    return net


REFINE_CONVS = ('alkconv', 'bsconv')


def make_conv(kind: str, in_ch: int, out_ch: int, kernel_size: int) -> nn.Module:
    """The refinement conv of a variant: ALKConv (ALKDNet) or BSConv (BSRN)."""
    if kind == 'alkconv':
        return ALKConv(in_ch, out_ch, kernel_size)
    if kind == 'bsconv':
        return BSConv(in_ch, out_ch, kernel_size)
    raise ValueError(f'refine_conv must be one of {REFINE_CONVS} (got {kind!r})')


class ALKDB(nn.Module):
    """Asymmetric large kernel distillation block (paper Sec. 3.2, BSRN's ESDB with ALKConv).

    Distillation (1x1 + GELU to half the channels) beside refinement (conv + skip + GELU),
    three times; a fourth refinement to half the channels; concat, 1x1 condensation;
    ESA, CCA and pixel norm enhance; the block input is added back.
    """

    def __init__(self, channels: int, refine_conv: str, kernel_size: int, pixel_norm: bool, esa_padding: int):
        super().__init__()
        half = channels // 2
        self.distill = nn.ModuleList(conv1x1(channels, half) for _ in range(3))
        self.refine = nn.ModuleList(make_conv(refine_conv, channels, channels, kernel_size) for _ in range(3))
        self.refine_last = make_conv(refine_conv, channels, half, kernel_size)
        self.condense = conv1x1(half * 4, channels)
        self.esa = ESA(channels, channels // 4, down_padding=esa_padding)
        self.cca = CCA(channels)
        self.norm = PixelNorm(channels, eps=1e-6) if pixel_norm else nn.Identity()

    def forward(self, f_in: torch.Tensor) -> torch.Tensor:
        distilled, f_r = [], f_in
        for distill, refine in zip(self.distill, self.refine):
            distilled.append(F.gelu(distill(f_r)))  # F_d_i = D_i(F_r_{i-1})
            f_r = F.gelu(refine(f_r) + f_r)  # F_r_i = R_i(F_r_{i-1})
        distilled.append(F.gelu(self.refine_last(f_r)))
        f_condensed = self.condense(torch.cat(distilled, dim=1))
        f_enhanced = self.norm(self.cca(self.esa(f_condensed)))
        return f_enhanced + f_in


def pad_to_min_size(x: torch.Tensor, min_size: int) -> torch.Tensor:
    """Pad the bottom/right of ``x`` up to ``min_size`` (reflect where possible, else replicate)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = max(0, min_size - h), max(0, min_size - w)
    if not (pad_h or pad_w):
        return x
    mode = 'reflect' if pad_h < h and pad_w < w else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
