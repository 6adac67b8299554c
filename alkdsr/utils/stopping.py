"""Stopping training cleanly on SIGTERM: finish the iteration, save a resumable state, exit.

Job schedulers (SLURM, Kubernetes, systemd) end a job with SIGTERM and, some seconds later,
SIGKILL. On the first SIGTERM the handler only records the request; the model
(``ALKDSRModel``) sees it at the next loss check (where distributed ranks also learn of each
other's requests, :func:`agree`), and at the start of the iteration after it saves
``net_g_<iter>.pth`` and ``training_states/<iter>.state`` of the last finished iteration (unless
that iteration was just saved) and raises :class:`TrainingStopped`; the training entry point prints one line and exits
with status 143 (128 + SIGTERM), and ``--auto_resume`` goes on from that iteration. A second
SIGTERM ends the process at once (the files on disk stay complete: every save is atomic).

Outside the loop's iterations, before the first one (datasets being checked, the model being
built) and from the start of the last one on (its save, the final save and validation), there is
no iteration boundary to wait for: a SIGTERM stops at once with :class:`TrainingStopped` and the
same exit status; the checkpoints on disk are complete.

A scheduler signals the whole process group, DataLoader workers included, and PyTorch's workers
die of SIGTERM, which fails the main process at once; ``alkdsr.utils.compat.worker_init_fn`` (installed in
place of BasicSR's) makes the workers ignore it: the main process ends them when it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal

from alkdsr.errors import TrainingStopped

BEFORE_LOOP, IN_LOOP, AFTER_LOOP = 'before the first iteration', 'in the loop', 'in the last iteration or after it'

_requested: int | None = None  # the signal received, until training has stopped
_phase = BEFORE_LOOP  # where training is: only IN_LOOP does a request wait for the next iteration
_agreed = 0  # the signal training agreed to stop for at its last loss check (every rank, when distributed)


def _handle(signum, frame) -> None:
    global _requested
    if _requested is not None:  # asked twice: stop now, the default way
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _requested = signum
    if _phase != IN_LOOP:
        raise TrainingStopped(
            f'stopped by {signal_name()} {_phase}: nothing saved now (the checkpoints on disk are complete); '
            'resume with --auto_resume',
            None,
        )


def set_phase(phase: str) -> None:
    """Where training is (BEFORE_LOOP, IN_LOOP, AFTER_LOOP): the model sets it at the start of each iteration."""
    global _phase
    _phase = phase


@contextlib.contextmanager
def stop_on_sigterm():
    """Within the block, SIGTERM is a request to stop at the next iteration boundary (main thread only)."""
    global _requested, _agreed
    _requested, _agreed = None, 0
    set_phase(BEFORE_LOOP)
    previous = signal.signal(signal.SIGTERM, _handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _requested, _agreed = None, 0
        set_phase(BEFORE_LOOP)


def requested() -> bool:
    return _requested is not None


def agree(signum: int) -> None:
    """Training's decision at its loss check: stop before the next iteration for ``signum`` (0: go on).

    A request is acted on at the boundary after the loss check that saw it, the same one on every rank;
    the training loader reads the decision to note where it stands before it draws the next batch.
    """
    global _agreed
    _agreed = signum


def agreed() -> int:
    """The signal training agreed to stop for at its last loss check, 0 if none."""
    return _agreed


def requested_signal() -> int:
    """The signal that asked for a stop, 0 if none did."""
    return _requested or 0


def signal_name(signum: int | None = None) -> str:
    """The name of ``signum``, by default of the signal that asked for a stop."""
    signum = signum or _requested
    return signal.Signals(signum).name if signum else 'a request'
