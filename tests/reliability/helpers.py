"""Plain helpers the bad-input tests share (``from .helpers import ...``).

Running the CLI, alkdsr/train.py and alkdsr/test.py in this process; the one line a train.py subprocess
must end with; a fingerprint of what a case must not change; the corpus cases each command rejects, and
the handled/rejected counts recorded per command.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
from pathlib import Path

from corpus import CASES, IGNORED, OK
from train_utils import SCALE, failure, paired_set

from alkdsr.cli.main import main

COUNTS: dict[str, tuple[int, int]] = {}


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and a hash of its contents: what a case must not change."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else 'dir'
        for p in sorted(folder.rglob('*'))
    }


def record(command: str, handled: int, rejected: int, record_property) -> None:
    COUNTS[command] = (handled, rejected)
    record_property(f'{command}_handled', handled)
    record_property(f'{command}_rejected', rejected)
    print(f'\n{command}: {handled} handled, {rejected} rejected of {handled + rejected} corpus entries')


def cases_expecting(command: str, outcome: str | None = None) -> list:
    """Cases with ``outcome`` for ``command``; None: those with an error."""
    if outcome is None:
        return [c for c in CASES if c.expect[command] not in (OK, IGNORED)]
    return [c for c in CASES if c.expect[command] == outcome]


def pair_dirs(pairs: Path) -> tuple[Path, Path]:
    return pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}'


def eval_options(hr: Path, lr: Path, weights: Path) -> dict:
    """Options of an alkdsr/test.py run that evaluates ``weights`` on the pairs in ``hr`` and ``lr``."""
    return {
        'name': 'mistake',
        'model_type': 'ALKDSRModel',
        'scale': SCALE,
        'num_gpu': 'auto',
        'datasets': {'val': paired_set('val_pairs', hr, lr)},
        'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'num_feat': 16, 'num_block': 1},
        'path': {'pretrain_network_g': str(weights), 'strict_load_g': True},
        'val': {'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': SCALE}}},
    }


def run_in_process(kind: str, cwd: Path, option_file: Path, monkeypatch, *flags: str) -> tuple[int, str]:
    """``alkdsr/train.py`` / ``alkdsr/test.py`` in this process (for mistakes found before any work)."""
    import alkdsr.test
    import alkdsr.train

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, 'argv', [f'alkdsr-{kind}', '-opt', str(option_file), *flags])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = (alkdsr.train if kind == 'train' else alkdsr.test).main()
    return rc, err.getvalue()


def one_line(proc, message: str) -> None:
    assert proc.returncode == 2, failure(proc)
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('alkdsr-train: error: ') and message in last, last
