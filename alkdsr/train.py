"""Train with BasicSR's own pipeline and alkdsr's architectures and model.

    python alkdsr/train.py -opt options/train_ALKDNet_x4.yml [--auto_resume] [--debug]
        [--force_yml train:total_iter=1000] [--launcher none|pytorch|slurm]
    torchrun --nproc_per_node N alkdsr/train.py -opt X.yml --launcher pytorch   # NCCL on GPUs, gloo on CPUs

(or ``alkdsr-train`` with the same flags). The current directory is the root: experiments go
to ``./experiments/<name>/`` (models, training_states, log, the option file), tensorboard
logs to ``./tb_logger/<name>/``; ``--auto_resume`` continues from the newest training state.

``alkdsr/train.py`` and ``alkdsr/test.py`` call :func:`run`. Before BasicSR's pipeline starts (and
makes any folder or log), the option file is read and checked:

- the whole tree, with ``--force_yml`` applied, against what BasicSR reads (``alkdsr.utils.option_schema``:
  known keys, types, ranges, registry names, plain folder names);

then parsed as BasicSR parses it, and checked again:

- the options themselves (``alkdsr.utils.option_checks``: architecture, checkpoint, dataset folders,
  patch size, schedule);
- every dataset of a registered alkdsr type (``ALKDSRPairedImageDataset``): built once for its checks
  (``alkdsr.data.paired_image_dataset``: pairing, image headers, LMDB values, sizes against the scale
  and the patch), and the training set for at least one full batch.

Each mistake is one line ``<prog>: error: ...`` and exit status 2. The BasicSR fixes the pipelines need
(CPU ``init_dist``, safe ``load_resume_state`` and ``load_network``, exact epochs and the resumable
training loader, ...) are installed by :func:`install_basicsr_fixes`.
Training runs with SIGTERM handled by ``alkdsr.utils.stopping``: it saves the last finished iteration
and exits with status 143.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import multiprocessing
import os
import sys
import traceback

from alkdsr.errors import AlkdsrError
from alkdsr.utils import compat, stopping
from alkdsr.utils.option_checks import check_options
from alkdsr.utils.option_schema import OptionError, apply_force_yml, check_option_tree

EXIT_STOPPED = 128 + 15  # as if ended by SIGTERM, after saving


def parse_and_check(root_path: str, is_train: bool) -> dict:
    """The options as BasicSR's ``parse_options`` makes them from the command line, checked."""
    from basicsr.utils.options import parse_options

    argv = sys.argv
    sys.argv = _without_launcher(argv)  # no process group yet: BasicSR's own parse starts it
    printed = io.StringIO()  # 'Disable distributed.', printed by BasicSR's parse, is not for the user
    try:
        with contextlib.redirect_stdout(printed):
            opt, _ = parse_options(root_path, is_train=is_train)
    except SystemExit:
        sys.stdout.write(printed.getvalue())  # what --help prints (BasicSR's argparse) before it exits
        raise
    except KeyError as e:
        if not _raised_in(e, 'basicsr/utils/options.py'):
            raise  # not a missing option (an environment variable a launcher should set, say)
        raise AlkdsrError(f'the option file lacks the option {e} (see options/ for complete files)') from None
    finally:
        sys.argv = argv
    check_options(opt)
    check_datasets(opt)
    return opt


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


def _without_launcher(argv: list[str]) -> list[str]:
    """``argv`` without ``--launcher X``: the options as one process reads them."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == '--launcher':
            skip = True
        elif not arg.startswith('--launcher='):
            kept.append(arg)
    return kept


def _raised_in(error: BaseException, file_suffix: str) -> bool:
    """Whether ``error`` was raised in a file whose path ends with ``file_suffix``."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.replace(os.sep, '/').endswith(file_suffix)


def _fix_local_rank_flag(argv: list[str]) -> list[str]:
    """``torch.distributed.launch`` passes ``--local-rank``; BasicSR's parser wants ``--local_rank``."""
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def check_option_file(argv: list[str], is_train: bool = True) -> None:
    """The ``-opt`` file must exist, hold a YAML mapping and, with ``--force_yml`` applied, pass
    :func:`alkdsr.utils.option_schema.check_option_tree` (BasicSR would end in a traceback, or worse)."""
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
    from alkdsr.data import resumable_loader

    install_basicsr_fixes()
    sys.argv = _fix_local_rank_flag(sys.argv)
    children_before = set(multiprocessing.active_children())
    try:
        return _run_pipeline(kind, prog, os.getcwd())
    finally:
        resumable_loader.forget()
        end_dataloader_workers(keep=children_before)


def install_basicsr_fixes() -> None:
    """``alkdsr.utils.compat.install`` and the two fixes that take alkdsr's model and training loader (idempotent).

    Every model type, ``SRModel`` too, loads networks through ``ALKDSRModel.load_network`` (``weights_only``;
    BasicSR's ``torch.load`` unpickles whatever a checkpoint holds), and the training loader is
    ``alkdsr.data.resumable_loader``'s, with as many epochs as ``total_iter`` needs.
    """
    import basicsr.train as basicsr_train
    from basicsr.models.base_model import BaseModel

    from alkdsr.data.resumable_loader import exact_epochs
    from alkdsr.models.alkdsr_model import ALKDSRModel

    compat.install()
    BaseModel.load_network = ALKDSRModel.load_network
    if not hasattr(basicsr_train.create_train_val_dataloader, '__wrapped__'):
        basicsr_train.create_train_val_dataloader = exact_epochs(basicsr_train.create_train_val_dataloader)


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
        check_option_file(sys.argv, is_train=kind == 'train')
        if kind == 'train':
            from basicsr.train import train_pipeline

            with stopping.stop_on_sigterm():
                parse_and_check(root_path, is_train=True)
                train_pipeline(root_path)
        else:
            from basicsr.test import test_pipeline

            parse_and_check(root_path, is_train=False)
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
