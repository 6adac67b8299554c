"""Running BasicSR's own train/test pipelines with alkdsr's fixes installed.

``alkdsr/train.py`` and ``alkdsr/test.py`` call :func:`run`. Before BasicSR's pipeline starts,
:func:`install` replaces these pieces of BasicSR 1.4.2 at run time (site-packages untouched):

- ``init_dist``: NCCL on GPUs, gloo on CPU-only machines (``alkdsr.dist``);
- ``create_train_val_dataloader``: as many epochs as ``total_iter`` needs with the loader's
  ``drop_last`` (BasicSR plans for the incomplete last batch and stops short of ``total_iter``);
- ``BaseModel.load_network`` (every model type, ``SRModel`` too): through ``alkdsr.weights``, with
  ``weights_only=True`` whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says;
- ``load_resume_state``: BasicSR's assumes CUDA (``torch.cuda.current_device()``) and unpickles
  the state fully; ours maps it to the training device, reads it with ``weights_only=True``,
  and checks that the network checkpoint of that iteration exists;
- ``paired_paths_from_folder``: BasicSR lists folders in ``os.scandir`` order, which differs
  between file systems; ours sorts the pairs by name, as the LMDB backend does, so the same
  seed gives the same batches from a folder or an LMDB on any machine;
- before BasicSR reads the option file, the whole tree (with ``--force_yml`` applied) is checked
  against what BasicSR reads (``alkdsr.option_schema``: known keys, types, ranges, registry names,
  plain folder names);
- ``parse_options`` (train and test): the parsed options are checked before anything else
  happens (``alkdsr.option_checks``: architecture, checkpoint, dataset folders, patch size,
  schedule), and so is every paired dataset (:func:`check_paired_datasets`);
- ``PairedImageDataset``: its pairs are checked when it is built (``alkdsr.data.paired_checks``:
  pairing, image headers, LMDB values, sizes against the scale and the patch), and an image that
  fails to load names its file in one line instead of a traceback from a DataLoader worker, and
  its ``imfrombytes`` keeps the decoders' own messages (libpng's) off the console;
- ``EnlargedSampler.set_epoch`` also tells ``alkdsr.stopping`` the epoch, which a stop on
  SIGTERM saves in the training state, and DataLoader workers ignore SIGTERM
  (``alkdsr.stopping.worker_init_fn``): the main process stops them once it has saved.

Training runs with SIGTERM handled by ``alkdsr.stopping``: it saves the last finished iteration
and exits with status 143.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import sys
import threading
import traceback
from os import path as osp

import torch

from . import dist as alkdsr_dist
from . import stopping
from .data import paired_checks
from .data.image_io import quiet_opencv
from .errors import AlkdsrError
from .models.state_io import latest_training_state, read_training_state, remove_stale_temporaries
from .option_checks import check_options
from .option_schema import OptionError, apply_force_yml, check_option_tree

EXIT_STOPPED = 128 + 15  # as if ended by SIGTERM, after saving

_installed = False


def install() -> None:
    """Install the fixes above into the imported BasicSR modules (idempotent)."""
    global _installed
    if _installed:
        return
    import basicsr.data as basicsr_data
    import basicsr.data.paired_image_dataset as paired_image_dataset
    import basicsr.test as basicsr_test
    import basicsr.train as basicsr_train
    from basicsr.data.data_sampler import EnlargedSampler
    from basicsr.models.base_model import BaseModel

    from .models.alkdsr_model import ALKDSRModel

    alkdsr_dist.install()
    basicsr_train.load_resume_state = load_resume_state
    basicsr_train.create_train_val_dataloader = _exact_epochs(basicsr_train.create_train_val_dataloader)
    BaseModel.load_network = ALKDSRModel.load_network  # BasicSR's own torch.load passes no weights_only
    paired_image_dataset.paired_paths_from_folder = sorted_paired_paths_from_folder
    basicsr_train.parse_options = _checked(basicsr_train.parse_options)
    basicsr_test.parse_options = _checked(basicsr_test.parse_options)
    dataset_class = paired_image_dataset.PairedImageDataset
    dataset_class.__init__ = _checked_dataset_init(dataset_class.__init__)
    dataset_class.__getitem__ = _named_failures(dataset_class.__getitem__)
    paired_image_dataset.imfrombytes = _quiet(paired_image_dataset.imfrombytes)
    EnlargedSampler.set_epoch = _noting_epoch(EnlargedSampler.set_epoch)
    basicsr_data._basicsr_worker_init_fn = basicsr_data.worker_init_fn
    basicsr_data.worker_init_fn = stopping.worker_init_fn
    _installed = True


def _checked(parse_options):
    """``parse_options`` followed by :func:`alkdsr.option_checks.check_options`."""

    def parse_and_check(root_path, is_train=True):
        try:
            opt, args = parse_options(root_path, is_train=is_train)
        except KeyError as e:
            if not _raised_in(e, 'basicsr/utils/options.py'):
                raise  # not a missing option (an environment variable a launcher should set, say)
            raise AlkdsrError(f'the option file lacks the option {e} (see options/ for complete files)') from None
        check_options(opt)
        check_paired_datasets(opt)
        return opt, args

    return parse_and_check


def check_paired_datasets(opt: dict) -> None:
    """Build each ``PairedImageDataset`` once, for its checks only, before BasicSR makes any folder or log.

    BasicSR builds the datasets after it has created (or archived) the experiment folder; a dataset that
    cannot work must stop the run before that. The class is called directly: ``build_dataset`` would set
    up BasicSR's logger before its log file exists.
    """
    from basicsr.data.paired_image_dataset import PairedImageDataset

    from .data.device_pairs import DevicePairedImageDataset

    classes = {'PairedImageDataset': PairedImageDataset, 'DevicePairedImageDataset': DevicePairedImageDataset}
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        if isinstance(dataset_opt, dict) and dataset_opt.get('type') in classes:
            if dataset_opt['type'] == 'DevicePairedImageDataset' and opt.get('model_type') != 'ALKDSRModel':
                raise AlkdsrError(
                    f'datasets: {dataset_opt.get("phase", "train")}: type DevicePairedImageDataset needs '
                    f'model_type: ALKDSRModel (got {opt.get("model_type")!r})'
                )
            dataset = classes[dataset_opt['type']](dataset_opt)  # DevicePairedImageDataset keeps what it decoded
            _prechecked.add(json.dumps(dataset_opt, sort_keys=True, default=str))
            if phase == 'train' and opt.get('is_train'):
                _check_one_batch(len(dataset), dataset_opt, opt.get('world_size', 1))


def _check_one_batch(pairs: int, dataset_opt: dict, world_size: int) -> None:
    """The loader drops the last incomplete batch: a batch larger than the (enlarged) set gives no iteration."""
    ratio, batch = dataset_opt.get('dataset_enlarge_ratio', 1), dataset_opt['batch_size_per_gpu']
    per_process = pairs * ratio // world_size
    if per_process < batch:
        raise AlkdsrError(
            f'datasets: train: batch_size_per_gpu {batch} is larger than the {pairs} training pair(s)'
            + (f' x dataset_enlarge_ratio {ratio}' if ratio != 1 else '')
            + (f' / {world_size} processes' if world_size != 1 else '')
            + ': not one iteration would run; lower the batch or raise dataset_enlarge_ratio'
        )


def _exact_epochs(create_train_val_dataloader):
    """BasicSR's ``create_train_val_dataloader`` with as many epochs as ``total_iter`` iterations need.

    BasicSR counts ``ceil(pairs / batch)`` iterations per epoch, but its loader drops the last incomplete
    batch (``drop_last=True``): with 5 pairs and batch 4 it planned 2 iterations an epoch, ran 1, and
    ended after about half of ``total_iter``. The epochs are counted from the loader's own length.
    """

    def create_with_exact_epochs(opt, logger):
        train_loader, sampler, val_loaders, total_epochs, total_iters = create_train_val_dataloader(opt, logger)
        per_epoch = len(train_loader)
        if per_epoch == 0:
            dataset_opt = opt['datasets']['train']
            _check_one_batch(len(train_loader.dataset), dataset_opt, opt['world_size'])
        total_epochs = -(-total_iters // per_epoch)
        logger.info(f'Iterations per epoch (full batches): {per_epoch}; epochs: {total_epochs}')
        return train_loader, sampler, val_loaders, total_epochs, total_iters

    create_with_exact_epochs.__wrapped__ = create_train_val_dataloader
    return create_with_exact_epochs


def _raised_in(error: BaseException, file_suffix: str) -> bool:
    """Whether ``error`` was raised in a file whose path ends with ``file_suffix``."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.replace(os.sep, '/').endswith(file_suffix)


_prechecked: set[str] = set()  # datasets check_paired_datasets checked, which BasicSR is about to build


def _checked_dataset_init(init):
    """``PairedImageDataset.__init__`` with alkdsr's checks of its pairs.

    The build that follows :func:`check_paired_datasets` for the same options skips them (once);
    every other build checks, as the files may have changed since.
    """

    def checked_init(self, opt):
        key = json.dumps(opt, sort_keys=True, default=str)
        checked = key in _prechecked
        _prechecked.discard(key)
        if not checked:
            paired_checks.check_sources(opt)
        init(self, opt)
        if not checked:
            paired_checks.check_paired_dataset(opt, self.paths)

    checked_init.__wrapped__ = init
    return checked_init


def _named_failures(getitem):
    """``__getitem__`` whose failures to load a pair name the file (or LMDB key) and the problem in one line.

    Only failures the data explains (a file that does not read or decode, pairs BasicSR's crop rejects)
    become a ``TrainingDataError``; anything else is re-raised as it is, so a bug still shows its traceback.
    """

    def getitem_naming_the_file(self, index):
        try:
            return getitem(self, index)
        except Exception as e:
            message = paired_checks.describe_failure(self, index, e)
            if message is None:
                raise
            raise paired_checks.TrainingDataError(message) from e

    getitem_naming_the_file.__wrapped__ = getitem
    return getitem_naming_the_file


def _quiet(imfrombytes):
    """BasicSR's decoder without the decoders' own messages (the one line naming the file replaces them).

    Pointing file descriptor 2 at /dev/null affects every thread of the process, so it is done only in a
    main thread (the training loop's, or a DataLoader worker process's), never in a prefetch thread.
    """

    def quiet_imfrombytes(content, flag='color', float32=False):
        with quiet_opencv(native=threading.current_thread() is threading.main_thread()):
            return imfrombytes(content, flag, float32)

    quiet_imfrombytes.__wrapped__ = imfrombytes
    return quiet_imfrombytes


def _noting_epoch(set_epoch):
    def set_epoch_and_note(self, epoch):
        set_epoch(self, epoch)
        stopping.note_epoch(epoch)

    set_epoch_and_note.__wrapped__ = set_epoch
    return set_epoch_and_note


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
    for folder in (opt['path']['models'], opt['path']['training_states']):
        remove_stale_temporaries(folder)  # left by a process killed while saving
    check_resume(opt, state['iter'])
    _check_schedule_end(opt, state, path)
    for key, value in opt['path'].items():
        if key.startswith('pretrain_network') and value and not osp.isfile(value):
            raise AlkdsrError(f'{value}: missing, cannot resume from {path} without the network of that iteration')
    return state


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


def _fix_local_rank_flag(argv: list[str]) -> list[str]:
    """``torch.distributed.launch`` passes ``--local-rank``; BasicSR's parser wants ``--local_rank``."""
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def check_option_file(argv: list[str], is_train: bool = True) -> None:
    """The ``-opt`` file must exist, hold a YAML mapping and, with ``--force_yml`` applied, pass
    :func:`alkdsr.option_schema.check_option_tree` (BasicSR would end in a traceback, or worse)."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    parser.add_argument('--force_yml', nargs='+', default=[])
    path = parser.parse_known_args(argv[1:])[0].opt
    if path is None:
        return  # BasicSR's parser reports the missing flag
    force_yml = parser.parse_known_args(argv[1:])[0].force_yml
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except OSError as e:
        raise AlkdsrError(f'{path}: cannot read the option file ({e.strerror})') from None
    except yaml.YAMLError as e:
        raise AlkdsrError(f'{path}: not valid YAML ({" ".join(str(e).split())})') from None
    if not isinstance(content, dict):
        raise AlkdsrError(f'{path}: not an option file (expected a YAML mapping of options)')
    apply_force_yml(content, force_yml)
    try:
        check_option_tree(content, is_train)
    except OptionError as e:
        raise OptionError(f'{path}: {e}') from None


def run(kind: str, prog: str) -> int:
    """Run BasicSR's ``train_pipeline`` or ``test_pipeline`` with the current directory as root.

    Experiments land in ``./experiments/<name>/`` (and ``./tb_logger/``); test results in
    ``./results/<name>/``. User errors print one line ``<prog>: error: ...`` and return 2.
    """
    import alkdsr  # noqa: F401  (fills BasicSR's registries)

    install()
    sys.argv = _fix_local_rank_flag(sys.argv)
    children_before = set(multiprocessing.active_children())
    try:
        return _run_pipeline(kind, prog, os.getcwd())
    finally:
        end_dataloader_workers(keep=children_before)


def end_dataloader_workers(keep=frozenset()) -> None:
    """End the DataLoader workers a run that stopped early (an error, SIGTERM) left behind.

    They ignore SIGTERM (``alkdsr.stopping.worker_init_fn``), which is all ``multiprocessing``
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
        check_option_file(sys.argv, is_train=kind == 'train')
        if kind == 'train':
            from basicsr.train import train_pipeline

            with stopping.stop_on_sigterm():
                train_pipeline(root_path)
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
