"""Inference speed of every fast path against the eager float32 reference, in one run.

    python benchmarks/bench_infer.py                  # the device's full table (CUDA if present)
    python benchmarks/bench_infer.py --device cpu --quick

Prints, per path: device, dtype, LR size, median/min/max milliseconds, the ratio of the
eager float32 reference's median to the path's (measured in the same run), and the max
|diff| and PSNR of the path's output against the float32 reference output (TF32 off).
On the CPU each path runs in its own process, so glibc malloc tuning (process-wide) is
measured fairly: the reference runs with glibc's defaults; ``--turns N`` runs the paths N times
in turn and pools their runs, so that the machine's drift during the run falls on every path.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import alkdsr
from alkdsr.archs import ALKDNet
from alkdsr.inference.fast import optimize
from alkdsr.metrics.latency import time_calls
from alkdsr.utils.devices import device_name, tune_malloc


def test_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A natural photograph (scikit-image's astronaut) resized to h x w, else smooth noise."""
    try:
        import cv2
        from skimage import data

        img = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        return torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    except Exception:  # noqa: BLE001  (no scikit-image: a smooth random field)
        g = torch.Generator().manual_seed(seed)
        coarse = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=g)
        return torch.nn.functional.interpolate(coarse, size=(h, w), mode='bicubic').clamp(0, 1)


def make_net(scale: int, weights: str | None) -> ALKDNet:
    if weights:
        return alkdsr.load_model(weights)
    torch.manual_seed(0)
    return ALKDNet(upscale=scale).eval()


def time_fn(fn, x, device: str, warmup: int, runs: int) -> list[float]:
    """Milliseconds of ``runs`` calls of ``fn(x)`` after ``warmup`` untimed ones, as ``alkdsr profile`` times."""
    for _ in range(warmup):
        fn(x)
    return time_calls(lambda: fn(x), torch.device(device), runs)


def compare(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    out, ref = out.float().cpu().clamp(0, 1), ref.float().cpu().clamp(0, 1)
    mse = (out - ref).pow(2).mean().item()
    return (out - ref).abs().max().item(), (99.0 if mse == 0 else 10 * math.log10(1 / mse))


GPU_PATHS = {
    # name: optimize() arguments
    'eager fp32 (reference)': dict(dtype=torch.float32, fused=False),
    'eager fp16': dict(dtype=torch.float16, fused=False),
    'eager fp16 channels_last': dict(dtype=torch.float16, fused=False, channels_last=True),
    'fused fp32': dict(dtype=torch.float32, fused=True),
    'fused fp16': dict(dtype=torch.float16, fused=True),
    'cudagraph fp32': dict(dtype=torch.float32, fused=False, cuda_graph=True),
    'fused+cudagraph fp16': dict(dtype=torch.float16, fused=True, cuda_graph=True),
    'fused+cudagraph bf16': dict(dtype=torch.bfloat16, fused=True, cuda_graph=True),
    'compile+cudagraph fp16': dict(dtype=torch.float16, fused=False, compile=True, cuda_graph=True),
    'fused+compile+cudagraph fp16': dict(dtype=torch.float16, fused=True, compile=True, cuda_graph=True),
    'fused+compile+cudagraph fp16 channels_last': dict(
        dtype=torch.float16, fused=True, compile=True, cuda_graph=True, channels_last=True
    ),
}

CPU_PATHS = {
    'eager fp32 (reference)': dict(malloc=False),
    'eager fp32 + malloc tuning': dict(malloc=True),
    'channels_last + malloc tuning': dict(malloc=True, channels_last=True),
    'onnxruntime + malloc tuning': dict(malloc=True, onnxruntime=True),
    # the files of `alkdsr export --format ncnn`, run by the ncnn Python package (float32, as `--verify` runs them)
    'ncnn (export --format ncnn)': dict(ncnn=True),
    'compile + malloc tuning': dict(malloc=True, compile=True),
    # the default of `alkdsr upscale` on the CPU (which also sets OMP_WAIT_POLICY=PASSIVE)
    'fused CPU kernels + malloc tuning': dict(malloc=True, fused=True, passive=True),
}
# each path is a process of its own
CPU_QUICK = ('eager fp32 (reference)', 'channels_last + malloc tuning', 'fused CPU kernels + malloc tuning')


def save_json(args, rows: list[dict]) -> None:
    if args.json:  # after every path: a run cut short keeps what it measured
        Path(args.json).write_text(json.dumps(dict(header=args.header, rows=rows), indent=1))


def run_cuda(args) -> list[dict]:
    torch.backends.cudnn.benchmark = True
    net_cpu = make_net(args.scale, args.weights)
    lr = test_image(args.lr_h, args.lr_w)
    x = lr.cuda()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        ref = make_net(args.scale, args.weights).cuda()(x).float()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # PyTorch's conv default
    rows = []
    paths = {k: v for k, v in GPU_PATHS.items() if not args.paths or k in args.paths}
    for name, opts in paths.items():
        net = type(net_cpu)(**{k: v for k, v in net_cpu.config.items() if k != 'preset'})
        net.load_state_dict(net_cpu.state_dict())
        net = net.cuda()
        try:
            with torch.no_grad():
                fn = optimize(net, **opts)
                t0 = time.perf_counter()
                out = fn(x).clone()
                torch.cuda.synchronize()
                first = time.perf_counter() - t0
                torch.cuda.reset_peak_memory_stats()
                times = time_fn(fn, x, 'cuda', args.warmup, args.runs)
            maxdiff, psnr = compare(out, ref)
            rows.append(
                dict(
                    path=name,
                    dtype=str(opts['dtype']).replace('torch.', ''),
                    times=times,
                    maxdiff=maxdiff,
                    psnr=psnr,
                    first_call_s=first,
                    peak_mb=torch.cuda.max_memory_allocated() / 2**20,
                )
            )
        except Exception as e:  # noqa: BLE001  (report and go on: one run covers every path)
            rows.append(dict(path=name, error=f'{type(e).__name__}: {str(e).splitlines()[0][:160]}'))
        print(format_row(rows[-1], rows[0]), flush=True)
        save_json(args, rows)
        del net
        torch.cuda.empty_cache()
    return rows


def cpu_worker(args) -> dict:
    """One CPU path in this process (started by run_cpu)."""
    opts = CPU_PATHS[args.worker]
    if opts.get('malloc'):
        tune_malloc()
    torch.set_num_threads(args.threads)
    net = make_net(args.scale, args.weights)
    x = test_image(args.lr_h, args.lr_w)
    if opts.get('onnxruntime'):
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'net.onnx')
            torch.onnx.export(net, x, path, opset_version=17, dynamo=False)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
        name = sess.get_inputs()[0].name

        def fn(t):
            return torch.from_numpy(sess.run(None, {name: t.numpy()})[0])
    elif opts.get('ncnn'):
        from alkdsr.inference.ncnn_util import NcnnUpscaler, export_ncnn

        with tempfile.TemporaryDirectory() as d:  # ncnn reads both files into memory when it loads them
            param, _ = export_ncnn(net, os.path.join(d, 'net.param'))
            runner = NcnnUpscaler(param, net.upscale, net.min_size, threads=args.threads)

        def fn(t):
            return torch.from_numpy(runner(t.numpy()))
    else:
        fn = optimize(
            net,
            fused=opts.get('fused', False),
            channels_last=opts.get('channels_last', False),
            compile=opts.get('compile', False),
        )
    with torch.no_grad():
        t0 = time.perf_counter()
        out = fn(x)
        first = time.perf_counter() - t0
        times = time_fn(fn, x, 'cpu', args.warmup, args.runs)
    np.save(args.out_npy, out.float().numpy())
    return dict(path=args.worker, dtype='float32', times=times, first_call_s=first)


def run_cpu(args) -> list[dict]:
    """Each path in its own process, the paths in turns (``--turns``), so that a machine that slows
    down or speeds up during the run weighs on every path alike; the times of all turns are pooled."""
    names = [n for n in CPU_PATHS if (n in args.paths if args.paths else n in CPU_QUICK or not args.quick)]
    rows: dict[str, dict] = {}
    ref = None
    with tempfile.TemporaryDirectory() as d:
        for _ in range(args.turns):
            for name in names:
                if 'error' in rows.get(name, {}):
                    continue
                out_npy = os.path.join(d, 'out.npy')
                cmd = [sys.executable, __file__, '--worker', name, '--out-npy', out_npy, '--device', 'cpu',
                       '--scale', str(args.scale), '--lr-size', f'{args.lr_w}x{args.lr_h}', '--runs', str(args.runs),
                       '--warmup', str(args.warmup), '--threads', str(args.threads)]  # fmt: skip
                if args.weights:
                    cmd += ['--weights', args.weights]
                env = {**os.environ, 'ALKDSR_NO_MALLOC_TUNING': '1'}
                env.pop('OMP_WAIT_POLICY', None)
                if CPU_PATHS[name].get('passive'):
                    env['OMP_WAIT_POLICY'] = 'PASSIVE'
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode:
                    rows[name] = dict(path=name, error=proc.stderr.strip().splitlines()[-1][:160])
                elif name in rows:
                    rows[name]['times'] += json.loads(proc.stdout.strip().splitlines()[-1])['times']
                else:
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    out = torch.from_numpy(np.load(out_npy))
                    ref = out if ref is None else ref
                    row['maxdiff'], row['psnr'] = compare(out, ref)
                    rows[name] = row
                save_json(args, list(rows.values()))
    for row in rows.values():
        print(format_row(row, rows[names[0]]), flush=True)
    return list(rows.values())


def format_row(row: dict, ref_row: dict) -> str:
    if 'error' in row:
        return f'{row["path"]:<44} FAILED {row["error"]}'
    t = np.array(row['times'])
    ratio = np.median(ref_row['times']) / np.median(t) if 'times' in ref_row else float('nan')
    return (
        f'{row["path"]:<44} {row["dtype"]:<8} median {np.median(t):9.2f} ms  min {t.min():9.2f}  '
        f'max {t.max():9.2f}  x{ratio:5.2f}  max|diff| {row["maxdiff"]:.2e}  PSNR {row["psnr"]:6.2f} dB'
    )


def machine(device: str) -> str:
    name = device_name(torch.device(device))
    return name if device == 'cuda' else f'{name}, {torch.get_num_threads()} threads'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    p.add_argument('--scale', type=int, default=4)
    p.add_argument('--lr-size', default=None, help='LR WxH (default: 1280x720 output on GPU, LR 320x180 on CPU)')
    p.add_argument('--weights', default=None, help='checkpoint (default: random init; speed does not depend on it)')
    p.add_argument('--runs', type=int, default=None)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--turns', type=int, default=1, help='CPU: run the paths this many times in turn, pooling the runs')
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--quick', action='store_true', help='CI-sized: small input, few runs, fewer paths')
    p.add_argument('--paths', nargs='*', help='only these paths (names as printed; with --quick too)')
    p.add_argument('--json', default=None, help='write all measurements here')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    p.add_argument('--out-npy', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    device = 'cuda' if args.device == 'auto' and torch.cuda.is_available() else args.device
    device = 'cpu' if device == 'auto' else device
    if args.lr_size:
        args.lr_w, args.lr_h = map(int, args.lr_size.lower().split('x'))
    elif device == 'cuda':
        args.lr_w, args.lr_h = 1280 // args.scale, 720 // args.scale
    else:
        args.lr_w, args.lr_h = (80, 48) if args.quick else (320, 180)
    args.runs = args.runs or (3 if args.quick else 20 if device == 'cuda' else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5 if device == 'cuda' else 2)
    if args.worker:
        print(json.dumps(cpu_worker(args)))
        return 0
    header = (
        f'# bench_infer: ALKDNet x{args.scale}, LR {args.lr_w}x{args.lr_h} -> {args.lr_w * args.scale}x'
        f'{args.lr_h * args.scale}, batch 1, {machine(device)}, torch {torch.__version__}, '
        f'{time.strftime("%Y-%m-%d")}; ratio = reference median / path median'
    )
    print(header, flush=True)
    args.header = header
    rows = run_cuda(args) if device == 'cuda' else run_cpu(args)
    return 0 if all('error' not in r for r in rows[:1]) else 1


if __name__ == '__main__':
    sys.exit(main())
