"""alkdsr's run-time changes to BasicSR 1.4.2, each for a named upstream problem.

Site-packages are never edited. When BasicSR is imported (``alkdsr/__init__.py`` calls
:func:`install_torchvision_alias` first), so that a stock basicsr imports at all: BasicSR imports
``torchvision.transforms.functional_tensor``, which torchvision removed in 0.17 (it lives on as the
private ``_functional_tensor``): an alias in ``sys.modules``. (It also imports ``distutils.version``,
gone from Python 3.12: alkdsr requires setuptools, which provides it there.)

Before ``alkdsr/train.py`` and ``alkdsr/test.py`` run BasicSR's pipelines (:func:`install`; the two
changes that need alkdsr's model and training loader, which sit above this layer, are made there,
by ``install_basicsr_fixes`` in ``alkdsr/train.py``):

- (``alkdsr/train.py``) ``basicsr.train.load_resume_state`` calls ``torch.cuda.current_device()`` (fails on
  the CPU) and unpickles the training state fully (runs any code in it): its replacement reads it to the CPU
  (the optimizers move their states to their parameters' devices; the random states must stay there),
  with ``weights_only=True``, and checks what resuming needs;
- the DataLoader workers of ``basicsr.data.build_dataloader`` die of the SIGTERM a job scheduler sends
  the whole process group, which fails the main process before it can save: its ``worker_init_fn``
  becomes :func:`worker_init_fn` (BasicSR's seeding, SIGTERM left to the main process);
- (``alkdsr/train.py``) ``basicsr.train.create_train_val_dataloader`` counts ``ceil(pairs / batch)``
  iterations per epoch, but its loader drops the last incomplete batch (``drop_last=True``), so training
  stops short of ``total_iter``; and its training loader cannot resume in the middle of an epoch (the
  loop replays the saved epoch from its first batch, with other random crops):
  ``alkdsr.data.resumable_loader.exact_epochs`` counts the epochs from the loader's own length and makes
  the training loader resumable;
- (``alkdsr/train.py``) ``BaseModel.load_network`` (every model type, ``SRModel`` too) calls ``torch.load`` without
  ``weights_only``, so it unpickles whatever a checkpoint holds (and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
  turns even torch's safe default off): it becomes ``ALKDSRModel.load_network``, which reads through
  ``alkdsr.zoo.checkpoint`` with ``weights_only=True`` whatever that variable says;
"""

from __future__ import annotations

import importlib
import sys

_ALIAS = 'torchvision.transforms.functional_tensor'


def install_torchvision_alias() -> None:
    """Register ``torchvision.transforms.functional_tensor`` if torchvision lacks it."""
    if _ALIAS in sys.modules:
        return
    try:
        importlib.import_module(_ALIAS)
        return
    except ImportError:
        pass
    module = importlib.import_module('torchvision.transforms._functional_tensor')
    sys.modules[_ALIAS] = module


_installed = False
_basicsr_worker_init_fn = None  # BasicSR's own, kept by install()


def install() -> None:
    """Put the run-time fixes listed above into the imported BasicSR modules (idempotent)."""
    global _installed, _basicsr_worker_init_fn
    if _installed:
        return
    import basicsr.data as basicsr_data

    _basicsr_worker_init_fn = basicsr_data.worker_init_fn
    basicsr_data.worker_init_fn = worker_init_fn
    _installed = True


def worker_init_fn(worker_id, num_workers, rank, seed):
    """BasicSR's DataLoader ``worker_init_fn`` (seeding), in a worker that leaves SIGTERM to the main process.

    A module-level function, so that spawned workers can unpickle it; there ``install()`` has not run and
    ``basicsr.data.worker_init_fn`` is still BasicSR's own.
    """
    import signal

    import basicsr.data as basicsr_data

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    seeding = _basicsr_worker_init_fn or basicsr_data.worker_init_fn
    seeding(worker_id, num_workers=num_workers, rank=rank, seed=seed)
