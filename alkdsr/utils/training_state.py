"""Writing checkpoints and training states atomically, and reading training states safely.

BasicSR writes ``net_g_<iter>.pth`` and ``<iter>.state`` in place, so a process killed while
saving leaves a truncated file that ``--auto_resume`` then picks. Here every file is written
to a temporary name and renamed, so a file that exists is complete. Training states are read
with ``weights_only=True``: they hold only tensors, numbers and plain containers.
"""

from __future__ import annotations

import collections
import os
import re
from pathlib import Path

import torch

from alkdsr.errors import OutputError
from alkdsr.utils.checkpoint import CheckpointError, torch_load_safely
from alkdsr.utils.fileio import atomic_path

# MultiStepRestartLR keeps its milestones in a Counter, a plain dict subclass
_STATE_SAFE_GLOBALS = [collections.Counter]
_STATE_NAME = re.compile(r'^(\d+)\.state$')


# how torch.save's zip writer words a write that failed (a full disk, a file-size limit)
_WRITE_FAILURES = ('inline_container', 'PytorchStreamWriter', 'iostream error', 'write failed', 'file write')


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, rename."""
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch.save reports a failed write (a full disk) as a RuntimeError
            if not any(sign in str(e) for sign in _WRITE_FAILURES):
                raise
            raise OutputError(f'torch.save could not write {path}: {str(e).splitlines()[0]}') from e


def read_training_state(path: str | os.PathLike, map_location=None) -> dict:
    """Load a BasicSR training state (``<iter>.state``) without unpickling arbitrary objects."""
    path = Path(path)
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
