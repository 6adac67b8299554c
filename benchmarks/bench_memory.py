"""Peak memory (max RSS) and time of ``alkdsr upscale`` on a large image, in a fresh process.

Default: a synthetic 1000x750 photo-like LR image upscaled x4 to 4000x3000 on the CPU with
``--tile 256``. The upscale runs as a child process, so its peak resident memory is read
exactly with ``getrusage(RUSAGE_CHILDREN)`` and includes the Python, torch and image buffers.

    python benchmarks/bench_memory.py --weights ../shared/weights/official/net_g_ALKDN_x4.pth
    python benchmarks/bench_memory.py --tile-mode fast --tile 512
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = ROOT.parent / 'shared' / 'weights' / 'official' / 'net_g_ALKDN_x4.pth'


def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients, hard-edged shapes and fine noise: the mix of a real photograph."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin((x + y) / 37.0)], axis=2) * 160 + 40
    for _ in range(60):  # discs of random colour
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(5, 60)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += 20 * np.sin(x / 2.3)[..., None] * (y > height / 2)[..., None]  # a fine stripe texture
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--weights', default=str(DEFAULT_WEIGHTS))
    parser.add_argument('--width', type=int, default=1000, help='LR width (1000)')
    parser.add_argument('--height', type=int, default=750, help='LR height (750)')
    parser.add_argument('--tile', type=int, default=256)
    parser.add_argument('--tile-pad', type=int, default=32)
    parser.add_argument('--tile-mode', default='seamless')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        lr_path, sr_path = Path(tmp) / 'lr.png', Path(tmp) / 'sr.png'
        Image.fromarray(synthetic_photo(args.width, args.height)).save(lr_path)
        command = [sys.executable, '-m', 'alkdsr.cli.main', 'upscale', '-i', str(lr_path), '-o', str(sr_path)]
        command += ['--weights', args.weights, '--tile', str(args.tile), '--tile-pad', str(args.tile_pad)]
        command += ['--tile-mode', args.tile_mode, '--device', args.device]
        env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')]))}
        start = time.perf_counter()
        done = subprocess.run(command, env=env, check=False)
        seconds = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        if done.returncode != 0:
            print(f'upscale failed with exit status {done.returncode}', file=sys.stderr)
            return 1
        with Image.open(sr_path) as sr:
            out_size = sr.size
    print(
        f'{args.width}x{args.height} -> {out_size[0]}x{out_size[1]}, device {args.device}, tile {args.tile}, '
        f'pad {args.tile_pad}, mode {args.tile_mode}: peak RSS {peak_kib / 2**20:.2f} GiB, {seconds:.0f} s '
        f'({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
