"""The command line of ``alkdsr/train.py`` and ``alkdsr/test.py``, and the run's options: BasicSR's
``parse_options``, with the option file read once and checked before anything else happens.

BasicSR's own reads the file with a loader that keeps ``<<`` merge keys as keys and lets a duplicate key
silently win, applies ``--force_yml`` with ``exec`` and checks nothing. Here the file is read and its tree
checked by ``alkdsr.options`` (typed, with ``--force_yml`` and ``--debug`` applied); then come BasicSR's
steps (process group, seed, ``num_gpu: auto``, dataset phases and paths), and the checks that need the
disk, a built network or the data (``alkdsr.options.checks``, :func:`alkdsr.training.data.check_datasets`),
all before any folder or log exists.
"""

from __future__ import annotations

import argparse
import os
import random

from alkdsr.options.reader import load_options
from alkdsr.options.schema import TestOptions, TrainOptions


def argument_parser() -> argparse.ArgumentParser:
    """BasicSR's command line (``basicsr.utils.options.parse_options``), flag for flag."""
    parser = argparse.ArgumentParser()
    parser.add_argument('-opt', type=str, required=True, help='Path to option YAML file.')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--auto_resume', action='store_true')
    parser.add_argument('--debug', action='store_true')
    parser.add_argument('--local_rank', type=int, default=0)
    parser.add_argument(
        '--force_yml', nargs='+', default=None, help='Force to update yml files. Examples: train:ema_decay=0.999'
    )
    return parser


def _fix_local_rank_flag(argv: list[str]) -> list[str]:
    """``torch.distributed.launch`` passes ``--local-rank``; BasicSR's parser wants ``--local_rank``."""
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def parse_options(
    argv: list[str], root_path: str, is_train: bool
) -> tuple[TrainOptions | TestOptions, dict, argparse.Namespace]:
    """``(the typed tree, BasicSR's opt dict, the arguments)`` of a run started with ``argv``, checked.

    The tree holds the file's options, typed; ``opt`` is what BasicSR's parts read: the same values, plus
    the run's own keys (``dist``, ``rank``, ``world_size``, ``is_train``, ``auto_resume``, ``root_path``,
    the paths of the run's folders, each dataset's ``phase`` and ``scale``).
    """
    import torch
    from basicsr.utils import set_random_seed
    from basicsr.utils.dist_util import get_dist_info

    from alkdsr.options.checks import check_options
    from alkdsr.training.data import check_datasets
    from alkdsr.training.distributed import init_dist

    args = argument_parser().parse_args(_fix_local_rank_flag(argv))
    tree, opt = load_options(args.opt, args.force_yml or [], is_train, debug=args.debug)
    opt['dist'] = args.launcher != 'none'
    if opt['dist']:
        dist_params = tree.dist_params.model_dump(exclude_unset=True) if tree.dist_params else {}
        init_dist(args.launcher, **(dist_params if args.launcher == 'slurm' else {}))
    opt['rank'], opt['world_size'] = get_dist_info()
    if opt.get('manual_seed') is None:
        opt['manual_seed'] = random.randint(1, 10000)
    set_random_seed(opt['manual_seed'] + opt['rank'])
    opt['auto_resume'], opt['is_train'], opt['root_path'] = args.auto_resume, is_train, root_path
    if opt['num_gpu'] == 'auto':
        opt['num_gpu'] = torch.cuda.device_count()
    for phase, dataset in opt['datasets'].items():
        dataset['phase'] = phase.split('_')[0]  # val_1, val_2, test_1, ...
        if 'scale' in opt:
            dataset['scale'] = opt['scale']
        for key in ('dataroot_gt', 'dataroot_lq'):
            if dataset.get(key) is not None:
                dataset[key] = os.path.expanduser(dataset[key])
    paths = opt['path']
    for key, value in paths.items():
        if value is not None and ('resume_state' in key or 'pretrain_network' in key):
            paths[key] = os.path.expanduser(value)
    root = os.path.join(root_path, 'experiments' if is_train else 'results', opt['name'])
    paths.update(log=root, visualization=os.path.join(root, 'visualization'))
    if is_train:
        paths.update(
            experiments_root=root,
            models=os.path.join(root, 'models'),
            training_states=os.path.join(root, 'training_states'),
        )
    else:
        paths['results_root'] = root
    check_options(opt)
    check_datasets(opt)
    return tree, opt, args
