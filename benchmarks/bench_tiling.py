"""How far tiled inference moves the result, per tile size, context and tile mode.

    python benchmarks/bench_tiling.py --weights W.pth --data-root DIR --sets Set14 \\
        --tiles 64 128 --pads 16 32 [--modes fast seamless] [--device cuda] [--json out.json]
    python benchmarks/bench_tiling.py --weights W.pth --images ../shared/datasets/benchmark/Set14/HR/*.png \\
        --tiles 128 256 512 --pads 16 32 48
    python benchmarks/bench_tiling.py --weights W.pth --images .../Set14/HR/{ppt3,comic,baboon}.png \\
        --squash 40x3000 12x7000 5x8000 100x3000 --tiles 256 --pads 32 --modes seamless

With ``--data-root``, on the benchmark sets: for every (tile, tile_pad, tile_mode), the set's mean
Y-PSNR difference between ``alkdsr.inference.tiling.upscale_tensor`` tiled and untiled (as
``alkdsr benchmark`` measures it) and the largest per-image difference. With ``--images``, on large
inputs (each image is the LR input, so HR benchmark images give the 500-800 pixels where tiles of
128-512 matter): the PSNR of the tiled output against the untiled one and the largest difference
in grey levels (uint8), per image and the worst over the images. ``--squash HxW ...`` first resizes each
image to each of these sizes (bicubic): short wide strips, where tiles meet in many seams. TF32 is off so
that only tiling differs. Plain ('fast') tiles change the result because CCA squeezes
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
from alkdsr.files.images import read_image
from alkdsr.inference.image import load_upscaler, upscale_image
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
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument('--data-root', help='benchmark sets: the change of their PSNR')
    data.add_argument('--images', nargs='+', help='large images as LR inputs: tiled against untiled output')
    p.add_argument('--sets', nargs='+', default=['Set14'])
    p.add_argument('--names', nargs='+', help='only these images')
    p.add_argument('--squash', nargs='+', default=[], metavar='HxW', help='--images resized to these sizes first')
    p.add_argument('--tiles', nargs='+', type=int, default=[64, 128])
    p.add_argument('--pads', nargs='+', type=int, default=[16, 32])
    p.add_argument('--modes', nargs='+', default=['fast', 'seamless'])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--json')
    args = p.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = large_images(args) if args.images else benchmark_sets(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def benchmark_sets(args) -> list[dict]:
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
    return rows


def large_images(args) -> list[dict]:
    net = load_upscaler(args.weights, args.device)
    rows = []
    inputs = [(path, read_image(path).pixels) for path in args.images]
    if args.squash:
        sizes = [tuple(int(n) for n in size.split('x')) for size in args.squash]
        inputs = [(path, _resized(lr, h, w)) for path, lr in inputs for h, w in sizes]
    for path, lr in inputs:
        if lr.dtype != np.uint8 or lr.shape[2] != 3:
            continue
        whole = upscale_image(net, lr)
        for tile in args.tiles:
            if tile >= max(lr.shape[:2]):
                continue
            for pad in args.pads:
                for mode in args.modes:
                    start = time.perf_counter()
                    tiled = upscale_image(net, lr, tile=tile, tile_pad=pad, tile_mode=mode)
                    seconds = time.perf_counter() - start
                    mse = np.mean((tiled.astype(np.float64) - whole.astype(np.float64)) ** 2)
                    psnr = float('inf') if mse == 0 else float(10 * np.log10(255.0**2 / mse))
                    diff = int(np.abs(tiled.astype(int) - whole.astype(int)).max())
                    row = dict(image=Path(path).name, size=f'{lr.shape[0]}x{lr.shape[1]}', tile=tile, tile_pad=pad)
                    row.update(tile_mode=mode, psnr_db=psnr)
                    rows.append(dict(row, max_diff=diff, seconds=round(seconds, 2)))
                    size = row['size']
                    print(f'{Path(path).name:16s} {size} tile {tile:4d} pad {pad:3d} {mode:9s} {psnr:6.2f} dB  '
                          f'max|diff| {diff:3d}  {seconds:.2f} s', flush=True)  # fmt: skip
    print('\nworst over the images:\n| tile | pad | mode | lowest PSNR | largest max diff |\n|---|---|---|---|---|')
    for key in sorted({(r['tile'], r['tile_pad'], r['tile_mode']) for r in rows}):
        chosen = [r for r in rows if (r['tile'], r['tile_pad'], r['tile_mode']) == key]
        low, high = min(r['psnr_db'] for r in chosen), max(r['max_diff'] for r in chosen)
        print(f'| {key[0]} | {key[1]} | {key[2]} | {low:.2f} dB | {high} |')
    return rows


def _resized(pixels: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(pixels).resize((w, h), Image.BICUBIC))


if __name__ == '__main__':
    sys.exit(main())
