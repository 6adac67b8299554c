"""Training speed of each speed switch of ALKDSRModel against the float32 reference, in one run.

    python benchmarks/bench_train.py                  # full: batch 64, LR patch 48, x4, on CUDA
    python benchmarks/bench_train.py --device cpu --quick

Each configuration is the model class exactly as a YAML ``train:`` block configures it
(``amp``, ``compile``, ``channels_last``, ``fused_alkconv``, fused Adam, EMA); a step is BasicSR's
``optimize_parameters`` (forward, L1 loss, backward, Adam, EMA). Batches are random LR/HR
pairs already on the device, so the numbers measure the model, not the data loader.
Prints iterations/s (median over windows), the ratio to the reference, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import alkdsr  # noqa: F401  (first: makes basicsr importable, registers ALKDNet and ALKDSRModel)

# isort: split
from basicsr.models import build_model

CONFIGS = {
    # name: (train: options, Adam options)
    'fp32/tf32 (reference)': ({}, {}),
    'amp bf16': ({'amp': 'bf16'}, {}),
    'amp bf16 + channels_last': ({'amp': 'bf16', 'channels_last': True}, {}),
    'fp32/tf32 + fused Adam': ({}, {'fused': True}),
    'amp bf16 + fused Adam': ({'amp': 'bf16'}, {'fused': True}),
    'fp32/tf32 + fused ALKConv + fused Adam': ({'fused_alkconv': True}, {'fused': True}),
    'amp bf16 + fused ALKConv + fused Adam': ({'amp': 'bf16', 'fused_alkconv': True}, {'fused': True}),
    'amp bf16 + fused ALKConv + channels_last + fused Adam': (
        {'amp': 'bf16', 'fused_alkconv': True, 'channels_last': True},
        {'fused': True},
    ),
    'fp32/tf32 + compile + fused Adam': ({'compile': True}, {'fused': True}),
    'amp bf16 + compile + fused Adam': ({'amp': 'bf16', 'compile': True}, {'fused': True}),
    'fp32/tf32 + compile + fused ALKConv + fused Adam': ({'compile': True, 'fused_alkconv': True}, {'fused': True}),
    'amp bf16 + compile + fused ALKConv + fused Adam': (
        {'amp': 'bf16', 'compile': True, 'fused_alkconv': True},
        {'fused': True},
    ),
    'amp bf16 + fused Adam + EMA': ({'amp': 'bf16', 'ema_decay': 0.999}, {'fused': True}),
}
CUDA_ONLY = ('fused ALKConv',)  # configurations left out on the CPU (the switch is refused there)
QUICK = ('fp32/tf32 (reference)', 'amp bf16', 'amp bf16 + channels_last')


def make_model(train_opt: dict, adam_opt: dict, args, workdir: str):
    opt = {
        'name': 'bench_train',
        'model_type': 'ALKDSRModel',
        'scale': args.scale,
        'num_gpu': 1 if args.device == 'cuda' else 0,
        'is_train': True,
        'dist': False,
        'rank': 0,
        'world_size': 1,
        'network_g': {'type': 'ALKDNet', 'upscale': args.scale},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'models': workdir, 'training_states': workdir},
        'train': {
            'ema_decay': train_opt.get('ema_decay', 0),
            'optim_g': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0, 'betas': [0.9, 0.999], **adam_opt},
            'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [1000000], 'restart_weights': [1],
                          'eta_min': 1e-7},
            'total_iter': 1000000,
            'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'},
            **{k: v for k, v in train_opt.items() if k != 'ema_decay'},
        },
    }  # fmt: skip
    return build_model(opt)


def random_batches(args, n: int = 4):
    g = torch.Generator(device='cpu').manual_seed(0)
    gt_size = args.patch * args.scale
    batches = []
    for _ in range(n):
        gt = torch.rand(args.batch, 3, gt_size, gt_size, generator=g)
        lq = torch.nn.functional.avg_pool2d(gt, args.scale)
        batches.append({'lq': lq.to(args.device), 'gt': gt.to(args.device)})
    return batches


def measure(name: str, args, batches) -> dict:
    train_opt, adam_opt = CONFIGS[name]
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        model = make_model(train_opt, adam_opt, args, workdir)
        it = 0

        def step():
            nonlocal it
            model.feed_data(batches[it % len(batches)])
            model.optimize_parameters(it + 1)
            model.update_learning_rate(it + 1, warmup_iter=-1)
            it += 1

        t0 = time.perf_counter()
        for _ in range(args.warmup):
            step()
        sync(args.device)
        warmup_s = time.perf_counter() - t0
        if args.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        rates = []
        for _ in range(args.windows):
            sync(args.device)
            t0 = time.perf_counter()
            for _ in range(args.iters):
                step()
            sync(args.device)
            rates.append(args.iters / (time.perf_counter() - t0))
        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device == 'cuda' else float('nan')
        loss = model.log_dict.get('l_pix', float('nan'))
    return dict(config=name, its=rates, warmup_s=warmup_s, peak_gb=peak, last_loss=loss)


def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    p.add_argument('--scale', type=int, default=4)
    p.add_argument('--batch', type=int, default=None)
    p.add_argument('--patch', type=int, default=None, help='LR patch size')
    p.add_argument('--iters', type=int, default=None, help='iterations per timed window')
    p.add_argument('--windows', type=int, default=None)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--quick', action='store_true', help='CI-sized: tiny batch and patch, few configs')
    p.add_argument('--configs', nargs='*', help='only these configurations (names as printed)')
    p.add_argument('--json', default=None)
    args = p.parse_args(argv)
    args.device = ('cuda' if torch.cuda.is_available() else 'cpu') if args.device == 'auto' else args.device
    gpu = args.device == 'cuda'
    args.batch = args.batch or (2 if args.quick else 64 if gpu else 4)
    args.patch = args.patch or (16 if args.quick else 48)
    args.iters = args.iters or (2 if args.quick else 25 if gpu else 3)
    args.windows = args.windows or (2 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 10 if gpu else 2)
    names = [n for n in CONFIGS if (not args.quick or n in QUICK) and (not args.configs or n in args.configs)]
    names = [n for n in names if gpu or not any(s in n for s in CUDA_ONLY)]
    unknown = set(args.configs or ()) - set(CONFIGS)
    if unknown:
        p.error(f'unknown configurations: {", ".join(sorted(unknown))} (choose from: {", ".join(CONFIGS)})')
    dev = torch.cuda.get_device_name() if gpu else f'CPU, {torch.get_num_threads()} threads'
    header = (
        f'# bench_train: ALKDNet x{args.scale}, batch {args.batch}, LR patch {args.patch}, {dev}, '
        f'torch {torch.__version__}, {time.strftime("%Y-%m-%d")}; ratio = config it/s / reference it/s'
    )
    print(header, flush=True)
    batches = random_batches(args)
    rows = []
    for name in names:
        try:
            rows.append(measure(name, args, batches))
        except Exception as e:  # noqa: BLE001  (report and go on)
            rows.append(dict(config=name, error=f'{type(e).__name__}: {str(e).splitlines()[0][:160]}'))
        print(format_row(rows[-1], rows[0]), flush=True)
        if args.json:  # after every configuration: a run cut short keeps what it measured
            Path(args.json).write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    return 0 if 'error' not in rows[0] else 1


def format_row(row: dict, ref: dict) -> str:
    if 'error' in row:
        return f'{row["config"]:<50} FAILED {row["error"]}'
    its = np.median(row['its'])
    ratio = its / np.median(ref['its']) if 'its' in ref else float('nan')
    return (
        f'{row["config"]:<50} {its:8.2f} it/s (min {min(row["its"]):.2f}, max {max(row["its"]):.2f})  '
        f'x{ratio:5.2f}  warm-up {row["warmup_s"]:6.1f} s  peak {row["peak_gb"]:.2f} GB  '
        f'loss {row["last_loss"]:.4f}'
    )


if __name__ == '__main__':
    sys.exit(main())
