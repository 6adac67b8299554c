"""ALKDNet: Asymmetric Large Kernel Distillation Network (the paper's Sec. 3).

``ALKDNet`` is the paper's network and, through constructor arguments, every ablation
variant of it, BSRN included (see ``presets.py``). The authors' names and arguments are
``ALKDN`` (``alkdn_arch.py``) and ``BSRN`` (``bsrn_arch.py``), so their option files run unchanged.
Plain torch: BasicSR learns the name from ``alkdsr.training.registration``.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from alkdsr.archs import stored_config
from alkdsr.archs.arch_util import (
    ALKDB,
    REFINE_CONVS,
    BSConv,
    check_kernel_size,
    conv1x1,
    is_integer,
    make_conv,
    pad_to_min_size,
)
from alkdsr.archs.official_keys import is_official, to_alkdsr_names
from alkdsr.archs.presets import ARCH_DEFAULTS, DEFAULT_PRESET, preset_config, preset_of
from alkdsr.archs.registry import ARCH_REGISTRY

RESIDUALS = ('fsrl', 'abrl', 'both')
UPSAMPLERS = ('pixelshuffledirect',)
POSITIVE_INTS = ('upscale', 'num_in_ch', 'num_out_ch', 'num_block', 'num_replicas')


@ARCH_REGISTRY.register()
class ALKDNet(nn.Module):
    """ALKDNet and its ablation variants (BSRN included) for x2/x3/x4 super-resolution.

    Arguments left as None take the value of ``preset`` (default ``'alkdnet'``, the paper's
    model, whose values are given in brackets).

    Args:
        upscale (int): Upscaling factor s [4].
        preset (str): Named configuration, see ``alkdsr.archs.presets.PRESETS`` ['alkdnet'].
        num_in_ch (int): Channels of the LR image [3].
        num_out_ch (int): Channels of the SR image; must equal num_in_ch with ABRL [3].
        num_feat (int): Feature channels [64].
        num_block (int): Number of ALKDBs [8].
        num_replicas (int): Times m the LR image is replicated along channels [4].
        refine_conv (str): Refinement conv in the blocks: 'alkconv' or 'bsconv' ['alkconv'].
        kernel_size (int): Kernel size k of the blocks' refinement convs, odd >= 3 [9].
        fusion_kernel_size (int): Kernel size of the conv after deep feature fusion
            (same conv type as refine_conv) [3].
        residual (str): 'fsrl' (add shallow features), 'abrl' (add the LR image as anchors
            before PixelShuffle) or 'both' ['both'].
        pixel_norm (bool): Pixel normalisation at the end of each block [True].
        esa_padding (int): Padding of ESA's stride-2 conv: 0 in BSRN, 1 in ALKDNet [1].
        upsampler (str): 'pixelshuffledirect' (3x3 conv then PixelShuffle) ['pixelshuffledirect'].

    Inputs smaller than ``min_size`` (13 with esa_padding 1, 15 with 0: the least ESA's
    strided pooling accepts) are padded up to it and the output cropped back, so any
    size >= 1x1 works.
    """

    def __init__(
        self,
        upscale=None,
        preset=None,
        num_in_ch=None,
        num_out_ch=None,
        num_feat=None,
        num_block=None,
        num_replicas=None,
        refine_conv=None,
        kernel_size=None,
        fusion_kernel_size=None,
        residual=None,
        pixel_norm=None,
        esa_padding=None,
        upsampler=None,
    ):
        args = dict(locals())
        super().__init__()
        given = {k: v for k, v in args.items() if k not in ('self', '__class__', 'preset') and v is not None}
        preset = preset or DEFAULT_PRESET
        cfg = {**preset_config(preset), **given}
        self._check(cfg)
        self.config = {**cfg, 'preset': preset_of(cfg)}
        self.upscale = cfg['upscale']
        self.num_replicas = cfg['num_replicas']
        self.fsrl = cfg['residual'] in ('fsrl', 'both')
        self.abrl = cfg['residual'] in ('abrl', 'both')
        feat = cfg['num_feat']

        self.shallow = BSConv(cfg['num_in_ch'] * self.num_replicas, feat, 3)
        self.blocks = nn.ModuleList(
            ALKDB(feat, cfg['refine_conv'], cfg['kernel_size'], cfg['pixel_norm'], cfg['esa_padding'])
            for _ in range(cfg['num_block'])
        )
        self.min_size = self.blocks[0].esa.min_size
        self.fuse = conv1x1(feat * cfg['num_block'], feat)
        self.smooth = make_conv(cfg['refine_conv'], feat, feat, cfg['fusion_kernel_size'])
        self.upsample = nn.Conv2d(feat, cfg['num_out_ch'] * self.upscale**2, 3, padding=1)
        self.register_load_state_dict_pre_hook(_translate_official_keys)

    @staticmethod
    def _check(cfg: dict) -> None:
        """Refuse, naming the argument, a value the network cannot be built from or would not run with.

        Each argument is checked for what it must be, not for the error it would cause later: num_block 0
        failed at an index, num_replicas 0 built a network that failed at its first call, upscale=True was
        taken as x1 and num_in_ch 0 built a network of empty convolutions. Integers are stored as ``int``
        (a numpy integer from a caller's array becomes one).
        """
        for key in POSITIVE_INTS:
            if not is_integer(cfg[key]) or cfg[key] < 1:
                raise ValueError(f'{key} must be a positive integer (got {cfg[key]!r})')
            cfg[key] = int(cfg[key])
        for key in ('kernel_size', 'fusion_kernel_size'):
            cfg[key] = check_kernel_size(cfg[key], key)
        if not is_integer(cfg['num_feat']) or cfg['num_feat'] % 4 or cfg['num_feat'] < 16:
            raise ValueError(f'num_feat must be a multiple of 4 and >= 16 (got {cfg["num_feat"]!r})')
        cfg['num_feat'] = int(cfg['num_feat'])
        if not is_integer(cfg['esa_padding']) or cfg['esa_padding'] not in (0, 1):
            raise ValueError(f'esa_padding must be 0 or 1 (got {cfg["esa_padding"]!r})')
        cfg['esa_padding'] = int(cfg['esa_padding'])
        if not isinstance(cfg['pixel_norm'], bool):
            raise ValueError(f'pixel_norm must be True or False (got {cfg["pixel_norm"]!r})')
        for key, choices in (('refine_conv', REFINE_CONVS), ('residual', RESIDUALS), ('upsampler', UPSAMPLERS)):
            if cfg[key] not in choices:
                raise ValueError(f'{key} must be one of {choices} (got {cfg[key]!r})')
        if cfg['residual'] != 'fsrl' and cfg['num_in_ch'] != cfg['num_out_ch']:
            raise ValueError('ABRL adds the LR image to the output: num_in_ch must equal num_out_ch')

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h, w = lr.shape[-2:]
        lr = pad_to_min_size(lr, self.min_size)
        s = self.upscale
        f_0 = self.shallow(lr.repeat(1, self.num_replicas, 1, 1))  # F_0 = H_SFE(Concat(I_LR x m))
        features, f_k = [], f_0
        for block in self.blocks:  # F_k = H_k(F_{k-1})
            f_k = block(f_k)
            features.append(f_k)
        f_fused = self.smooth(F.gelu(self.fuse(torch.cat(features, dim=1))))  # H_fusion
        if self.fsrl:  # feature-space residual learning
            f_fused = f_fused + f_0
        out = self.upsample(f_fused)  # Conv_up
        if self.abrl:  # anchor-based residual learning: each LR pixel is the anchor of its s x s HR pixels
            out = out + lr.repeat_interleave(s * s, dim=1)
        sr = F.pixel_shuffle(out, s)  # H_PS
        return sr[..., : h * s, : w * s]

    @staticmethod
    def config_from_state_dict(state_dict: dict) -> dict:
        """Constructor arguments recognised from a state dict's keys and shapes (ours or official).

        Residual learning and ESA's padding have no parameters of their own, so they cannot
        be read off the weights: they are the paper's model's ('both', 1) for blocks with
        pixel norm and BSRN's ('fsrl', 0) otherwise, unless the checkpoint carries its
        config (see ``alkdsr.zoo.checkpoint``).
        """
        sd = to_alkdsr_names(state_dict)
        required = ('shallow.pw.weight', 'fuse.weight', 'upsample.weight', 'blocks.0.distill.0.weight')
        missing = [k for k in required if k not in sd]
        if missing:
            raise ValueError(f'not an ALKDNet/BSRN state dict (missing {", ".join(missing)})')
        num_feat, in_x_m = sd['shallow.pw.weight'].shape[:2]
        num_block = 1 + max(int(m[1]) for k in sd if (m := re.match(r'blocks\.(\d+)\.', k)))
        num_replicas = ARCH_DEFAULTS['num_replicas']
        num_in_ch = in_x_m // num_replicas
        out_x_s2 = sd['upsample.weight'].shape[0]
        upscale = round((out_x_s2 / num_in_ch) ** 0.5)
        if in_x_m % num_replicas or upscale**2 * num_in_ch != out_x_s2:
            raise ValueError(f'unsupported channel layout: {in_x_m} input and {out_x_s2} output channels')
        alk = 'blocks.0.refine.0.vertical.weight' in sd
        pixel_norm = 'blocks.0.norm.weight' in sd
        if alk:
            kernel_size = sd['blocks.0.refine.0.vertical.weight'].shape[2]
            fusion_kernel_size = sd['smooth.vertical.weight'].shape[2]
        else:
            kernel_size = sd['blocks.0.refine.0.dw.weight'].shape[2]
            fusion_kernel_size = sd['smooth.dw.weight'].shape[2]
        return dict(
            upscale=upscale,
            num_in_ch=num_in_ch,
            num_out_ch=num_in_ch,
            num_feat=num_feat,
            num_block=num_block,
            num_replicas=num_replicas,
            refine_conv='alkconv' if alk else 'bsconv',
            kernel_size=kernel_size,
            fusion_kernel_size=fusion_kernel_size,
            residual='both' if pixel_norm else 'fsrl',
            pixel_norm=pixel_norm,
            esa_padding=1 if pixel_norm else 0,
            upsampler='pixelshuffledirect',
        )


def _translate_official_keys(module, state_dict, prefix, *args):
    """Load-state-dict pre-hook: rename official (ALKDN/BSRN) keys to ours, in place; the config carried among
    the weights (``alkdsr.archs.stored_config``) is not a parameter, and is taken out."""
    state_dict.pop(prefix + stored_config.KEY, None)
    keys = [k for k in state_dict if k.startswith(prefix)]
    local = {k[len(prefix) :]: k for k in keys}
    if not is_official(local):
        return
    renamed = to_alkdsr_names({name: state_dict.pop(full) for name, full in local.items()})
    state_dict.update({prefix + k: v for k, v in renamed.items()})
