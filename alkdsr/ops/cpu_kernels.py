"""CPU kernels of ALKDNet's memory-bound steps, over channels-last (N, H, W, C) float32 arrays.

PyTorch runs each element-wise step of the network as a full pass over a feature map, and
its exact GELU evaluates ``erf`` at about 0.6 G elements/s on two cores: together they take
about half the eager forward (``benchmarks/profile_infer_ops.py``). These kernels do the
steps between two convolutions in one pass over each pixel's channels, which the compiler
vectorises:

- :func:`alkconv_tail`: ALKConv's k x 1, 1 x k and 3 x 3 depthwise branches, their GELUs,
  sum and pixel norm, then optionally a residual and a GELU (the refinement step of a block);
- :func:`gelu_`: GELU in place (the distillation steps, after the fusion conv);
- :func:`norm_residual`: the pixel norm and the residual at the end of a block.

They are compiled by numba (a pip wheel; no C compiler is needed) and cached on disk by
``alkdsr.inference.cpu_fast.load_kernels``, through which they are to be imported. They run
without the GIL, and each handles rows ``row0:row1`` of every image, so callers split the rows
over threads.

GELU is ``x/2 (1 + erf(x/sqrt 2))`` with erf as a ratio of polynomials on [-4, 4] (the
approximation of Eigen's ``generic_fast_erf_float``): within 6.1e-7 of the exact GELU over
[-10, 10] (``tests/test_cpu_fast.py``), and, unlike a call to libm's erf, vectorisable.
"""

from __future__ import annotations

import numba
import numpy as np

_ERF_NUM = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
            -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)  # fmt: skip
_ERF_DEN = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)  # fmt: skip

# fastmath: reassociation lets the channel sums vectorise; error_model numpy: no zero-division
# branch, which would keep the division (and the loop around it) scalar
_JIT = dict(nogil=True, fastmath=True, error_model='numpy', cache=True)

f32 = np.float32
CHUNK = 16  # pixels of a row whose (CHUNK, C) sums fit the L1 cache with room to spare


@numba.njit(inline='always', **_JIT)
def gelu(x):
    z = x * f32(0.7071067811865476)
    z = z if z < f32(4.0) else f32(4.0)
    z = z if z > f32(-4.0) else f32(-4.0)
    z2 = z * z
    p = z2 * f32(_ERF_NUM[0]) + f32(_ERF_NUM[1])
    p = z2 * p + f32(_ERF_NUM[2])
    p = z2 * p + f32(_ERF_NUM[3])
    p = z2 * p + f32(_ERF_NUM[4])
    p = z2 * p + f32(_ERF_NUM[5])
    p = z2 * p + f32(_ERF_NUM[6])
    q = z2 * f32(_ERF_DEN[0]) + f32(_ERF_DEN[1])
    q = z2 * q + f32(_ERF_DEN[2])
    q = z2 * q + f32(_ERF_DEN[3])
    q = z2 * q + f32(_ERF_DEN[4])
    return f32(0.5) * x * (f32(1.0) + z * p / q)


@numba.njit(inline='always', **_JIT)
def _pixel_norm(y, gamma, beta, eps, out):
    """out = LayerNorm over the channels of one pixel (y is scratch)."""
    c_count = y.shape[0]
    inv_c = f32(1.0) / f32(c_count)  # float32 throughout: an int divisor would make the sums float64
    mean = f32(0.0)
    for c in range(c_count):
        mean += y[c]
    mean *= inv_c
    var = f32(0.0)
    for c in range(c_count):
        d = y[c] - mean
        var += d * d
    rstd = f32(1.0) / np.sqrt(var * inv_c + eps)
    for c in range(c_count):
        out[c] = (y[c] - mean) * rstd * gamma[c] + beta[c]


@numba.njit(**_JIT)
def alkconv_tail(x, wv, bv, wh, bh, ws, bs, gamma, beta, eps, skip, add_skip, gelu_out, out, row0, row1):
    """out = [GELU](PixelNorm(GELU(DW_kx1 x) + GELU(DW_1xk x) + GELU(DW_3x3 x)) [+ skip]), rows row0:row1.

    x, skip, out: (N, H, W, C); wv, wh: (k, C); ws: (3, 3, C); bv, bh, bs, gamma, beta: (C,).
    Depthwise convs with zero 'same' padding, as nn.Conv2d's. A row is done in chunks of
    :data:`CHUNK` pixels whose three branch sums stay in the L1 cache.
    """
    n_img, height, width, c_count = x.shape
    k = wv.shape[0]
    half = k // 2
    inv_c = f32(1.0) / f32(c_count)  # float32 throughout: an int divisor would make the sums float64
    v = np.empty((CHUNK, c_count), np.float32)
    hz = np.empty((CHUNK, c_count), np.float32)
    sq = np.empty((CHUNK, c_count), np.float32)
    for n in range(n_img):
        for h in range(row0, row1):
            for w0 in range(0, width, CHUNK):
                w1 = min(w0 + CHUNK, width)
                for w in range(w1 - w0):
                    for c in range(c_count):
                        v[w, c] = bv[c]
                        hz[w, c] = bh[c]
                        sq[w, c] = bs[c]
                for i in range(k):  # k x 1: the rows above and below
                    r = h + i - half
                    if 0 <= r < height:
                        src = x[n, r]
                        for w in range(w0, w1):
                            for c in range(c_count):
                                v[w - w0, c] += wv[i, c] * src[w, c]
                src = x[n, h]
                for i in range(k):  # 1 x k: the row shifted left and right
                    shift = i - half
                    for w in range(max(w0, -shift), min(w1, width - shift)):
                        for c in range(c_count):
                            hz[w - w0, c] += wh[i, c] * src[w + shift, c]
                for i in range(3):  # 3 x 3
                    r = h + i - 1
                    if 0 <= r < height:
                        src = x[n, r]
                        for j in range(3):
                            shift = j - 1
                            for w in range(max(w0, -shift), min(w1, width - shift)):
                                for c in range(c_count):
                                    sq[w - w0, c] += ws[i, j, c] * src[w + shift, c]
                dst = out[n, h]
                for w in range(w1 - w0):
                    for c in range(c_count):
                        v[w, c] = gelu(v[w, c]) + gelu(hz[w, c]) + gelu(sq[w, c])
                    mean = f32(0.0)
                    for c in range(c_count):
                        mean += v[w, c]
                    mean *= inv_c
                    var = f32(0.0)
                    for c in range(c_count):
                        d = v[w, c] - mean
                        var += d * d
                    rstd = f32(1.0) / np.sqrt(var * inv_c + eps)
                    for c in range(c_count):
                        dst[w0 + w, c] = (v[w, c] - mean) * rstd * gamma[c] + beta[c]
                if add_skip:
                    s = skip[n, h]
                    for w in range(w0, w1):
                        for c in range(c_count):
                            dst[w, c] += s[w, c]
                if gelu_out:
                    for w in range(w0, w1):
                        for c in range(c_count):
                            dst[w, c] = gelu(dst[w, c])


@numba.njit(**_JIT)
def gelu_(x, row0, row1):
    """GELU in place on rows row0:row1 of x (N, H, W, C)."""
    for n in range(x.shape[0]):
        for h in range(row0, row1):
            for w in range(x.shape[2]):
                p = x[n, h, w]
                for c in range(x.shape[3]):
                    p[c] = gelu(p[c])


@numba.njit(**_JIT)
def norm_residual(x, gamma, beta, eps, skip, out, row0, row1):
    """out = PixelNorm(x) + skip on rows row0:row1 of (N, H, W, C) arrays (the end of a block)."""
    for n in range(x.shape[0]):
        for h in range(row0, row1):
            for w in range(x.shape[2]):
                o = out[n, h, w]
                _pixel_norm(x[n, h, w], gamma, beta, eps, o)
                s = skip[n, h, w]
                for c in range(x.shape[3]):
                    o[c] += s[c]
