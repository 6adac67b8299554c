"""Architectures in plain torch: ``ALKDNet`` (every variant), ``ALKDN`` and ``BSRN`` (the authors' names).

Each ``*_arch.py`` holds one class, registered in :data:`ARCH_REGISTRY` by its decorator;
:func:`load_architectures` imports them all, as BasicSR's ``basicsr/archs/__init__.py`` does its own.
The names below load their modules on first use, so that ``alkdsr.archs.presets`` (plain data)
is at hand without torch.
"""

import importlib
from pathlib import Path

_HOMES = {
    'ALKDB': 'arch_util',
    'ALKDN': 'alkdn_arch',
    'ALKDNet': 'alkdnet_arch',
    'BSRN': 'bsrn_arch',
    'PRESETS': 'presets',
    'preset_config': 'presets',
    'ARCH_REGISTRY': 'registry',
}


def load_architectures():
    """:data:`ARCH_REGISTRY` once every ``*_arch.py`` module of this folder has registered its class."""
    for path in sorted(Path(__file__).parent.glob('*_arch.py')):
        importlib.import_module(f'{__name__}.{path.stem}')
    return importlib.import_module(f'{__name__}.registry').ARCH_REGISTRY


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f'{__name__}.{_HOMES[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [*_HOMES, 'load_architectures']
