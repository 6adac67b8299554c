"""Plot validation PSNR against iteration from BasicSR training logs (the paper's Figure 6).

    python scripts/plot_validation.py experiments/*/train_*.log -o docs/ablation_psnr.png \
        [--labels BSRN "+ALKConv" ...] [--metric psnr]

Each log gives one curve (``alkdsr.metrics.curves``): the value of every "Validation <set>" block,
at the iteration of the last training line logged before it (so keep val_freq a multiple of
print_freq).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alkdsr.errors import AlkdsrError
from alkdsr.metrics.curves import plot, read_curve
from alkdsr.utils.packages import require


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('logs', nargs='+', help='BasicSR training logs, one curve each')
    p.add_argument('-o', '--output', required=True, help='PNG to write')
    p.add_argument('--labels', nargs='+', help="curve labels (default: the logs' folder names)")
    p.add_argument('--metric', default='psnr')
    p.add_argument('--title', default='Validation during training')
    args = p.parse_args(argv)
    try:
        require('scripts/plot_validation.py', 'matplotlib')  # before the logs are read
    except AlkdsrError as e:
        print(f'plot_validation: error: {e}', file=sys.stderr)
        return 2
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
