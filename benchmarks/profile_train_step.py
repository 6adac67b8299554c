"""Where a training iteration's time goes: data wait, forward (+ L1), backward, optimizer.

    python benchmarks/profile_train_step.py --config 'fp32/tf32 (reference)' [--gt DIR --lq DIR] --out DIR
    python benchmarks/profile_train_step.py --device cpu --quick --out DIR

A configuration of ``benchmarks/bench_train.py`` (the model exactly as ``train:`` sets it up);
with ``--gt/--lq`` the batches come from a loader of ``benchmarks/bench_data.py`` (so the data
wait is real), else random batches already on the device. After warm-up it times each phase
over ``--iters`` iterations (synchronised wall clock), then records one more iteration with
``torch.profiler``. Writes to ``--out``: ``phases.json`` (ms per phase), ``kernels.txt`` (the
profiler's table, by device time) and ``trace.json.gz`` (Chrome trace of the recorded iteration).

The phases are ``ALKDSRModel.optimize_parameters`` taken apart (autocast forward, L1 in float32,
backward, optimizer step), without its loss-finiteness check, so each can be timed alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_data import batches as loader_batches
from bench_train import CONFIGS, make_model, random_batches

PHASES = ('data', 'forward', 'backward', 'optimizer')


def step(model, data_iter, device: str, times: dict | None):
    """One iteration in phases; with ``times``, adds each phase's synchronised seconds to it."""

    def mark(phase, t0):
        if times is not None:
            if device == 'cuda':
                torch.cuda.synchronize()
            now = time.perf_counter()
            times[phase] = times.get(phase, 0.0) + now - t0
            return now
        return t0

    t = time.perf_counter()
    with torch.profiler.record_function('data'):
        model.feed_data(next(data_iter))
    t = mark('data', t)
    with torch.profiler.record_function('forward'):
        with model._autocast():
            output = model.train_net(model.lq)
        loss = model.cri_pix(output.float(), model.gt)
    t = mark('forward', t)
    with torch.profiler.record_function('backward'):
        loss.backward()
    t = mark('backward', t)
    with torch.profiler.record_function('optimizer'):
        model.optimizer_g.step()
        model.optimizer_g.zero_grad(set_to_none=True)
    mark('optimizer', t)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default='fp32/tf32 (reference)', choices=list(CONFIGS))
    p.add_argument('--gt', help='HR training folder or LMDB (else random batches on the device)')
    p.add_argument('--lq', help='LR training folder or LMDB')
    p.add_argument('--filename-tmpl', default='{}')
    p.add_argument('--loader', default='PairedImageDataset', choices=['PairedImageDataset', 'DevicePairedImageDataset'])
    p.add_argument('--workers', type=int, default=12)
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    p.add_argument('--scale', type=int, default=4)
    p.add_argument('--batch', type=int, default=None)
    p.add_argument('--patch', type=int, default=None, help='LR patch size')
    p.add_argument('--iters', type=int, default=None, help='timed iterations')
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--quick', action='store_true')
    p.add_argument('--out', required=True, help='folder for phases.json, kernels.txt, trace.json.gz')
    args = p.parse_args(argv)
    args.device = ('cuda' if torch.cuda.is_available() else 'cpu') if args.device == 'auto' else args.device
    gpu = args.device == 'cuda'
    args.batch = args.batch or (2 if args.quick else 64 if gpu else 4)
    args.patch = args.patch or (16 if args.quick else 48)
    args.iters = args.iters or (2 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 10)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.gt:
        args.gt_size = args.patch * args.scale
        data_iter = loader_batches(args.loader, args.gt, args.lq, args)
        source = f'{args.loader} {args.gt}'
    else:
        fixed = random_batches(args)
        data_iter = iter(fixed[i % len(fixed)] for i in range(10**9))
        source = 'random batches on the device'

    train_opt, adam_opt = CONFIGS[args.config]
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        model = make_model(train_opt, adam_opt, args, workdir)
        for _ in range(args.warmup):
            step(model, data_iter, args.device, None)
        times: dict[str, float] = {}
        for _ in range(args.iters):
            step(model, data_iter, args.device, times)
        activities = [torch.profiler.ProfilerActivity.CPU]
        if gpu:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities, record_shapes=False) as prof:
            step(model, data_iter, args.device, None)
            if gpu:
                torch.cuda.synchronize()
    ms = {k: 1000 * times[k] / args.iters for k in PHASES}
    total = sum(ms.values())
    dev = torch.cuda.get_device_name() if gpu else f'CPU, {torch.get_num_threads()} threads'
    summary = dict(config=args.config, device=dev, batch=args.batch, lr_patch=args.patch, source=source,
                   iters=args.iters, ms=ms, total_ms=total, its=1000 / total)  # fmt: skip
    (out / 'phases.json').write_text(json.dumps(summary, indent=1))
    sort = 'self_cuda_time_total' if gpu else 'self_cpu_time_total'
    (out / 'kernels.txt').write_text(prof.key_averages().table(sort_by=sort, row_limit=40))
    prof.export_chrome_trace(str(out / 'trace.json.gz'))
    print(f'# profile: {args.config}, {dev}, batch {args.batch}, LR patch {args.patch}, {source}')
    for k in PHASES:
        print(f'{k:<10} {ms[k]:8.2f} ms  {100 * ms[k] / total:5.1f}%')
    print(f'{"total":<10} {total:8.2f} ms  = {1000 / total:.2f} it/s (synchronised per phase)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
