"""Standard output and error as the commands print on them: closed, full, or a pipe whose reader has gone.

A command prints what it did (a summary, a table, a listing) after, or while, doing it. Where standard
output cannot take the report (``>&-``, ``> /dev/full``, a full disk), that is no reason to lose the work or
print a traceback: while a command runs, standard output is a :class:`Report`, whose writes never raise. A
write that fails is noted, the stream is pointed at ``os.devnull`` (so that Python's own flush at exit does
not fail on it again, which prints "Exception ignored" and exits 120), and the command ends with one line on
stderr and a non-zero status. A reader that has gone (``alkdsr weights list | head -1``) has what it wanted:
that ends quietly with status 141, as SIGPIPE would.

Standard error (progress bars, a failed image's line, the error line itself) is a :class:`Report` too, so
that ``2>&-`` or ``2> /dev/full`` costs neither the work nor the exit status: what it cannot take is dropped,
as there is nowhere left to say so. (With ``2>&-`` Python sets ``sys.stderr`` to None, and a progress bar or
``print(file=sys.stderr)`` would fail, or print onto standard output.)
"""

from __future__ import annotations

import io
import os
import sys

CLOSED = '{} is closed'
READER_GONE = 128 + 13  # 128 + SIGPIPE (a name that Windows' signal module lacks)


def keep_standard_streams_open() -> None:
    """Open ``os.devnull`` on standard input, output or error where a descriptor is closed (``>&-``).

    Otherwise the next file opened takes the lowest free descriptor: an output image opened as descriptor 1
    would receive whatever a library prints on standard output. Only closed descriptors are touched.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:  # EBADF: closed
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            os.set_inheritable(fd, True)  # as the descriptor would have been: child processes get it too


class Report(io.TextIOBase):
    """Standard output (or error, ``name``) for the length of a command: writes go to ``stream`` until one
    fails, none raises.

    ``problem`` says why the report could not be printed (None while it could); ``reader_gone``: the stream
    is a pipe whose reader has closed it.
    """

    def __init__(self, stream, name: str = 'standard output'):
        super().__init__()
        self.stream = stream
        self.name = name
        self.problem: str | None = None
        self.reader_gone = False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self.stream, 'encoding', 'utf-8')

    def isatty(self) -> bool:
        return self._open() and self.stream.isatty()

    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation(CLOSED.format(self.name))
        return self.stream.fileno()

    def write(self, text: str) -> int:
        if self._open():
            try:
                self.stream.write(text)
            except OSError as e:
                self._failed(e)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None and self.problem is None and not self.reader_gone:
            try:
                self.stream.flush()
            except OSError as e:
                self._failed(e)

    def _open(self) -> bool:
        if self.stream is None and self.problem is None:  # Python found no descriptor at start (>&-)
            self.problem = CLOSED.format(self.name)
        return self.problem is None and not self.reader_gone

    def _failed(self, error: OSError) -> None:
        if isinstance(error, BrokenPipeError):
            self.reader_gone = True
        else:
            self.problem = error.strerror or str(error)
        _point_at_devnull(self.stream)

    def status(self, status: int, prog: str) -> int:
        """The command's exit status, once the report is flushed: ``status``, or non-zero with one line on stderr
        if the report could not be printed (141 without a line if its reader has gone)."""
        self.flush()
        if self.reader_gone:
            return READER_GONE
        if self.problem is None:
            return status
        print(f'{prog}: error: the report could not be printed ({self.problem})', file=sys.stderr)
        return status or 1


def _point_at_devnull(stream) -> None:
    """Point the descriptor under ``stream`` at ``os.devnull``: what its buffer still holds, and later writes, go
    there (the recipe of Python's signal documentation for a closed pipe)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a program's own stream)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
