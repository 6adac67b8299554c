"""ncnn export (``NAME.param`` + ``NAME.bin``) of a recognised checkpoint, and a CPU runner for the files.

The conversion traces :class:`~alkdsr.inference.export_form.ExportForm` to TorchScript and hands it to
pnnx's converter, in a temporary folder that is deleted afterwards with everything pnnx writes there
(``*.pnnx.*``, ``*_pnnx.py``, ``*_ncnn.py``, the ONNX copy). pnnx stores float16 weights unless told
otherwise, which moves outputs by about 2.5e-3 without a warning, so the weights' precision is always
passed explicitly.

The .param file pnnx writes is then made loadable by the ncnn that realesrgan-ncnn-vulkan and
upscayl-bin build (April 2022) as well as by today's: the input blob is renamed ``data`` and the output
``output`` (the names those apps extract), and the two shape expressions pnnx writes, which only ncnn
2025 and later can parse, are replaced by the older parameters that mean the same here (see
:func:`legalize`). Any other layer type or expression is a bug of the export form and raises.

The graph takes one RGB image in [0, 1] (3 x H x W, channels first, as ncnn apps feed it) of any size of
at least ``min_size`` pixels a side (13, or 15 for BSRN's ESA padding); the apps' 10 pixels of context
around every tile keep their inputs above that. :class:`NcnnUpscaler` pads smaller inputs as the network
does and crops the output back.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alkdsr.archs.arch_util import pad_to_min_size
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import atomic_path
from alkdsr.inference.export_form import ExportForm
from alkdsr.utils.packages import require

INPUT_BLOB, OUTPUT_BLOB = 'data', 'output'  # what realesrgan-ncnn-vulkan and upscayl-bin extract
# the layers the export form becomes; every one is in ncnn since 2021 (GELU since March 2021)
LAYERS = frozenset({
    'Input', 'Split', 'Concat', 'Convolution', 'ConvolutionDepthWise', 'GELU', 'BinaryOp', 'UnaryOp',
    'Pooling', 'Interp', 'PixelShuffle', 'Reshape', 'Sigmoid', 'ReLU',
})  # fmt: skip
# two input shapes with different heights and widths, so that pnnx keeps both dimensions dynamic
TRACE_SIZES = ((32, 40), (27, 21))
MAGIC = '7767517'
# --fp16 --verify: float16 weights (within 4e-4 of float32) move outputs by 1e-3 to 1e-2 at a few pixels; on
# Set5 and Set14 the image stays 72 dB or more from float32 (docs/benchmarks.md), far from visible
FP16_MIN_PSNR = 60.0


def bin_path_of(param_path: str | os.PathLike) -> Path:
    """``NAME.bin`` beside ``NAME.param``: ncnn apps find the two by one name."""
    return Path(param_path).with_suffix('.bin')


def export_ncnn(net: nn.Module, param_path: str | os.PathLike, fp16: bool = False) -> tuple[Path, Path]:
    """Write ``net`` as ``NAME.param`` and ``NAME.bin`` (float32 weights, or float16 with ``fp16``).

    Both appear together or not at all: they are written to temporary files beside their names and
    renamed only once both are complete. Returns the two paths.
    """
    require('the ncnn export', 'pnnx')
    param_path = Path(param_path)
    bin_path = bin_path_of(param_path)
    form = ExportForm(net).float()
    with tempfile.TemporaryDirectory(prefix='alkdsr-ncnn-') as tmp:
        text, converted_bin = _convert(form, Path(tmp), fp16)
        _write_pair(param_path, text, bin_path, converted_bin)
    return param_path, bin_path


def _convert(form: ExportForm, folder: Path, fp16: bool) -> tuple[str, Path]:
    import pnnx

    channels = form.config.get('num_in_ch', 3)
    (h, w), (h2, w2) = TRACE_SIZES
    traced_path = folder / 'net.pt'
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch.jit.trace's deprecation notice
        torch.jit.trace(form, torch.rand(1, channels, h, w)).save(str(traced_path))
    outputs = {
        key: folder / name
        for key, name in (
            ('pnnxparam', 'net.pnnx.param'), ('pnnxbin', 'net.pnnx.bin'), ('pnnxpy', 'net_pnnx.py'),
            ('pnnxonnx', 'net.pnnx.onnx'), ('ncnnparam', 'net.ncnn.param'), ('ncnnbin', 'net.ncnn.bin'),
            ('ncnnpy', 'net_ncnn.py'),
        )
    }  # fmt: skip
    command = [
        pnnx.EXEC_PATH, str(traced_path), f'inputshape=[1,{channels},{h},{w}]f32',
        f'inputshape2=[1,{channels},{h2},{w2}]f32', 'device=cpu', f'fp16={int(fp16)}',
        *(f'{key}={path}' for key, path in outputs.items()),
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if proc.returncode or not outputs['ncnnparam'].is_file() or not outputs['ncnnbin'].is_file():
        log = (proc.stdout + proc.stderr).strip().splitlines()
        raise RuntimeError(f'pnnx failed (exit status {proc.returncode}):\n' + '\n'.join(log[-20:]))
    return legalize(outputs['ncnnparam'].read_text()), outputs['ncnnbin']


_INTERP_SIZE = re.compile(r'^9="1w,1h"$')  # output size = the second input's width and height
_RESHAPE_TO_CHANNELS = re.compile(r'^6="1,1,//\((\d+),0n\),0n"$')  # batch-aware reshape of C values to C x 1 x 1


def legalize(text: str) -> str:
    """pnnx's .param text with the blob names and parameters that ncnn apps of 2022 read (see the module).

    * ``Interp`` with a reference input (``5=1``) takes its output size from that input in every ncnn
      since 2020; pnnx adds the same as an expression, ``9="1w,1h"``, which is dropped;
    * the ``Reshape`` of a global pooling's C values back to C x 1 x 1 (CCA) is written by pnnx as a
      batch-aware expression; ncnn apps run one image at a time, for which it is ``0=1 1=1 2=C``.
    """
    lines = text.strip().splitlines()
    if lines[0].strip() != MAGIC:
        raise RuntimeError(f'pnnx wrote a .param file without the magic number {MAGIC}')
    layer_count, blob_count = map(int, lines[1].split())
    layers = [line.split() for line in lines[2:]]
    if len(layers) != layer_count:
        raise RuntimeError(f'pnnx wrote {len(layers)} layers but counts {layer_count}')
    unknown = sorted({layer[0] for layer in layers} - LAYERS)
    if unknown:
        raise RuntimeError(f'pnnx wrote layers the export form should not need: {", ".join(unknown)}')
    inputs = [layer for layer in layers if layer[0] == 'Input']
    if len(inputs) != 1:
        raise RuntimeError(f'expected one Input layer, found {len(inputs)}')
    input_blob = inputs[0][4]
    consumed = {blob for layer in layers for blob in layer[4 : 4 + int(layer[2])]}
    produced = [blob for layer in layers for blob in layer[4 + int(layer[2]) : 4 + int(layer[2]) + int(layer[3])]]
    outputs = [blob for blob in produced if blob not in consumed]
    if len(outputs) != 1:
        raise RuntimeError(f'expected one output blob, found {outputs}')
    if {INPUT_BLOB, OUTPUT_BLOB} & set(produced):
        raise RuntimeError(f'pnnx already named a blob {INPUT_BLOB!r} or {OUTPUT_BLOB!r}')
    renamed = {input_blob: INPUT_BLOB, outputs[0]: OUTPUT_BLOB}
    out = [MAGIC, f'{layer_count} {blob_count}']
    for layer in layers:
        kind, name, bottoms, tops = layer[0], layer[1], int(layer[2]), int(layer[3])
        blobs = [renamed.get(b, b) for b in layer[4 : 4 + bottoms + tops]]
        params = _legal_params(kind, name, layer[4 + bottoms + tops :], bottoms)
        if kind == 'Input':
            name = INPUT_BLOB
        out.append(' '.join([f'{kind:<24} {name:<24} {bottoms} {tops}', *blobs, *params]))
    return '\n'.join(out) + '\n'


def _legal_params(kind: str, name: str, params: list[str], bottoms: int) -> list[str]:
    expressions = [p for p in params if '"' in p]
    if not expressions:
        return params
    if kind == 'Interp' and len(expressions) == 1 and _INTERP_SIZE.match(expressions[0]) and bottoms == 2:
        if '5=1' in params:  # dynamic target size: the reference input's
            return [p for p in params if p != expressions[0]]
    match = _RESHAPE_TO_CHANNELS.match(expressions[0]) if len(expressions) == 1 else None
    if kind == 'Reshape' and match and {'12=0', '13=0'} <= set(params):  # batch axes in and out
        kept = [p for p in params if p not in ('12=0', '13=0', expressions[0])]
        return [*kept, '0=1', '1=1', f'2={match.group(1)}']
    raise RuntimeError(f'pnnx wrote an expression older ncnn cannot read: {kind} {name} {" ".join(expressions)}')


def _write_pair(param_path: Path, text: str, bin_path: Path, converted_bin: Path) -> None:
    """Both files complete, then both renamed into place; on any failure neither is left new."""
    placed_bin = False
    try:
        with atomic_path(param_path) as tmp_param:
            tmp_param.write_text(text, encoding='ascii')
            with atomic_path(bin_path) as tmp_bin:
                shutil.copyfile(converted_bin, tmp_bin)
            placed_bin = True
    except BaseException:
        if placed_bin:  # the .param could not be renamed into place after the .bin was
            bin_path.unlink(missing_ok=True)
        raise


class NcnnUpscaler:
    """An exported ``.param``/``.bin`` pair run by the ncnn Python package on the CPU, in float32.

    ncnn's float16 storage and arithmetic are turned off (float16 weights of a ``--fp16`` file are
    widened when loaded), so that the comparison with PyTorch shows the file, not the runtime's
    precision. Inputs smaller than ``min_size`` are padded as the network pads them and the output
    cropped back; ``scale`` is the network's.
    """

    def __init__(self, param_path: str | os.PathLike, scale: int, min_size: int = 1, threads: int | None = None):
        require('running ncnn files', 'ncnn')
        import ncnn

        self.scale, self.min_size = scale, min_size
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.use_vulkan_compute = False
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
        opt.num_threads = threads or torch.get_num_threads()
        param_path = Path(param_path)
        if self.net.load_param(str(param_path)) or self.net.load_model(str(bin_path_of(param_path))):
            raise AlkdsrError(f'{param_path}: ncnn cannot load it (or {bin_path_of(param_path).name} beside it)')
        if self.net.input_names() != [INPUT_BLOB] or self.net.output_names() != [OUTPUT_BLOB]:
            raise AlkdsrError(f'{param_path}: blobs {self.net.input_names()} -> {self.net.output_names()}, '
                              f'not [{INPUT_BLOB!r}] -> [{OUTPUT_BLOB!r}]')  # fmt: skip

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        """SR of ``lr`` (3 x H x W or N x 3 x H x W float32 in [0, 1]), float32 and unclamped."""
        if lr.ndim == 4:
            return np.stack([self(image) for image in lr])
        import ncnn

        h, w = lr.shape[1:]
        image = pad_to_min_size(torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))[None], self.min_size)
        image = np.ascontiguousarray(image[0].numpy())  # ncnn.Mat reads this memory: it must outlive `mat`
        mat = ncnn.Mat(image)
        extractor = self.net.create_extractor()
        extractor.input(INPUT_BLOB, mat)
        status, out = extractor.extract(OUTPUT_BLOB)
        if status:
            raise RuntimeError(f'ncnn failed on a {h}x{w} input (status {status})')
        return np.array(out)[:, : h * self.scale, : w * self.scale]


@contextlib.contextmanager
def float16_storage(net: nn.Module):
    """Emulate, in PyTorch on the CPU, how ncnn's GPU path stores numbers (``use_fp16_storage``, which
    realesrgan-ncnn-vulkan and upscayl-bin turn on): yields a copy of ``net`` with float16-rounded weights,
    and while the context is open the result of every torch operation is rounded to float16 and back.
    The arithmetic stays float32 (their ``use_fp16_arithmetic`` is off). ncnn merges some operations
    (a convolution and its activation) that are rounded separately here, so this is close, not exact.
    """
    from torch.overrides import TorchFunctionMode

    class RoundResults(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor) and out.is_floating_point():
                out = out.half().float()
            return out

    rounded = copy.deepcopy(net).float()
    with torch.no_grad():
        for tensor in [*rounded.parameters(), *rounded.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    with RoundResults():
        yield rounded
