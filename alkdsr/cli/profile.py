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
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from alkdsr.cli._options import (
    arch_help,
    build_network,
    check_output_file,
    display_name,
    load_checked,
    non_negative_int,
    positive_int,
    write_json,
)
from alkdsr.errors import AlkdsrError
from alkdsr.inference import TILE_MODES
from alkdsr.utils.devices import device_name, parse_device, resolve_device
from alkdsr.utils.output_guard import refuse_outputs_that_are_inputs

if TYPE_CHECKING:  # torch loads in run(): --help needs none
    import torch

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
    parser.add_argument('--tile', type=positive_int, metavar='N', help='run the LR input in N x N tiles (as benchmark)')
    parser.add_argument(
        '--tile-pad', type=non_negative_int, default=32, metavar='N', help='context pixels around tiles (32)'
    )
    parser.add_argument('--tile-mode', choices=TILE_MODES, default='seamless', help='as in benchmark (seamless)')
    parser.add_argument('--runs', type=positive_int, default=20, metavar='N', help='timed runs (20)')
    parser.add_argument('--warmup', type=non_negative_int, default=5, metavar='N', help='untimed runs first (5)')
    parser.add_argument('--json', metavar='PATH', help='write the results as JSON')


@dataclass
class Latency:
    median_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float


def run(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from alkdsr.inference.image import autocast_dtype
    from alkdsr.inference.tiling import upscale_tensor
    from alkdsr.metrics.complexity import count_multi_adds, count_params, lr_size_for_output

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


def measure(forward, device: torch.device, runs: int, warmup: int) -> tuple[Latency, dict]:
    """Latency of ``forward()`` over ``runs`` timed calls after ``warmup`` untimed ones, and their peak memory."""
    import torch

    for _ in range(warmup):
        forward()
    if device.type == 'cuda':
        times = _time_cuda(forward, device, runs)
        memory = {'peak_memory_mb': round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
        memory['memory_kind'] = 'torch.cuda.max_memory_allocated'
    else:
        rss_before = _current_rss_mb()
        times = _time_cpu(forward, runs)
        peak = max(_peak_rss_mb(), _current_rss_mb() or 0.0)  # the kernel updates the high-water mark lazily
        memory = {
            'peak_memory_mb': round(peak, 1),
            'memory_kind': 'peak RSS of the process (getrusage)',
            'rss_before_mb': None if rss_before is None else round(rss_before, 1),
        }
    return Latency(statistics.median(times), min(times), max(times), statistics.fmean(times)), memory


def _time_cuda(forward, device: torch.device, runs: int) -> list[float]:
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        forward()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def _time_cpu(forward, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == 'darwin' else peak / 2**10


def _current_rss_mb() -> float | None:
    """Resident set size now (Linux /proc), None where unavailable."""
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return None


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
