"""What precision the ncnn files keep: float32 against PyTorch, float16 weights against float32, and the
float16 storage of ncnn's GPU path (emulated) for the export form and for the network's own formulation.

    python benchmarks/bench_ncnn_precision.py --weights alkdnet-x2 alkdnet-x3 alkdnet-x4 bsrn-x4 \\
        --data-root ../shared/datasets/benchmark --sets Set5 Set14 [--json out.json]
    python benchmarks/bench_ncnn_precision.py --quick      # CI-sized: a small random network, two images

Per checkpoint, on the LR images of the sets (RGB in [0, 1], whole):

* ``fp32``: the largest |ncnn - PyTorch| of ``alkdsr export --format ncnn`` run by the ncnn package (CPU);
* ``fp16``: the ``--fp16`` file (float16 weights) against the float32 file: PSNR (outputs clamped to [0, 1])
  and largest difference; and the two .bin sizes;
* ``gpu storage``: realesrgan-ncnn-vulkan and upscayl-bin store every blob in float16 on the GPU
  (``use_fp16_storage``). Emulated in PyTorch (``alkdsr.inference.ncnn_util.float16_storage``) on the
  first set only (it is slow): PSNR against float32 of the export form, and of the network as written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import alkdsr
from alkdsr.inference.export_form import ExportForm
from alkdsr.inference.ncnn_util import NcnnUpscaler, export_ncnn, float16_storage
from alkdsr.metrics.evaluation import find_set, load_pair
from alkdsr.utils.devices import device_name


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2, dtype=np.float64))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def lr_images(data_root, sets, scale: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    out = {}
    for name in sets:
        images = find_set(data_root, name, scale).images
        out[name] = [(im.name, _chw(load_pair(im, scale)[0])) for im in images]
    return out


def _chw(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bgr[..., ::-1].transpose(2, 0, 1)).astype(np.float32) / 255


@torch.no_grad()
def measure(net, images: dict[str, list], folder: Path, threads: int) -> dict:
    fp32, _ = export_ncnn(net, folder / 'fp32.param')
    fp16, _ = export_ncnn(net, folder / 'fp16.param', fp16=True)
    run32 = NcnnUpscaler(fp32, net.upscale, net.min_size, threads)
    run16 = NcnnUpscaler(fp16, net.upscale, net.min_size, threads)
    row = dict(
        bin_bytes_fp32=fp32.with_suffix('.bin').stat().st_size, bin_bytes_fp16=fp16.with_suffix('.bin').stat().st_size
    )
    fp32_diff, fp16_diff, fp16_psnr = 0.0, 0.0, []
    for _, lr in (item for pairs in images.values() for item in pairs):
        reference = net(torch.from_numpy(lr)[None])[0].numpy()
        out32, out16 = run32(lr), run16(lr)
        fp32_diff = max(fp32_diff, float(np.abs(out32 - reference).max()))
        fp16_diff = max(fp16_diff, float(np.abs(out16 - out32).max()))
        fp16_psnr.append(psnr(out16, out32))
    row.update(fp32_max_diff=fp32_diff, fp16_max_diff=fp16_diff, fp16_mean_psnr_db=float(np.mean(fp16_psnr)),
               fp16_lowest_psnr_db=float(min(fp16_psnr)))  # fmt: skip
    first = next(iter(images.values()))
    storage = {'export form': [], 'network as written': []}
    for _, lr in first:
        x = torch.from_numpy(lr)[None]
        reference = net(x)[0].numpy()
        for label, module in (('export form', ExportForm(net)), ('network as written', net)):
            with float16_storage(module) as emulated:
                storage[label].append(psnr(emulated(x)[0].numpy(), reference))
    row.update({f'gpu_storage_{k.replace(" ", "_")}_lowest_psnr_db': float(min(v)) for k, v in storage.items()})
    row.update({f'gpu_storage_{k.replace(" ", "_")}_mean_psnr_db': float(np.mean(v)) for k, v in storage.items()})
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--weights', nargs='+', default=['alkdnet-x2', 'alkdnet-x3', 'alkdnet-x4', 'bsrn-x4'])
    p.add_argument('--data-root', default=str(Path(__file__).resolve().parents[2] / 'shared/datasets/benchmark'))
    p.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--quick', action='store_true', help='CI-sized: a small random network, two random images')
    p.add_argument('--json', default=None)
    args = p.parse_args(argv)
    header = f'# bench_ncnn_precision: {device_name(torch.device("cpu"))}, {time.strftime("%Y-%m-%d")}'
    print(header, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            from alkdsr.archs import ALKDNet

            torch.manual_seed(0)
            nets = [('quick_x2', ALKDNet(upscale=2, num_feat=16, num_block=1).eval())]
            rng = np.random.default_rng(0)
            quick_images = {'random': [(f'random{i}', rng.random((3, 24, 30), dtype=np.float32)) for i in range(2)]}
        else:
            nets = [(w, alkdsr.load_model(w)) for w in args.weights]
        for name, net in nets:
            images = quick_images if args.quick else lr_images(args.data_root, args.sets, net.upscale)
            measured = measure(net, images, Path(tmp), args.threads)
            row = dict(weights=name, scale=net.upscale, sets=list(images), **measured)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print('\n| weights | fp32 max abs diff vs PyTorch | .bin fp32 / fp16 (bytes) | fp16 vs fp32: mean / lowest PSNR, '
          'max abs diff | GPU fp16 storage, lowest PSNR: export form / network as written |')  # fmt: skip
    print('|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["weights"]} | {r["fp32_max_diff"]:.1e} | {r["bin_bytes_fp32"]} / {r["bin_bytes_fp16"]} '
              f'| {r["fp16_mean_psnr_db"]:.1f} / {r["fp16_lowest_psnr_db"]:.1f} dB, {r["fp16_max_diff"]:.1e} '
              f'| {r["gpu_storage_export_form_lowest_psnr_db"]:.1f} / '
              f'{r["gpu_storage_network_as_written_lowest_psnr_db"]:.1f} dB |')  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
