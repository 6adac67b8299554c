"""Choosing the device and precision for inference, naming the hardware in reports, tuning CPU memory."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from alkdsr.errors import DeviceError

if TYPE_CHECKING:  # torch loads in the functions that use it: --device is parsed before any torch is needed
    import torch

DEVICE_CHOICES = ('auto', 'cpu', 'cuda')


def parse_device(text: str) -> str:
    """argparse type for ``--device``: auto, cpu, cuda or cuda:N."""
    if text in DEVICE_CHOICES or re.fullmatch(r'cuda:\d+', text):
        return text
    raise ValueError(text)


parse_device.__name__ = 'device (auto, cpu, cuda or cuda:N)'


def resolve_device(name: str) -> torch.device:
    """``auto`` means the GPU when there is one; asking for CUDA without one is a user error."""
    import torch

    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return checked_device(name, '--device')


def checked_device(device, label: str = 'device') -> torch.device:
    """``device`` (a torch.device, a name such as ``'cuda:1'``, or a CUDA index as torch takes it) as a
    ``torch.device`` this machine has; else DeviceError naming ``label``. A float or a dtype is refused:
    ``Module.to(3.5)`` or ``.to(torch.float16)`` changed the network's dtype instead."""
    import torch

    try:
        parsed = None if isinstance(device, bool) else torch.device(device)
    except (TypeError, RuntimeError, ValueError):
        parsed = None
    if parsed is None:
        raise DeviceError(f"{label} must be a torch.device or a name such as 'cpu' or 'cuda:0' (got {device!r})")
    if parsed.type == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError(f'{label} {device}: CUDA is not available on this machine (use {label} cpu)')
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise DeviceError(f'{label} {device}: only {torch.cuda.device_count()} CUDA device(s) present')
    return parsed


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo."""
    if device.type == 'cuda':
        import torch

        return torch.cuda.get_device_name(device)
    return cpu_model_name()


def cpu_model_name() -> str:
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors='replace').splitlines():
            if line.lower().startswith(('model name', 'hardware', 'cpu model')):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine() or 'unknown CPU'


_malloc_tuned = False


def tune_malloc() -> bool:
    """Keep large tensors on glibc's heap instead of mmap/munmap for every allocation.

    glibc maps and unmaps every block above its mmap threshold (32 MB at most), so a CPU
    forward pass over big feature maps pays page faults for each intermediate tensor.
    ``mallopt(M_MMAP_MAX, 0)`` plus a huge trim threshold keeps freed memory for reuse
    (measured in ``benchmarks/bench_infer.py``). Set ``ALKDSR_NO_MALLOC_TUNING=1`` to skip.
    Returns True when the settings were applied.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return True
    if os.environ.get('ALKDSR_NO_MALLOC_TUNING') or not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    ok = mallopt(m_mmap_max, 0) == 1 and mallopt(m_trim_threshold, 2**31 - 1) == 1
    _malloc_tuned = ok
    return ok
