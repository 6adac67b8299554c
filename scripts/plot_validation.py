"""Plot validation PSNR against iteration from BasicSR training logs (the paper's Figure 6).

    python scripts/plot_validation.py experiments/*/train_*.log -o docs/ablation_psnr.png \
        [--labels BSRN "+ALKConv" ...] [--metric psnr]

Each log gives one curve: the value of every "Validation <set>" block, at the iteration of
the last training line logged before it (so keep val_freq a multiple of print_freq). The
repeated validation BasicSR runs after the last iteration is dropped.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ITER = re.compile(r'iter:\s*([\d,]+),')
METRIC = re.compile(r'#\s*(\w+):\s*([-\d.]+)')


def read_curve(log: str | Path, metric: str = 'psnr') -> list[tuple[int, float]]:
    """``[(iteration, value), ...]`` of ``metric`` in one BasicSR training log."""
    points: list[tuple[int, float]] = []
    last_iter, in_validation = 0, False
    for line in Path(log).read_text(errors='replace').splitlines():
        if m := ITER.search(line):
            last_iter = int(m[1].replace(',', ''))
        elif 'INFO: Validation' in line:
            in_validation = True
        elif in_validation and (m := METRIC.search(line)):
            if m[1] == metric and (not points or points[-1][0] != last_iter):
                points.append((last_iter, float(m[2])))
        elif in_validation and not line.strip().startswith('#'):
            in_validation = False
    return points


def plot(curves: dict[str, list[tuple[int, float]]], out: str | Path, metric: str, title: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from alkdsr.utils.fileio import atomic_path

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    for label, points in curves.items():
        if points:
            ax.plot(*zip(*points), marker='o', markersize=3, label=label)
    ax.set_xlabel('iteration')
    ax.set_ylabel(f'{metric.upper()} (dB)' if metric == 'psnr' else metric.upper())
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format='png')
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('logs', nargs='+', help='BasicSR training logs, one curve each')
    p.add_argument('-o', '--output', required=True, help='PNG to write')
    p.add_argument('--labels', nargs='+', help="curve labels (default: the logs' folder names)")
    p.add_argument('--metric', default='psnr')
    p.add_argument('--title', default='Validation during training')
    args = p.parse_args(argv)
    labels = args.labels or [Path(log).parent.name for log in args.logs]
    if len(labels) != len(args.logs):
        print(f'plot_validation: error: {len(labels)} labels for {len(args.logs)} logs', file=sys.stderr)
        return 2
    curves = {}
    for label, log in zip(labels, args.logs):
        if not Path(log).is_file():
            print(f'plot_validation: error: {log}: no such log', file=sys.stderr)
            return 2
        curves[label] = read_curve(log, args.metric)
        print(f'{label}: {len(curves[label])} points, last {curves[label][-1] if curves[label] else None}')
    plot(curves, args.output, args.metric, args.title)
    return 0


if __name__ == '__main__':
    sys.exit(main())
