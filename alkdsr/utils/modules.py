"""The plain module inside the wrappers that training and inference put around a network."""

from __future__ import annotations

from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel


def bare_module(net: nn.Module) -> nn.Module:
    """``net`` without its DataParallel/DistributedDataParallel and torch.compile wrappers, however nested."""
    while True:
        if isinstance(net, (DataParallel, DistributedDataParallel)):
            net = net.module
        elif hasattr(net, '_orig_mod'):  # torch.compile's OptimizedModule
            net = net._orig_mod
        else:
            return net
