"""The one change alkdsr makes to another package: an alias that lets a stock BasicSR 1.4.2 import.

BasicSR imports ``torchvision.transforms.functional_tensor``, which torchvision removed in 0.17 (it lives on
as the private ``_functional_tensor``): :func:`install_torchvision_alias` registers the old name in
``sys.modules``, and ``alkdsr/__init__.py`` calls it just before BasicSR is first imported. Site-packages
are never edited. (BasicSR also imports ``distutils.version``, gone from Python 3.12: alkdsr requires
setuptools, which provides it there.)
"""

from __future__ import annotations

import importlib
import sys

_ALIAS = 'torchvision.transforms.functional_tensor'


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
