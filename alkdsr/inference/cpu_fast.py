"""ALKDNet on the CPU with the steps between convolutions fused (``alkdsr.ops.cpu_kernels``).

    from alkdsr.inference.cpu_fast import CpuFastNet
    fast = CpuFastNet(net)      # the same function as net(lr), float32, on the CPU

Convolutions stay PyTorch's (oneDNN, channels-last memory); everything between them runs in
the fused kernels, row bands split over ``torch.get_num_threads()`` threads. ESA and CCA are
the network's own modules, called as in the eager forward, so seamless tiling
(``alkdsr.inference.tiling``) works unchanged. Only ALKConv networks take this path:
:func:`supports` says which.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import shutil
import stat
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkdsr.archs.arch_util import ALKDB, ALKConv, pad_to_min_size
from alkdsr.archs.inputs import check_count, check_tensor
from alkdsr.errors import AlkdsrError, HomeError, LockHeld
from alkdsr.files import locks
from alkdsr.files.fileio import atomic_path, where_writing_fails

KERNEL_CACHE = 'numba'  # under $ALKDSR_HOME
KERNELS = 'alkdsr.ops.cpu_kernels'
MANIFEST = 'MANIFEST.json'
_WHY = {'file': 'a file', 'unwritable': 'not writable'}

# how long a process waits for another one compiling the kernels into the cache (a few seconds, about 4 on a
# 2-core AMD EPYC) before it compiles them for itself: a holder that was stopped (Ctrl-Z) or hangs keeps the lock
LOCK_WAIT_S = 60.0


def kernel_cache_dir() -> Path:
    """``$ALKDSR_HOME/numba/<key>``: the key hashes the kernels' source and the place it is read from, numba,
    llvmlite, Python and the CPU.

    The place: numba keeps the files of each source path in a subfolder of its own, and the manifest (see
    :func:`load_kernels`) covers one checkout's; two checkouts of the same source in one folder each found
    the other's files unlisted, removed them, and compiled in turn at every run.
    """
    import hashlib
    import importlib.util
    import platform

    import llvmlite

    from alkdsr.zoo.cache import home_dir

    source = importlib.util.find_spec(KERNELS).origin  # not imported: numba reads its cache folder then
    key = hashlib.sha256(Path(source).read_bytes())
    versions = (_numba_version(), llvmlite.__version__, sys.version, platform.machine(), _cpu_name())
    key.update(repr((os.path.abspath(source), *versions)).encode())  # the path numba names its subfolder by
    return home_dir() / KERNEL_CACHE / key.hexdigest()[:16]


def _numba_version() -> str:
    """numba's version, from its installed metadata: importing numba would read its cache folder too early."""
    from importlib.metadata import version

    return version('numba')


def _cpu_name() -> str:
    import llvmlite.binding as llvm

    return f'{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}'


_loaded = None  # the kernels module, compiled, once per process


def load_kernels():
    """The kernels of ``alkdsr.ops.cpu_kernels``, compiled once per machine and cached on disk.

    numba compiles them (a few seconds) and caches the machine code under
    :func:`kernel_cache_dir`. numba trusts what it finds there, so the folder is used only if its
    files are exactly those of the SHA256 manifest written after all the kernels were compiled;
    otherwise (a compilation cut short, a changed or an extra file) it is removed and compiled
    again. Processes starting together wait for each other on ``<key>.lock``, for up to ``LOCK_WAIT_S``.

    The cache is a saving of time, never a reason to fail: where it cannot be made, written, locked or
    trusted (``ALKDSR_HOME`` a file, unwritable, too long a name or no folder at all, a symbolic link at
    the folder's name, a folder or a FIFO at the lock's, a lock held longer than ``LOCK_WAIT_S`` by a
    process that was stopped, a full disk or a file-size limit as numba writes), that is
    said in one line and the kernels are compiled for this process only, in memory (a copy of the kernels'
    module executed without numba's cache; the one numba may have half cached is dropped, with the files
    it left). ``NUMBA_CACHE_DIR``, when set, is numba's to manage and is used as is, and so is numba's own
    cache where numba was imported before (by the caller): it has chosen its cache folder then.
    """
    global _loaded
    if _loaded is None:
        _loaded = _compile_kernels()
    return _loaded


class _Uncacheable(Exception):
    """The cache folder cannot be used; the message says why."""


def _compile_kernels():
    if os.environ.get('NUMBA_CACHE_DIR') or 'numba' in sys.modules:  # numba's cache: not ours to check
        from alkdsr.ops import cpu_kernels

        _run_every_kernel(cpu_kernels)
        return cpu_kernels
    where = None
    try:
        where = kernel_cache_dir()
        return _cached_kernels(where)
    except (_Uncacheable, HomeError, OSError, LockHeld) as e:
        place = f' in {where}' if where is not None else ''
        print(f'alkdsr: cannot cache the CPU kernels{place} ({_reason(e, where)}); compiling them for this process '
              'only', file=sys.stderr)  # fmt: skip
        return _kernels_in_memory()


def _reason(error: Exception, where: Path | None) -> str:
    """What went wrong, naming the file it went wrong on where that is not ``where`` (which the line names)."""
    if not isinstance(error, OSError) or isinstance(error, AlkdsrError):
        return str(error)
    detail = error.strerror or str(error)
    named = error.filename is not None and os.fspath(error.filename) != str(where)
    return f'{error.filename}: {detail}' if named else detail


def _cached_kernels(where: Path):
    """The kernels, cached in ``where``: loaded from a verified cache, else compiled into it (see :func:`load_kernels`).

    Raises :class:`_Uncacheable` or the OSError met, having removed what it wrote of an unfinished cache."""
    _check_cache_place(where)
    where.parent.mkdir(parents=True, exist_ok=True)
    with locks.waiting_for(where.parent / f'{where.name}.lock', timeout=LOCK_WAIT_S):
        if where.exists() and not _verified(where):
            shutil.rmtree(where)
        where.mkdir(exist_ok=True)  # numba, finding no folder it can write, would cache beside the source instead
        try:
            # numba takes its cache folder from NUMBA_CACHE_DIR when it is imported (here, for the first time in
            # the process), and keeps it; the variable is not left for the processes this one starts
            os.environ['NUMBA_CACHE_DIR'] = str(where)
            try:
                kernels = importlib.import_module(KERNELS)
            finally:
                del os.environ['NUMBA_CACHE_DIR']
            _run_every_kernel(kernels)
            if not (where / MANIFEST).exists():
                _write_manifest(where)
        except BaseException:
            if not _verified(where):  # a cache numba or the manifest left half written: not to be kept
                shutil.rmtree(where, ignore_errors=True)
            raise
    return kernels


def _check_cache_place(where: Path) -> None:
    """Refuse, before anything is made, a cache folder that could not be written or is not a folder of its own."""
    blocked = where_writing_fails(where)
    if blocked is not None:
        raise _Uncacheable(f'{blocked[0]} is {_WHY[blocked[1]]}')
    lock = where.parent / f'{where.name}.lock'
    for path, kind in ((where, stat.S_ISDIR), (lock, stat.S_ISREG)):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):  # the cache would be wherever it points, a folder numba trusts
            raise _Uncacheable(f'{path} is a symbolic link')
        if not kind(mode):
            what = 'a folder' if stat.S_ISDIR(mode) else 'not a folder' if path == where else 'not a regular file'
            raise _Uncacheable(f'{path} is {what}')


def _kernels_in_memory():
    """A copy of the kernels' module, executed with ``ON_DISK = False``: numba compiles it for this process only.

    A copy, not ``alkdsr.ops.cpu_kernels`` itself, which may have been imported with numba's cache before the
    cache failed."""
    spec = importlib.util.find_spec(KERNELS)
    module = importlib.util.module_from_spec(spec)
    module.ON_DISK = False  # read by the module as it is executed
    spec.loader.exec_module(module)
    _run_every_kernel(module)
    return module


def _run_every_kernel(kernels) -> None:
    """Compile (or load) every kernel, with the argument types the network passes, on tiny arrays."""
    x = np.zeros((1, 2, 2, 4), np.float32)
    per_channel, taps, square = np.zeros(4, np.float32), np.zeros((3, 4), np.float32), np.zeros((3, 3, 4), np.float32)
    eps = np.float32(1e-6)
    weights = (taps, per_channel, taps, per_channel, square, per_channel, per_channel, per_channel, eps)
    kernels.alkconv_tail(x, 0, *weights, x, True, True, np.empty_like(x), 0, x, 0, 0, 2)
    kernels.gelu_(x, 0, 2)
    kernels.norm_residual(x, per_channel, per_channel, eps, x, np.empty_like(x), 0, 2)


def _verified(where: Path) -> bool:
    """Every file of the kernels in ``where`` is listed in its manifest, with the content listed."""
    try:
        listed = json.loads((where / MANIFEST).read_text())
        return set(_kernel_files(where)) == set(listed) and all(
            _sha256(where / name) == digest for name, digest in listed.items()
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def _kernel_files(where: Path) -> list[str]:
    """The files numba wrote for ``alkdsr.ops.cpu_kernels`` (others' cache files, numba's for functions of the
    caller's that were compiled once this process chose the folder, are not the kernels' to judge)."""
    return sorted(p.relative_to(where).as_posix() for p in where.rglob('cpu_kernels.*') if p.is_file())


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_manifest(where: Path) -> None:
    """Record the compiled kernels' files, now that they are all written (see :func:`load_kernels`)."""
    files = {name: _sha256(where / name) for name in _kernel_files(where)}
    with atomic_path(where / MANIFEST) as tmp:
        Path(tmp).write_text(json.dumps(files, indent=1))


def fast_cpu_net(net: nn.Module) -> nn.Module:
    """:class:`CpuFastNet` of ``net`` where it applies (ALKConv networks, float32, on the CPU), else ``net``."""
    on_cpu = all(p.device.type == 'cpu' and p.dtype == torch.float32 for p in net.parameters())
    return CpuFastNet(net) if on_cpu and supports(net) and numba_installed() else net


def numba_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec('numba') is not None


def supports(net: nn.Module) -> bool:
    """Whether ``net`` is an ALKDNet whose refinement convs are ALKConvs (BSRN-like variants are not)."""
    config = getattr(net, 'config', None) or {}
    return config.get('refine_conv') == 'alkconv' and isinstance(getattr(net, 'smooth', None), ALKConv)


def _nhwc(x: torch.Tensor) -> np.ndarray:
    """The (N, H, W, C) array viewing a channels-last float32 tensor's memory.

    Always C-contiguous, so the kernels are compiled for one layout: the one the cache holds.
    """
    array = x.permute(0, 2, 3, 1).numpy()
    assert array.flags.c_contiguous, 'the kernels take channels-last tensors'
    return array


def _array(t: torch.Tensor) -> np.ndarray:
    """A copy: the kernels keep the values of the moment, as the docstring of CpuFastNet says."""
    return t.detach().float().clone().contiguous().numpy()


def _merged_conv(first: nn.Conv2d, second: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one conv giving ``first``'s output channels, then ``second``'s, for one input.

    One 64 -> 96 conv takes less time than a 64 -> 32 and a 64 -> 64 one (oneDNN, channels-last).
    """
    weight = torch.cat([first.weight, second.weight]).detach().contiguous(memory_format=torch.channels_last)
    biases = [conv.bias if conv.bias is not None else torch.zeros(conv.out_channels) for conv in (first, second)]
    return weight, torch.cat(biases).detach()  # torch.cat copies: later changes to the network are not seen


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


class _ALKConvWeights:
    """An ALKConv's depthwise and norm parameters, laid out as ``alkconv_tail`` reads them."""

    def __init__(self, conv: ALKConv):
        c, k = conv.vertical.weight.shape[0], conv.kernel_size
        self.args = (
            _array(conv.vertical.weight.view(c, k).t()), _array(conv.vertical.bias),
            _array(conv.horizontal.weight.view(c, k).t()), _array(conv.horizontal.bias),
            _array(conv.square.weight.view(c, 3, 3).permute(1, 2, 0)), _array(conv.square.bias),
            _array(conv.norm.weight), _array(conv.norm.bias), np.float32(conv.norm.eps),
        )  # fmt: skip


class CpuFastNet(nn.Module):
    """``net`` (an ALKDNet with ALKConvs, see :func:`supports`) run by the fused CPU kernels.

    Keeps ``upscale``, ``min_size`` and ``config``, and a copy of the network as ``net``, so it drops in
    for the network in ``alkdsr.inference.tiling``. The copy is what is put in eval mode, float32 and
    channels-last memory on the CPU: the caller's network is left as it was (its mode, dtype, device and
    memory format are the caller's, who may go on training it). Parameters are copied once (the depthwise
    and norm ones; each block's distillation and refinement 1x1 convs, which read the same map, as one
    conv): after changing the weights, build a new one.
    """

    def __init__(self, net: nn.Module, threads: int | None = None):
        super().__init__()
        if not supports(net):
            raise ValueError('CpuFastNet runs ALKDNet variants with ALKConv refinement convs only')
        self.kernels = load_kernels()
        net = copy.deepcopy(net).eval().float().cpu().to(memory_format=torch.channels_last)
        self.net = net
        self.upscale, self.min_size, self.config = net.upscale, net.min_size, dict(net.config)
        self.threads = check_count('threads', threads, none=True) or torch.get_num_threads()
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self.alk = {id(m): _ALKConvWeights(m) for m in net.modules() if isinstance(m, ALKConv)}
        pairs = [(d, r.pw) for block in net.blocks for d, r in zip(block.distill, block.refine)]
        self.merged = {id(distill): _merged_conv(distill, pw) for distill, pw in pairs}
        self.norm = {
            id(block.norm): (_array(block.norm.weight), _array(block.norm.bias), np.float32(block.norm.eps))
            for block in net.blocks
            if not isinstance(block.norm, nn.Identity)
        }

    def _rows(self, kernel, *args, rows: int) -> None:
        """Run ``kernel(*args, row0, row1)`` over ``rows`` rows, in one band per thread."""
        if self.pool is None or rows < 2 * self.threads:
            kernel(*args, 0, rows)
            return
        bounds = np.linspace(0, rows, self.threads + 1).astype(int)
        for future in [self.pool.submit(kernel, *args, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
            future.result()

    def _alkconv(
        self, conv: ALKConv, p: torch.Tensor, skip: torch.Tensor | None, gelu_out: bool,
        out: torch.Tensor | None = None, o0: int = 0, c0: int = 0, aside: torch.Tensor | None = None, a0: int = 0,
    ) -> torch.Tensor:  # fmt: skip
        """What follows ``conv``'s pointwise conv, on channels c0.. of ``p`` (that conv's output), into channels
        o0.. of ``out`` (a new map if None); p's channels before c0 go through a GELU into channels a0.. of
        ``aside`` (see ``alkconv_tail``)."""
        weights = self.alk[id(conv)]
        if out is None:
            size = (p.shape[0], conv.pw.out_channels, *p.shape[2:])
            out = torch.empty(size, dtype=p.dtype, memory_format=torch.channels_last)
        skip_array = _nhwc(skip) if skip is not None else _nhwc(out)
        aside_array = _nhwc(aside) if aside is not None else _nhwc(out)
        self._rows(
            self.kernels.alkconv_tail, _nhwc(p), c0, *weights.args, skip_array, skip is not None, gelu_out,
            _nhwc(out), o0, aside_array, a0, rows=p.shape[2],
        )  # fmt: skip
        return out

    def _block(self, block: ALKDB, f_in: torch.Tensor) -> torch.Tensor:
        half = block.distill[0].out_channels
        n, _, h, w = f_in.shape
        distilled = torch.empty((n, 4 * half, h, w), dtype=f_in.dtype, memory_format=torch.channels_last)  # condensed
        f_r = f_in
        for i, (distill, refine) in enumerate(zip(block.distill, block.refine)):
            both = _channels_last(F.conv2d(f_r, *self.merged[id(distill)]))  # distill's channels, then refine.pw's
            f_r = self._alkconv(refine, both, skip=f_r, gelu_out=True, c0=half, aside=distilled, a0=i * half)
        last = block.refine_last
        self._alkconv(last, _channels_last(last.pw(f_r)), skip=None, gelu_out=True, out=distilled, o0=3 * half)
        f_condensed = _channels_last(block.condense(distilled))
        f_attended = _channels_last(block.cca(_channels_last(block.esa(f_condensed))))
        if isinstance(block.norm, nn.Identity):
            return f_attended + f_in
        out = torch.empty_like(f_attended)
        norm = self.norm[id(block.norm)]
        self._rows(self.kernels.norm_residual, _nhwc(f_attended), *norm, _nhwc(f_in), _nhwc(out), rows=out.shape[2])
        return out

    @torch.no_grad()
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        check_tensor(self, lr)  # (N, 3, H, W) float32 on the CPU, which the kernels compute on
        net = self.net
        h, w = lr.shape[-2:]
        lr = pad_to_min_size(lr, net.min_size)
        s = net.upscale
        f_0 = _channels_last(net.shallow(_channels_last(lr.repeat(1, net.num_replicas, 1, 1))))
        features, f_k = [], f_0
        for block in net.blocks:
            f_k = self._block(block, f_k)
            features.append(f_k)
        f_fused = _channels_last(net.fuse(torch.cat(features, dim=1)))
        self._rows(self.kernels.gelu_, _nhwc(f_fused), rows=f_fused.shape[2])
        p = _channels_last(net.smooth.pw(f_fused))
        f_fused = self._alkconv(net.smooth, p, skip=f_0 if net.fsrl else None, gelu_out=False)
        out = net.upsample(f_fused)
        if net.abrl:
            out = out + lr.repeat_interleave(s * s, dim=1)
        sr = F.pixel_shuffle(out, s)
        return sr[..., : h * s, : w * s].contiguous()
