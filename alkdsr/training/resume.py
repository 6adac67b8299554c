"""Resuming: the training state to go on from, read safely and checked before the run writes anything."""

from __future__ import annotations

from os import path as osp

from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import remove_stale_temporaries
from alkdsr.options.checks import check_network, check_pretrained
from alkdsr.training.states import latest_training_state, read_training_state


def load_resume_state(opt: dict):
    """The training state to resume from, or None: :func:`_read_resume_state` (safe, on the CPU), then the
    network of the resumed iteration checked against ``network_g`` before the option file is copied and the
    log started, so that a refused resume leaves neither in the experiment folder."""
    state = _read_resume_state(opt)
    if state is not None:
        check_pretrained(opt['path'], check_network('network_g', opt['network_g'], opt.get('scale')))
    return state


def _read_resume_state(opt: dict):
    """``basicsr.train.load_resume_state``, working on the CPU and unpickling nothing unsafe.

    BasicSR's maps the state to ``torch.cuda.current_device()`` (which fails on the CPU) and unpickles it
    fully: here it is read to the CPU (the optimizers move their states to their parameters' devices, the
    random states must stay there) with ``weights_only=True``, and what resuming needs is checked.
    """
    from basicsr.utils import check_resume

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
