"""CPU kernels of ALKDNet's memory-bound steps, over channels-last (N, H, W, C) float32 arrays.

PyTorch runs each element-wise step of the network as a full pass over a feature map, and
its exact GELU evaluates ``erf`` at about 0.6 G elements/s on two cores: together they take
about half the eager forward (``benchmarks/profile_infer_ops.py``). These kernels do the
steps between two convolutions in one pass over each pixel's channels, which the compiler
vectorises:

- :func:`alkconv_tail`: ALKConv's k x 1, 1 x k and 3 x 3 depthwise branches, their GELUs,
  sum and pixel norm, then optionally a residual and a GELU (the refinement step of a block);
- :func:`gelu_`: GELU in place (after the fusion conv; the distillation steps are done by
  :func:`alkconv_tail`, straight into the concatenation the block condenses);
- :func:`norm_residual`: the pixel norm and the residual at the end of a block.

They are compiled by numba (a pip wheel; no C compiler is needed) and cached on disk by
``alkdsr.inference.cpu_fast.load_kernels``, through which they are to be imported. They run
without the GIL, and each handles rows ``row0:row1`` of every image, so callers split the rows
over threads.

GELU is ``x/2 (1 + erf(x/sqrt 2))`` with erf as a ratio of polynomials on [-4, 4] (the
approximation of Eigen's ``generic_fast_erf_float``): within 6.1e-7 of the exact GELU over
[-10, 10] (``tests/inference/test_cpu_fast.py``), and, unlike a call to libm's erf, vectorisable.
"""

from __future__ import annotations

import numba
import numpy as np

_ERF_NUM = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
            -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)  # fmt: skip
_ERF_DEN = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)  # fmt: skip

# Whether numba caches the machine code on disk (in NUMBA_CACHE_DIR, which load_kernels sets as numba is
# imported): load_kernels executes a copy of this module with ON_DISK = False set first where that cache
# cannot be used, and the kernels are then compiled for the process only
ON_DISK = globals().get('ON_DISK', True)

# fastmath: reassociation lets the channel sums vectorise; error_model numpy: no zero-division
# branch, which would keep the division (and the loop around it) scalar
_JIT = dict(nogil=True, fastmath=True, error_model='numpy', cache=ON_DISK)

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


@numba.njit(inline='always', **_JIT)
def _load_row(x, n, r, c0, dst, pad, aside, a0, to_aside):
    """dst[pad:pad + W] = channels c0:c0 + C of row r of image n of x, or zeros if r is outside the image;
    if ``to_aside``, also GELU of the channels before c0 into channels a0.. of that row of ``aside``."""
    c_count = dst.shape[1]
    if 0 <= r < x.shape[1]:
        src = x[n, r]
        for w in range(x.shape[2]):
            s, d = src[w, c0 : c0 + c_count], dst[w + pad]  # slices: an index c0 + c would be checked for < 0
            for c in range(c_count):
                d[c] = s[c]
        if to_aside:
            row = aside[n, r]
            for w in range(x.shape[2]):
                s, d = src[w, :c0], row[w, a0 : a0 + c0]
                for c in range(c0):
                    d[c] = gelu(s[c])
    else:
        for w in range(x.shape[2]):
            for c in range(c_count):
                dst[w + pad, c] = f32(0.0)


@numba.njit(inline='always', **_JIT)
def _taps3(acc, w0, a, w1, b, w2, d):
    """acc[p, c] += w0[c] a[p, c] + w1[c] b[p, c] + w2[c] d[p, c]: three taps in one pass over acc."""
    for p in range(acc.shape[0]):
        for c in range(acc.shape[1]):
            acc[p, c] += w0[c] * a[p, c] + w1[c] * b[p, c] + w2[c] * d[p, c]


@numba.njit(inline='always', **_JIT)
def _tap(acc, w0, a):
    for p in range(acc.shape[0]):
        for c in range(acc.shape[1]):
            acc[p, c] += w0[c] * a[p, c]


@numba.njit(**_JIT)
def alkconv_tail(
    x, c0, wv, bv, wh, bh, ws, bs, gamma, beta, eps, skip, add_skip, gelu_out, out, o0, aside, a0, row0, row1
):
    """out = [GELU](PixelNorm(GELU(DW_kx1 x) + GELU(DW_1xk x) + GELU(DW_3x3 x)) [+ skip]), rows row0:row1.

    x is channels c0:c0 + C of an (N, H, W, *) array, out channels o0:o0 + C of another, so that
    the output may be one part of a concatenation; skip: (N, H, W, C); wv, wh: (k, C); ws: (3, 3, C);
    bv, bh, bs, gamma, beta: (C,). The channels of x before c0 (a block's distillation conv, which
    shares the refinement's input and so its conv) go, through a GELU, into channels a0.. of
    ``aside``: they are read with the rest of each row, not in a pass of their own.
    Depthwise convs with zero 'same' padding, as nn.Conv2d's: the k rows around row h are copied,
    zero-padded, into a ring of rows, so the taps need no bounds checks and read from the cache.
    A row is done in chunks of :data:`CHUNK` pixels whose three branch sums stay in the L1 cache,
    three taps per pass over them (one pass per tap spends more time loading and storing the sums
    than multiplying).
    """
    n_img, _, width = x.shape[:3]
    k, c_count = wv.shape
    half = k // 2
    v_buf = np.empty((CHUNK, c_count), np.float32)
    h_buf = np.empty((CHUNK, c_count), np.float32)
    s_buf = np.empty((CHUNK, c_count), np.float32)
    ring = np.zeros((k, width + 2 * half, c_count), np.float32)  # rows h-half..h+half of x; row r at r % k
    for n in range(n_img):
        for r in range(row0 - half, row0):  # rows of the band above: loaded, not distilled
            _load_row(x, n, r, c0, ring[r % k], half, aside, a0, False)
        for r in range(row0, row0 + half):
            _load_row(x, n, r, c0, ring[r % k], half, aside, a0, r < row1)
        for h in range(row0, row1):
            _load_row(x, n, h + half, c0, ring[(h + half) % k], half, aside, a0, h + half < row1)
            centre = ring[h % k]
            for w0 in range(0, width, CHUNK):
                m = min(CHUNK, width - w0)
                v, hz, sq = v_buf[:m], h_buf[:m], s_buf[:m]
                for w in range(m):
                    for c in range(c_count):
                        v[w, c] = bv[c]
                        hz[w, c] = bh[c]
                        sq[w, c] = bs[c]
                x0 = w0 + half  # column of pixel w0 in the ring's rows
                i = 0
                while i + 3 <= k:  # three taps at a time: k x 1 (rows around h) and 1 x k (row h, shifted)
                    r0, r1, r2 = ring[(h + i - half) % k], ring[(h + i + 1 - half) % k], ring[(h + i + 2 - half) % k]
                    _taps3(v, wv[i], r0[x0 : x0 + m], wv[i + 1], r1[x0 : x0 + m], wv[i + 2], r2[x0 : x0 + m])
                    s0 = w0 + i  # column of the leftmost tap of pixel w0
                    _taps3(hz, wh[i], centre[s0 : s0 + m], wh[i + 1], centre[s0 + 1 : s0 + 1 + m],
                           wh[i + 2], centre[s0 + 2 : s0 + 2 + m])  # fmt: skip
                    i += 3
                while i < k:
                    _tap(v, wv[i], ring[(h + i - half) % k, x0 : x0 + m])
                    _tap(hz, wh[i], centre[w0 + i : w0 + i + m])
                    i += 1
                for r in range(3):  # 3 x 3
                    row = ring[(h - 1 + r) % k]
                    _taps3(sq, ws[r, 0], row[x0 - 1 : x0 - 1 + m], ws[r, 1], row[x0 : x0 + m],
                           ws[r, 2], row[x0 + 1 : x0 + 1 + m])  # fmt: skip
                dst = out[n, h]
                for w in range(m):
                    for c in range(c_count):
                        v[w, c] = gelu(v[w, c]) + gelu(hz[w, c]) + gelu(sq[w, c])
                    _pixel_norm(v[w], gamma, beta, eps, dst[w0 + w, o0 : o0 + c_count])
                if add_skip:
                    s = skip[n, h]
                    for w in range(w0, w0 + m):
                        o = dst[w, o0 : o0 + c_count]
                        for c in range(c_count):
                            o[c] += s[w, c]
                if gelu_out:
                    for w in range(w0, w0 + m):
                        o = dst[w, o0 : o0 + c_count]
                        for c in range(c_count):
                            o[c] = gelu(o[c])


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
