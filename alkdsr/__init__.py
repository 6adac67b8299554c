"""alkdsr: ALKDNet for lightweight super-resolution, as a BasicSR plugin.

``import alkdsr`` is the one line that puts alkdsr's architectures, model and datasets into BasicSR's
registries and makes a stock ``basicsr`` 1.4.2 importable on current torchvision. How: it imports
neither torch nor BasicSR itself (the networks are plain torch and ``alkdsr --help`` answers at once);
it puts a finder first on ``sys.meta_path`` that, when BasicSR is first imported, registers the
``torchvision.transforms.functional_tensor`` alias BasicSR needs (``alkdsr.utils.compat``), lets BasicSR
load, then calls ``alkdsr.training.registration.register`` (at once, if BasicSR already is imported).
``alkdsr.load_model``, ``alkdsr.save_checkpoint`` and the subpackages load when first used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

from alkdsr.version import __version__

REGISTRATION = 'alkdsr.training.registration'  # its register() fills BasicSR's registries
_state = {'pending': False, 'registering': False}


def _register_when_idle(loaded: str | None = None) -> None:
    """Register alkdsr's classes with BasicSR, once no module of alkdsr is half loaded (``loaded`` just finished).

    When BasicSR is first imported by a module of alkdsr, that module and those importing it are still
    loading, and registration imports names from them: it waits until the last of them has loaded
    (:class:`_Hook` calls this after each).
    """
    if not _state['pending'] or _state['registering']:
        return
    if any(name != loaded and _loading(name) for name in list(sys.modules)):
        return
    _state['registering'] = True
    try:
        importlib.import_module(REGISTRATION).register()
        _state['pending'] = False
    finally:
        _state['registering'] = False


def _loading(name: str) -> bool:
    if not name.startswith('alkdsr.'):
        return False
    spec = getattr(sys.modules.get(name), '__spec__', None)
    return bool(getattr(spec, '_initializing', False))  # set by importlib while a module executes


class _Hook(importlib.abc.MetaPathFinder):
    """Loads BasicSR after the shims it needs, then registers; tells registration of each module of alkdsr
    that has loaded, in case it waits for that one."""

    def find_spec(self, name, path=None, target=None):
        if name == 'basicsr':
            sys.meta_path.remove(self)
            from alkdsr.utils.compat import install_torchvision_alias

            install_torchvision_alias()
            spec = importlib.util.find_spec(name)
            sys.meta_path.insert(0, self)
        elif name.startswith('alkdsr.'):  # loading now, it may be the module registration waits for
            spec = importlib.machinery.PathFinder.find_spec(name, path)
        else:
            return None
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    """The module's own loader (``get_code``, ``get_source``, ... are its), telling registration when done."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader
        self.loader.exec_module(module)
        if module.__name__ == 'basicsr':
            _state['pending'] = True
        _register_when_idle(loaded=module.__name__)


if 'basicsr' in sys.modules:
    _state['pending'] = True
    _register_when_idle()
elif not any(isinstance(finder, _Hook) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Hook())


def __getattr__(name: str):
    if name in ('load_model', 'save_checkpoint'):
        return getattr(importlib.import_module('alkdsr.zoo.checkpoint'), name)
    if importlib.util.find_spec(f'{__name__}.{name}') is not None:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['archs', 'data', 'models', 'load_model', 'save_checkpoint', '__version__']
