"""Tiled vs untiled upscaling of large images: PSNR and max |difference| (uint8) per tile, pad and mode.

Each image is used as the LR input (so HR benchmark images give inputs of 500-800 pixels, where
tiles of 128-512 matter); its untiled output is the reference. ``benchmarks/bench_tiling.py``
measures the same on the small benchmark LR images, as a change of benchmark PSNR. TF32 is
switched off so that only tiling differs.

    python benchmarks/bench_seamless.py --weights ../shared/weights/official/net_g_ALKDN_x4.pth \\
        --images ../shared/datasets/benchmark/Set14/HR/*.png --tiles 128 256 512 --pads 16 32 48
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from alkdsr.inference.image import load_upscaler, upscale_image
from alkdsr.utils.img_util import read_image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--weights', required=True)
    parser.add_argument('--images', nargs='+', required=True)
    parser.add_argument('--tiles', nargs='+', type=int, default=[128, 256, 512])
    parser.add_argument('--pads', nargs='+', type=int, default=[16, 32, 48])
    parser.add_argument('--modes', nargs='+', default=['fast', 'seamless'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    net = load_upscaler(args.weights, args.device)
    worst = defaultdict(lambda: (float('inf'), 0))
    for path in args.images:
        lr = read_image(path).pixels
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
                    value, diff = psnr(tiled, whole), int(np.abs(tiled.astype(int) - whole.astype(int)).max())
                    name = Path(path).name
                    print(f'{name:16s} {lr.shape[1]}x{lr.shape[0]} tile {tile:4d} pad {pad:3d} {mode:9s}', end=' ')
                    print(f'{value:6.2f} dB  max|diff| {diff:3d}  {seconds:.2f} s', flush=True)
                    low, high = worst[tile, pad, mode]
                    worst[tile, pad, mode] = (min(low, value), max(high, diff))
    print('\nworst over the images:\n| tile | pad | mode | lowest PSNR | largest max diff |\n|---|---|---|---|---|')
    for (tile, pad, mode), (low, high) in sorted(worst.items()):
        print(f'| {tile} | {pad} | {mode} | {low:.2f} dB | {high} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
