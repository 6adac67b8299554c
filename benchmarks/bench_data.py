"""Does the training data keep up? HR/LR patch pairs per second from each loader, on the device.

    python benchmarks/bench_data.py --gt DIR --lq DIR [--batch 64 --gt-size 192 --workers 12]
    python benchmarks/bench_data.py --gt DIR --lq DIR --device cpu --quick

- ``PairedImageDataset``: BasicSR's loader (decode, crop, flip in DataLoader workers) with its
  CUDA prefetcher (``prefetch_mode: cuda``, ``pin_memory: true``) on CUDA, as the x4 recipe uses;
- ``DevicePairedImageDataset``: the uint8 pairs resident on the device, BasicSR's decisions
  from the DataLoader and one gather per batch (``alkdsr.data.device_pairs``).

Folders or LMDBs (``*.lmdb``) both work. At 25 it/s, batch 64 and 192x192 HR patches training
needs 1,600 patches/s; the table prints each loader's rate and whether it reaches that.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import alkdsr  # noqa: F401  (registers DevicePairedImageDataset; makes basicsr importable)

# isort: split
from alkdsr.data.device_pairs import DevicePairs

LOADERS = ('PairedImageDataset', 'DevicePairedImageDataset')


def dataset_options(kind: str, gt: str, lq: str, args) -> dict:
    lmdb = str(gt).endswith('.lmdb')
    opt = {
        'name': 'bench', 'type': kind, 'phase': 'train', 'scale': args.scale,
        'dataroot_gt': str(gt), 'dataroot_lq': str(lq), 'io_backend': {'type': 'lmdb' if lmdb else 'disk'},
        'gt_size': args.gt_size, 'use_hflip': True, 'use_rot': True,
        'num_worker_per_gpu': args.workers if kind == 'PairedImageDataset' else min(args.workers, 2),
        'batch_size_per_gpu': args.batch, 'dataset_enlarge_ratio': 50,
    }  # fmt: skip
    if not lmdb:
        opt['filename_tmpl'] = args.filename_tmpl
    if args.device == 'cuda' and kind == 'PairedImageDataset':
        opt.update(prefetch_mode='cuda', pin_memory=True)
    return opt


def batches(kind: str, gt: str, lq: str, args):
    """An endless iterator of ``{'lq', 'gt'}`` batches on ``args.device``, as ALKDSRModel receives them."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.data.prefetch_dataloader import CPUPrefetcher, CUDAPrefetcher

    opt = dataset_options(kind, gt, lq, args)
    dataset = build_dataset(opt)
    num_gpu = 1 if args.device == 'cuda' else 0
    loader = build_dataloader(dataset, opt, num_gpu=num_gpu, dist=False, sampler=None, seed=0)
    device_pairs = DevicePairs.from_options(opt, args.scale, args.device) if kind != 'PairedImageDataset' else None
    while True:
        cuda = args.device == 'cuda' and opt.get('prefetch_mode') == 'cuda'
        prefetcher = CUDAPrefetcher(loader, {'num_gpu': num_gpu}) if cuda else CPUPrefetcher(loader)
        batch = prefetcher.next()
        while batch is not None:
            if device_pairs is not None:
                batch = device_pairs.batch(batch)
            yield {k: batch[k].to(args.device, non_blocking=True) for k in ('lq', 'gt')}
            batch = prefetcher.next()


def measure(kind: str, args) -> dict:
    t0 = time.perf_counter()
    it = batches(kind, args.gt, args.lq, args)
    for _ in range(args.warmup):
        next(it)
    sync(args.device)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.iters):
        batch = next(it)
    sync(args.device)
    seconds = time.perf_counter() - t0
    assert batch['gt'].shape == (args.batch, 3, args.gt_size, args.gt_size)
    return dict(loader=kind, patches_per_s=args.iters * args.batch / seconds, setup_s=setup_s)


def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--gt', required=True, help='HR folder or LMDB (training sub-images)')
    p.add_argument('--lq', required=True, help='LR folder or LMDB')
    p.add_argument('--filename-tmpl', default='{}', help="LR file name for an HR stem (default: '{}')")
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    p.add_argument('--scale', type=int, default=4)
    p.add_argument('--batch', type=int, default=None)
    p.add_argument('--gt-size', type=int, default=None, help='HR patch size')
    p.add_argument('--workers', type=int, default=12, help="PairedImageDataset's DataLoader workers")
    p.add_argument('--iters', type=int, default=None, help='timed batches')
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--target', type=float, default=1600, help='patches/s training needs (default: 25 it/s x 64)')
    p.add_argument('--quick', action='store_true', help='CI-sized: small batch and patch, few batches')
    p.add_argument('--json', default=None)
    args = p.parse_args(argv)
    args.device = ('cuda' if torch.cuda.is_available() else 'cpu') if args.device == 'auto' else args.device
    args.batch = args.batch or (4 if args.quick else 64)
    args.gt_size = args.gt_size or (32 if args.quick else 192)
    args.iters = args.iters or (3 if args.quick else 100)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 10)
    dev = torch.cuda.get_device_name() if args.device == 'cuda' else f'CPU, {torch.get_num_threads()} threads'
    header = (
        f'# bench_data: batch {args.batch}, HR patch {args.gt_size}, x{args.scale}, {dev}, {args.gt}; '
        f'target {args.target:.0f} patches/s'
    )
    print(header, flush=True)
    rows = []
    for kind in LOADERS:
        row = measure(kind, args)
        row['keeps_up'] = row['patches_per_s'] >= args.target
        rows.append(row)
        print(
            f'{kind:<28} {row["patches_per_s"]:9.0f} patches/s  set-up {row["setup_s"]:5.1f} s  '
            f'{"keeps up" if row["keeps_up"] else "too slow"}',
            flush=True,
        )
        if args.json:
            Path(args.json).write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
