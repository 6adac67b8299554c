"""Latency and peak memory of a forward pass, the way the paper's Table 4 reports speed.

Latency is the median (with min and max) of ``runs`` timed calls after ``warmup`` untimed ones: CUDA
events around each call on a GPU, the wall clock on the CPU. Peak memory is
``torch.cuda.max_memory_allocated`` during the timed calls on a GPU, the process's peak resident set
on the CPU. ``alkdsr profile`` and ``benchmarks/bench_infer.py`` measure with it.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass

import torch


@dataclass
class Latency:
    median_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float


def measure(forward, device: torch.device, runs: int, warmup: int) -> tuple[Latency, dict]:
    """Latency of ``forward()`` over ``runs`` timed calls after ``warmup`` untimed ones, and their peak memory."""
    for _ in range(warmup):
        forward()
    if device.type == 'cuda':
        times = time_calls(forward, device, runs)
        memory = {'peak_memory_mb': round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
        memory['memory_kind'] = 'torch.cuda.max_memory_allocated'
    else:
        rss_before = _current_rss_mb()
        times = time_calls(forward, device, runs)
        peak = max(_peak_rss_mb(), _current_rss_mb() or 0.0)  # the kernel updates the high-water mark lazily
        memory = {
            'peak_memory_mb': round(peak, 1),
            'memory_kind': 'peak RSS of the process (getrusage)',
            'rss_before_mb': None if rss_before is None else round(rss_before, 1),
        }
    return Latency(statistics.median(times), min(times), max(times), statistics.fmean(times)), memory


def time_calls(forward, device: torch.device, runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``forward()`` (on a GPU also resets its peak memory count)."""
    return _time_cuda(forward, device, runs) if device.type == 'cuda' else _time_cpu(forward, runs)


def _time_cuda(forward, device: torch.device, runs: int) -> list[float]:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        forward()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def _time_cpu(forward, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == 'darwin' else peak / 2**10


def _current_rss_mb() -> float | None:
    """Resident set size now (Linux /proc), None where unavailable."""
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return None
