"""How long the commands that only print take, as whole processes (start-up included).

    python benchmarks/bench_cli.py [--runs 10]

Times, in turns, ``alkdsr --help``, ``alkdsr upscale --help``, ``alkdsr weights list`` and, for
comparison, ``python -c pass`` (the interpreter alone) and ``python -c "import torch"`` (what every
command paid before they stopped importing torch); prints min / median / max in seconds and the
median's ratio to the interpreter's, with the machine's CPU and load. The commands run through the
``alkdsr`` executable beside this Python (the installed console script).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def commands() -> dict[str, list[str]]:
    alkdsr = shutil.which('alkdsr', path=str(Path(sys.executable).parent)) or 'alkdsr'
    return {
        'python -c pass': [sys.executable, '-c', 'pass'],
        'python -c "import torch"': [sys.executable, '-c', 'import torch'],
        'alkdsr --help': [alkdsr, '--help'],
        'alkdsr upscale --help': [alkdsr, 'upscale', '--help'],
        'alkdsr weights list': [alkdsr, 'weights', 'list'],
    }


def cpu_name() -> str:
    for line in Path('/proc/cpuinfo').read_text().splitlines() if Path('/proc/cpuinfo').is_file() else []:
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=10, help='runs of each command, in turns (10)')
    args = parser.parse_args()
    runs = {name: [] for name in commands()}
    for _ in range(args.runs):
        for name, cmd in commands().items():
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            runs[name].append(time.perf_counter() - start)
    load = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    print(f'{cpu_name()}, {os.cpu_count()} CPUs, load average {load}; Python {platform.python_version()}')
    reference = statistics.median(runs['python -c pass'])
    print(f'{"command":28} {"min":>7} {"median":>7} {"max":>7}  median / python -c pass')
    for name, times in runs.items():
        median = statistics.median(times)
        print(f'{name:28} {min(times):7.3f} {median:7.3f} {max(times):7.3f}  {median / reference:6.1f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
