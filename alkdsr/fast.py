"""Fast inference paths: the eager network's function, computed with fewer launches and bytes.

- ``use_fused_kernels``: ALKConv's depthwise branches, GELUs, sum and pixel norm as one Triton
  kernel on CUDA (``alkdsr.kernels.alkconv_triton``).
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

from .archs.layers import ALKConv


def use_fused_kernels(net: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every ALKConv of ``net`` to (or from) the fused Triton kernel; returns ``net``."""
    for module in net.modules():
        if isinstance(module, ALKConv):
            module.fused = enabled
    return net


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
    mode string. CUDA graphs and the fused kernel apply on CUDA only.
    """
    net = net.eval().to(dtype=dtype)
    on_cuda = next(net.parameters()).is_cuda
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


class OnnxRuntimeNet(nn.Module):
    """``net`` exported to ONNX and run by onnxruntime on the CPU, behind the module interface.

    On a 2-core CPU onnxruntime ran ALKDNet x4 1.86x faster than eager PyTorch at equal output
    (max |diff| 2.5e-6; docs/benchmarks.md). Keeps ``upscale``, ``min_size`` and ``config`` so
    it drops in for the network in ``alkdsr.inference`` (whole images or fast tiles: seamless
    tiles need the PyTorch modules).
    """

    def __init__(self, net: nn.Module, threads: int | None = None):
        super().__init__()
        import tempfile

        import onnxruntime as ort

        from .onnx_export import export_onnx

        self.upscale, self.min_size, self.config = net.upscale, net.min_size, dict(net.config)
        # anchors .parameters() on the CPU for code that asks the module for its device
        self.anchor = nn.Parameter(torch.empty(0), requires_grad=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        with tempfile.TemporaryDirectory() as tmp:
            path = f'{tmp}/net.onnx'
            export_onnx(net, path)
            self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        sr = self.session.run(None, {'lr': lr.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(sr)
