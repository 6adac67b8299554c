"""The input check of the networks handed to code alkdsr does not see, and of the functions that run them.

The networks torch.hub and spandrel hand out are called by code alkdsr does not see (a ComfyUI node, a
notebook), with tensors of any shape, dtype and device; so are ``alkdsr.inference.tiling.upscale_tensor`` and
the CPU runner. ALKDNet repeats the input ``num_replicas`` times along the channels before its first conv, so
a wrong input fails deep inside with a message about 12 or 16 channels, and an unbatched (C, H, W) image even
runs through part of the network; the check names what was expected and what came, at the call.
"""

from __future__ import annotations

import torch
from torch import nn

from alkdsr.archs.arch_util import is_integer

# the dtypes autocast casts to the one it runs in (it leaves float64 as it is, for a conv to fail on)
AUTOCAST_INPUTS = (torch.float16, torch.bfloat16, torch.float32)


def check_tensor(net: nn.Module, x, autocast: bool = False) -> None:
    """Raise ValueError (one line) unless ``x`` is what ``net`` computes on.

    That is (N, num_in_ch, H, W) with H, W >= 1 (N may be 0), of the weights' dtype (under ``autocast``, which
    casts it, float16, bfloat16 or float32) and on their device: an empty image, a float64 or uint8 tensor, or
    a tensor on another device failed inside a convolution with a message about the weights. ValueError, as
    spandrel's call API raises for an input that is not 4-D.
    """
    name, channels = type(net).__name__, getattr(net, 'config', {}).get('num_in_ch', 3)
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == channels):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f'{name} expects (N, {channels}, H, W), got {got}')
    if min(x.shape[2:]) < 1:
        raise ValueError(f'{name} expects (N, {channels}, H, W) with H, W >= 1, got {tuple(x.shape)}')
    weight = next(net.parameters(), None)
    if weight is None:  # a module that holds no weights of its own: what it takes is its own to say
        return
    if x.device != weight.device:
        raise ValueError(f'{name} expects a tensor on {weight.device} (where its weights are), got {x.device}')
    if x.dtype != weight.dtype and not (autocast and x.dtype in AUTOCAST_INPUTS):
        raise ValueError(f'{name} expects a {weight.dtype} tensor (the dtype of its weights), got {x.dtype}')


def check_input(net: nn.Module, args: tuple) -> None:
    """Forward pre-hook: :func:`check_tensor` of the first positional argument, with autocast as it is on the
    input's device. Inputs passed by keyword are left to the network."""
    if args:
        x = args[0]
        autocast = isinstance(x, torch.Tensor) and torch.is_autocast_enabled(x.device.type)
        check_tensor(net, x, autocast)


def checking_inputs(net: nn.Module) -> nn.Module:
    """``net`` (an ALKDNet) with :func:`check_input` run before each call; returns ``net`` itself.

    A hook rather than a wrapper module, so what is handed out is still the ALKDNet (its ``config``,
    ``upscale`` and state-dict keys unchanged).
    """
    net.register_forward_pre_hook(check_input)
    return net


def check_network(net) -> None:
    """Raise ValueError unless ``net`` is a super-resolution module (an ``nn.Module`` with an integer
    ``upscale``), as the functions that run one take: not a path or a name, which ``load_upscaler`` reads."""
    if not (isinstance(net, nn.Module) and is_integer(getattr(net, 'upscale', None))):
        what = repr(net) if isinstance(net, (str, bytes)) and len(net) < 80 else type(net).__name__
        raise ValueError(f'expected a super-resolution network (a module with .upscale, as load_upscaler gives), '
                         f'got {what}')  # fmt: skip


def check_count(name: str, value, least: int = 1, none: bool = False) -> int | None:
    """``value`` as an ``int``, if it is an integer >= ``least`` (or None, where ``none``); else ValueError. Not a
    float or text, which torch takes to a TypeError from inside, nor a bool, which it takes as 0 or 1."""
    if value is None and none:
        return None
    if not is_integer(value) or value < least:
        what = 'a positive integer' if least == 1 else f'an integer >= {least}'
        raise ValueError(f'{name} must be {what}{" or None" if none else ""} (got {value!r})')
    return int(value)
