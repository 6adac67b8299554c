"""alkdsr: ALKDNet for lightweight super-resolution, as a BasicSR plugin.

Importing alkdsr makes a stock ``basicsr`` 1.4.2 importable on current torchvision and
registers alkdsr's architectures, models and datasets in BasicSR's registries.
"""

from alkdsr.utils.compat import install_distutils_shim, install_torchvision_alias

install_torchvision_alias()
install_distutils_shim()

from alkdsr.utils.checkpoint import load_model, save_checkpoint  # noqa: E402
from alkdsr.version import __version__  # noqa: E402

from . import archs, data, models  # noqa: E402  (fill BasicSR's registries)

__all__ = ['archs', 'data', 'models', 'load_model', 'save_checkpoint', '__version__']
