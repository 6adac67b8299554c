"""BSRN (Li et al., 2022) under its authors' name and arguments: the ALKDNet ablation baseline.

It is ALKDNet's ``'bsrn'`` preset: BSConv refinement, feature-space residual only, no
pixel norm. Registered so BSRN option files and checkpoints work unchanged.
"""

from __future__ import annotations

from alkdsr.archs.alkdn_arch import ALKDN
from alkdsr.archs.registry import ARCH_REGISTRY


@ARCH_REGISTRY.register()
class BSRN(ALKDN):
    """BSRN with the official constructor arguments: ALKDN's, with the ``'bsrn'`` preset and BSConv only.

    Args:
        num_in_ch (int): Channels of the LR image. Default: 3.
        num_feat (int): Feature channels. Default: 64.
        num_block (int): Number of ESDBs. Default: 8.
        num_out_ch (int): Channels of the SR image. Default: 3.
        upscale (int): Upscaling factor. Default: 4.
        conv (str): Only 'BSConvU' (BSConvS is not supported).
        upsampler (str): Only 'pixelshuffledirect'.
        p (float): Unused (BSConvS's ratio).
    """

    PRESET = 'bsrn'

    def __init__(
        self,
        num_in_ch=3,
        num_feat=64,
        num_block=8,
        num_out_ch=3,
        upscale=4,
        conv='BSConvU',
        upsampler='pixelshuffledirect',
        p=0.25,
    ):
        if conv != 'BSConvU':
            raise ValueError(f"only conv='BSConvU' is supported (got {conv!r})")
        super().__init__(num_in_ch, num_feat, num_block, num_out_ch, upscale, conv, 3, upsampler, p)
