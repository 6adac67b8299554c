"""``alkdsr <command>``: dispatch to the subcommand modules in this package.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Errors of the user's making (``AlkdsrError``) print one line and
exit with status 2; a report that standard output cannot take is one line too (``_stdout``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys

import alkdsr.inference  # noqa: F401  (before torch: its OpenMP wait policy, see there)
from alkdsr import __version__
from alkdsr.cli._stdout import Report, keep_standard_streams_open
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
    """Run the command ``argv`` (``sys.argv[1:]``) and return its exit status.

    Standard output is a :class:`alkdsr.cli._stdout.Report` for the length of it (the parsing included:
    ``--help`` prints a report too), so that a closed or full standard output costs the command neither
    its work nor a traceback, only its report (one line on stderr, a non-zero status). Standard error is
    one too: what a closed or full one cannot take is lost, the work and the exit status are not.
    """
    keep_standard_streams_open()
    report = Report(sys.stdout)
    prog = 'alkdsr'
    with contextlib.redirect_stderr(Report(sys.stderr, 'standard error')):
        try:
            with contextlib.redirect_stdout(report):
                parser = build_parser()
                args = parser.parse_args(argv)
                if getattr(args, '_run', None):
                    prog = f'alkdsr {args.command}'
                    status = _run(args, prog)
                else:
                    parser.print_help()
                    status = 2
        except SystemExit as e:  # argparse's --help, --version and usage errors: what a caller of main() expects
            code = (e.code or 0) if isinstance(e.code, (int, type(None))) else 1  # sys.exit('message') exits 1
            final = report.status(code, prog)
            if final != code:
                raise SystemExit(final) from None
            raise
        return report.status(status, prog)


def _run(args, prog: str) -> int:
    tune_malloc()
    previous = raise_on_sigterm() if _on_main_thread() else None  # signal handlers can only be set there
    try:
        return int(args._run(args) or 0)
    except AlkdsrError as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    finally:
        if previous is not None:  # main() called from a program: give it back its handler
            signal.signal(signal.SIGTERM, previous)


if __name__ == '__main__':
    sys.exit(main())
