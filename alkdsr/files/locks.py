"""Locks between processes, by ``filelock``: one run per experiment folder, one compilation of the CPU
kernels at a time.

filelock takes the operating system's lock on the file (``flock`` on Unix, ``LockFileEx`` on Windows), which
the system releases when the holder ends, however it ends: a killed holder's lock is simply taken over. The
file stays where it is (``preserve_lock_file``), so that every process locks the same file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from filelock import FileLock, Timeout

from alkdsr.errors import LockHeld


def claim(path: str | os.PathLike, holder: str) -> FileLock:
    """Take the lock at ``path`` now, writing ``holder`` into its file, or raise ``LockHeld``.

    The caller keeps the returned lock for as long as it needs it and then calls its ``release()``.
    """
    path = Path(path)

    def write_holder(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode('utf-8', 'replace'), 0)

    lock = FileLock(path, preserve_lock_file=True, on_acquired=write_holder)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise LockHeld(path, _holder(path)) from None
    return lock


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding='utf-8', errors='replace').strip() or 'another process'
    except OSError:
        return 'another process'


@contextlib.contextmanager
def waiting_for(path: str | os.PathLike):
    """Hold the lock at ``path`` within the block, waiting for its holder to release it first."""
    with FileLock(Path(path), preserve_lock_file=True):
        yield
