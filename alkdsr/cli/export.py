"""Export a checkpoint to ONNX (dynamic batch, height and width; opset 17 or later) or to ncnn.

ONNX (-o NAME.onnx): the graph takes 'lr' (N x 3 x H x W, RGB in [0, 1]) and returns 'sr'
(N x 3 x sH x sW, unclamped), for any H, W >= 1. --fp16 stores float16 weights and float16 input/output.

ncnn (-o NAME.param, or --format ncnn): NAME.param and NAME.bin beside it, for Upscayl,
realesrgan-ncnn-vulkan and chaiNNer (docs/deploy.md): input blob 'data' (3 x H x W, RGB in [0, 1],
H, W >= 13, or 15 for BSRN), output blob 'output'. The weights are float32, or float16 with --fp16
(half the size).

Packages beyond alkdsr's own, checked before any work: onnx to write ONNX and onnxruntime for its
--verify (pip install onnx onnxruntime); pnnx for ncnn and ncnn for its --verify (pip install
pnnx==20261020 ncnn==1.0.20261020, the versions alkdsr reads).

--verify runs the exported file (onnxruntime, or the ncnn package, on the CPU) and the checkpoint with
PyTorch on random inputs and on real images (--verify-image: crops for ONNX, each image whole, up
to 256 x 256, for ncnn; else scikit-image's bundled photographs when scikit-image is installed), at
several sizes, and prints the largest absolute difference; the exit status is 1 if it exceeds 1e-4
(float32) or 1e-2 (ONNX --fp16). For ncnn the PSNR against PyTorch's float32 output is printed too; with
--fp16 (float16 weights, float32 arithmetic) the file passes where that PSNR is at least 60 dB.

Examples:
  alkdsr export --weights net_g_ALKDN_x4.pth -o alkdnet_x4.onnx --verify
  alkdsr export --weights alkdnet-x4 -o models/alkdnet-x4.param --verify
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from alkdsr.cli._options import path_text
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import check_output_file
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs
from alkdsr.inference import MIN_OPSET
from alkdsr.utils.packages import installed, require

if TYPE_CHECKING:  # NumPy and torch load in run(): --help needs neither
    import numpy as np

HELP = 'export a checkpoint to ONNX or ncnn, optionally verified against PyTorch'

RANDOM_SIZES = ((1, 32, 40), (2, 45, 27), (1, 7, 5))  # (batch, height, width); 7x5 is padded inside
REAL_CROPS = ((48, 64), (37, 53))  # (height, width) taken from the centre of each real image
NCNN_WHOLE_SIDE = 256  # ncnn --verify runs each real image whole, or its centre crop of at most this a side
FORMATS = {'.onnx': 'onnx', '.param': 'ncnn'}


def add_arguments(parser) -> None:
    parser.add_argument(
        '--weights', required=True, metavar='FILE|NAME', help='checkpoint (.pth or .safetensors) or registered name'
    )
    parser.add_argument(
        '-o', '--output', required=True, type=path_text, help='the .onnx file, or ncnn .param file (.bin beside it)'
    )
    parser.add_argument('--format', choices=('onnx', 'ncnn'), default=None, help='default: from -o, else onnx')
    parser.add_argument('--opset', type=int, default=None, help=f'ONNX opset (>= {MIN_OPSET}; {MIN_OPSET})')
    parser.add_argument('--fp16', action='store_true', help='float16 weights (ONNX: also input and output)')
    parser.add_argument('--verify', action='store_true', help='compare onnxruntime with PyTorch and report')
    parser.add_argument('--verify-image', nargs='+', default=[], metavar='IMAGE', help='real images for --verify')


def run(args) -> int:
    from alkdsr.inference.image import load_upscaler

    output = Path(args.output)
    fmt = args.format or FORMATS.get(output.suffix.lower(), 'onnx')
    suffix = next(s for s, f in FORMATS.items() if f == fmt)
    if output.suffix.lower() != suffix:
        beside = ' (NAME.bin is written beside it)' if fmt == 'ncnn' else ''
        raise AlkdsrError(f'-o {output}: the output file name must end in {suffix} for {fmt}{beside}')
    if fmt == 'ncnn' and args.opset is not None:
        raise AlkdsrError(f'--opset {args.opset}: an ONNX option; ncnn files have no opset')
    outputs = {'-o': output, '-o (its .bin)': output.with_suffix('.bin') if fmt == 'ncnn' else None}
    for option, path in outputs.items():
        check_output_file(path, option)
    refuse_outputs_that_are_inputs(
        outputs, {'--weights': args.weights, '--verify-image': args.verify_image if args.verify else None}
    )
    verify = ' --verify' if args.verify else ''
    if fmt == 'ncnn':  # every package the command needs, before any work
        require(f'export --format ncnn{verify}', 'pnnx', *(['ncnn'] if args.verify else []))
    else:
        require(f'export to ONNX{verify}', 'onnx', *(['onnxruntime'] if args.verify else []))
    model = load_upscaler(args.weights, 'cpu')
    real = _real_inputs(args.verify_image, whole=fmt == 'ncnn') if args.verify else []
    if fmt == 'ncnn':
        return _export_ncnn(model, output, args.fp16, args.verify, real)
    opset = MIN_OPSET if args.opset is None else args.opset
    return _export_onnx(model, output, opset, args.fp16, args.verify, real)


def _export_onnx(model, output: Path, opset: int, fp16: bool, verify: bool, real: list) -> int:
    from alkdsr.inference.onnx_util import FP16_TOLERANCE, FP32_TOLERANCE, export_onnx, max_abs_diff, onnx_session

    export_onnx(model, output, opset=opset, fp16=fp16)
    precision = 'float16' if fp16 else 'float32'
    preset = model.config.get('preset') or 'custom'
    size_mb = output.stat().st_size / 2**20
    print(f'wrote {output} (ALKDNet {preset} x{model.upscale}, opset {opset}, {precision}, {size_mb:.1f} MB)')
    if not verify:
        return 0
    tolerance = FP16_TOLERANCE if fp16 else FP32_TOLERANCE
    worst, session = 0.0, onnx_session(output)
    for name, lr in _random_inputs() + real:
        diff = max_abs_diff(session, model, lr)
        worst = max(worst, diff) if math.isfinite(diff) else math.inf  # NaN compares as neither more nor less
        print(f'verify {name} {"x".join(map(str, lr.shape))}: max |onnx - torch| = {diff:.3g}')
    verdict = 'passed' if worst <= tolerance else 'FAILED'
    print(f'verify: {verdict}, max |diff| {worst:.3g} (tolerance {tolerance:g})')
    return 0 if worst <= tolerance else 1


def _export_ncnn(model, output: Path, fp16: bool, verify: bool, real: list) -> int:
    import torch

    from alkdsr.inference.ncnn_util import FP16_MIN_PSNR, NcnnUpscaler, export_ncnn
    from alkdsr.inference.onnx_util import FP32_TOLERANCE

    param, bin_path = export_ncnn(model, output, fp16=fp16)
    precision = 'float16' if fp16 else 'float32'
    preset = model.config.get('preset') or 'custom'
    size_mb = bin_path.stat().st_size / 2**20
    print(f'wrote {param} and {bin_path.name} (ALKDNet {preset} x{model.upscale}, ncnn, {precision} weights, '
          f'{size_mb:.2f} MB)')  # fmt: skip
    if not verify:
        return 0
    runner = NcnnUpscaler(param, model.upscale, model.min_size)
    worst, lowest_psnr = 0.0, math.inf
    for name, lr in _random_inputs() + real:
        got = runner(lr)
        with torch.no_grad():
            expected = model(torch.from_numpy(lr)).numpy()
        diff = float(abs(got - expected).max()) if got.shape == expected.shape else math.inf
        worst = max(worst, diff) if math.isfinite(diff) else math.inf
        psnr = _psnr(got, expected) if got.shape == expected.shape and math.isfinite(diff) else -math.inf
        lowest_psnr = min(lowest_psnr, psnr)
        print(f'verify {name} {"x".join(map(str, lr.shape))}: max |ncnn - torch| = {diff:.3g}, PSNR {psnr:.2f} dB')
    if fp16:  # float16 weights move every output a little: judged by how far the image moves
        passed = lowest_psnr >= FP16_MIN_PSNR
        criterion = f'lowest PSNR {lowest_psnr:.2f} dB against PyTorch float32 (at least {FP16_MIN_PSNR:g} dB)'
        print(f'verify: {"passed" if passed else "FAILED"}, {criterion}, max |diff| {worst:.3g}')
    else:
        passed = worst <= FP32_TOLERANCE
        print(f'verify: {"passed" if passed else "FAILED"}, max |diff| {worst:.3g} (tolerance {FP32_TOLERANCE:g}), '
              f'lowest PSNR {lowest_psnr:.2f} dB')  # fmt: skip
    return 0 if passed else 1


def _psnr(got: np.ndarray, expected: np.ndarray) -> float:
    """PSNR (dB) of two outputs clamped to [0, 1], as they become images."""
    import numpy as np

    mse = float(np.mean((np.clip(got, 0, 1) - np.clip(expected, 0, 1)) ** 2, dtype=np.float64))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _random_inputs() -> list[tuple[str, np.ndarray]]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [('random', rng.random((n, 3, h, w), dtype=np.float32)) for n, h, w in RANDOM_SIZES]


def _real_inputs(paths: list[str], whole: bool = False) -> list[tuple[str, np.ndarray]]:
    """Centre crops (two sizes) of the given images, else of scikit-image's bundled photographs; with
    ``whole``, each image as it is, or its centre crop of ``NCNN_WHOLE_SIDE`` where it is larger."""
    import numpy as np

    from alkdsr.files.images import read_image
    from alkdsr.inference.image import colour_tensor

    if paths:
        images = [(Path(p).name, colour_tensor(read_image(p).pixels).numpy()) for p in paths]
    else:
        if not installed('skimage'):
            print('verify: no --verify-image and no scikit-image: random inputs only (pip install scikit-image)')
            return []
        from skimage import data

        images = [
            (name, getattr(data, name)().transpose(2, 0, 1).astype(np.float32) / 255)
            for name in ('astronaut', 'coffee')
        ]
    crops = []
    for name, chw in images:
        for h, w in [(NCNN_WHOLE_SIDE, NCNN_WHOLE_SIDE)] if whole else REAL_CROPS:
            top, left = max(0, (chw.shape[1] - h) // 2), max(0, (chw.shape[2] - w) // 2)
            crops.append((name, np.ascontiguousarray(chw[None, :, top : top + h, left : left + w])))
    return crops
