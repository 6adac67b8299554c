"""Every error alkdsr raises on purpose, in one place.

Each :class:`AlkdsrError` is a problem of the user's making (a file, an option, the data): the commands
print it as one line naming the problem and exit with status 2. Anything else keeps its traceback.
"""

from __future__ import annotations


class AlkdsrError(Exception):
    """A problem with the user's input (file, option, data); the CLI prints it and exits 2."""


class OutputError(AlkdsrError, OSError):
    """An output that could not be written (a full disk, a file-size limit, a folder at its name, no
    permission); an OSError too, so that a caller that retries failed writes still sees one."""


class CheckpointError(AlkdsrError, ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


class DeviceError(AlkdsrError, ValueError):
    """A device that is not one, or that this machine lacks; a ValueError for the library's callers."""


class WeightsError(AlkdsrError):
    """Named weights that cannot be had: unknown name, download failed, file does not verify."""


class HomeError(AlkdsrError):
    """``ALKDSR_HOME`` (alkdsr's own folder: weights, compiled kernels) names no folder that can be used."""


class ImageError(AlkdsrError):
    """An image that cannot be read, or written where or how it was asked; the message names the file."""


class MissingPackageError(AlkdsrError, ImportError):
    """A package a command or feature needs that is not installed (``alkdsr.utils.packages.require``); an
    ImportError too, so that code which tries an import and falls back still sees one."""


class OptionError(AlkdsrError):
    """An option that cannot work; the message names it by its key path."""


class TrainingDataError(AlkdsrError):
    """A dataset that cannot be trained or validated on; the message names the file or key.

    Raised in a DataLoader worker, PyTorch re-raises it in the main process with the worker's
    traceback as its message; the constructor keeps only the original one-line message.
    """

    def __init__(self, message: str):
        super().__init__(_original_message(message, type(self)))


def _original_message(message: str, cls: type) -> str:
    if 'Original Traceback' not in message:
        return message
    prefix = f'{cls.__module__}.{cls.__qualname__}: '
    lines = [line for line in message.splitlines() if line.startswith(prefix)]
    return lines[-1][len(prefix) :] if lines else message.strip().splitlines()[-1]


class NonFiniteLossError(AlkdsrError):
    """The training loss became NaN or infinite and ``nan_policy`` is ``stop``."""


class TrainingStopped(Exception):
    """Training ended early on request (SIGTERM); ``iteration`` is the last finished (and saved) one.

    Not an AlkdsrError: nothing went wrong, and the entry point exits with 143 (128 + SIGTERM), not 2.
    """

    def __init__(self, message: str, iteration: int | None):
        super().__init__(message)
        self.iteration = iteration


class LockHeld(Exception):
    """A lock another process holds (``alkdsr.files.locks.claim``); ``holder`` is what it wrote in the lock file.

    Not an AlkdsrError: each caller says in its own words what is in use.
    """

    def __init__(self, path, holder: str):
        super().__init__(f'{path}: held by {holder}')
        self.holder = holder
