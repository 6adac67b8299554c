"""ONNX export of a recognised checkpoint, with dynamic batch, height and width, and its verification.

The graph is the network's export form (``alkdsr.inference.export_form``), which the ncnn export writes too.
The network pads inputs smaller than ``min_size`` (ESA's strided pooling needs 13 or 15
pixels) and crops the output back. Traced as is, that padding is a Python ``if`` frozen to
the example's size, and onnxruntime crashes on small inputs. ``OnnxUpscaler`` does the same
padding with index gathers whose indices are computed from the input's shape, so one graph
serves every size, 1x1 included, and equals PyTorch's output.

The TorchScript exporter (``dynamo=False``) is used: it writes opset 17 directly, while the
torch.export-based exporter of torch 2.x starts at opset 18 and cannot convert this model down.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.onnx.operators  # a submodule that `import torch` does not load
from torch import nn

from alkdsr.archs.inputs import check_count
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import atomic_path
from alkdsr.inference import MIN_OPSET
from alkdsr.inference.export_form import ExportForm
from alkdsr.utils.packages import require

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 1e-2  # float16 keeps about 3 decimal digits; 1e-2 is under 3 grey levels


class OnnxUpscaler(nn.Module):
    """``net`` (the export form of a network) with the network's small-input padding expressed as shape-generic
    tensor operations."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.min_size = int(net.min_size)
        self.scale = int(net.upscale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        shape = torch.onnx.operators.shape_as_tensor(lr)
        h, w = shape[2], shape[3]
        floor = torch.tensor(self.min_size, dtype=shape.dtype)
        target_h, target_w = torch.maximum(h, floor), torch.maximum(w, floor)
        # the network reflects when it can (padding smaller than the side), else replicates
        reflect = (target_h - h < h) & (target_w - w < w)
        padded = lr.index_select(2, _pad_indices(h, target_h, reflect))
        padded = padded.index_select(3, _pad_indices(w, target_w, reflect))
        sr = self.net(padded)
        return sr[:, :, : h * self.scale, : w * self.scale]


def _pad_indices(n: torch.Tensor, target: torch.Tensor, reflect: torch.Tensor) -> torch.Tensor:
    """Source index of each of ``target`` positions along a side of length ``n``: identity, then
    reflection (n-2, n-3, ...) or replication (n-1) of the last pixels."""
    i = torch.arange(target)
    reflected = torch.where(i < n, i, 2 * (n - 1) - i)
    replicated = torch.minimum(i, n - 1)
    return torch.where(reflect, reflected, replicated)


def max_opset() -> int:
    """The newest opset the TorchScript exporter of this PyTorch writes."""
    from torch.onnx import _constants

    return getattr(_constants, 'ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET', _constants.ONNX_MAX_OPSET)


def export_onnx(net: nn.Module, path: str | os.PathLike, opset: int = MIN_OPSET, fp16: bool = False) -> None:
    """Write ``net`` as ONNX (input 'lr', output 'sr', both N x 3 x H x W, dynamic N/H/W), atomically.

    With ``fp16`` the weights and both tensors are float16.
    """
    require('the ONNX export', 'onnx')  # torch.onnx writes the file with it
    if opset < MIN_OPSET:
        raise AlkdsrError(f'--opset {opset}: opset {MIN_OPSET} or later is needed')
    if opset > max_opset():
        raise AlkdsrError(f'--opset {opset}: this PyTorch exports opsets {MIN_OPSET} to {max_opset()}')
    dtype = torch.float16 if fp16 else torch.float32
    wrapper = OnnxUpscaler(ExportForm(net).to(dtype)).eval()
    example = torch.rand(1, wrapper.net.config.get('num_in_ch', 3), 32, 32, dtype=dtype)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings about the shape arithmetic handled above
        torch.onnx.export(
            wrapper,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=['lr'],
            output_names=['sr'],
            dynamic_axes={
                'lr': {0: 'batch', 2: 'height', 3: 'width'},
                'sr': {0: 'batch', 2: 'height_out', 3: 'width_out'},
            },
        )


def onnx_session(onnx_path: str | os.PathLike):
    """An onnxruntime CPU session for an exported file."""
    require('running ONNX files', 'onnxruntime')
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])


def max_abs_diff(session, net: nn.Module, lr: np.ndarray) -> float:
    """Largest |onnxruntime - PyTorch| over the SR of ``lr`` (N x 3 x H x W float32 in [0, 1]).

    ``net`` is the float32 CPU network the file was exported from.
    """
    feed_type = np.float16 if session.get_inputs()[0].type == 'tensor(float16)' else np.float32
    onnx_sr = session.run(None, {'lr': lr.astype(feed_type)})[0].astype(np.float32)
    with torch.no_grad():
        torch_sr = net(torch.from_numpy(lr.astype(np.float32))).numpy()
    if onnx_sr.shape != torch_sr.shape:
        raise AlkdsrError(f'ONNX output {onnx_sr.shape} but PyTorch {torch_sr.shape} for input {lr.shape}')
    return float(np.abs(onnx_sr - torch_sr).max())


class OnnxRuntimeNet(nn.Module):
    """``net`` exported to ONNX and run by onnxruntime on the CPU, behind the module interface.

    On a 2-core CPU onnxruntime ran ALKDNet x4 1.86x faster than eager PyTorch at equal output
    (max |diff| 2.5e-6; docs/benchmarks.md). Keeps ``upscale``, ``min_size`` and ``config`` so
    it drops in for the network in ``alkdsr.inference.tiling`` (whole images or fast tiles: seamless
    tiles need the PyTorch modules).
    """

    def __init__(self, net: nn.Module, threads: int | None = None):
        super().__init__()
        import tempfile

        require('the onnxruntime backend', 'onnx', 'onnxruntime')  # the network is exported, then run
        import onnxruntime as ort

        self.upscale, self.min_size, self.config = net.upscale, net.min_size, dict(net.config)
        # anchors .parameters() on the CPU for code that asks the module for its device
        self.anchor = nn.Parameter(torch.empty(0), requires_grad=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = check_count('threads', threads, none=True) or torch.get_num_threads()
        with tempfile.TemporaryDirectory() as tmp:
            path = f'{tmp}/net.onnx'
            export_onnx(net, path)
            self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        sr = self.session.run(None, {'lr': lr.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(sr)
