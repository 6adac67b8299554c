"""Train with BasicSR's own pipeline and alkdsr's architectures and model.

    python alkdsr/train.py -opt options/train_ALKDNet_x4.yml [--auto_resume] [--debug]
        [--force_yml train:total_iter=1000] [--launcher none|pytorch|slurm]
    torchrun --nproc_per_node N alkdsr/train.py -opt X.yml --launcher pytorch   # NCCL on GPUs, gloo on CPUs

(or ``alkdsr-train`` with the same flags). The current directory is the root: experiments go
to ``./experiments/<name>/`` (models, training_states, log, the option file), tensorboard
logs to ``./tb_logger/<name>/``; ``--auto_resume`` continues from the newest training state.

``alkdsr/train.py`` and ``alkdsr/test.py`` call :func:`run`. BasicSR's pipelines parse their options
with :func:`parse_and_check`, which reads the option file once and, before any folder or log exists, checks:

- the whole tree, with ``--force_yml`` applied, against what BasicSR reads (``alkdsr.options.schema``:
  known keys, types, ranges, registry names, plain folder names);
- what needs the file system, a built network or the model type (``alkdsr.options.checks``:
  architecture, checkpoint, dataset folders, patch size, schedule, the model's own switches);
- every dataset of a registered alkdsr type (``ALKDSRPairedImageDataset``): built once for its checks
  (``alkdsr.data.paired_image_dataset``: pairing, image headers, LMDB values, sizes against the scale
  and the patch), and the training set for at least one full batch.

Each mistake is one line ``<prog>: error: ...`` and exit status 2. The BasicSR fixes the pipelines need
(this parse, safe ``load_resume_state`` and ``load_network``, exact epochs and the resumable
training loader, ...) are installed by :func:`install_basicsr_fixes`.
Training runs with SIGTERM handled by ``alkdsr.utils.stopping``: it saves the last finished iteration
and exits with status 143.
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing
import os
import random
import re
import socket
import sys
import time
from collections.abc import Hashable
from os import path as osp
from pathlib import Path

import yaml

from alkdsr.errors import AlkdsrError, LockHeld, OptionError, OutputError
from alkdsr.files import locks
from alkdsr.options.schema import check_option_tree
from alkdsr.utils import compat, stopping

EXIT_STOPPED = 128 + 15  # as if ended by SIGTERM, after saving


def parse_and_check(root_path: str, is_train: bool) -> tuple[dict, argparse.Namespace]:
    """BasicSR's ``parse_options``, with the option file read once, through :func:`read_option_file`, and
    checked before anything else happens; ``basicsr.train`` and ``basicsr.test`` call it in its place.

    BasicSR's own reads the file with a loader that keeps ``<<`` merge keys as keys and lets a duplicate
    key silently win, then applies ``--force_yml`` with ``exec``; it makes no check. The steps after the
    reading are BasicSR's: process group, seed, ``--debug``, ``num_gpu: auto``, dataset phases and paths.
    """
    import torch
    from basicsr.utils import set_random_seed
    from basicsr.utils.dist_util import get_dist_info

    from alkdsr.options.checks import check_options
    from alkdsr.utils.dist_util import init_dist  # BasicSR's divides by the number of GPUs: gloo on a CPU

    args = _argument_parser().parse_args(_fix_local_rank_flag(sys.argv)[1:])
    opt = read_option_file(args.opt)
    try:
        apply_force_yml(opt, args.force_yml or [])
        check_option_tree(opt, is_train)
    except OptionError as e:
        raise OptionError(f'{args.opt}: {e}') from None
    opt['dist'] = args.launcher != 'none'
    if opt['dist']:
        init_dist(args.launcher, **((opt.get('dist_params') or {}) if args.launcher == 'slurm' else {}))
    opt['rank'], opt['world_size'] = get_dist_info()
    if opt.get('manual_seed') is None:
        opt['manual_seed'] = random.randint(1, 10000)
    set_random_seed(opt['manual_seed'] + opt['rank'])
    opt['auto_resume'], opt['is_train'] = args.auto_resume, is_train
    if args.debug and not opt['name'].startswith('debug'):
        opt['name'] = f'debug_{opt["name"]}'
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
        if 'debug' in opt['name']:  # BasicSR's short debug run
            if 'val' in opt:
                opt['val']['val_freq'] = 8
            opt['logger'].update(print_freq=1, save_checkpoint_freq=8)
    else:
        paths['results_root'] = root
    check_options(opt)
    check_datasets(opt)
    if opt['rank'] == 0:  # the process that makes the folders
        claim_run_folder(opt, root_path)
    return opt, args


_claimed = None  # the open lock file of the folder this process's run writes to


def claim_run_folder(opt: dict, root_path: str) -> None:
    """One run per ``experiments/<name>`` (``results/<name>``), in a place that can be written, that does not
    move its own inputs; checked before BasicSR makes or renames anything.

    A run that does not resume renames an existing folder of its name to ``<name>_archived_<time>``: a
    second run of the same name would archive the first's live folder (which then writes its checkpoints
    into the second's), and an input inside that folder (``pretrain_network_g: experiments/<name>/...``)
    would be gone when it is read. The lock is ``.<name>.lock`` beside the folder (``alkdsr.files.locks``): the
    system releases it when its holder ends, however it ends, so a killed run's lock is simply taken over.
    """
    global _claimed
    from alkdsr.cli._options import check_output_folder

    kind = 'experiments' if opt['is_train'] else 'results'
    parent = Path(root_path, kind)
    folder = parent / opt['name']
    check_output_folder(parent)
    if opt['is_train'] and opt['logger'].get('use_tb_logger'):
        check_output_folder(Path(root_path, 'tb_logger'))
    if folder.exists() and not _resumes(opt, folder):
        for option, path in _input_paths(opt):
            if Path(path).resolve().is_relative_to(folder.resolve()):  # through symlinks too
                raise AlkdsrError(
                    f'{option} {path}: lies in {folder}, which this run archives (renames) as it starts; '
                    'copy it elsewhere, or give the run another name'
                )
    parent.mkdir(parents=True, exist_ok=True)
    lock_path = parent / f'.{opt["name"]}.lock'
    holder = f'pid {os.getpid()} on {socket.gethostname()}, since {time.strftime("%Y-%m-%d %H:%M:%S")}'
    try:
        _claimed = locks.claim(lock_path, holder)
    except LockHeld as e:
        raise AlkdsrError(
            f'{folder}: in use by a run that is still going ({e.holder}); wait for it to end, or give this one '
            'another name'
        ) from None
    except OSError as e:
        raise OutputError(f"{lock_path}: cannot open the run's lock ({e.strerror})") from None


def release_run_folder() -> None:
    global _claimed
    if _claimed is not None:
        _claimed.release()
        _claimed = None


def _resumes(opt: dict, folder: Path) -> bool:
    """Whether BasicSR will resume into ``folder`` (and so not archive it)."""
    from alkdsr.training.states import latest_training_state

    if not opt['is_train']:
        return False
    auto = opt['auto_resume'] and latest_training_state(folder / 'training_states') is not None
    return bool(opt['path'].get('resume_state') or auto)


def _input_paths(opt: dict):
    """(option, path) of every file or folder the run reads."""
    for key, value in opt['path'].items():
        if key.startswith(('pretrain_network_', 'resume_state')) and value:
            yield f'path: {key}', value
    for phase, dataset in opt['datasets'].items():
        for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
            if dataset.get(key):
                yield f'datasets: {phase}: {key}', dataset[key]


def apply_force_yml(opt: dict, entries: list[str]) -> None:
    """Apply ``--force_yml a:b=value`` entries as BasicSR does, refusing entries it would fail on.

    BasicSR splits each entry at '=', walks the keys with ``exec`` and cannot create intermediate keys.
    """
    from basicsr.utils.options import _postprocess_yml_value

    from alkdsr.options.schema import suggestion

    for entry in entries:
        if entry.count('=') != 1:
            raise OptionError(f'--force_yml {entry}: expected KEY:SUBKEY=VALUE (one "=")')
        keys, value = (part.strip() for part in entry.split('='))
        path = keys.split(':')
        if not all(re.fullmatch(r'[A-Za-z0-9_.\-]+', key) for key in path):
            raise OptionError(f'--force_yml {entry}: {keys!r} is not a key path such as train:total_iter')
        node = opt
        for depth, key in enumerate(path[:-1]):
            if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                where = ':'.join(path[: depth + 1])
                known = node.keys() if isinstance(node, dict) else ()
                raise OptionError(
                    f'--force_yml {entry}: the option file has no mapping {where}{suggestion(key, known)}'
                )
            node = node[key]
        try:
            node[path[-1]] = _postprocess_yml_value(value)  # BasicSR's reading of the value (eval for lists)
        except (SyntaxError, ValueError, NameError, TypeError) as e:
            raise OptionError(f'--force_yml {entry}: cannot read the value {value!r} ({e})') from None


def _argument_parser() -> argparse.ArgumentParser:
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


class _OptionLoader(yaml.SafeLoader):
    """YAML as people write option files: ``<<`` merge keys merged, a key written twice in one mapping refused."""

    def flatten_mapping(self, node):
        """(Merging rewrites a merged mapping's pairs in place: keep each mapping's own, for the check.)"""
        self._own_pairs = getattr(self, '_own_pairs', {})
        self._own_pairs.setdefault(id(node), list(node.value))
        super().flatten_mapping(node)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in getattr(self, '_own_pairs', {}).get(id(node), node.value):
            if key_node.tag == 'tag:yaml.org,2002:merge':
                continue  # merged by SafeLoader; the mapping's own keys override the merged ones
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in seen:
                raise _DuplicateKey(f'the key {key!r} is written twice in one mapping (lines {seen[key]} and {line})')
            seen[key] = line
        return super().construct_mapping(node, deep)


class _DuplicateKey(yaml.YAMLError):
    pass


def read_option_file(path) -> dict:
    """The option file as a dict: UTF-8 (a BOM allowed), valid YAML, a mapping; one line naming the file if not."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise AlkdsrError(f'{path}: cannot read the option file ({e.strerror})') from None
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise AlkdsrError(f'{path}: not UTF-8 text (byte {e.start}); save the option file as UTF-8') from None
    try:
        content = yaml.load(text, Loader=_OptionLoader)
    except _DuplicateKey as e:
        raise AlkdsrError(f'{path}: {e}; keep one') from None
    except yaml.YAMLError as e:
        raise AlkdsrError(f'{path}: not valid YAML ({" ".join(str(e).split())})') from None
    if not isinstance(content, dict):
        raise AlkdsrError(f'{path}: not an option file (expected a YAML mapping of options)')
    return content


def check_datasets(opt: dict) -> None:
    """Build each dataset of a checking alkdsr type once, for its checks only, before BasicSR makes any folder or log.

    BasicSR builds the datasets after it has created (or archived) the experiment folder; a dataset that
    cannot work must stop the run before that. The class is called directly: ``build_dataset`` would set
    up BasicSR's logger before its log file exists.
    """
    from basicsr.utils.registry import DATASET_REGISTRY

    from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset, check_one_batch

    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        kind = dataset_opt.get('type') if isinstance(dataset_opt, dict) else None
        if kind == 'DevicePairedImageDataset' and opt.get('model_type') != 'ALKDSRModel':
            raise AlkdsrError(
                f'datasets: {dataset_opt.get("phase", "train")}: type DevicePairedImageDataset needs '
                f'model_type: ALKDSRModel (got {opt.get("model_type")!r})'
            )
        if kind in DATASET_REGISTRY and issubclass(DATASET_REGISTRY.get(kind), ALKDSRPairedImageDataset):
            dataset = DATASET_REGISTRY.get(kind)(dataset_opt)  # DevicePairedImageDataset keeps what it decoded
            if phase == 'train' and opt.get('is_train'):
                check_one_batch(len(dataset), dataset_opt, opt.get('world_size', 1))


def _fix_local_rank_flag(argv: list[str]) -> list[str]:
    """``torch.distributed.launch`` passes ``--local-rank``; BasicSR's parser wants ``--local_rank``."""
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def run(kind: str, prog: str) -> int:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with the current directory as root.

    Experiments land in ``./experiments/<name>/`` (and ``./tb_logger/``); test results in
    ``./results/<name>/``. User errors print one line ``<prog>: error: ...`` and return 2.
    """
    children_before = set(multiprocessing.active_children())
    try:
        import alkdsr  # noqa: F401  (fills BasicSR's registries)

        install_basicsr_fixes()
        return _run_pipeline(kind, prog, os.getcwd())
    except KeyboardInterrupt:  # while torch and BasicSR load (the pipeline's own Ctrl-C is handled there)
        print(f'{prog}: interrupted', file=sys.stderr, flush=True)
        return 130
    finally:
        release_run_folder()
        if 'alkdsr.data.resumable_loader' in sys.modules:
            sys.modules['alkdsr.data.resumable_loader'].forget()
        end_dataloader_workers(keep=children_before)


def install_basicsr_fixes() -> None:
    """``alkdsr.utils.compat.install`` and the two fixes that take alkdsr's model and training loader (idempotent).

    Every model type, ``SRModel`` too, loads networks through ``ALKDSRModel.load_network`` (``weights_only``;
    BasicSR's ``torch.load`` unpickles whatever a checkpoint holds), and the training loader is
    ``alkdsr.data.resumable_loader``'s, with as many epochs as ``total_iter`` needs.
    """
    import basicsr.test as basicsr_test
    import basicsr.train as basicsr_train
    from basicsr.models.base_model import BaseModel

    from alkdsr.data.resumable_loader import exact_epochs
    from alkdsr.models.alkdsr_model import ALKDSRModel

    compat.install()
    basicsr_train.load_resume_state = load_resume_state
    BaseModel.load_network = ALKDSRModel.load_network
    basicsr_train.parse_options = basicsr_test.parse_options = parse_and_check
    if not hasattr(basicsr_train.create_train_val_dataloader, '__wrapped__'):
        basicsr_train.create_train_val_dataloader = exact_epochs(basicsr_train.create_train_val_dataloader)


def load_resume_state(opt: dict):
    """:func:`_read_resume_state` (safe, on the CPU), then the network of the resumed iteration
    checked against ``network_g``: BasicSR loads it only after it has copied the option file and started its
    log, so a resume refused there would leave both in the experiment folder."""
    from alkdsr.options.checks import check_network, check_pretrained

    state = _read_resume_state(opt)
    if state is not None:
        check_pretrained(opt['path'], check_network('network_g', opt['network_g'], opt.get('scale')))
    return state


def _read_resume_state(opt: dict):
    """``basicsr.train.load_resume_state``, working on the CPU and unpickling nothing unsafe."""
    from basicsr.utils import check_resume

    from alkdsr.files.fileio import remove_stale_temporaries
    from alkdsr.training.states import read_training_state

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
    from alkdsr.training.states import latest_training_state

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


def end_dataloader_workers(keep=frozenset()) -> None:
    """End the DataLoader workers a run that stopped early (an error, SIGTERM) left behind.

    They ignore SIGTERM (``alkdsr.utils.compat.worker_init_fn``), which is all ``multiprocessing``
    sends them at exit before waiting for them: finalise the loaders, then kill the daemon
    processes the run started (``keep``: the children that existed before it).
    """
    gc.collect()  # a DataLoader iterator in a reference cycle shuts its workers down when collected
    for child in multiprocessing.active_children():
        if child.daemon and child not in keep:
            child.kill()
            child.join(timeout=5)


def _run_pipeline(kind: str, prog: str, root_path: str) -> int:
    try:
        if kind == 'train':
            from basicsr.train import train_pipeline

            with stopping.stop_on_sigterm():
                train_pipeline(root_path)  # its parse_options is parse_and_check (install_basicsr_fixes)
        else:
            from basicsr.test import test_pipeline

            test_pipeline(root_path)
    except AlkdsrError as e:
        logging.shutdown()
        print(f'{prog}: error: {e}', file=sys.stderr, flush=True)
        return 2
    except stopping.TrainingStopped as e:
        logging.shutdown()
        print(f'{prog}: {e}', file=sys.stderr, flush=True)
        return EXIT_STOPPED
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr, flush=True)
        return 130
    return 0


def main() -> int:
    return run('train', prog='alkdsr-train')


if __name__ == '__main__':
    sys.exit(main())
