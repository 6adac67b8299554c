"""ALKDN: ALKDNet under the name and constructor arguments of the authors' code.

Their option files (``type: ALKDN``, ``conv: LargeKernelConv``, ``lk_size: 9``) and checkpoints work unchanged.
"""

from __future__ import annotations

from alkdsr.archs.alkdnet_arch import ALKDNet
from alkdsr.archs.arch_util import check_kernel_size
from alkdsr.archs.registry import ARCH_REGISTRY

_OFFICIAL_CONVS = {'LargeKernelConv': 'alkconv', 'BSConvU': 'bsconv'}


@ARCH_REGISTRY.register()
class ALKDN(ALKDNet):
    """ALKDNet under the authors' registered name and constructor arguments.

    Args:
        num_in_ch, num_feat, num_block, num_out_ch, upscale: as in ALKDNet.
        conv (str): 'LargeKernelConv' (ALKConv) or 'BSConvU'.
        lk_size (int): Kernel size of the large kernel convs.
        upsampler (str): Only 'pixelshuffledirect'.
        p (float): Unused (BSConvS's ratio; BSConvS is not supported).
    """

    PRESET = 'alkdnet'  # the variant whose arguments the official ones leave unsaid

    def __init__(
        self,
        num_in_ch=3,
        num_feat=64,
        num_block=8,
        num_out_ch=3,
        upscale=4,
        conv='LargeKernelConv',
        lk_size=9,
        upsampler='pixelshuffledirect',
        p=0.25,
    ):
        if conv not in _OFFICIAL_CONVS:
            raise ValueError(f'conv must be one of {tuple(_OFFICIAL_CONVS)} (got {conv!r})')
        refine = _OFFICIAL_CONVS[conv]
        if refine == 'alkconv':  # checked here, under the name the caller used (ALKDNet names it kernel_size)
            check_kernel_size(lk_size, 'lk_size')
        super().__init__(
            upscale=upscale,
            preset=self.PRESET,
            num_in_ch=num_in_ch,
            num_out_ch=num_out_ch,
            num_feat=num_feat,
            num_block=num_block,
            refine_conv=refine,
            kernel_size=lk_size if refine == 'alkconv' else 3,
            upsampler=upsampler,
        )
