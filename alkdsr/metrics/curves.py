"""Validation curves out of BasicSR training logs, and their plot (the paper's Figure 6).

Each log gives one curve: the value of every "Validation <set>" block, at the iteration of the last
training line logged before it (so keep val_freq a multiple of print_freq). The repeated validation
BasicSR runs after the last iteration is dropped. ``scripts/plot_validation.py`` is the command line.
"""

from __future__ import annotations

import re
from pathlib import Path

from alkdsr.utils.packages import require

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
    require('plotting validation curves', 'matplotlib')
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from alkdsr.files.fileio import atomic_path

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
