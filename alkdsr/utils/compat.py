"""Make a stock BasicSR 1.4.2 importable on current torchvision, and tune glibc's malloc.

BasicSR 1.4.2 imports ``torchvision.transforms.functional_tensor``, which torchvision
removed in 0.17 (it lives on as the private ``_functional_tensor``). Registering an alias
in ``sys.modules`` before basicsr is imported fixes that without touching site-packages.
It also imports ``distutils.version``, gone from Python 3.12 unless setuptools provides it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import sys

_ALIAS = 'torchvision.transforms.functional_tensor'


def install_distutils_shim() -> None:
    """Provide ``distutils.version.LooseVersion`` (imported by basicsr) on Python >= 3.12."""
    try:
        importlib.import_module('distutils.version')
        return
    except ImportError:
        pass
    import types

    from packaging.version import Version

    class LooseVersion:
        def __init__(self, version: str):
            self.vstring = str(version)
            self.version = Version(self.vstring.split('+')[0])

        def _cmp(self, other):
            other = other if isinstance(other, LooseVersion) else LooseVersion(other)
            return (self.version > other.version) - (self.version < other.version)

        def __eq__(self, other):
            return self._cmp(other) == 0

        def __lt__(self, other):
            return self._cmp(other) < 0

        def __le__(self, other):
            return self._cmp(other) <= 0

        def __gt__(self, other):
            return self._cmp(other) > 0

        def __ge__(self, other):
            return self._cmp(other) >= 0

    distutils = types.ModuleType('distutils')
    version = types.ModuleType('distutils.version')
    version.LooseVersion = LooseVersion
    distutils.version = version
    sys.modules.setdefault('distutils', distutils)
    sys.modules['distutils.version'] = version


def install_torchvision_alias() -> None:
    """Register ``torchvision.transforms.functional_tensor`` if torchvision lacks it."""
    if _ALIAS in sys.modules:
        return
    try:
        importlib.import_module(_ALIAS)
        return
    except ImportError:
        pass
    module = importlib.import_module('torchvision.transforms._functional_tensor')
    sys.modules[_ALIAS] = module


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
