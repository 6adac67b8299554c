"""torch.hub entry points: ALKDNet and BSRN, untrained or with the authors' weights.

    net = torch.hub.load('/path/to/alkdsr', 'alkdnet', source='local', scale=4, pretrained=True)
    net = torch.hub.load('/path/to/alkdsr', 'bsrn', source='local', scale=2, pretrained='net_g_BSRN_x2.pth')

(or the GitHub ``owner/repo`` of a clone in place of the path, without ``source='local'``).

The networks take RGB tensors in [0, 1] of shape (N, 3, H, W) and return (N, 3, sH, sW); any other
shape, an empty image, or a tensor of another dtype or device than the weights is a ValueError:
``ALKDNet expects (N, 3, H, W), got (1, 4, 64, 64)``, ``ALKDNet expects a torch.float32 tensor (the dtype of
its weights), got torch.float64``.
"""

from __future__ import annotations

import os

dependencies = ['torch', 'numpy', 'safetensors']  # what the networks and their checkpoints need


def _build(preset: str, scale: int, pretrained, name: str):
    """The network asked for, whose calls check their input (``alkdsr.archs.inputs``).

    A hub network is called by code that alkdsr does not see: a wrong input shape is one line
    naming the expected and the given shape, not a channel count from deep inside the network.
    """
    from alkdsr.archs.inputs import checking_inputs

    return checking_inputs(_network(preset, scale, pretrained, name))


def _network(preset: str, scale: int, pretrained, name: str):
    import alkdsr
    from alkdsr.archs import ALKDNet

    if pretrained is False or pretrained is None:
        return ALKDNet(upscale=scale, preset=preset)
    if pretrained is True:
        if preset not in ('alkdnet', 'bsrn'):
            raise ValueError(f'no published weights for preset {preset!r}; pass pretrained=<checkpoint path>')
        return alkdsr.load_model(f'{name}-x{scale}')
    if not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(f'pretrained must be True, False or a checkpoint path (got {type(pretrained).__name__})')
    net = alkdsr.load_model(pretrained)
    found = (net.upscale, net.config['preset'])
    if found != (scale, preset):
        raise ValueError(f'{pretrained}: holds a x{found[0]} {found[1]} network, not the x{scale} {preset} asked for')
    return net


def alkdnet(scale: int = 4, pretrained=False, preset: str = 'alkdnet'):
    """ALKDNet (Asymmetric Large Kernel Distillation Network) for x2/x3/x4 super-resolution.

    Args:
        scale: upscaling factor (2, 3 or 4 for the published weights).
        pretrained: False for random weights; True for the authors' weights of this scale
            (``alkdsr.load_model('alkdnet-x<scale>')``, fetched once into ``$ALKDSR_HOME/weights``);
            or the path of a checkpoint (``.pth`` or ``.safetensors``, official or saved by alkdsr),
            which must hold this scale and preset.
        preset: the paper's model ``'alkdnet'`` or an ablation variant (``alkdsr.archs.PRESETS``).

    Returns an ``alkdsr.archs.ALKDNet`` (in eval mode when loaded): RGB in [0, 1], (N, 3, H, W)
    to (N, 3, scale*H, scale*W).
    """
    return _build(preset, scale, pretrained, 'alkdnet')


def bsrn(scale: int = 4, pretrained=False):
    """BSRN (Li et al., 2022), ALKDNet's baseline, for x2/x3/x4 super-resolution.

    Args:
        scale: upscaling factor (2, 3 or 4 for the published weights).
        pretrained: False for random weights; True for the authors' BSRN weights of this scale
            (``alkdsr.load_model('bsrn-x<scale>')``); or the path of a BSRN checkpoint.

    Returns an ``alkdsr.archs.ALKDNet`` with the ``'bsrn'`` preset: RGB in [0, 1], (N, 3, H, W)
    to (N, 3, scale*H, scale*W).
    """
    return _build('bsrn', scale, pretrained, 'bsrn')
