"""Architectures, registered in BasicSR's ARCH_REGISTRY when their modules load.

The names below load their modules on first use, so that ``alkdsr.archs.presets`` (plain data)
is at hand without torch or BasicSR.
"""

import importlib

_HOMES = {
    'ALKDB': 'alkdnet_arch',
    'ALKDN': 'alkdnet_arch',
    'ALKDNet': 'alkdnet_arch',
    'BSRN': 'bsrn_arch',
    'PRESETS': 'presets',
    'preset_config': 'presets',
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f'{__name__}.{_HOMES[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = list(_HOMES)
