"""Resuming: the training state to go on from, read safely and checked before the run writes anything."""

from __future__ import annotations

from os import path as osp

from alkdsr.errors import AlkdsrError
from alkdsr.options.checks import check_network, check_pretrained
from alkdsr.training.states import latest_training_state, read_training_state


def load_resume_state(opt: dict):
    """The training state to resume from, or None: :func:`_read_resume_state` (safe, on the CPU), then the
    network of the resumed iteration checked against ``network_g``; read before the run claims its folder, so
    that a refused resume leaves nothing behind."""
    state = _read_resume_state(opt)
    if state is not None:
        net = check_network('network_g', opt['network_g'], opt.get('scale'))
        check_pretrained(opt['path'], net)
        if net is not None:
            _check_optimizer_shapes(state, net, opt['path']['resume_state'])
    return state


def _check_optimizer_shapes(state: dict, net, path) -> None:
    """The optimizer's saved moments fit network_g's parameters: a state of another network (other width,
    depth or scale) would fail inside Adam at the first step, once the log has started."""
    params = [p for p in net.parameters() if p.requires_grad]
    for optimizer in state.get('optimizers', [])[:1]:  # optim_g's
        moments = (optimizer.get('state') or {}) if isinstance(optimizer, dict) else {}
        for index, moment in sorted(moments.items()):
            saved = moment.get('exp_avg') if isinstance(moment, dict) else None
            if saved is None:
                continue
            if index >= len(params) or tuple(saved.shape) != tuple(params[index].shape):
                wanted = tuple(params[index].shape) if index < len(params) else 'none'
                raise AlkdsrError(
                    f'{path}: written by another network than network_g (its parameter {index} is '
                    f'{tuple(saved.shape)}, network_g\'s {wanted}); resume with the network it was trained with, '
                    'or start a new run from its weights (path: pretrain_network_g)'
                )


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
    check_resume(opt, state['iter'])
    _check_schedule_end(opt, state, path)
    for key, value in opt['path'].items():
        if key.startswith('pretrain_network') and value and not osp.isfile(value):
            raise AlkdsrError(f'{value}: missing, cannot resume from {path} without the network of that iteration')
    return state


def _resume_state_path(opt: dict) -> str | None:
    """With --auto_resume the newest ``<iter>.state`` of the experiment, else (or when there is none yet)
    ``path: resume_state``. BasicSR's ignores ``resume_state`` under --auto_resume, even in a fresh folder,
    and starts from iteration 1: here a run asked to resume from a state does."""
    states = opt['path']['training_states']
    if opt['auto_resume']:
        if osp.exists(states) and not osp.isdir(states):
            raise AlkdsrError(f'{states}: a file where --auto_resume looks for the training states; move it away')
        latest = latest_training_state(states)
        if latest is not None:
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
