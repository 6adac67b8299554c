"""Upscale images with an ALKDNet/BSRN checkpoint.

INPUT is any mix of image files and folders (searched recursively; --glob filters the
folders' files by their path relative to the folder). OUTPUT is a folder, where each result
keeps its relative path and name, or, for a single input image, a file name.

Results keep the input's format, bit depth (8/16), gray/colour and alpha, unless --ext names
another format. Gray images go through the RGB network as three equal channels and come back
as gray; alpha is upscaled by bicubic interpolation. Existing outputs are skipped unless
--overwrite. Unreadable images are reported (one line each) and skipped; the exit status is
1 if any image failed. Outputs are written atomically: never a partial file.

Images of more than --tile x --tile LR pixels are processed in tiles of about --tile on a side (default
256 on the CPU, 512 on CUDA; 0 = never), each with --tile-pad pixels of context and no more pixels than a
--tile x --tile one (a short wide image in a few long tiles of its whole height); --tile-mode seamless (the
default) gives each tile the whole image's CCA statistics and ESA grid, so tiles do not show,
at the cost of a second pass.

On the CPU, ALKDNet runs images (or tiles) of at least 256x256 LR pixels with its steps between
convolutions fused into compiled kernels (--backend auto, the default: faster, the float output within
about 1e-5 of PyTorch's, so an 8-bit pixel may differ by one level; compiled once per machine, a few
seconds, and cached under $ALKDSR_HOME/numba), and smaller ones with PyTorch, as loading the kernels
would cost more than they save. --backend torch runs the plain PyTorch network; --backend
onnxruntime (the CPU only) runs whole images or fast tiles (--tile-mode fast, its default).

The network is --weights: a checkpoint file, or a registered name (`alkdsr weights list`),
downloaded and verified once, then read from the cache. Without --weights, alkdnet-x{--scale}:
the authors' ALKDNet weights at x4, or at --scale 2 or 3.

Examples:
  alkdsr upscale -i photo.png -o out/                    # ALKDNet x4 (alkdnet-x4)
  alkdsr upscale -i photos/ -o photos_x2/ --scale 2      # ALKDNet x2 (alkdnet-x2)
  alkdsr upscale -i photos/ -o photos_x4/ --weights net_g_ALKDN_x4.pth --tile 256
"""

from __future__ import annotations

import sys
import time

from alkdsr.cli._options import load_checked, path_text, positive_int, weights_or_default
from alkdsr.errors import AlkdsrError
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs
from alkdsr.inference import BACKENDS, TILE_MODES
from alkdsr.utils.devices import parse_device, resolve_device
from alkdsr.utils.packages import require

HELP = 'upscale images (files or folders); ALKDNet x4 unless --weights/--scale say otherwise'
DEFAULT_TILE = {'cpu': 256, 'cuda': 512}  # LR pixels; peak CPU memory about 3 GB at 256 (docs/inference.md)


def add_arguments(parser) -> None:
    parser.add_argument(
        '-i', '--input', nargs='+', required=True, type=path_text, metavar='INPUT', help='image files and/or folders'
    )
    parser.add_argument(
        '-o', '--output', required=True, type=path_text, help='output folder, or output file for a single image'
    )
    parser.add_argument(
        '--weights',
        metavar='FILE|NAME',
        help='checkpoint (.pth or .safetensors) or registered name (alkdsr weights list); architecture, variant '
        'and scale are read from it (default: alkdnet-x{--scale})',
    )
    parser.add_argument(
        '--scale',
        type=positive_int,
        metavar='S',
        help='upscaling factor: picks alkdnet-xS without --weights (4), checks the weights with it',
    )
    parser.add_argument('--glob', metavar='PATTERN', help="only folder files matching PATTERN, e.g. '*.png'")
    parser.add_argument(
        '--ext', help='output format by suffix (png, jpg, webp, bmp, tif, ppm, pgm); default: as the input'
    )
    parser.add_argument('--overwrite', action='store_true', help='replace existing outputs (default: skip them)')
    parser.add_argument(
        '--tile', type=int, help='tile size in LR pixels; 0 = whole images (256 on the CPU, 512 on CUDA)'
    )
    parser.add_argument('--tile-pad', type=int, default=32, help='context pixels around each tile (32)')
    parser.add_argument(
        '--tile-mode', choices=TILE_MODES, help='tiling scheme (seamless; fast with --backend onnxruntime)'
    )
    parser.add_argument('--device', type=parse_device, default='auto', help='auto, cpu, cuda or cuda:N (auto)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--half', action='store_true', help='float16 autocast (CUDA only)')
    precision.add_argument('--bf16', action='store_true', help='bfloat16 autocast (CUDA only)')
    parser.add_argument('--batch', type=int, default=1, help='images of equal size run together, up to N (1)')
    parser.add_argument('--quality', type=int, default=95, help='JPEG/WebP quality of outputs (95)')
    parser.add_argument(
        '--backend',
        choices=BACKENDS,
        default='auto',
        help='auto (default: on the CPU, fused CPU kernels for ALKDNet inputs of 256x256 LR pixels or more, else '
        'torch), torch (PyTorch; on CUDA with the fused ALKConv kernel), or onnxruntime on the CPU (--device auto '
        'means the CPU, tiles are fast tiles)',
    )


def _check_arguments(args) -> None:
    if (args.tile or 0) < 0 or args.tile_pad < 0:
        raise AlkdsrError(f'--tile and --tile-pad must be >= 0 (got {args.tile}, {args.tile_pad})')
    if args.batch < 1:
        raise AlkdsrError(f'--batch must be >= 1 (got {args.batch})')
    if not 1 <= args.quality <= 100:
        raise AlkdsrError(f'--quality must be between 1 and 100 (got {args.quality})')
    if args.backend == 'onnxruntime':  # the network is exported to ONNX, then run by onnxruntime
        require('--backend onnxruntime', 'onnx', 'onnxruntime')


def _backend(model, args, device, tile, jobs):
    """The network to run (``alkdsr.inference.fast.runner``), after the checks of what --backend allows."""
    from alkdsr.inference.fast import FUSED_CPU_MIN_PIXELS, runner
    from alkdsr.inference.jobs import planned_pixels

    if args.backend != 'onnxruntime':
        work = planned_pixels(jobs, args.overwrite, enough=FUSED_CPU_MIN_PIXELS) if device.type == 'cpu' else None
        return runner(model, args.backend, work=work)
    if device.type != 'cpu':
        raise AlkdsrError('--backend onnxruntime runs on the CPU: add --device cpu')
    if tile and args.tile_mode == 'seamless':
        raise AlkdsrError('--backend onnxruntime runs whole images or fast tiles: add --tile 0 or --tile-mode fast')
    return runner(model, 'onnxruntime')


def run(args) -> int:
    from tqdm import tqdm

    from alkdsr.inference.image import autocast_dtype, require_rgb
    from alkdsr.inference.jobs import UpscaleRunner, find_jobs

    _check_arguments(args)
    jobs = find_jobs(args.input, args.output, glob=args.glob, ext=args.ext)
    refuse_outputs_that_are_inputs({'-o': [job.target for job in jobs]}, {'--weights': args.weights})
    onnx = args.backend == 'onnxruntime'
    device = resolve_device('cpu' if onnx and args.device == 'auto' else args.device)
    args.tile_mode = args.tile_mode or ('fast' if onnx else 'seamless')
    dtype = autocast_dtype(device, half=args.half, bf16=args.bf16)
    weights = weights_or_default(args.weights, scale=args.scale)
    model = require_rgb(load_checked(weights, scale=args.scale, device=device), weights)
    tile = DEFAULT_TILE[device.type] if args.tile is None else args.tile
    model = _backend(model, args, device, tile, jobs)
    runner = UpscaleRunner(
        model,
        tile=tile or None,
        tile_pad=args.tile_pad,
        tile_mode=args.tile_mode,
        dtype=dtype,
        batch=args.batch,
        overwrite=args.overwrite,
        quality=args.quality,
    )
    start = time.perf_counter()
    summary = runner.run(jobs, report=lambda line: tqdm.write(f'alkdsr upscale: error: {line}', file=sys.stderr))
    seconds = time.perf_counter() - start
    print(
        f'alkdsr upscale: {summary.done} upscaled, {summary.skipped} skipped (output exists), '
        f'{summary.failed} failed, in {seconds:.1f} s'
    )
    return 1 if summary.failed else 0
