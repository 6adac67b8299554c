"""alkdsr's run-time changes to BasicSR 1.4.2, each for a named upstream problem.

Site-packages are never edited. When BasicSR is imported (``alkdsr/__init__.py`` calls
:func:`install_torchvision_alias` first), so that a stock basicsr imports at all: BasicSR imports
``torchvision.transforms.functional_tensor``, which torchvision removed in 0.17 (it lives on as the
private ``_functional_tensor``): an alias in ``sys.modules``. (It also imports ``distutils.version``,
gone from Python 3.12: alkdsr requires setuptools, which provides it there.)

Before ``alkdsr/train.py`` and ``alkdsr/test.py`` run BasicSR's pipelines (:func:`install`; the two
changes that need alkdsr's model and training loader, which sit above this layer, are made there,
by ``install_basicsr_fixes`` in ``alkdsr/train.py``):

- ``basicsr.train.load_resume_state`` calls ``torch.cuda.current_device()`` (fails on the CPU) and
  unpickles the training state fully (runs any code in it): :func:`load_resume_state` reads it to the CPU
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
  ``alkdsr.utils.checkpoint`` with ``weights_only=True`` whatever that variable says;
"""

from __future__ import annotations

import importlib
import sys
from os import path as osp

from alkdsr.errors import AlkdsrError

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
    import basicsr.train as basicsr_train

    basicsr_train.load_resume_state = load_resume_state
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


def load_resume_state(opt: dict):
    """Replacement for ``basicsr.train.load_resume_state`` that works on the CPU and unpickles nothing unsafe."""
    from basicsr.utils import check_resume

    from alkdsr.utils.fileio import remove_stale_temporaries
    from alkdsr.utils.training_state import read_training_state

    path = _resume_state_path(opt)
    if path is None:
        return None
    state = read_training_state(path, map_location='cpu')
    for folder in (opt['path']['models'], opt['path']['training_states']):
        remove_stale_temporaries(folder)  # left by a process killed while saving
    check_resume(opt, state['iter'])
    _check_schedule_end(opt, state, path)
    for key, value in opt['path'].items():
        if key.startswith('pretrain_network') and value and not osp.isfile(value):
            raise AlkdsrError(f'{value}: missing, cannot resume from {path} without the network of that iteration')
    return state


def _resume_state_path(opt: dict) -> str | None:
    """As BasicSR: with --auto_resume the newest ``<iter>.state`` of the experiment, else path: resume_state."""
    from alkdsr.utils.training_state import latest_training_state

    if opt['auto_resume']:
        latest = latest_training_state(opt['path']['training_states'])
        if latest is None:
            return None
        opt['path']['resume_state'] = str(latest)
        return str(latest)
    return opt['path'].get('resume_state')


def _check_schedule_end(opt: dict, state: dict, path) -> None:
    """The restored schedule must reach ``total_iter``: BasicSR's restart schedulers fail past their end."""
    ends = [s.get('cumulative_period') for s in state.get('schedulers', []) if isinstance(s, dict)]
    total = int(opt['train']['total_iter'])
    for cumulative in ends:
        if cumulative and total > cumulative[-1]:
            raise AlkdsrError(
                f'train: total_iter {total} is past the end of the learning-rate schedule restored from {path} '
                f'(iteration {cumulative[-1]}); resume with total_iter <= {cumulative[-1]}, or start a new run '
                'from its network (path: pretrain_network_g) with a longer schedule'
            )
