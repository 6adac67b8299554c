"""``alkdsr/train.py`` and ``alkdsr/test.py`` as commands: parse, claim the run folder, run the loop, and
report the user's mistakes in one line.

Each mistake of the user's is one line ``<prog>: error: ...`` and exit status 2 (a package alkdsr needs that
this Python lacks too); a run stopped by SIGTERM
exits with 143 after saving (``stopping``); Ctrl-C is one line and 130. A bug of ours keeps its traceback.
Whatever the end, the run folder's lock is released and the DataLoader workers the run started are ended.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import sys

from alkdsr.errors import AlkdsrError, TrainingStopped
from alkdsr.utils.packages import missing_dependency

EXIT_STOPPED = 128 + 15  # as if ended by SIGTERM, after saving


def run(kind: str, prog: str, argv: list[str] | None = None) -> int:
    """Train (``kind='train'``) or test with the current directory as root; the exit status.

    Experiments land in ``./experiments/<name>/`` (and ``./tb_logger/``); test results in
    ``./results/<name>/``.
    """
    children_before = set(multiprocessing.active_children())
    argv = sys.argv[1:] if argv is None else argv
    folder = None
    try:
        from alkdsr.training import loop
        from alkdsr.training.parse import parse_options
        from alkdsr.training.registration import register
        from alkdsr.training.resume import load_resume_state
        from alkdsr.training.run_folder import RunFolder
        from alkdsr.training.stopping import StopRequests

        register()
        stop = StopRequests()
        with stop.on_sigterm() if kind == 'train' else contextlib.nullcontext():
            tree, opt, args = parse_options(argv, os.getcwd(), is_train=kind == 'train')
            resume_state = load_resume_state(opt) if kind == 'train' else None
            if opt['rank'] == 0:  # the process that makes the folders
                folder = RunFolder.claim(opt, os.getcwd())
            if kind == 'train':
                loop.train(tree, opt, args.opt, stop, resume_state)
            else:
                loop.test(tree, opt)
    except AlkdsrError as e:
        logging.shutdown()
        if folder is not None:
            folder.release(refused=True)  # nothing of a run refused before it made its folder is left
        print(f'{prog}: error: {e}', file=sys.stderr, flush=True)
        return 2
    except TrainingStopped as e:
        logging.shutdown()
        print(f'{prog}: {e}', file=sys.stderr, flush=True)
        return EXIT_STOPPED
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr, flush=True)
        return 130
    except ModuleNotFoundError as e:  # another Python than the one alkdsr was installed in
        message = missing_dependency(e, f'alkdsr/{kind}.py')
        if message is None:
            raise
        print(f'{prog}: error: {message}', file=sys.stderr, flush=True)
        return 2
    finally:
        if folder is not None:
            folder.release()
        end_dataloader_workers(keep=children_before)
    return 0


def end_dataloader_workers(keep=frozenset()) -> None:
    """End the DataLoader workers a run that stopped early (an error, SIGTERM) left behind.

    They ignore SIGTERM (``alkdsr.data.resumable_loader``), which is all ``multiprocessing`` sends them at
    exit before waiting for them: finalise the loaders, then kill the daemon processes the run started
    (``keep``: the children that existed before it).
    """
    gc.collect()  # a DataLoader iterator in a reference cycle shuts its workers down when collected
    for child in multiprocessing.active_children():
        if child.daemon and child not in keep:
            child.kill()
            child.join(timeout=5)
