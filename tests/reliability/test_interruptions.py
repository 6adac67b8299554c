"""Interruptions: a command stopped part way ends in one line, with no temporary file and no stray message.

SIGTERM in the middle of an ``upscale`` write (status 143, the temporary file removed), Ctrl-C while
``alkdsr upscale`` or alkdsr/train.py is still importing torch (status 130, one line), and ``prepare``'s
worker pool at its end (no "Exception ignored ... SystemExit" from its workers). SIGTERM and SIGKILL
during training are in tests/training/test_train_faults.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import UNDONE_MISTAKES, rgb_png
from train_utils import TRAIN_PY, env, train_options, write_options

from .helpers import pair_dirs, run_cli


def test_sigterm_during_an_upscale_write_leaves_no_temporary_file(tiny_weights, tmp_path, monkeypatch):
    import alkdsr.files.fileio

    (tmp_path / 'a.png').write_bytes(rgb_png(seed=1))
    real_replace = os.replace

    def terminated_before_the_rename(src, dst):
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill <pid>` does to the command mid-write
        return real_replace(src, dst)

    monkeypatch.setattr(alkdsr.files.fileio.os, 'replace', terminated_before_the_rename)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped:
        run_cli('upscale', '-i', tmp_path / 'a.png', '-o', tmp_path / 'out', '--weights', tiny_weights)
    assert stopped.value.code == 143 and signal.getsignal(signal.SIGTERM) is previous
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == []


CLI = 'import sys; from alkdsr.cli import main; sys.exit(main())'  # the console script, as a command line


# A sitecustomize that holds the first import of torch for 30 s, after a line on stderr: a Ctrl-C sent after
# that line comes while the command is still importing. Another sitecustomize it hides runs too.
_SLOW_TORCH = """
import importlib.machinery
import importlib.util
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))


class _SlowTorch:
    def find_spec(self, name, path=None, target=None):
        if name == 'torch':
            sys.meta_path.remove(self)
            sys.stderr.write('importing torch\\n')
            sys.stderr.flush()
            time.sleep(30)
        return None  # the usual finders import it


sys.meta_path.insert(0, _SlowTorch())
_other = importlib.machinery.PathFinder.find_spec(
    'sitecustomize', [p for p in sys.path if os.path.abspath(p or '.') != _HERE]
)
if _other is not None:
    _other.loader.exec_module(importlib.util.module_from_spec(_other))
"""


def _interrupted_while_importing_torch(argv: list, cwd: Path) -> tuple[int, str]:
    """Run ``argv``, send SIGINT once it is importing torch; its status and what it wrote on stderr after that."""
    site = cwd / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(_SLOW_TORCH)
    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get('PYTHONPATH')]))
    proc = subprocess.Popen(
        [str(a) for a in argv],
        cwd=cwd,
        env={**env(), 'PYTHONPATH': pythonpath},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a process started in the background inherits SIGINT ignored, and Python then never raises
        # KeyboardInterrupt: the command gets the default handler, as in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        before = []
        while (line := proc.stderr.readline()) not in ('importing torch\n', ''):
            before.append(line)
        assert line, ''.join(before)  # it did reach torch
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.mark.parametrize('command', ['upscale', 'train.py'])
def test_ctrl_c_while_a_command_is_importing_is_one_line(command, tiny_weights, pairs, tmp_path):
    if command == 'upscale':
        (tmp_path / 'in.png').write_bytes(rgb_png())
        argv = [sys.executable, '-c', CLI, 'upscale', '-i', tmp_path / 'in.png', '-o', tmp_path / 'out']
        argv += ['--weights', tiny_weights]
        case, lines = UNDONE_MISTAKES['Ctrl-C while importing'], ('alkdsr: interrupted',)  # or before the command
    else:
        option_file = write_options(train_options('stopped', *pair_dirs(pairs)), tmp_path / 'opt.yml')
        argv = [sys.executable, TRAIN_PY, '-opt', option_file]
        case, lines = UNDONE_MISTAKES['Ctrl-C while train.py imports'], ()
    rc, err = _interrupted_while_importing_torch(argv, tmp_path)
    assert rc == 130 and 'Traceback' not in err, err
    assert err.count('\n') == 1 and err.strip() in (case.expect, *lines), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['site', 'in.png' if command == 'upscale' else 'opt.yml']
    )


def test_prepare_with_workers_ends_without_a_message_from_them(tmp_path):
    """pool.terminate() sent SIGTERM to workers already on their way out: 'Exception ignored ... SystemExit'."""
    hr = tmp_path / 'hr'
    hr.mkdir()
    for seed in range(4):
        (hr / f'im{seed}.png').write_bytes(rgb_png(seed=seed))
    case = UNDONE_MISTAKES["prepare's message at exit"]
    for run in range(3):  # a race between the pool's end and the workers' exit: a few tries
        argv = [sys.executable, '-c', CLI, 'prepare', hr, tmp_path / f'out{run}', '--scales', '2', '--workers', '2']
        done = subprocess.run(
            [str(a) for a in argv], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0 and case.expect in done.stdout, done.stdout + done.stderr
        assert 'Exception ignored' not in done.stderr and 'SystemExit' not in done.stderr, done.stderr
