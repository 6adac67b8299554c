"""Where the network's inference time goes, by kind of operator: the first step before making a path faster.

    python benchmarks/profile_infer_ops.py                       # ALKDNet x4 and x2, LR 320x180, CPU
    python benchmarks/profile_infer_ops.py --path fused          # the same, through the fused CPU kernels
    python benchmarks/profile_infer_ops.py --scales 4 --lr-size 80x45 --runs 1 --json ops.json

Runs the float32 network (malloc tuning on, as every ``alkdsr`` command has it) under
``torch.profiler`` and sums each operator's own time into groups: convolutions, GELU, the
element-wise sums and products, the pixel norm's reductions (mean over channels, its square and
difference; CCA's statistics land there too), concatenation, and the rest. ``--path fused`` runs
``alkdsr.inference.cpu_fast.CpuFastNet`` instead of the eager network: each call of a compiled
kernel (all its threads, waited for) is a group of its own. Prints, per scale, each group's
milliseconds per forward and share, with the machine named.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from alkdsr.archs import ALKDNet
from alkdsr.inference.cpu_fast import CpuFastNet
from alkdsr.utils.devices import device_name, tune_malloc

GROUPS = {  # operator -> group; the rest is 'other'
    'aten::mkldnn_convolution': 'convolution',
    'aten::_convolution': 'convolution',
    'aten::convolution': 'convolution',
    'aten::conv2d': 'convolution',
    'aten::gelu': 'GELU',
    'aten::add': 'add / mul',
    'aten::mul': 'add / mul',
    'aten::sum': 'pixel norm (mean, square, difference)',
    'aten::mean': 'pixel norm (mean, square, difference)',
    'aten::pow': 'pixel norm (mean, square, difference)',
    'aten::sub': 'pixel norm (mean, square, difference)',
    'aten::div_': 'pixel norm (mean, square, difference)',
    'aten::cat': 'concatenation',
}


def profile_ops(scale: int, lr_size: tuple[int, int], runs: int, device: str, path: str = 'eager') -> dict[str, float]:
    """Milliseconds per forward of each group (own time, summed over operators)."""
    from torch.profiler import ProfilerActivity, profile

    net = ALKDNet(upscale=scale).eval().to(device)
    if path == 'fused':
        net = ProfiledCpuFastNet(net)
    w, h = lr_size
    x = torch.rand(1, 3, h, w, device=device)
    with torch.inference_mode():
        for _ in range(2):
            net(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                net(x)
    groups: dict[str, float] = {}
    for event in prof.key_averages():
        group = event.key if event.key.startswith(KERNEL) else GROUPS.get(event.key, 'other')
        groups[group] = groups.get(group, 0.0) + event.self_cpu_time_total / 1000 / runs
    return dict(sorted(groups.items(), key=lambda item: -item[1]))


KERNEL = 'compiled kernel '


class ProfiledCpuFastNet(CpuFastNet):
    """CpuFastNet with each kernel call recorded as an event of its own (its threads run outside the profiler)."""

    def _rows(self, kernel, *args, rows: int) -> None:
        from torch.profiler import record_function

        with record_function(KERNEL + kernel.__name__):
            super()._rows(kernel, *args, rows=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scales', type=int, nargs='+', default=[4, 2])
    parser.add_argument('--path', choices=('eager', 'fused'), default='eager', help='the eager network or CpuFastNet')
    parser.add_argument('--lr-size', default='320x180', help='WxH of the LR input (default 320x180)')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--json', type=Path)
    args = parser.parse_args(argv)
    tune_malloc()
    torch.set_num_threads(args.threads)
    lr_size = tuple(int(v) for v in args.lr_size.lower().split('x'))
    machine = f'{device_name(torch.device("cpu"))}, {args.threads} threads, PyTorch {torch.__version__}'
    what = 'eager float32' if args.path == 'eager' else 'fused CPU kernels, float32'
    print(f'{what}, LR {args.lr_size}, {args.runs} runs, {machine}')
    result = {'machine': machine, 'path': args.path, 'lr_size': args.lr_size, 'scales': {}}
    for scale in args.scales:
        groups = profile_ops(scale, lr_size, args.runs, 'cpu', args.path)
        total = sum(groups.values())
        print(f'\nx{scale}: {total:.0f} ms per forward (profiled)')
        for group, ms in groups.items():
            print(f'  {group:40s} {ms:8.1f} ms  {ms / total:6.1%}')
        result['scales'][scale] = groups
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
