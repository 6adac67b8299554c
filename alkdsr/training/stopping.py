"""Stopping training cleanly on SIGTERM: finish the iteration, save a resumable state, exit.

Job schedulers (SLURM, Kubernetes, systemd) end a job with SIGTERM and, some seconds later,
SIGKILL. On the first SIGTERM the handler only records the request; the training loop learns of it
after the iteration's optimizer step, where distributed ranks also learn of each other's requests
(:meth:`StopRequests.agree`), and at the start of the next iteration it saves ``net_g_<iter>.pth``
and ``training_states/<iter>.state`` of the last finished iteration (unless that iteration was just
saved) and raises ``TrainingStopped``; the entry point prints one line and exits with status 143
(128 + SIGTERM), and ``--auto_resume`` goes on from that iteration. A second SIGTERM ends the process
at once (the files on disk stay complete: every save is atomic).

Outside the loop's iterations, before the first one (datasets being checked, the model being
built) and from the start of the last one on (its save, the final save and validation), there is
no iteration boundary to wait for: a SIGTERM stops at once with ``TrainingStopped`` and the
same exit status; the checkpoints on disk are complete.

A scheduler signals the whole process group, DataLoader workers included, and PyTorch's workers
die of SIGTERM, which fails the main process at once: the training loader's workers ignore it
(``alkdsr.data.resumable_loader``), and the main process ends them when it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal

from alkdsr.errors import TrainingStopped

BEFORE_LOOP, IN_LOOP, AFTER_LOOP = 'before the first iteration', 'in the loop', 'in the last iteration or after it'


class StopRequests:
    """What the run has been asked: ``requested`` (the signal received, or None), ``phase`` (where training
    is: only IN_LOOP makes a request wait for the next iteration) and ``agreed`` (the signal every rank
    agreed to stop for at the last check, 0 if none). The loop and its training loader share one."""

    def __init__(self):
        self.requested: int | None = None
        self.phase = BEFORE_LOOP
        self.agreed = 0

    @contextlib.contextmanager
    def on_sigterm(self):
        """Within the block, SIGTERM is a request to stop at the next iteration boundary (main thread only)."""
        previous = signal.signal(signal.SIGTERM, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _handle(self, signum, frame) -> None:
        if self.requested is not None:  # asked twice: stop now, the default way
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.requested = signum
        if self.phase != IN_LOOP:
            raise TrainingStopped(
                f'stopped by {self.signal_name()} {self.phase}: nothing saved now (the checkpoints on disk are '
                'complete); resume with --auto_resume',
                None,
            )

    def agree(self, distributed: bool, device) -> int:
        """Training's decision after an iteration: stop before the next one for this signal (0: go on), the
        same on every rank (a collective when ``distributed``: every rank calls it)."""
        signum = self.requested or 0
        if distributed:
            import torch
            import torch.distributed as dist

            flag = torch.tensor(float(signum), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            signum = int(flag.item())
        self.agreed = signum
        return signum

    def signal_name(self, signum: int | None = None) -> str:
        """The name of ``signum``, by default of the signal that asked for a stop."""
        signum = signum or self.requested
        return signal.Signals(signum).name if signum else 'a request'
