"""Pick the fastest training configuration measured by bench_train.py and the iterations that fit.

    python benchmarks/pick_train_config.py train_speed.json SECONDS
    -> prints "ITERS --force_yml-entries..." for alkdsr/train.py

Configurations with EMA are left out (the short schedule does not use it). The iteration count
leaves 15% for data loading, validation and logging, which bench_train.py does not measure.
"""

from __future__ import annotations

import json
import sys

import numpy as np

SWITCHES = {
    'amp bf16': 'train:amp=bf16',
    'compile': 'train:compile=true',
    'channels_last': 'train:channels_last=true',
    'fused Adam': 'train:optim_g:fused=true',
    'fused ALKConv': 'train:fused_alkconv=true',
}


FALLBACK = {'config': 'amp bf16 + fused Adam', 'its': [8.0]}  # unmeasured: about H200's 9.4 it/s, less a margin


def main(path: str, seconds: float) -> str:
    try:
        rows = [r for r in json.load(open(path))['rows'] if 'its' in r and 'EMA' not in r['config']]
    except (OSError, ValueError, KeyError):
        rows = []
    best = max(rows, key=lambda r: np.median(r['its'])) if rows else FALLBACK
    its = float(np.median(best['its']))
    iters = max(100, int(its * max(seconds, 0) * 0.85) // 50 * 50)
    chosen = [v for k, v in SWITCHES.items() if k in best['config']]
    off = {v: v.replace('=true', '=false').replace('=bf16', '=~') for v in SWITCHES.values()}
    entries = chosen + [off[v] for v in SWITCHES.values() if v not in chosen]
    print(f'# fastest: {best["config"]} at {its:.2f} it/s; {seconds:.0f} s -> {iters} iterations', file=sys.stderr)
    return f'{iters} {" ".join(entries)}'


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: python benchmarks/pick_train_config.py train_speed.json SECONDS')
    print(main(sys.argv[1], float(sys.argv[2])))
