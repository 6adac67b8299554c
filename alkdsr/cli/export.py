"""Export a checkpoint to ONNX (dynamic batch, height and width; opset 17 or later).

The graph takes 'lr' (N x 3 x H x W, RGB in [0, 1]) and returns 'sr' (N x 3 x sH x sW,
unclamped), for any H, W >= 1. --fp16 stores float16 weights and float16 input/output.

--verify runs the exported file with onnxruntime (CPU) and the checkpoint with PyTorch on
random inputs and on crops of real images (--verify-image, else scikit-image's bundled
photographs when scikit-image is installed), at several sizes, and prints the largest
absolute difference; the exit status is 1 if it exceeds 1e-4 (float32) or 1e-2 (--fp16).

Example:
  alkdsr export --weights net_g_ALKDN_x4.pth -o alkdnet_x4.onnx --verify
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import check_output_file
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs
from alkdsr.inference import MIN_OPSET

if TYPE_CHECKING:  # NumPy and torch load in run(): --help needs neither
    import numpy as np

HELP = 'export a checkpoint to ONNX, optionally verified against PyTorch'

RANDOM_SIZES = ((1, 32, 40), (2, 45, 27), (1, 7, 5))  # (batch, height, width); 7x5 is padded inside
REAL_CROPS = ((48, 64), (37, 53))  # (height, width) taken from the centre of each real image


def add_arguments(parser) -> None:
    parser.add_argument(
        '--weights', required=True, metavar='FILE|NAME', help='checkpoint (.pth or .safetensors) or registered name'
    )
    parser.add_argument('-o', '--output', required=True, help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=MIN_OPSET, help=f'ONNX opset (>= {MIN_OPSET}; {MIN_OPSET})')
    parser.add_argument('--fp16', action='store_true', help='float16 weights, input and output')
    parser.add_argument('--verify', action='store_true', help='compare onnxruntime with PyTorch and report')
    parser.add_argument('--verify-image', nargs='+', default=[], metavar='IMAGE', help='real images for --verify')


def run(args) -> int:
    from alkdsr.inference.image import load_upscaler
    from alkdsr.inference.onnx_util import FP16_TOLERANCE, FP32_TOLERANCE, export_onnx, max_abs_diff, onnx_session

    output = Path(args.output)
    if output.suffix.lower() != '.onnx':
        raise AlkdsrError(f'-o {output}: the output file name must end in .onnx')
    check_output_file(output, '-o')
    refuse_outputs_that_are_inputs(
        {'-o': output}, {'--weights': args.weights, '--verify-image': args.verify_image if args.verify else None}
    )
    model = load_upscaler(args.weights, 'cpu')
    real = _real_inputs(args.verify_image) if args.verify else []
    if args.verify:
        _require_onnxruntime()
    export_onnx(model, output, opset=args.opset, fp16=args.fp16)
    precision = 'float16' if args.fp16 else 'float32'
    preset = model.config.get('preset') or 'custom'
    size_mb = output.stat().st_size / 2**20
    print(f'wrote {output} (ALKDNet {preset} x{model.upscale}, opset {args.opset}, {precision}, {size_mb:.1f} MB)')
    if not args.verify:
        return 0
    tolerance = FP16_TOLERANCE if args.fp16 else FP32_TOLERANCE
    worst, session = 0.0, onnx_session(output)
    for name, lr in _random_inputs() + real:
        diff = max_abs_diff(session, model, lr)
        worst = max(worst, diff) if math.isfinite(diff) else math.inf  # NaN compares as neither more nor less
        print(f'verify {name} {"x".join(map(str, lr.shape))}: max |onnx - torch| = {diff:.3g}')
    verdict = 'passed' if worst <= tolerance else 'FAILED'
    print(f'verify: {verdict}, max |diff| {worst:.3g} (tolerance {tolerance:g})')
    return 0 if worst <= tolerance else 1


def _require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise AlkdsrError('--verify needs onnxruntime: pip install onnxruntime') from None


def _random_inputs() -> list[tuple[str, np.ndarray]]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [('random', rng.random((n, 3, h, w), dtype=np.float32)) for n, h, w in RANDOM_SIZES]


def _real_inputs(paths: list[str]) -> list[tuple[str, np.ndarray]]:
    """Centre crops (two sizes) of the given images, else of scikit-image's bundled photographs."""
    import numpy as np

    from alkdsr.files.images import read_image
    from alkdsr.inference.image import colour_tensor

    if paths:
        images = [(Path(p).name, colour_tensor(read_image(p).pixels).numpy()) for p in paths]
    else:
        try:
            from skimage import data
        except ImportError:
            print('verify: no --verify-image and no scikit-image: random inputs only')
            return []
        images = [
            (name, getattr(data, name)().transpose(2, 0, 1).astype(np.float32) / 255)
            for name in ('astronaut', 'coffee')
        ]
    crops = []
    for name, chw in images:
        for h, w in REAL_CROPS:
            top, left = max(0, (chw.shape[1] - h) // 2), max(0, (chw.shape[2] - w) // 2)
            crops.append((name, np.ascontiguousarray(chw[None, :, top : top + h, left : left + w])))
    return crops
