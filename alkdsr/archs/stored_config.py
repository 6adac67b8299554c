"""The network's config, carried among its weights as one more state-dict entry (``alkdsr_config``).

Residual learning and ESA's padding have no parameters, so several variants have the same weights' names
and shapes; only a config saved with the weights tells them apart. alkdsr's checkpoints have always held it
beside the weights (``'arch'`` next to ``'params'``, safetensors metadata), where tools that keep only the
state dict lose it: spandrel (chaiNNer, ComfyUI) unwraps ``params`` and never reads safetensors metadata.
As an entry of the state dict itself, a uint8 tensor of the config's JSON, it travels wherever the weights
go. ``ALKDNet`` takes the entry out when it loads a state dict, so BasicSR's ``load_network`` (strict)
loads these checkpoints like any other.
"""

from __future__ import annotations

import json

import torch

KEY = 'alkdsr_config'


def as_tensor(config: dict) -> torch.Tensor:
    """``config`` as the state-dict entry: its JSON text, UTF-8, as a uint8 tensor."""
    return torch.tensor(list(json.dumps(config, sort_keys=True).encode()), dtype=torch.uint8)


def read(state_dict: dict) -> dict | None:
    """The config a state dict carries, or None; ValueError for an entry that is not such a config."""
    entry = state_dict.get(KEY)
    if entry is None:
        return None
    if not isinstance(entry, torch.Tensor) or entry.dtype != torch.uint8 or entry.dim() != 1:
        raise ValueError(f'its {KEY} entry is not a config (a uint8 tensor of JSON)')
    try:
        config = json.loads(bytes(entry.tolist()).decode())
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f'its {KEY} entry is not JSON') from None
    if not isinstance(config, dict):
        raise ValueError(f'its {KEY} entry is not a mapping (found {type(config).__name__})')
    return config


def without(state_dict: dict) -> dict:
    """The weights alone: ``state_dict`` without its config entry."""
    return {k: v for k, v in state_dict.items() if k != KEY}
