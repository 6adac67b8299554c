"""A process's random-number state (Python, NumPy, torch, CUDA) as tuples and tensors.

The training state keeps it so that a resumed run draws the numbers the uninterrupted run drew;
the types are the ones ``torch.load(weights_only=True)`` reads back (NumPy's key becomes a tensor).
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def get_state() -> dict:
    """The random state of this process: Python's, NumPy's, torch's and, once CUDA is in use, every GPU's."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    state = {
        'python': random.getstate(),
        'numpy': (name, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_state(state: dict) -> None:
    """Make this process draw what the process :func:`get_state` read would have drawn next."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    name, key, pos, has_gauss, gauss = state['numpy']
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@contextlib.contextmanager
def preserved():
    """Within the block, random numbers may be drawn; after it, the process draws as if none had been.

    Validation runs inside: it creates DataLoader iterators (each draws a seed from torch's generator),
    and a run resumed after a validation must draw what the uninterrupted run drew.
    """
    state = get_state()
    try:
        yield
    finally:
        set_state(state)
