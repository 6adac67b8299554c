"""One run per ``experiments/<name>`` (``results/<name>``), in a place that can be written, that does not move
its own inputs: checked and claimed before BasicSR makes or renames anything.

A run that does not resume renames an existing folder of its name to ``<name>_archived_<time>``: a second
run of the same name would archive the first's live folder (which then writes its checkpoints into the
second's), and an input inside that folder (``pretrain_network_g: experiments/<name>/...``) would be gone
when it is read. The lock is ``.<name>.lock`` beside the folder (``alkdsr.files.locks``): the system
releases it when its holder ends, however it ends, so a killed run's lock is simply taken over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from alkdsr.errors import AlkdsrError, LockHeld, OutputError
from alkdsr.files import locks
from alkdsr.files.fileio import check_output_folder
from alkdsr.training.states import latest_training_state


class RunFolder:
    """The claim of a run's folder; :meth:`release` gives it up (the end of the process does too)."""

    def __init__(self, lock, folder: Path, made: list[Path]):
        self._lock, self.folder, self._made = lock, folder, made  # made: what the claim created, innermost first

    @classmethod
    def claim(cls, opt: dict, root_path: str) -> RunFolder:
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
        lock_path = parent / f'.{opt["name"]}.lock'
        made = [lock_path] if not lock_path.exists() else []
        made += [p for p in (parent, *parent.parents) if not p.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        holder = f'pid {os.getpid()} on {socket.gethostname()}, since {time.strftime("%Y-%m-%d %H:%M:%S")}'
        try:
            return cls(locks.claim(lock_path, holder), folder, made)
        except LockHeld as e:
            raise AlkdsrError(
                f'{folder}: in use by a run that is still going ({e.holder}); wait for it to end, or give this '
                'one another name'
            ) from None
        except OSError as e:
            raise OutputError(f"{lock_path}: cannot open the run's lock ({e.strerror})") from None

    def release(self, refused: bool = False) -> None:
        """Give the folder up; ``refused``: the run stopped before making anything, so what the claim made
        (the lock file, ``experiments/`` itself if it was new) goes too and nothing is left of the run."""
        if self._lock is None:
            return
        self._lock.release()
        self._lock = None
        if refused and not self.folder.exists():
            for path in self._made:
                with contextlib.suppress(OSError):  # a folder another process has filled since stays
                    path.unlink() if path.is_file() else path.rmdir()


def _resumes(opt: dict, folder: Path) -> bool:
    """Whether the run will resume into ``folder`` (and so not archive it)."""
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
