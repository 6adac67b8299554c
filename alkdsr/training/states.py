"""Training states (BasicSR's ``<iter>.state``): the newest of a run, read without unpickling arbitrary objects.

They are written by the model (``ALKDSRModel.save_training_state``, atomically) and hold only tensors,
numbers and plain containers, so they are read with ``weights_only=True``.
"""

from __future__ import annotations

import collections
import os
import re
from pathlib import Path

from alkdsr.errors import CheckpointError
from alkdsr.zoo.checkpoint import torch_load_safely

# MultiStepRestartLR keeps its milestones in a Counter, a plain dict subclass
_STATE_SAFE_GLOBALS = [collections.Counter]
_STATE_NAME = re.compile(r'^(\d+)\.state$')


def read_training_state(path: str | os.PathLike, map_location=None) -> dict:
    """Load a BasicSR training state (``<iter>.state``) without unpickling arbitrary objects."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f'{path}: a folder, not a training state (give the <iter>.state file in it)')
    state = torch_load_safely(path, 'training state', map_location, _STATE_SAFE_GLOBALS)
    if not isinstance(state, dict) or not {'iter', 'epoch', 'optimizers', 'schedulers'} <= set(state):
        raise CheckpointError(f'{path}: not a BasicSR training state (needs iter, epoch, optimizers, schedulers)')
    return state


def latest_training_state(folder: str | os.PathLike) -> Path | None:
    """The ``<iter>.state`` with the largest iteration in ``folder``, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _STATE_NAME.match(p.name))]
    return max(found)[1] if found else None
