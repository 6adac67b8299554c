"""ALKConv's depthwise part as one Triton kernel (inference on CUDA).

Eagerly, ALKConv after its pointwise conv runs three depthwise convs, three GELUs, two adds
and a pixel norm: about a dozen kernels and as many passes over the feature map. This kernel
reads each input tile once (through cache) and writes the normalised output once:

    out = Norm_pixel(GELU(DW_kx1(y)) + GELU(DW_1xk(y)) + GELU(DW_3x3(y)))

One program computes a row segment of BLOCK_W pixels for all channels, so the norm over
channels stays in registers. Any strides work (NCHW or channels_last). It is exposed as the
custom op ``torch.ops.alkdsr.alkconv_branches`` so torch.compile and CUDA graphs treat it as
one opaque node; on CPU the op computes the same function with PyTorch ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs
    triton = None


if triton is not None:

    @triton.jit
    def _gelu(x):
        return 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))

    @triton.jit
    def _alkconv_branches_kernel(
        y_ptr, out_ptr, wv_ptr, bv_ptr, wh_ptr, bh_ptr, ws_ptr, bs_ptr, lnw_ptr, lnb_ptr,
        C, H, W, stride_n, stride_c, stride_h, stride_w,
        out_stride_n, out_stride_c, out_stride_h, out_stride_w,
        eps,
        K: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_W: tl.constexpr,
    ):  # fmt: skip
        row = tl.program_id(0)  # n * H + h
        n = row // H
        h = row % H
        w0 = tl.program_id(1) * BLOCK_W
        c = tl.arange(0, BLOCK_C)[:, None]
        w = w0 + tl.arange(0, BLOCK_W)[None, :]
        c_ok = c < C
        w_ok = w < W
        base = y_ptr + n * stride_n + c * stride_c
        half: tl.constexpr = K // 2

        acc_v = tl.zeros((BLOCK_C, BLOCK_W), dtype=tl.float32)
        acc_h = tl.zeros((BLOCK_C, BLOCK_W), dtype=tl.float32)
        acc_s = tl.zeros((BLOCK_C, BLOCK_W), dtype=tl.float32)
        for i in tl.static_range(K):  # vertical k x 1
            hh = h + i - half
            m = c_ok & w_ok & (hh >= 0) & (hh < H)
            val = tl.load(base + hh * stride_h + w * stride_w, mask=m, other=0.0).to(tl.float32)
            acc_v += val * tl.load(wv_ptr + c * K + i, mask=c_ok, other=0.0).to(tl.float32)
        for j in tl.static_range(K):  # horizontal 1 x k
            ww = w + j - half
            m = c_ok & (ww >= 0) & (ww < W)
            val = tl.load(base + h * stride_h + ww * stride_w, mask=m, other=0.0).to(tl.float32)
            acc_h += val * tl.load(wh_ptr + c * K + j, mask=c_ok, other=0.0).to(tl.float32)
        for i in tl.static_range(3):  # square 3 x 3
            hh = h + i - 1
            for j in tl.static_range(3):
                ww = w + j - 1
                m = c_ok & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
                val = tl.load(base + hh * stride_h + ww * stride_w, mask=m, other=0.0).to(tl.float32)
                acc_s += val * tl.load(ws_ptr + c * 9 + i * 3 + j, mask=c_ok, other=0.0).to(tl.float32)

        acc_v += tl.load(bv_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
        acc_h += tl.load(bh_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
        acc_s += tl.load(bs_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
        s = _gelu(acc_v) + _gelu(acc_h) + _gelu(acc_s)
        s = tl.where(c_ok, s, 0.0)
        mean = tl.sum(s, axis=0) / C
        centred = tl.where(c_ok, s - mean[None, :], 0.0)
        var = tl.sum(centred * centred, axis=0) / C
        out = centred * tl.rsqrt(var + eps)[None, :]
        out = out * tl.load(lnw_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
        out = out + tl.load(lnb_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
        dst = out_ptr + n * out_stride_n + c * out_stride_c + h * out_stride_h + w * out_stride_w
        tl.store(dst, out.to(out_ptr.dtype.element_ty), mask=c_ok & w_ok)


def reference_branches(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps: float) -> torch.Tensor:
    """The same function with PyTorch ops (CPU path and test oracle)."""
    c, k = y.shape[1], wv.shape[-1]
    v = F.conv2d(y, wv.view(c, 1, k, 1), bv, padding=(k // 2, 0), groups=c)
    h = F.conv2d(y, wh.view(c, 1, 1, k), bh, padding=(0, k // 2), groups=c)
    s = F.conv2d(y, ws.view(c, 1, 3, 3), bs, padding=1, groups=c)
    x = F.gelu(v) + F.gelu(h) + F.gelu(s)
    mean = x.mean(1, keepdim=True)
    centred = x - mean
    x = centred * torch.rsqrt(centred.pow(2).mean(1, keepdim=True) + eps)
    return x * lnw[:, None, None] + lnb[:, None, None]


def launch_triton(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps: float, block_w: int = 32) -> torch.Tensor:
    """Run the Triton kernel (CUDA tensors, or CPU tensors under TRITON_INTERPRET=1)."""
    n, c, h, w = y.shape
    out = torch.empty_like(y)
    block_c = triton.next_power_of_2(c)
    grid = (n * h, triton.cdiv(w, block_w))
    _alkconv_branches_kernel[grid](
        y, out, wv, bv, wh, bh, ws, bs, lnw, lnb,
        c, h, w, *y.stride(), *out.stride(), eps,
        K=wv.shape[-1], BLOCK_C=block_c, BLOCK_W=block_w, num_warps=4,
    )  # fmt: skip
    return out


@torch.library.custom_op('alkdsr::alkconv_branches', mutates_args=())
def alkconv_branches(
    y: torch.Tensor,
    wv: torch.Tensor,
    bv: torch.Tensor,
    wh: torch.Tensor,
    bh: torch.Tensor,
    ws: torch.Tensor,
    bs: torch.Tensor,
    lnw: torch.Tensor,
    lnb: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """ALKConv after its pointwise conv; weights flattened to (C, K), (C, K), (C, 9)."""
    if y.is_cuda and triton is not None:
        return launch_triton(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps)
    return reference_branches(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps)


@alkconv_branches.register_fake
def _(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps):
    return torch.empty_like(y)


def available() -> bool:
    return triton is not None and torch.cuda.is_available()
