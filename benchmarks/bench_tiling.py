"""How far tiled inference moves the benchmark PSNR, per tile size, context and tile mode.

    python benchmarks/bench_tiling.py --weights W.pth --data-root DIR --sets Set14 \\
        --tiles 64 128 --pads 16 32 [--modes fast seamless] [--device cuda] [--json out.json]

For every (tile, tile_pad, tile_mode) it prints the set's mean Y-PSNR difference between
``alkdsr.inference.tiling.upscale_tensor`` tiled and untiled (as ``alkdsr benchmark`` measures it) and
the largest per-image difference. Plain ('fast') tiles change the result because CCA squeezes
each channel by its mean and standard deviation over the whole input (a tile sees its own) and
ESA's coarse grid moves with the tile; 'seamless' tiles get both from the whole image.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import alkdsr
from alkdsr.metrics.evaluation import find_set, load_pair, super_resolve, y_psnr_ssim


def set_psnr_diffs(net, pairs, names, device, scale, untiled, **tiling) -> dict[str, float]:
    """Per-image PSNR of tiled inference minus the untiled one."""
    return {
        name: y_psnr_ssim(super_resolve(net, lr, device, **tiling), hr, scale)[0] - untiled[name]
        for name, (lr, hr) in zip(names, pairs)
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--weights', required=True)
    p.add_argument('--data-root', required=True)
    p.add_argument('--sets', nargs='+', default=['Set14'])
    p.add_argument('--names', nargs='+', help='only these images')
    p.add_argument('--tiles', nargs='+', type=int, default=[64, 128])
    p.add_argument('--pads', nargs='+', type=int, default=[16, 32])
    p.add_argument('--modes', nargs='+', default=['fast', 'seamless'])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--json')
    args = p.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    net = alkdsr.load_model(args.weights, args.device)
    scale = net.upscale
    rows = []
    for set_name in args.sets:
        images = [im for im in find_set(args.data_root, set_name, scale).images if im.name in (args.names or [im.name])]
        names = [im.name for im in images]
        pairs = [load_pair(im, scale) for im in images]
        untiled = {
            n: y_psnr_ssim(super_resolve(net, lr, args.device), hr, scale)[0] for n, (lr, hr) in zip(names, pairs)
        }
        print(
            f'{set_name} x{scale}: untiled {np.mean(list(untiled.values())):.4f} dB, {len(images)} images', flush=True
        )
        for tile in args.tiles:
            for pad in args.pads:
                for mode in args.modes:
                    start = time.perf_counter()
                    tiling = dict(tile=tile, tile_pad=pad, tile_mode=mode)
                    diffs = set_psnr_diffs(net, pairs, names, args.device, scale, untiled, **tiling)
                    worst = max(diffs, key=lambda k: abs(diffs[k]))
                    row = dict(
                        set=set_name,
                        scale=scale,
                        **tiling,
                        mean_diff_db=round(float(np.mean(list(diffs.values()))), 5),
                        worst_image=worst,
                        worst_diff_db=round(diffs[worst], 5),
                        seconds=round(time.perf_counter() - start, 2),
                        per_image_diff_db={k: round(v, 5) for k, v in diffs.items()},
                    )
                    rows.append(row)
                    print(
                        f'  tile {tile:>4} pad {pad:>3} {mode:<9} mean {row["mean_diff_db"]:+.5f} dB  '
                        f'worst {worst} {diffs[worst]:+.5f} dB  ({row["seconds"]} s)',
                        flush=True,
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
