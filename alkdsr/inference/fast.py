"""Fast inference paths: the eager network's function, computed with fewer launches and bytes.

    from alkdsr.inference.fast import optimize
    fast = optimize(net.cuda(), dtype=torch.float16, cuda_graph=True)   # then fast(lr) for each batch

- ``use_fused_kernels`` (``alkdsr.archs.arch_util``): ALKConv's depthwise branches, GELUs, sum and
  pixel norm as one Triton kernel on CUDA (``alkdsr.ops.alkconv_triton``); ``alkdsr upscale`` uses it.
- ``CUDAGraphRunner``: captures the forward for a fixed input shape once and replays it, which
  removes the per-kernel launch cost that dominates a network of many small ops.
- ``optimize``: puts these together with half precision, channels_last and torch.compile.

``benchmarks/bench_infer.py`` measures every combination against the eager float32 path;
docs/benchmarks.md has the numbers and which one is the default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from alkdsr.archs.arch_util import use_fused_kernels
from alkdsr.inference.cpu_fast import fast_cpu_net


class CUDAGraphRunner:
    """Replay a captured CUDA graph of ``fn`` for each new input shape (inference only).

    Input is copied into a static buffer; the returned tensor is the graph's static output,
    overwritten by the next call (clone it to keep it).
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], warmup: int = 2):
        self.fn = fn
        self.warmup = warmup
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, x.device, x.is_contiguous(memory_format=torch.channels_last))
        if key not in self.graphs:
            self.graphs[key] = self._capture(x)
        graph, static_in, static_out = self.graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: torch.Tensor):
        static_in = x.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                self.fn(static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.fn(static_in)
        return graph, static_in, static_out


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

    ``net`` is converted in place (dtype, memory format). ``compile`` may be a torch.compile
    mode string. CUDA graphs and the fused kernel apply on CUDA only. On the CPU, with the
    defaults, an ALKConv network runs in the fused CPU kernels
    (:class:`alkdsr.inference.cpu_fast.CpuFastNet`).
    """
    net = net.eval().to(dtype=dtype)
    on_cuda = next(net.parameters()).is_cuda
    if not (on_cuda or channels_last or compile) and dtype == torch.float32 and fused:
        fast = fast_cpu_net(net)
        if fast is not net:
            return fast
    use_fused_kernels(net, fused and on_cuda)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = net
    if compile:
        mode = None if compile is True else compile
        forward = torch.compile(net, mode=mode, dynamic=False, backend=compile_backend)

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.to(dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return forward(x)

    if cuda_graph and on_cuda:
        graphed = CUDAGraphRunner(run)
        return lambda x: graphed(x).float()
    return lambda x: run(x).float()
