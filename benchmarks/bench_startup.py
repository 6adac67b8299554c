"""``alkdsr upscale`` of one small image, as a whole process: this checkout against an earlier commit.

    python benchmarks/bench_startup.py                      # against b179b7a, 5 turns
    python benchmarks/bench_startup.py --against HEAD~3 --runs 10 --json startup.json

For one 128x128 image the work is a fraction of a second; the rest is start-up: Python, torch, whatever
else the command imports, reading the weights. ``--against`` (default ``b179b7a``, the last commit whose
networks imported BasicSR) is exported with ``git archive`` into a temporary folder and run with this
Python on ``PYTHONPATH``, so both sides share the interpreter and the packages. Each side runs once
untimed first (its CPU kernels, if it uses them, are compiled into a cache of its own), then the two
alternate for ``--runs`` turns. Prints the machine, min/median/max wall seconds and peak RSS of each,
and the ratio of the medians (this checkout / the earlier commit).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AGAINST = 'b179b7a'
COMMAND = (
    'import sys, alkdsr\n'
    'assert alkdsr.__file__.startswith(sys.argv[1]), alkdsr.__file__\n'
    'from alkdsr.cli.main import main\n'
    'sys.exit(main(sys.argv[2:]))\n'
)


def export_commit(ref: str, folder: Path) -> Path:
    """The tree of ``ref`` in ``folder`` (``git archive``: nothing of this checkout changes)."""
    archive = subprocess.run(['git', 'archive', ref], cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        sys.exit(f'bench_startup.py: error: --against {ref}: {archive.stderr.decode().strip() or "not a commit"}')
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter='data')
    return folder


def write_inputs(folder: Path, size: int) -> tuple[Path, Path]:
    """A ``size`` x ``size`` photograph and a random x4 ALKDNet checkpoint (speed does not depend on the weights)."""
    import numpy as np
    import torch
    from PIL import Image

    from alkdsr.archs import ALKDNet

    try:
        from skimage import data

        photo = data.astronaut()[100 : 100 + size, 150 : 150 + size]
    except ImportError:
        photo = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
    image, weights = folder / 'photo.png', folder / 'alkdnet_x4.pth'
    Image.fromarray(np.ascontiguousarray(photo)).save(image)
    torch.manual_seed(0)
    torch.save({'params': ALKDNet(upscale=4).state_dict()}, weights)  # the layout every version of alkdsr reads
    return image, weights


def _argv(tree: Path, home: Path, image: Path, weights: Path) -> tuple[list[str], dict]:
    env = {**os.environ, 'PYTHONPATH': str(tree), 'ALKDSR_HOME': str(home)}
    argv = [sys.executable, '-c', COMMAND, str(tree), 'upscale', '-i', str(image), '-o', str(home / 'out.png')]
    return [*argv, '--weights', str(weights), '--overwrite'], env


def run_once(tree: Path, home: Path, image: Path, weights: Path) -> float:
    """Wall seconds of one ``alkdsr upscale`` process run from ``tree``."""
    argv, env = _argv(tree, home, image, weights)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=home, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f'bench_startup.py: error: {tree}: alkdsr upscale failed:\n{proc.stderr[-2000:]}')
    return seconds


def peak_rss(tree: Path, home: Path, image: Path, weights: Path) -> float:
    """Peak RSS (MiB) of one run, in a process of its own, so that no other child counts (getrusage keeps the
    largest child's)."""
    script = (
        'import resource, subprocess, sys\n'
        'subprocess.run(sys.argv[1:], check=True, capture_output=True)\n'
        'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n'
    )
    argv, env = _argv(tree, home, image, weights)
    proc = subprocess.run([sys.executable, '-c', script, *argv], cwd=home, env=env, capture_output=True, text=True)
    return int(proc.stdout.split()[-1]) / 1024 if proc.returncode == 0 else float('nan')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--against', default=DEFAULT_AGAINST, help=f'the earlier commit (default {DEFAULT_AGAINST})')
    parser.add_argument('--runs', type=int, default=5, help='timed turns of each side (5)')
    parser.add_argument('--size', type=int, default=128, help='side of the image in LR pixels (128)')
    parser.add_argument('--json', help='write the times to this file')
    args = parser.parse_args()
    if args.runs < 1 or args.size < 1:
        parser.error('--runs and --size must be >= 1')
    with tempfile.TemporaryDirectory(prefix='bench-startup-') as tmp:
        tmp = Path(tmp)
        sides = {'this checkout': ROOT, f'commit {args.against}': export_commit(args.against, tmp / 'earlier')}
        image, weights = write_inputs(tmp, args.size)
        homes = {name: tmp / f'home{i}' for i, name in enumerate(sides)}
        for name, tree in sides.items():
            homes[name].mkdir()
            run_once(tree, homes[name], image, weights)  # warm-up: kernel caches, page cache
        times = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, tree in reversed(sides.items()):  # the earlier commit first in each turn
                times[name].append(run_once(tree, homes[name], image, weights))
        peaks = {name: peak_rss(tree, homes[name], image, weights) for name, tree in sides.items()}
    from alkdsr.utils.devices import cpu_model_name

    load = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    print(f'{cpu_model_name()}, {os.cpu_count()} CPUs, load {load}; Python {platform.python_version()}; '
          f'one {args.size}x{args.size} image, x4, {args.runs} turns')  # fmt: skip
    for name, values in times.items():
        print(f'{name:24} median {statistics.median(values):6.2f} s  (min {min(values):.2f}, max {max(values):.2f})'
              f'  peak RSS {peaks[name]:7.0f} MiB')  # fmt: skip
    now, before = (statistics.median(v) for v in times.values())
    print(f'this checkout / commit {args.against}: {now / before:.2f}x the wall time')
    if args.json:
        result = {'against': args.against, 'size': args.size, 'seconds': times, 'peak_rss_mib': peaks}
        Path(args.json).write_text(json.dumps({**result, 'ratio': now / before}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
