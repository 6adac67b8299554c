"""ALKConv's depthwise part as one Triton kernel, forward and backward (CUDA).

Eagerly, ALKConv after its pointwise conv runs three depthwise convs, three GELUs, two adds
and a pixel norm: about a dozen kernels and as many passes over the feature map. This kernel
reads each input tile once (through cache) and writes the normalised output once:

    out = Norm_pixel(GELU(DW_kx1(y)) + GELU(DW_1xk(y)) + GELU(DW_3x3(y)))

One program computes a row segment of BLOCK_W pixels for all channels, so the norm over
channels stays in registers. Any strides work (NCHW or channels_last). It is exposed as the
custom op ``torch.ops.alkdsr.alkconv_branches`` so torch.compile and CUDA graphs treat it as
one opaque node; on CPU the op computes the same function with PyTorch ops.

Backward (registered with ``torch.library.register_autograd``, so training uses the fused path):
the forward saves only its input ``y``, where eager autograd keeps several feature maps per
ALKConv (the branch outputs, the norm's input and statistics). A second kernel recomputes the
three branches and the norm per pixel from ``y`` and writes the gradients of the three
pre-activations plus per-program partial sums for the norm's weight and bias; the depthwise
convs' input, weight and bias gradients are then ``aten.convolution_backward``, which
torch.compile sees and cuDNN runs. Under ``TRITON_INTERPRET=1`` both kernels also run on CPU
tensors (how the tests check them).
"""

from __future__ import annotations

import os

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

    @triton.jit
    def _gelu_grad(x):
        return 0.5 * (1.0 + tl.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * tl.exp(-0.5 * x * x)

    @triton.jit
    def _alkconv_branches_backward_kernel(
        y_ptr, g_ptr, dv_ptr, dh_ptr, ds_ptr, dlnw_ptr, dlnb_ptr,
        wv_ptr, bv_ptr, wh_ptr, bh_ptr, ws_ptr, bs_ptr, lnw_ptr,
        C, H, W, stride_n, stride_c, stride_h, stride_w,
        g_stride_n, g_stride_c, g_stride_h, g_stride_w,
        eps,
        K: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_W: tl.constexpr,
    ):  # fmt: skip
        # gradients of the three pre-activations (dv, dh, ds: contiguous NCHW float32) and, per
        # program, partial sums of the norm's weight and bias gradients (rows of dlnw, dlnb)
        row = tl.program_id(0)  # n * H + h
        n = row // H
        h = row % H
        w0 = tl.program_id(1) * BLOCK_W
        c = tl.arange(0, BLOCK_C)[:, None]
        w = w0 + tl.arange(0, BLOCK_W)[None, :]
        c_ok = c < C
        w_ok = w < W
        ok = c_ok & w_ok
        base = y_ptr + n * stride_n + c * stride_c
        half: tl.constexpr = K // 2

        # the forward, recomputed (same loads and order as _alkconv_branches_kernel)
        acc_v = tl.zeros((BLOCK_C, BLOCK_W), dtype=tl.float32)
        acc_h = tl.zeros((BLOCK_C, BLOCK_W), dtype=tl.float32)
        acc_s = tl.zeros((BLOCK_C, BLOCK_W), dtype=tl.float32)
        for i in tl.static_range(K):
            hh = h + i - half
            m = ok & (hh >= 0) & (hh < H)
            val = tl.load(base + hh * stride_h + w * stride_w, mask=m, other=0.0).to(tl.float32)
            acc_v += val * tl.load(wv_ptr + c * K + i, mask=c_ok, other=0.0).to(tl.float32)
        for j in tl.static_range(K):
            ww = w + j - half
            m = c_ok & (ww >= 0) & (ww < W)
            val = tl.load(base + h * stride_h + ww * stride_w, mask=m, other=0.0).to(tl.float32)
            acc_h += val * tl.load(wh_ptr + c * K + j, mask=c_ok, other=0.0).to(tl.float32)
        for i in tl.static_range(3):
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
        rstd = tl.rsqrt(tl.sum(centred * centred, axis=0) / C + eps)[None, :]
        xhat = centred * rstd

        # through the norm: d(sum) = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = g * lnw
        g_at = g_ptr + n * g_stride_n + c * g_stride_c + h * g_stride_h + w * g_stride_w
        g = tl.load(g_at, mask=ok, other=0.0).to(tl.float32)
        gx = g * tl.load(lnw_ptr + c, mask=c_ok, other=0.0).to(tl.float32)
        mean_gx = tl.sum(gx, axis=0)[None, :] / C
        mean_gx_xhat = tl.sum(gx * xhat, axis=0)[None, :] / C
        d_sum = rstd * (gx - mean_gx - xhat * mean_gx_xhat)

        part = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
        tl.store(dlnw_ptr + part * C + c, tl.sum(tl.where(ok, g * xhat, 0.0), axis=1)[:, None], mask=c_ok)
        tl.store(dlnb_ptr + part * C + c, tl.sum(g, axis=1)[:, None], mask=c_ok)

        # through the GELUs, into contiguous NCHW buffers
        at = n * C * H * W + c * H * W + h * W + w
        tl.store(dv_ptr + at, d_sum * _gelu_grad(acc_v), mask=ok)
        tl.store(dh_ptr + at, d_sum * _gelu_grad(acc_h), mask=ok)
        tl.store(ds_ptr + at, d_sum * _gelu_grad(acc_s), mask=ok)


def _branch_convs(y, wv, bv, wh, bh, ws, bs) -> list[torch.Tensor]:
    """The three depthwise convs' outputs (the GELUs' inputs)."""
    c, k = y.shape[1], wv.shape[-1]
    return [
        F.conv2d(y, wv.view(c, 1, k, 1), bv, padding=(k // 2, 0), groups=c),
        F.conv2d(y, wh.view(c, 1, 1, k), bh, padding=(0, k // 2), groups=c),
        F.conv2d(y, ws.view(c, 1, 3, 3), bs, padding=1, groups=c),
    ]


def reference_branches(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps: float) -> torch.Tensor:
    """The same function with PyTorch ops (CPU path and test oracle)."""
    v, h, s = _branch_convs(y, wv, bv, wh, bh, ws, bs)
    x = F.gelu(v) + F.gelu(h) + F.gelu(s)
    mean = x.mean(1, keepdim=True)
    centred = x - mean
    x = centred * torch.rsqrt(centred.pow(2).mean(1, keepdim=True) + eps)
    return x * lnw[:, None, None] + lnb[:, None, None]


def _torch_gelu_grad(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * torch.exp(-0.5 * x * x)


def reference_preactivation_grads(grad, y, wv, bv, wh, bh, ws, bs, lnw, eps: float):
    """What the backward kernel computes, with PyTorch ops in float32 (the CPU path).

    Returns the gradients of the three branch pre-activations and of the norm's weight and bias.
    """
    v, h, s = _branch_convs(y.float(), wv.float(), bv.float(), wh.float(), bh.float(), ws.float(), bs.float())
    x = F.gelu(v) + F.gelu(h) + F.gelu(s)
    centred = x - x.mean(1, keepdim=True)
    rstd = torch.rsqrt(centred.pow(2).mean(1, keepdim=True) + eps)
    xhat = centred * rstd
    g = grad.float()
    gx = g * lnw.float()[:, None, None]
    d_sum = rstd * (gx - gx.mean(1, keepdim=True) - xhat * (gx * xhat).mean(1, keepdim=True))
    dims = (0, 2, 3)
    maps = [(d_sum * _torch_gelu_grad(pre)).contiguous() for pre in (v, h, s)]  # NCHW, as the kernel writes
    return (*maps, (g * xhat).sum(dims), g.sum(dims))


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


def launch_triton_backward(grad, y, wv, bv, wh, bh, ws, bs, lnw, eps: float, block_w: int = 32):
    """Run the backward kernel; returns what :func:`reference_preactivation_grads` returns."""
    n, c, h, w = y.shape
    block_c = triton.next_power_of_2(c)
    grid = (n * h, triton.cdiv(w, block_w))
    dv, dh, ds = (torch.empty((n, c, h, w), dtype=torch.float32, device=y.device) for _ in range(3))
    dlnw, dlnb = (torch.empty((grid[0] * grid[1], c), dtype=torch.float32, device=y.device) for _ in range(2))
    _alkconv_branches_backward_kernel[grid](
        y, grad, dv, dh, ds, dlnw, dlnb, wv, bv, wh, bh, ws, bs, lnw,
        c, h, w, *y.stride(), *grad.stride(), eps,
        K=wv.shape[-1], BLOCK_C=block_c, BLOCK_W=block_w, num_warps=4,
    )  # fmt: skip
    return dv, dh, ds, dlnw.sum(0), dlnb.sum(0)


def _use_triton(y: torch.Tensor) -> bool:
    """The kernels run on CUDA, and on CPU tensors only in Triton's interpreter (tests)."""
    return triton is not None and (y.is_cuda or os.environ.get('TRITON_INTERPRET') == '1')


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
    if _use_triton(y):
        return launch_triton(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps)
    return reference_branches(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps)


@alkconv_branches.register_fake
def _(y, wv, bv, wh, bh, ws, bs, lnw, lnb, eps):
    return torch.empty_like(y)


@torch.library.custom_op('alkdsr::alkconv_branches_preactivation_grads', mutates_args=())
def alkconv_branches_preactivation_grads(
    grad: torch.Tensor,
    y: torch.Tensor,
    wv: torch.Tensor,
    bv: torch.Tensor,
    wh: torch.Tensor,
    bh: torch.Tensor,
    ws: torch.Tensor,
    bs: torch.Tensor,
    lnw: torch.Tensor,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward of ``alkconv_branches`` up to the depthwise convs: (dv, dh, ds, dlnw, dlnb), float32."""
    if _use_triton(y):
        return launch_triton_backward(grad, y, wv, bv, wh, bh, ws, bs, lnw, eps)
    return reference_preactivation_grads(grad, y, wv, bv, wh, bh, ws, bs, lnw, eps)


@alkconv_branches_preactivation_grads.register_fake
def _(grad, y, wv, bv, wh, bh, ws, bs, lnw, eps):
    maps = [y.new_empty(y.shape, dtype=torch.float32) for _ in range(3)]
    return (*maps, lnw.new_empty(lnw.shape, dtype=torch.float32), lnw.new_empty(lnw.shape, dtype=torch.float32))


def _setup_context(ctx, inputs, output):
    y, wv, bv, wh, bh, ws, bs, lnw, _lnb, eps = inputs
    ctx.save_for_backward(y, wv, bv, wh, bh, ws, bs, lnw)
    ctx.eps = eps


def _backward(ctx, grad):
    """Pre-activation gradients from the kernel, then each depthwise conv's own backward (in float32)."""
    y, wv, bv, wh, bh, ws, bs, lnw = ctx.saved_tensors
    dv, dh, ds, dlnw, dlnb = alkconv_branches_preactivation_grads(grad, y, wv, bv, wh, bh, ws, bs, lnw, ctx.eps)
    c, k = y.shape[1], wv.shape[-1]
    yf = y.float()
    dy = None
    grads = []
    for d, w, shape, padding in (
        (dv, wv, (c, 1, k, 1), [k // 2, 0]),
        (dh, wh, (c, 1, 1, k), [0, k // 2]),
        (ds, ws, (c, 1, 3, 3), [1, 1]),
    ):
        d_in, d_w, d_b = torch.ops.aten.convolution_backward(
            d, yf, w.float().view(shape), [c], [1, 1], padding, [1, 1], False, [0, 0], c, [True, True, True]
        )
        dy = d_in if dy is None else dy + d_in
        grads += [d_w.view(w.shape).to(w.dtype), d_b.to(w.dtype)]
    d_wv, d_bv, d_wh, d_bh, d_ws, d_bs = grads
    return dy.to(y.dtype), d_wv, d_bv, d_wh, d_bh, d_ws, d_bs, dlnw.to(lnw.dtype), dlnb.to(lnw.dtype), None


alkconv_branches.register_autograd(_backward, setup_context=_setup_context)


def available() -> bool:
    return triton is not None and torch.cuda.is_available()
