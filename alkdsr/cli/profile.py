"""Parameters, Multi-Adds, latency and peak memory of a network on this machine.

  alkdsr profile --arch alkdnet --scale 4 --size 1280x720 --device cuda --half

--size is the SR output (the paper's 1280x720 by default); the LR input is ceil(W/s) x ceil(H/s).
Latency is the median (with min and max) of --runs forward passes after --warmup untimed ones,
timed with CUDA events on a GPU and perf_counter on the CPU. Peak memory is
torch.cuda.max_memory_allocated during the timed runs on a GPU, and the process's peak resident
set size (getrusage) on the CPU. Weights do not change the cost, so --weights is optional.
"""

from __future__ import annotations

import argparse
import functools
import re
from dataclasses import asdict
from typing import TYPE_CHECKING

from alkdsr.cli._options import (
    arch_help,
    build_network,
    display_name,
    load_checked,
    non_negative_int,
    path_text,
    positive_int,
    write_json,
)
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import check_output_file
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs
from alkdsr.inference import TILE_MODES
from alkdsr.utils.devices import device_name, parse_device, resolve_device

if TYPE_CHECKING:  # torch loads in run(): --help needs none
    pass

HELP = 'params, Multi-Adds, latency and peak memory of a network'


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height)."""
    match = re.fullmatch(r'\s*(\d+)\s*[xX]\s*(\d+)\s*', text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ValueError(text)
    return int(match[1]), int(match[2])


parse_size.__name__ = 'size (WIDTHxHEIGHT)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--arch', metavar='NAME', help=f'{arch_help()} (default: from --weights, else alkdnet)')
    parser.add_argument('--scale', type=positive_int, metavar='S', help='scale (default: from --weights, else 4)')
    parser.add_argument('--weights', metavar='PATH', help='checkpoint to profile instead of a fresh network')
    parser.add_argument('--size', type=parse_size, default=(1280, 720), metavar='WxH', help='SR output size (1280x720)')
    parser.add_argument('--device', type=parse_device, default='auto', help='auto (default), cpu, cuda or cuda:N')
    parser.add_argument('--half', action='store_true', help='float16 autocast (CUDA only)')
    parser.add_argument(
        '--tile', type=positive_int, metavar='N', help='run the LR input in tiles of about N x N (as benchmark)'
    )
    parser.add_argument(
        '--tile-pad', type=non_negative_int, default=32, metavar='N', help='context pixels around tiles (32)'
    )
    parser.add_argument('--tile-mode', choices=TILE_MODES, default='seamless', help='as in benchmark (seamless)')
    parser.add_argument('--runs', type=positive_int, default=20, metavar='N', help='timed runs (20)')
    parser.add_argument('--warmup', type=non_negative_int, default=5, metavar='N', help='untimed runs first (5)')
    parser.add_argument('--json', type=path_text, metavar='PATH', help='write the results as JSON')


def run(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from alkdsr.inference.image import autocast_dtype
    from alkdsr.inference.tiling import upscale_tensor
    from alkdsr.metrics.complexity import count_multi_adds, count_params, lr_size_for_output
    from alkdsr.metrics.latency import measure

    check_output_file(args.json, '--json')
    refuse_outputs_that_are_inputs({'--json': args.json}, {'--weights': args.weights})
    device = resolve_device(args.device)
    dtype = autocast_dtype(device, half=args.half)
    if args.weights:
        net = load_checked(args.weights, args.arch, args.scale, device)
    else:
        net = build_network(args.arch, args.scale or 4).to(device)
    if args.size[0] * args.size[1] > Image.MAX_IMAGE_PIXELS:
        raise AlkdsrError(
            f'--size {args.size[0]}x{args.size[1]}: more than {Image.MAX_IMAGE_PIXELS:,} output pixels, the most '
            'alkdsr reads in an image (a larger one is refused as a decompression bomb)'
        )
    height, width = lr_size_for_output(net.upscale, args.size)
    multi_adds = count_multi_adds(net, (height, width))
    lr = torch.rand(1, net.config['num_in_ch'], height, width, device=device)
    forward = functools.partial(
        upscale_tensor, net, lr, tile=args.tile, tile_pad=args.tile_pad, dtype=dtype, tile_mode=args.tile_mode
    )
    try:
        latency, memory = measure(forward, lr.device, args.runs, args.warmup)
    except (torch.OutOfMemoryError, MemoryError):
        raise AlkdsrError(f'--size {args.size[0]}x{args.size[1]}: out of memory on {device}; use --tile') from None
    report = {
        'arch': display_name(net),
        'scale': net.upscale,
        'weights': args.weights,
        'params': count_params(net),
        'multi_adds_g': round(multi_adds.total_g, 4),
        'multi_adds': multi_adds.as_dict(),
        'output_size': list(args.size),
        'lr_size': [width, height],
        'device': str(device),
        'device_name': device_name(device),
        'dtype': 'float16' if dtype else 'float32',
        'tile': args.tile,
        'tile_mode': args.tile_mode if args.tile else None,
        'runs': args.runs,
        'warmup': args.warmup,
        'latency_ms': {k.removesuffix('_ms'): round(v, 4) for k, v in asdict(latency).items()},
        **memory,
        'torch': torch.__version__,
    }
    print(format_report(report))
    if args.json:
        write_json(args.json, report)
    return 0


def format_report(r: dict) -> str:
    lat = r['latency_ms']
    tiles = f', {r["tile_mode"]} tiles of {r["tile"]}' if r['tile'] else ''
    lines = [
        f'{r["arch"]} x{r["scale"]}' + (f'  ({r["weights"]})' if r['weights'] else ''),
        f'  params       {r["params"]:,}',
        f'  Multi-Adds   {r["multi_adds_g"]:.2f} G  (output {r["output_size"][0]}x{r["output_size"][1]}, '
        f'LR {r["lr_size"][0]}x{r["lr_size"][1]})',
        f'  device       {r["device_name"]} ({r["device"]}, {r["dtype"]}{tiles})',
        f'  latency      median {lat["median"]:.2f} ms  (min {lat["min"]:.2f}, max {lat["max"]:.2f}; '
        f'{r["runs"]} runs after {r["warmup"]} warm-up)',
        f'  peak memory  {r["peak_memory_mb"]:.1f} MiB  ({r["memory_kind"]})',
    ]
    return '\n'.join(lines)
