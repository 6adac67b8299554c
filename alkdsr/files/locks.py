"""Locks between processes, by ``filelock``: one run per experiment folder, one compilation of the CPU
kernels at a time.

filelock takes the operating system's lock on the file (``flock`` on Unix, ``LockFileEx`` on Windows), which
the system releases when the holder ends, however it ends: a killed holder's lock is simply taken over.
A claimed lock's file holds a note of who holds it, for the message of the one refused.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from filelock import FileLock, Timeout

from alkdsr.errors import LockHeld

# the lock file's mode: no write for group and others, so that filelock (4.x) takes the native lock at once instead
# of probing the folder with a file of its own first for a fallback to soft locks
LOCK_FILE_MODE = 0o644


def claim(path: str | os.PathLike, holder: str) -> FileLock:
    """Take the lock at ``path`` now, writing ``holder`` into its file, or raise ``LockHeld``.

    The caller keeps the returned lock for as long as it needs it and then calls its ``release()``.
    """
    path = Path(path)
    note = _read(path)  # read first: filelock before version 4 empties the file as it tries to take it
    lock = FileLock(str(path), mode=LOCK_FILE_MODE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _write(path, note)  # the holder's note, put back
        raise LockHeld(path, note or 'another process') from None
    _write(path, holder)
    return lock


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding='utf-8', errors='replace').strip()
    except OSError:
        return ''


def _write(path: Path, note: str) -> None:
    """The note, written through a descriptor of its own (the lock, an flock, belongs to filelock's)."""
    with contextlib.suppress(OSError), open(path, 'r+', encoding='utf-8') as f:
        f.truncate()
        f.write(note + '\n' if note else '')


@contextlib.contextmanager
def waiting_for(path: str | os.PathLike, timeout: float):
    """Hold the lock at ``path`` within the block, waiting up to ``timeout`` seconds for its holder to release it
    first; ``LockHeld`` if it has not by then (a holder that was stopped, or hangs, would hold it for ever)."""
    lock = FileLock(str(path), mode=LOCK_FILE_MODE)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockHeld(path, f'another process for {timeout:g} s') from None
    try:
        yield
    finally:
        lock.release()
