"""CUDA checks of the upscaling path: precision (--half/--bf16, TF32) and time/memory of a large image.

1. Set5/Set14 x4 through ``upscale_image`` on CUDA in float32 (TF32 on and off), float16 and
   bfloat16 autocast: mean Y-PSNR against HR, and how far each output is from the CPU float32
   one (lowest image PSNR, largest difference in grey levels).
2. A synthetic 1000x750 image to 4000x3000: seconds and peak GPU memory, untiled and tiled.
3. ``alkdsr upscale`` on CUDA over a small folder with --half --batch and --bf16 --tile.

    python benchmarks/bench_upscale_gpu.py --weights ../shared/weights/official/net_g_ALKDN_x4.pth \\
        --data-root ../shared/datasets/benchmark
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_memory import synthetic_photo  # a sibling script: python puts this folder on the path
from PIL import Image

from alkdsr.files.images import read_image
from alkdsr.inference.image import load_upscaler, upscale_image
from alkdsr.metrics.figures import rgb_y_psnr_ssim

ROOT = Path(__file__).resolve().parents[1]

PATHS = {  # label: (autocast dtype, TF32 for convolutions)
    'fp32, TF32 on (default)': (None, True),
    'fp32, TF32 off': (None, False),
    'fp16 autocast (--half)': (torch.float16, True),
    'bf16 autocast (--bf16)': (torch.bfloat16, True),
}


def rgb(path: Path) -> np.ndarray:
    pixels = read_image(path).pixels
    return pixels if pixels.shape[2] == 3 else pixels[..., :1].repeat(3, axis=2)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0**2 / mse)


def precision_table(weights: str, data_root: Path, scale: int) -> None:
    gpu, cpu = load_upscaler(weights, 'cuda'), load_upscaler(weights, 'cpu')
    rows: dict[tuple[str, str], list] = {}
    for set_name in ('Set5', 'Set14'):
        for hr_path in sorted((data_root / set_name / 'HR').glob('*.png')):
            lr = rgb(data_root / set_name / 'LR_bicubic' / f'X{scale}' / f'{hr_path.stem}x{scale}.png')
            hr = rgb(hr_path)[: lr.shape[0] * scale, : lr.shape[1] * scale]
            reference = upscale_image(cpu, lr)
            rows.setdefault((set_name, 'CPU fp32'), []).append((rgb_y_psnr_ssim(reference, hr, scale)[0], np.inf, 0))
            for label, (dtype, tf32) in PATHS.items():
                torch.backends.cudnn.allow_tf32 = tf32
                sr = upscale_image(gpu, lr, dtype=dtype)
                diff = int(np.abs(sr.astype(int) - reference.astype(int)).max())
                rows.setdefault((set_name, label), []).append(
                    (rgb_y_psnr_ssim(sr, hr, scale)[0], psnr(sr, reference), diff)
                )
    torch.backends.cudnn.allow_tf32 = True
    print('| set | path | mean Y-PSNR vs HR | lowest PSNR vs CPU fp32 output | largest difference |')
    print('|---|---|---|---|---|')
    for (set_name, label), values in rows.items():
        v = np.array(values, dtype=float)
        print(f'| {set_name} | {label} | {v[:, 0].mean():.4f} | {v[:, 1].min():.2f} | {int(v[:, 2].max())} |')


def large_image(weights: str) -> None:
    net = load_upscaler(weights, 'cuda')
    lr = synthetic_photo(1000, 750)
    upscale_image(net, lr[:256, :256])  # warm-up
    runs = {
        'untiled fp32': {},
        'untiled fp16': dict(dtype=torch.float16),
        'tile 256 fast': dict(tile=256, tile_mode='fast'),
        'tile 256 seamless': dict(tile=256),
        'tile 512 seamless': dict(tile=512),
        'tile 512 seamless fp16': dict(tile=512, dtype=torch.float16),
    }
    for label, options in runs.items():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        upscale_image(net, lr, **options)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f'1000x750 -> 4000x3000, {label}: {time.perf_counter() - start:.2f} s, peak GPU memory {peak:.2f} GiB')


def cli_on_cuda(weights: str, data_root: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / 'in'
        src.mkdir()
        for name in ('baby', 'bird', 'head'):
            Image.open(data_root / 'Set5' / 'HR' / f'{name}.png').convert('RGB').crop((0, 0, 96, 96)).save(
                src / f'{name}.png'
            )
        baby = Image.open(data_root / 'Set5' / 'HR' / 'baby.png')
        baby.convert('L').save(src / 'gray.png')
        baby.convert('RGBA').save(src / 'rgba.png')
        for extra in (['--half', '--batch', '2'], ['--bf16', '--batch', '3', '--tile', '64']):
            out = Path(tmp) / extra[0].strip('-')
            command = [sys.executable, '-m', 'alkdsr.cli.main', 'upscale', '-i', str(src), '-o', str(out)]
            done = subprocess.run([*command, '--weights', weights, *extra], capture_output=True, text=True)
            print(' '.join(extra), '-> exit', done.returncode, done.stdout.strip(), done.stderr.strip()[-300:])
            for path in sorted(out.iterdir()):
                image = read_image(path)
                print(f'  {path.name}: {image.mode} {image.pixels.shape[1]}x{image.pixels.shape[0]}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--weights', required=True, help='an x4 checkpoint')
    parser.add_argument('--data-root', required=True, type=Path, help='folder with Set5/ and Set14/')
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print('no CUDA device', file=sys.stderr)
        return 1
    print(torch.__version__, torch.cuda.get_device_name(0))
    precision_table(args.weights, args.data_root, 4)
    large_image(args.weights)
    cli_on_cuda(args.weights, args.data_root)
    return 0


if __name__ == '__main__':
    sys.exit(main())
