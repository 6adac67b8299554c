"""The ``alkdsr`` command line: one console script with a subcommand per tool."""

import contextlib
import sys


def main() -> int:
    """The console script: ``alkdsr.cli.main.main``, with a Ctrl-C while it is still loading ending as one
    line too (status 130), as it does once a command runs."""
    try:
        from alkdsr.cli._stdout import keep_standard_streams_open

        keep_standard_streams_open()  # before the imports open any file (see there)
        from alkdsr.cli.main import main as run_command

        return run_command()
    except KeyboardInterrupt:
        if sys.stderr is not None:  # None where it was closed (2>&-): print would write on standard output
            with contextlib.suppress(OSError):
                print('alkdsr: interrupted', file=sys.stderr)
        return 130
