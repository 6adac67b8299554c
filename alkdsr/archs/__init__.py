"""Architectures, registered in BasicSR's ARCH_REGISTRY on import."""

from .alkdnet_arch import ALKDB, ALKDN, ALKDNet
from .bsrn_arch import BSRN
from .presets import PRESETS, preset_config

__all__ = ['ALKDB', 'ALKDN', 'ALKDNet', 'BSRN', 'PRESETS', 'preset_config']
