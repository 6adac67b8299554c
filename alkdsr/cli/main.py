"""``alkdsr <command>``: dispatch to the subcommand modules in this package.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Errors of the user's making (``AlkdsrError``) print one line and
exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import sys

import alkdsr.inference  # noqa: F401  (before torch: its OpenMP wait policy, see there)
from alkdsr import __version__
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import raise_on_sigterm
from alkdsr.utils.devices import tune_malloc

COMMANDS = ('upscale', 'weights', 'prepare', 'benchmark', 'profile', 'export', 'compare')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='alkdsr', description='ALKDNet super-resolution tools (BasicSR plugin).')
    parser.add_argument('--version', action='version', version=f'alkdsr {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in COMMANDS:
        module = importlib.import_module(f'alkdsr.cli.{name}')
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _on_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, '_run', None):
        parser.print_help()
        return 2
    tune_malloc()
    previous = raise_on_sigterm() if _on_main_thread() else None  # signal handlers can only be set there
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a reader that closed the pipe early shows here, not in Python's flush at exit
        return status
    except AlkdsrError as e:
        print(f'alkdsr {args.command}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'alkdsr {args.command}: interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # a pipe of ours broke, not the reader of our output
        return 128 + signal.SIGPIPE  # `alkdsr weights list | head`: the reader has what it wanted
    finally:
        if previous is not None:  # main() called from a program: give it back its handler
            signal.signal(signal.SIGTERM, previous)


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone; if so, it is pointed at os.devnull, so that
    Python's own flush at exit does not fail on it again (the recipe of Python's signal documentation)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a program's own stream)
        return False
    if not hasattr(select, 'poll'):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    if not any(events & select.POLLERR for _, events in poller.poll(0)):  # a pipe without a reader
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True


if __name__ == '__main__':
    sys.exit(main())
