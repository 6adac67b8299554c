"""Architectures, registered in BasicSR's ARCH_REGISTRY on import."""

from alkdsr.archs.alkdnet_arch import ALKDB, ALKDN, ALKDNet
from alkdsr.archs.bsrn_arch import BSRN
from alkdsr.archs.presets import PRESETS, preset_config

__all__ = ['ALKDB', 'ALKDN', 'ALKDNet', 'BSRN', 'PRESETS', 'preset_config']
