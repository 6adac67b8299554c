"""How the tiles of ncnn apps move ALKDNet's output: the exported files run with the tile rule of
realesrgan-ncnn-vulkan and upscayl-bin, through the ncnn Python package on the CPU.

    python benchmarks/bench_ncnn_tiling.py --weights alkdnet-x4 alkdnet-x2 \\
        --data-root ../shared/datasets/benchmark --sets Set5 Set14 --tiles 32 64 100 200 [--json out.json]
    python benchmarks/bench_ncnn_tiling.py --quick     # CI-sized: a small random network, two images

The apps cut the LR image into tiles of ``-t`` pixels (0 picks 200, 100, 64 or 32 by GPU memory), give
every tile ``--prepadding`` pixels (10 in both apps) of context on each side, mirrored at the image's
edges, run each tile alone and keep its centre. An image no larger than the tile is one tile, still
with the mirrored context. ALKDNet's CCA squeezes each channel by statistics over its whole input and
ESA pools on a coarse grid, so every tile, and the mirrored context, changes them.

For the apps' run in one tile (the image with its mirrored border) and for each tile size: the set's
mean Y-PSNR against HR (``alkdsr benchmark``'s protocol) and how far it moves from the untiled output's
(the whole image as it is, as ``alkdsr upscale`` runs it), the image it moves most, the largest difference
from the untiled output in grey levels, and the largest difference from the one-tile run (what the seams
between tiles add), all rounded to 8 bits as the apps round.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import alkdsr
from alkdsr.inference.ncnn_util import NcnnUpscaler, export_ncnn
from alkdsr.metrics.evaluation import find_set, load_pair
from alkdsr.metrics.psnr_ssim import psnr
from alkdsr.utils.devices import device_name


def app_tiles(run, lr: np.ndarray, scale: int, tile: int, prepadding: int) -> np.ndarray:
    """The SR of ``lr`` (3 x H x W) as realesrgan-ncnn-vulkan computes it, tile by tile (its non-TTA path):
    tile (x, y) is the input's pixels [x*tile - pre, min((x+1)*tile, W) + pre), mirrored where that
    leaves the image (without repeating the edge), and only the output of its core is kept."""
    _, h, w = lr.shape
    padded = np.pad(lr, ((0, 0), (prepadding, prepadding), (prepadding, prepadding)), mode='reflect')
    out = np.empty((lr.shape[0], h * scale, w * scale), dtype=np.float32)
    s, pre = scale, prepadding
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            sr = run(np.ascontiguousarray(padded[:, top : bottom + 2 * pre, left : right + 2 * pre]))
            out[:, top * s : bottom * s, left * s : right * s] = sr[
                :, pre * s : (pre + bottom - top) * s, pre * s : (pre + right - left) * s
            ]
    return out


def to_bgr8(sr: np.ndarray) -> np.ndarray:
    """3 x H x W RGB float -> H x W x 3 BGR uint8, rounded as the apps' output shader rounds (floor(v * 255 + 0.5))."""
    rgb = np.floor(np.clip(sr, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb.transpose(1, 2, 0)[..., ::-1])


def quick_setup(tmp: Path) -> tuple[list[str], dict[str, list]]:
    """A small random x2 network, and two random 80 x 60 'HR' images with their bicubic LR."""
    from alkdsr.archs import ALKDNet
    from alkdsr.data.matlab_resize import bicubic_downsample
    from alkdsr.zoo.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=1).eval(), tmp / 'quick_x2.pth')
    rng = np.random.default_rng(0)
    hrs = [(rng.random((60, 80, 3)) * 255).astype(np.uint8) for _ in range(2)]
    pairs = [(f'random{i}', bicubic_downsample(hr, 2), hr) for i, hr in enumerate(hrs)]
    return [str(tmp / 'quick_x2.pth')], {'random': pairs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--weights', nargs='+', default=['alkdnet-x4'], help='checkpoints or registered names')
    p.add_argument('--data-root', default=str(Path(__file__).resolve().parents[2] / 'shared/datasets/benchmark'))
    p.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    p.add_argument('--tiles', nargs='+', type=int, default=[32, 64, 100, 200])
    p.add_argument('--prepadding', type=int, default=10, help="the apps' context around each tile (10)")
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--quick', action='store_true', help='CI-sized: a small random network, two random images')
    p.add_argument('--json', default=None)
    args = p.parse_args(argv)
    tiles = [16, 32] if args.quick else args.tiles
    rows = []
    header = (
        f'# bench_ncnn_tiling: ncnn {_version("ncnn")} (CPU, float32, {args.threads} threads), prepadding '
        f'{args.prepadding}, {device_name(torch.device("cpu"))}, Python {platform.python_version()}, '
        f'{time.strftime("%Y-%m-%d")}'
    )
    print(header, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        weights, quick_sets = quick_setup(Path(tmp)) if args.quick else (args.weights, None)
        for weights_name in weights:
            net = alkdsr.load_model(weights_name)
            scale = net.upscale
            param, _ = export_ncnn(net, Path(tmp) / f'net_x{scale}.param')
            runner = NcnnUpscaler(param, scale, net.min_size, threads=args.threads)
            sets = quick_sets or {name: _load_set(args.data_root, name, scale) for name in args.sets}
            for set_name, pairs in sets.items():
                rows += _measure(runner, pairs, scale, tiles, args.prepadding, f'{Path(weights_name).stem}', set_name)
    print('\n| weights | set | tile | mean Y-PSNR (dB) | change (dB) | largest change (dB), image '
          '| max abs diff from untiled | from one tile (seams) |')  # fmt: skip
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        tiled = r['tile'] != 'untiled'
        worst = f'{r["worst_change_db"]:+.3f}, {r["worst_image"]}' if tiled else '-'
        change = f'{r["mean_change_db"]:+.3f}' if tiled else '-'
        seams = r.get('seam_diff', '-')
        cells = [r['weights'], r['set'], r['tile'], f'{r["mean_psnr_db"]:.3f}', change, worst, r['max_diff'], seams]
        print('| ' + ' | '.join(map(str, cells)) + ' |')
    if args.json:
        Path(args.json).write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    return 0


def _load_set(data_root, name: str, scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [(image.name, *load_pair(image, scale)) for image in find_set(data_root, name, scale).images]


def _measure(runner, pairs, scale: int, tiles, prepadding: int, weights: str, set_name: str) -> list[dict]:
    """Rows for the untiled run, the apps' run in one tile (their mirrored border alone), and each tile size.

    ``max_diff``: the largest difference from the untiled output, in grey levels; ``seam_diff``: from the
    one-tile run, which leaves what the cuts between tiles add."""
    untiled, psnrs, one_tile = {}, {}, {}
    for name, lr_bgr, hr_bgr in pairs:
        lr = np.ascontiguousarray(lr_bgr[..., ::-1].transpose(2, 0, 1)).astype(np.float32) / 255
        untiled[name] = (lr, to_bgr8(runner(lr)))
        psnrs[name] = psnr(untiled[name][1], hr_bgr, scale, test_y_channel=True)
        one_tile[name] = to_bgr8(app_tiles(runner, lr, scale, max(lr.shape[1:]), prepadding))
    base = float(np.mean(list(psnrs.values())))
    rows = [dict(weights=weights, set=set_name, scale=scale, tile='untiled', mean_psnr_db=base, max_diff=0)]
    print(f'{weights} {set_name}: untiled {base:.3f} dB ({len(pairs)} images)', flush=True)
    for tile in ['one tile', *tiles]:
        start = time.perf_counter()
        changes, max_diff, seam_diff = {}, 0, 0
        for name, _, hr_bgr in pairs:
            lr, whole = untiled[name]
            tiled = one_tile[name] if tile == 'one tile' else to_bgr8(app_tiles(runner, lr, scale, tile, prepadding))
            changes[name] = psnr(tiled, hr_bgr, scale, test_y_channel=True) - psnrs[name]
            max_diff = max(max_diff, int(np.abs(tiled.astype(int) - whole.astype(int)).max()))
            seam_diff = max(seam_diff, int(np.abs(tiled.astype(int) - one_tile[name].astype(int)).max()))
        worst = max(changes, key=lambda k: abs(changes[k]))
        row = dict(
            weights=weights, set=set_name, scale=scale, tile=tile,
            mean_psnr_db=base + float(np.mean(list(changes.values()))),
            mean_change_db=float(np.mean(list(changes.values()))), worst_image=worst,
            worst_change_db=changes[worst], max_diff=max_diff, seam_diff=seam_diff,
            seconds=round(time.perf_counter() - start, 2),
        )  # fmt: skip
        rows.append(row)
        print(f'  {tile!s:>8}: {row["mean_change_db"]:+.4f} dB (worst {worst} {changes[worst]:+.4f} dB), '
              f'max |diff| {max_diff}, seams {seam_diff} grey levels ({row["seconds"]} s)', flush=True)  # fmt: skip
    return rows


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == '__main__':
    sys.exit(main())
