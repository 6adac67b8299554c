"""PSNR/SSIM of a checkpoint on the SR benchmark sets, next to the paper's Table 4.

  alkdsr benchmark --data-root datasets/benchmark --sets Set5 Set14      # alkdnet-x4, the official weights
  alkdsr benchmark --weights net_g_ALKDN_x4.pth --data-root datasets/benchmark --sets Set5 Set14

Metrics are BasicSR's: Y channel, crop border = scale, uint8 images (see docs/benchmarks.md).
Each set is DATA_ROOT/SET in the EDSR layout (HR/ and LR_bicubic/X{s}/<name>x{s}.png) or HR
images only (SET/HR/ or SET/ itself): then LR images are made from the HR ones with MATLAB's
bicubic imresize. Architecture and scale are recognised from the checkpoint; a registered name
(alkdnet-x4, bsrn-x2, ...: `alkdsr weights list`) is downloaded and verified once, then cached.

Without --sets, those of Table 4's five sets (Set5 Set14 BSD100 Urban100 Manga109; BSD100 also as B100,
its folder in EDSR's archive) that DATA_ROOT holds are evaluated, and the others are named on one line
after the table; a DATA_ROOT holding none of them is an error. A set named with --sets that is not
there is an error, before the weights are loaded.

Exit status: 0 when every image of the sets evaluated was evaluated (default sets that DATA_ROOT does
not hold are named, not failures), 2 when an image or option could not be used (each problem is
reported on one line; the other images are still evaluated).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from alkdsr.cli._options import (
    arch_help,
    display_name,
    load_checked,
    non_negative_int,
    paper_network,
    path_text,
    positive_int,
    weights_or_default,
    write_json,
)
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import check_output_file
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs
from alkdsr.inference import TILE_MODES
from alkdsr.metrics.paper import SET_ALIASES, TABLE4_SETS, paper_result
from alkdsr.utils.devices import device_name, parse_device, resolve_device

if TYPE_CHECKING:  # torch and BasicSR load in run(): --help needs neither
    from alkdsr.metrics.evaluation import SetResult

HELP = "PSNR/SSIM on benchmark sets (Set5, Set14, ...) compared with the paper's Table 4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--weights',
        metavar='FILE|NAME',
        help='checkpoint (.pth or .safetensors) or registered name (alkdsr weights list); '
        'default: the registered weights of --arch (alkdnet) at --scale (4), i.e. alkdnet-x4',
    )
    parser.add_argument('--arch', metavar='NAME', help=f'check/complete the recognised architecture: {arch_help()}')
    parser.add_argument('--scale', type=positive_int, metavar='S', help='check that the weights are for x S')
    parser.add_argument(
        '--data-root', required=True, type=path_text, metavar='DIR', help='folder holding one folder per set'
    )
    parser.add_argument(
        '--sets',
        nargs='+',
        metavar='SET',
        help=f'sets to evaluate, each one an error if missing (default: those of {" ".join(TABLE4_SETS)} that '
        'DATA_ROOT holds; the others are named, exit status 0)',
    )
    parser.add_argument(
        '--hr-only', action='store_true', help='ignore LR_bicubic/ and make LR images from HR (MATLAB bicubic)'
    )
    parser.add_argument('--device', type=parse_device, default='auto', help='auto (default), cpu, cuda or cuda:N')
    parser.add_argument('--half', action='store_true', help='float16 autocast (CUDA only)')
    parser.add_argument(
        '--tile', type=positive_int, metavar='N', help='run LR images in tiles of about N x N (default: whole)'
    )
    parser.add_argument(
        '--tile-pad', type=non_negative_int, default=32, metavar='N', help='context pixels around tiles (32)'
    )
    parser.add_argument(
        '--tile-mode',
        choices=TILE_MODES,
        default='seamless',
        help="seamless (default): tiles use the whole image's CCA statistics and ESA grid (two passes); "
        'fast: plain tiles, one pass',
    )
    parser.add_argument(
        '--save-images', type=path_text, metavar='DIR', help='write SR images to DIR/<set>/x<s>/<name>.png'
    )
    parser.add_argument('--json', type=path_text, metavar='PATH', help='write all results as JSON')


def run(args: argparse.Namespace) -> int:
    import torch

    from alkdsr.inference.fast import runner
    from alkdsr.inference.image import autocast_dtype, require_rgb
    from alkdsr.metrics.complexity import count_params, paper_multi_adds
    from alkdsr.metrics.evaluation import find_set

    names, absent = sets_to_run(args.data_root, args.sets)  # before the weights: they may be downloaded
    check_output_file(args.json, '--json')
    device = resolve_device(args.device)
    dtype = autocast_dtype(device, half=args.half)
    if device.type == 'cuda':  # float32 means float32: no TF32 convolutions or matmuls
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    args.weights = weights_or_default(args.weights, args.arch, args.scale)
    net = require_rgb(load_checked(args.weights, args.arch, args.scale, device), args.weights)
    scale = net.upscale
    sets = [find_set(args.data_root, name, scale, make_lr=args.hr_only) for name in names]
    refuse_outputs_that_are_inputs(
        {'--json': args.json, '--save-images': saved_images(args.save_images, sets)},
        {'--weights': args.weights, '--data-root': [p for s in sets for i in s.images for p in (i.hr_path, i.lr_path)]},
    )
    info = {
        'arch': display_name(net),
        'scale': scale,
        'weights': str(args.weights),
        'params': count_params(net),
        'multi_adds_g': paper_multi_adds(net).total_g,
        'device': device_name(device),
    }
    paper_method = paper_network(net)  # Table 4 compares only the paper's own configuration
    results = _evaluate(runner(net), sets, device, dtype, args)
    print(format_report(info, results, paper_method))
    failures = [f for r in results for f in r.failures]
    for failure in failures:
        print(f'alkdsr benchmark: error: {failure}', file=sys.stderr)
    if absent:
        print(f'alkdsr benchmark: not in {args.data_root}, not evaluated: {", ".join(absent)} '
              f'(evaluated: {", ".join(names)}; --sets names the sets to run)', file=sys.stderr)  # fmt: skip
    if args.json:
        write_json(args.json, results_json(info, results, args, paper_method, absent))
    return 2 if failures else 0


def sets_to_run(data_root, sets: list[str] | None) -> tuple[list[str], list[str]]:
    """(the sets to evaluate, the default sets ``data_root`` lacks). Named sets must all be there; of the
    default ones (Table 4's five) at least one."""
    from alkdsr.metrics.evaluation import set_folder, set_folders

    if sets is not None:
        names = list(dict.fromkeys(sets))
        for name in names:
            set_folder(data_root, name)
        return names, []
    root = set_folder(data_root)
    present, absent = [], []
    for name in TABLE4_SETS:
        spellings = [name, *(alias for alias, target in SET_ALIASES.items() if target == name)]  # B100: EDSR's
        folders = [folder for folder in spellings if (root / folder).is_dir()]
        if folders:
            present.append(folders[0])
        else:
            absent.append(name)
    if not present:
        found = ', '.join(set_folders(root)) or 'none'
        raise AlkdsrError(f'{root}: holds none of the sets {", ".join(TABLE4_SETS)} (found: {found}); '
                          'name the sets to evaluate with --sets')  # fmt: skip
    return present, absent


def saved_images(save_dir, sets) -> list[Path]:
    """Where ``--save-images`` writes each image."""
    from alkdsr.metrics.evaluation import saved_image_path

    if not save_dir:
        return []
    return [saved_image_path(Path(save_dir), bench, image) for bench in sets for image in bench.images]


def _evaluate(net, sets, device, dtype, args) -> list[SetResult]:
    from tqdm import tqdm

    from alkdsr.metrics.evaluation import evaluate_set, total_images

    results = []
    save_dir = Path(args.save_images) if args.save_images else None
    with tqdm(total=total_images(sets), unit='img', file=sys.stderr, dynamic_ncols=True, disable=None) as bar:
        for bench in sets:
            bar.set_description(f'{bench.name} x{bench.scale}')
            results.append(
                evaluate_set(
                    net,
                    bench,
                    device,
                    tile=args.tile,
                    tile_pad=args.tile_pad,
                    dtype=dtype,
                    tile_mode=args.tile_mode,
                    save_dir=save_dir,
                    on_image=lambda _: bar.update(),
                )
            )
    return results


def format_report(info: dict, results: list[SetResult], paper_method: str | None) -> str:
    """The run's header line and one table row per set, with Table 4's value and the difference."""
    lines = [
        f'{info["arch"]} x{info["scale"]}  {info["params"]:,} params  {info["multi_adds_g"]:.2f} G Multi-Adds '
        f'(1280x720 output)  on {info["device"]}',
        f'{"set":<10} {"n":>4} {"LR":<6} {"PSNR":>8} {"SSIM":>7}   {"paper":>15}   {"dPSNR":>7} {"dSSIM":>7}',
    ]
    for r in results:
        paper = paper_result(paper_method, r.scale, r.name)
        mode = 'files' if r.mode == 'lr_files' else 'made'
        row = f'{r.name:<10} {r.n:>4} {mode:<6} {r.psnr:>8.4f} {r.ssim:>7.4f}'
        if paper:
            row += f'   {paper[0]:>6.2f} / {paper[1]:.4f}   {r.psnr - paper[0]:>+7.3f} {r.ssim - paper[1]:>+7.4f}'
        else:
            row += f'   {"-":>15}'
        lines.append(row)
    return '\n'.join(lines)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def results_json(
    info: dict, results: list[SetResult], args: argparse.Namespace, paper_method: str | None, absent=()
) -> dict:
    sets = {}
    for r in results:
        entry = {
            'psnr': _finite(r.psnr),
            'ssim': _finite(r.ssim),
            'n': r.n,
            'per_image': {name: [_finite(p), _finite(s)] for name, (p, s) in r.per_image.items()},
            'lr': r.mode,
        }
        paper = paper_result(paper_method, r.scale, r.name)
        if paper:
            entry['paper'] = {'psnr': paper[0], 'ssim': paper[1]}
        if r.failures:
            entry['failures'] = r.failures
        sets[r.name] = entry
    tiling = (
        {'tile': args.tile, 'tile_pad': args.tile_pad, 'tile_mode': args.tile_mode} if args.tile else {'tile': None}
    )
    options = {'half': args.half, **tiling}
    not_found = {'sets_not_found': list(absent)} if absent else {}  # default sets the data root does not hold
    return {**info, 'multi_adds_g': round(info['multi_adds_g'], 4), **options, 'sets': sets, **not_found}
