"""User-facing errors: each one is reported as a single line naming the problem."""


class AlkdsrError(Exception):
    """A problem with the user's input (file, option, data); the CLI prints it and exits 2."""


class OutputError(AlkdsrError, OSError):
    """An output that could not be written (a full disk, a file-size limit, a folder at its name, no
    permission); an OSError too, so that a caller that retries failed writes still sees one."""


class CheckpointError(AlkdsrError, ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""
