"""The input check of the networks that torch.hub and spandrel hand out.

Those networks are called by code alkdsr does not see (a ComfyUI node, a notebook), with tensors
of any shape. ALKDNet repeats the input ``num_replicas`` times along the channels before its first
conv, so a wrong input fails deep inside with a message about 12 or 16 channels, and an unbatched
(C, H, W) image even runs through part of the network; the check names the shape that was expected
and the one that came, at the call.
"""

from __future__ import annotations

import torch
from torch import nn


def check_input(net: nn.Module, args: tuple) -> None:
    """Forward pre-hook: raise ValueError (one line) unless the input is (N, num_in_ch, H, W).

    ValueError, as spandrel's call API raises for an input that is not 4-D. Inputs passed by keyword
    are left to the network.
    """
    if not args:
        return
    x = args[0]
    channels = net.config['num_in_ch']
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == channels:
        return
    got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
    raise ValueError(f'{type(net).__name__} expects (N, {channels}, H, W), got {got}')


def checking_inputs(net: nn.Module) -> nn.Module:
    """``net`` (an ALKDNet) with :func:`check_input` run before each call; returns ``net`` itself.

    A hook rather than a wrapper module, so what is handed out is still the ALKDNet (its ``config``,
    ``upscale`` and state-dict keys unchanged).
    """
    net.register_forward_pre_hook(check_input)
    return net
