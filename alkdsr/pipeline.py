"""Running BasicSR's own train/test pipelines with alkdsr's fixes installed.

``alkdsr/train.py`` and ``alkdsr/test.py`` call :func:`run`. Before BasicSR's pipeline starts,
:func:`install` replaces three pieces of BasicSR 1.4.2 at run time (site-packages untouched):

- ``init_dist``: NCCL on GPUs, gloo on CPU-only machines (``alkdsr.dist``);
- ``load_resume_state``: BasicSR's assumes CUDA (``torch.cuda.current_device()``) and unpickles
  the state fully; ours maps it to the training device, reads it with ``weights_only=True``,
  and checks that the network checkpoint of that iteration exists;
- ``paired_paths_from_folder``: BasicSR lists folders in ``os.scandir`` order, which differs
  between file systems; ours sorts the pairs by name, as the LMDB backend does, so the same
  seed gives the same batches from a folder or an LMDB on any machine.
"""

from __future__ import annotations

import logging
import os
import sys
from os import path as osp

import torch

from . import dist as alkdsr_dist
from .errors import AlkdsrError
from .models.state_io import latest_training_state, read_training_state

_installed = False


def install() -> None:
    """Install the fixes above into the imported BasicSR modules (idempotent)."""
    global _installed
    if _installed:
        return
    import basicsr.data.paired_image_dataset as paired_image_dataset
    import basicsr.train as basicsr_train

    alkdsr_dist.install()
    basicsr_train.load_resume_state = load_resume_state
    paired_image_dataset.paired_paths_from_folder = sorted_paired_paths_from_folder
    _installed = True


def sorted_paired_paths_from_folder(folders, keys, filename_tmpl):
    """BasicSR's ``paired_paths_from_folder``, sorted by file name (stem) like LMDB keys."""
    from basicsr.data.data_util import paired_paths_from_folder

    paths = paired_paths_from_folder(folders, keys, filename_tmpl)
    gt_key = f'{keys[1]}_path'
    return sorted(paths, key=lambda p: osp.splitext(osp.basename(p[gt_key]))[0])


def _resume_state_path(opt: dict) -> str | None:
    """As BasicSR: with --auto_resume the newest ``<iter>.state`` of the experiment, else path: resume_state."""
    if opt['auto_resume']:
        latest = latest_training_state(opt['path']['training_states'])
        if latest is None:
            return None
        opt['path']['resume_state'] = str(latest)
        return str(latest)
    return opt['path'].get('resume_state')


def load_resume_state(opt: dict):
    """Replacement for ``basicsr.train.load_resume_state`` that works on the CPU."""
    from basicsr.utils import check_resume

    path = _resume_state_path(opt)
    if path is None:
        return None
    on_gpu = opt.get('num_gpu', 0) != 0 and torch.cuda.is_available()
    device = torch.device('cuda', torch.cuda.current_device()) if on_gpu else torch.device('cpu')
    state = read_training_state(path, map_location=device)
    check_resume(opt, state['iter'])
    for key, value in opt['path'].items():
        if key.startswith('pretrain_network') and value and not osp.isfile(value):
            raise AlkdsrError(f'{value}: missing, cannot resume from {path} without the network of that iteration')
    return state


def _fix_local_rank_flag(argv: list[str]) -> list[str]:
    """``torch.distributed.launch`` passes ``--local-rank``; BasicSR's parser wants ``--local_rank``."""
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def check_option_file(argv: list[str]) -> None:
    """The ``-opt`` file must exist and hold a YAML mapping (BasicSR would end in a traceback)."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    path = parser.parse_known_args(argv[1:])[0].opt
    if path is None:
        return  # BasicSR's parser reports the missing flag
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except OSError as e:
        raise AlkdsrError(f'{path}: cannot read the option file ({e.strerror})') from None
    except yaml.YAMLError as e:
        raise AlkdsrError(f'{path}: not valid YAML ({" ".join(str(e).split())})') from None
    if not isinstance(content, dict):
        raise AlkdsrError(f'{path}: not an option file (expected a YAML mapping of options)')


def run(kind: str, prog: str) -> int:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with the current directory as root.

    Experiments land in ``./experiments/<name>/`` (and ``./tb_logger/``); test results in
    ``./results/<name>/``. User errors print one line ``<prog>: error: ...`` and return 2.
    """
    import alkdsr  # noqa: F401  (fills BasicSR's registries)

    install()
    sys.argv = _fix_local_rank_flag(sys.argv)
    root_path = os.getcwd()
    try:
        check_option_file(sys.argv)
        if kind == 'train':
            from basicsr.train import train_pipeline

            train_pipeline(root_path)
        else:
            from basicsr.test import test_pipeline

            test_pipeline(root_path)
    except AlkdsrError as e:
        logging.shutdown()
        print(f'{prog}: error: {e}', file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr, flush=True)
        return 130
    return 0
