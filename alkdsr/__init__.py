"""alkdsr: ALKDNet for lightweight super-resolution, as a BasicSR plugin.

Importing alkdsr makes a stock ``basicsr`` 1.4.2 importable on current torchvision and
registers alkdsr's architectures, models and datasets in BasicSR's registries.
"""

from ._compat import install_distutils_shim, install_torchvision_alias

install_torchvision_alias()
install_distutils_shim()

from . import archs, data, models  # noqa: E402  (fill BasicSR's registries)
from .version import __version__  # noqa: E402
from .weights import load_model, save_checkpoint  # noqa: E402

__all__ = ['archs', 'data', 'models', 'load_model', 'save_checkpoint', '__version__']
