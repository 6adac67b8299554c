"""``alkdsr upscale`` on the CPU as a whole process: the default against ``--backend torch``.

    python benchmarks/bench_upscale_cpu.py                 # 10 images of 320x180, x4, 5 turns
    python benchmarks/bench_upscale_cpu.py --quick         # CI-sized

Writes a folder of test images and a random x4 ALKDNet checkpoint (speed does not depend on the
weights; ``--weights`` takes a real one), then times whole ``alkdsr upscale`` processes, start-up,
loading, one-time costs and writing included, in turns:

- *default, first run*: ``$ALKDSR_HOME`` empty, so the fused CPU kernels are compiled;
- *--backend torch*: the plain PyTorch network;
- *default, second run*: the kernels read from the cache the first run left.

Prints the machine, median/min/max seconds of each over ``--runs`` turns, the ratios of the
torch run's median to the default's, and the largest difference between the two backends'
output pixels (grey levels of the 8-bit PNGs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_images(folder: Path, count: int, w: int, h: int) -> None:
    """``count`` different crops of one natural photograph, resized to w x h (noise without scikit-image)."""
    import cv2

    try:
        from skimage import data

        photo = data.astronaut()[:, :, ::-1]
    except ImportError:
        photo = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
    folder.mkdir(parents=True)
    for i in range(count):
        top, left = (i * 37) % 200, (i * 53) % 200
        crop = photo[top : top + 312, left : left + 312]
        cv2.imwrite(str(folder / f'img{i:02d}.png'), cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))


def random_checkpoint(path: Path, scale: int) -> None:
    import torch

    from alkdsr.archs import ALKDNet
    from alkdsr.zoo.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(ALKDNet(upscale=scale), path)


def timed_upscale(alkdsr: str, images: Path, out: Path, weights: str, home: Path, extra: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_WAIT_POLICY', 'NUMBA_CACHE_DIR')}
    env['ALKDSR_HOME'] = str(home)
    cmd = [alkdsr, 'upscale', '-i', str(images), '-o', str(out), '--weights', weights, '--device', 'cpu', *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f'{" ".join(cmd)} failed:\n{done.stderr[-2000:]}')
    return seconds


def max_grey_level_diff(a: Path, b: Path) -> int:
    import cv2

    worst = 0
    for image in sorted(a.iterdir()):
        x, y = cv2.imread(str(image)), cv2.imread(str(b / image.name))
        worst = max(worst, int(np.abs(x.astype(int) - y.astype(int)).max()))
    return worst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', type=int, default=10)
    p.add_argument('--lr-size', default='320x180', help='WxH of each image (320x180)')
    p.add_argument('--scale', type=int, default=4)
    p.add_argument('--weights', default=None, help='checkpoint (default: a random ALKDNet of --scale)')
    p.add_argument('--runs', type=int, default=5, help='turns (5)')
    p.add_argument('--quick', action='store_true', help='CI-sized: 2 images of 40x32, x2, one turn')
    p.add_argument('--json', default=None, help='write the measurements here')
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.lr_size, args.scale, args.runs = 2, '40x32', 2, 1
    w, h = map(int, args.lr_size.lower().split('x'))
    alkdsr = shutil.which('alkdsr', path=str(Path(sys.executable).parent)) or 'alkdsr'

    from alkdsr.utils.devices import cpu_model_name

    seconds: dict[str, list[float]] = {'default, first run': [], '--backend torch': [], 'default, second run': []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = root / 'images'
        write_images(images, args.images, w, h)
        weights = args.weights or str(root / 'random.pth')
        if not args.weights:
            random_checkpoint(Path(weights), args.scale)
        print(f'alkdsr upscale, {args.images} images of {w}x{h}, x{args.scale}; {cpu_model_name()}, '
              f'{os.cpu_count()} CPUs; {args.runs} turns', flush=True)  # fmt: skip
        for turn in range(args.runs):
            home = root / f'home{turn}'
            outs = {name: root / f'out{turn}-{i}' for i, name in enumerate(seconds)}
            seconds['default, first run'].append(
                timed_upscale(alkdsr, images, outs['default, first run'], weights, home, [])
            )
            seconds['--backend torch'].append(
                timed_upscale(alkdsr, images, outs['--backend torch'], weights, home, ['--backend', 'torch'])
            )
            seconds['default, second run'].append(
                timed_upscale(alkdsr, images, outs['default, second run'], weights, home, [])
            )
        worst = max_grey_level_diff(outs['--backend torch'], outs['default, second run'])
    torch_median = statistics.median(seconds['--backend torch'])
    for name, times in seconds.items():
        ratio = torch_median / statistics.median(times)
        print(f'{name:<22} median {statistics.median(times):7.2f} s  min {min(times):7.2f}  max {max(times):7.2f}'
              f'  x{ratio:4.2f} against --backend torch')  # fmt: skip
    print(f"largest difference between the backends' pixels: {worst} grey level(s)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(seconds=seconds, images=args.images, max_grey_level_diff=worst), indent=1)
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
