"""The fastest way to run a network where it is: one chooser for the CLI, ``optimize()``, the benchmarks and
the Python API (``alkdsr.inference.image.upscale_image``), so every caller gets the same path.

    from alkdsr.inference.fast import optimize, runner
    net = runner(alkdsr.load_model('alkdnet-x4'))                        # what `alkdsr upscale` runs
    fast = optimize(net.cuda(), dtype=torch.float16, cuda_graph=True)   # then fast(lr) for each batch

:func:`runner` picks, for a network on its device:

- on CUDA, ALKConv's depthwise branches, GELUs, sum and pixel norm as one Triton kernel
  (``use_fused_kernels``, ``alkdsr.ops.alkconv_triton``);
- on the CPU, the fused CPU kernels (``alkdsr.inference.cpu_fast.CpuFastNet``) when the work ahead is
  at least :data:`FUSED_CPU_MIN_PIXELS` LR pixels, or not known, and the eager network for less: loading
  the kernels (numba, once per process) costs more than they save on one small image;
- onnxruntime on the CPU when asked for (``backend='onnxruntime'``).

:func:`optimize` adds half precision, channels_last, torch.compile and CUDA graphs
(``torch.compile(mode='reduce-overhead')``). ``benchmarks/bench_infer.py`` measures every combination
against the eager float32 path; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from alkdsr.archs.arch_util import use_fused_kernels
from alkdsr.inference import BACKENDS
from alkdsr.inference.cpu_fast import CpuFastNet, fast_cpu_net

# LR pixels of work from which the CPU kernels pay for their loading: about 0.4 s once per process, against
# 4-30 us saved per pixel, by the machine (docs/benchmarks.md, CPU); one image of 256 x 256, a tile of the
# CPU's default size, is the least that takes them
FUSED_CPU_MIN_PIXELS = 256 * 256


def runner(net: nn.Module, backend: str = 'auto', work: int | None = None) -> nn.Module:
    """The module that computes ``net``'s function fastest on ``net``'s device (see the module's doc).

    ``backend``: 'auto', 'torch' (PyTorch's own modules; on CUDA with the fused ALKConv kernel) or
    'onnxruntime' (the CPU only). ``work``: the LR pixels (images x height x width) the caller will run,
    if it knows them. A runner already (``CpuFastNet``, ``OnnxRuntimeNet``) is returned as it is. Making one
    is cheap (a copy of the weights); the CPU kernels load once per process.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS} (got {backend!r})')
    if not hasattr(net, 'blocks'):  # a runner already, or not an ALKDNet
        return net
    device = next(net.parameters()).device
    if backend == 'onnxruntime':
        if device.type != 'cpu':
            raise ValueError('onnxruntime runs on the CPU: move the network there first')
        from alkdsr.inference.onnx_util import OnnxRuntimeNet

        return OnnxRuntimeNet(net)
    if device.type == 'cuda':
        return use_fused_kernels(net)
    if backend == 'torch' or (work is not None and work < FUSED_CPU_MIN_PIXELS):
        return net
    return fast_cpu_net(net)


def optimize(
    net: nn.Module,
    dtype: torch.dtype = torch.float32,
    fused: bool = True,
    channels_last: bool = False,
    compile: bool | str = False,
    cuda_graph: bool = False,
    compile_backend: str = 'inductor',
) -> Callable[[torch.Tensor], torch.Tensor]:
    """An inference callable computing ``net`` faster; takes and returns float32 NCHW tensors.

    ``net`` is converted in place (dtype, memory format). ``compile`` may be a torch.compile mode
    string; ``cuda_graph`` compiles with ``mode='reduce-overhead'`` (CUDA graphs), unless ``compile``
    names a mode. The fused kernels apply on CUDA, and on the CPU with the defaults (:func:`runner`,
    ``CpuFastNet``).
    """
    net = net.eval().to(dtype=dtype)
    on_cuda = next(net.parameters()).is_cuda
    if not (on_cuda or channels_last or compile or cuda_graph) and dtype == torch.float32 and fused:
        fast = runner(net)
        if isinstance(fast, CpuFastNet):
            return fast
    use_fused_kernels(net, fused and on_cuda)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = net
    if compile or cuda_graph:
        mode = compile if isinstance(compile, str) else 'reduce-overhead' if cuda_graph and on_cuda else None
        forward = torch.compile(net, mode=mode, dynamic=False, backend=compile_backend)

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.to(dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = forward(x).float()
        # a CUDA graph's output lives in memory its next replay overwrites: the caller gets its own copy
        return out.clone() if cuda_graph and on_cuda and out.dtype == dtype else out

    return run
