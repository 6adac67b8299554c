"""The input check of the networks that torch.hub and spandrel hand out.

Those networks are called by code alkdsr does not see (a ComfyUI node, a notebook), with tensors
of any shape, dtype and device. ALKDNet repeats the input ``num_replicas`` times along the channels before
its first conv, so a wrong input fails deep inside with a message about 12 or 16 channels, and an unbatched
(C, H, W) image even runs through part of the network; the check names what was expected and what came,
at the call.
"""

from __future__ import annotations

import torch
from torch import nn


def check_input(net: nn.Module, args: tuple) -> None:
    """Forward pre-hook: raise ValueError (one line) unless the input is what the network computes on.

    That is (N, num_in_ch, H, W) with H, W >= 1 (N may be 0), of the weights' dtype (any floating dtype under
    autocast, which casts it) and on their device: an empty image, a float64 or uint8 tensor, or a tensor on
    another device failed inside a convolution with a message about the weights. ValueError, as spandrel's
    call API raises for an input that is not 4-D. Inputs passed by keyword are left to the network.
    """
    if not args:
        return
    x = args[0]
    name, channels = type(net).__name__, net.config['num_in_ch']
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == channels):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f'{name} expects (N, {channels}, H, W), got {got}')
    if min(x.shape[2:]) < 1:
        raise ValueError(f'{name} expects (N, {channels}, H, W) with H, W >= 1, got {tuple(x.shape)}')
    weight = next(net.parameters())
    if x.device != weight.device:
        raise ValueError(f'{name} expects a tensor on {weight.device} (where its weights are), got {x.device}')
    autocast = x.is_floating_point() and torch.is_autocast_enabled(x.device.type)
    if x.dtype != weight.dtype and not autocast:
        raise ValueError(f'{name} expects a {weight.dtype} tensor (the dtype of its weights), got {x.dtype}')


def checking_inputs(net: nn.Module) -> nn.Module:
    """``net`` (an ALKDNet) with :func:`check_input` run before each call; returns ``net`` itself.

    A hook rather than a wrapper module, so what is handed out is still the ALKDNet (its ``config``,
    ``upscale`` and state-dict keys unchanged).
    """
    net.register_forward_pre_hook(check_input)
    return net
