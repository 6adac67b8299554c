"""Atomic file writes: a killed process never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from alkdsr.errors import AlkdsrError, OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True, folder: bool = False):
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched; an OSError (a full
    disk, a file-size limit, no permission, a folder at the name) becomes an :class:`OutputError`, one
    line naming ``path``: every command writes its outputs here, so each reports a failed write alike. The rename
    alone protects against a killed process; ``durable`` (fsync of file and folder) also
    against power loss, at some milliseconds per file: bulk writers pass False and sync once.
    ``folder``: the temporary path is a new empty folder the body fills (an LMDB, say); an existing
    ``path`` is moved aside and deleted only once the new one is in place.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if folder:
            tmp = tempfile.mkdtemp(prefix=temporary_prefix(path), suffix='.tmp', dir=path.parent)
        else:
            fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix='.tmp' + path.suffix, dir=path.parent)
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual mode
            os.close(fd)
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        yield Path(tmp)
        if folder:
            _replace_folder(Path(tmp), path)
        else:
            if durable:
                with open(tmp, 'rb+') as f:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException as e:
        _remove(Path(tmp))
        if isinstance(e, OSError) and not isinstance(e, AlkdsrError) and _about_the_output(e, tmp):
            raise _output_error(path, e) from None
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _about_the_output(error: OSError, tmp) -> bool:
    """Whether ``error`` is about writing the output: a write (no file named: a full disk, a size limit) or
    the temporary path itself; one naming another file (an input the body reads) is not, and passes on."""
    return error.filename is None or os.fspath(error.filename) == os.fspath(tmp)


ERRNO = {'file': errno.ENOTDIR, 'unwritable': errno.EACCES}  # the error a write would meet, by where_writing_fails


def where_writing_fails(folder: str | os.PathLike) -> tuple[Path, str] | None:
    """Why files could not be written in ``folder`` (made first if missing), checked without making it:
    ``(the nearest existing folder or file, 'file' or 'unwritable')``, or None if they could.

    The one check of "can this be written?": each command words its own refusal from it."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return existing, 'file'
    effective = os.access in os.supports_effective_ids  # the user we run as (setuid), not the one who started us
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=effective):
        return existing, 'unwritable'
    return None


def check_output_file(path: str | os.PathLike | None, option: str) -> None:
    """Refuse, before any work, an output file that could not be written: a folder at its name, or a
    place where its folder cannot be made or written (see :func:`check_output_folder`)."""
    if path is not None and Path(path).is_dir():
        raise AlkdsrError(f'{option} {path}: is a folder, not a file')
    if path is not None:
        check_output_folder(Path(path).parent, option, Path(path))


def check_output_folder(folder: str | os.PathLike, option: str = '', output: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, an output ``folder`` that is a file, lies under one, or cannot be made
    or written to (what does not exist yet is made later, by the write itself)."""
    named = f'{option} {output or folder}'.strip()
    problem = where_writing_fails(folder)
    if problem and problem[1] == 'file':
        what = '' if problem[0] == Path(os.path.abspath(output or folder)) else f' {problem[0]}'
        raise AlkdsrError(f'{named}:{what} is a file, not a folder')
    if problem:
        raise AlkdsrError(f'{named}: cannot write in {problem[0]} (permission denied or a read-only file system)')


def _output_error(path: Path, error: OSError) -> OutputError:
    if isinstance(error, IsADirectoryError) and error.filename2 is not None and Path(error.filename2) == path:
        return OutputError(f'{path}: cannot write, a folder has that name')  # the final rename met a folder
    return OutputError(f'{path}: cannot write ({error.strerror or error})')


def _replace_folder(new: Path, path: Path) -> None:
    if not path.exists():
        os.rename(new, path)
        return
    aside = Path(tempfile.mkdtemp(prefix=temporary_prefix(path), suffix='.tmp', dir=path.parent))
    os.rename(path, aside / path.name)
    os.rename(new, path)
    _remove(aside)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
_RANDOM_AND_DOTS = 2 + 8 + len('.tmp')  # '.' <name> '.' <8 random characters> '.tmp' <suffix>


def temporary_prefix(path: Path) -> str:
    """``.<name>.`` for the temporary file beside ``path``, ``<name>`` shortened so that a legal output
    name (up to 255 bytes) still has a legal temporary name."""
    room = NAME_MAX - _RANDOM_AND_DOTS - len(path.suffix.encode())
    name = path.name.encode()[:room].decode(errors='ignore')
    return f'.{name}.'


_TEMPORARY = re.compile(r'^\..+\.tmp(\.\w+)?$')  # what atomic_path names its temporary files


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders (``.<name>.<random>.tmp<suffix>``) a killed writer left in ``folder``.

    Only for folders one process writes at a time (a command's own outputs, training's checkpoints).
    """
    folder = Path(folder)
    stale = [p for p in folder.glob('.*.tmp*') if _TEMPORARY.match(p.name)] if folder.is_dir() else []
    for path in stale:
        _remove(path)
    return stale


def raise_on_sigterm():
    """Make SIGTERM raise SystemExit(143) in this process, so that ``atomic_path`` removes its temporary file
    (by default SIGTERM ends the process without running any cleanup). Returns the previous handler."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, stop)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
