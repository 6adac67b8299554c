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
import time
from pathlib import Path

import pytest
from corpus import STREAM_MISTAKES, UNDONE_MISTAKES, rgb_png
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


# A sitecustomize that holds each of prepare's worker processes as it starts, after a line on stderr: a Ctrl-C
# sent after those lines comes while the workers are still starting. Another sitecustomize it hides runs too.
_SLOW_WORKERS = """
import importlib.machinery
import importlib.util
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if '--multiprocessing-fork' in sys.argv:  # a worker that multiprocessing's spawn starts
    sys.stderr.write('worker starting\\n')
    sys.stderr.flush()
    time.sleep(60)
_other = importlib.machinery.PathFinder.find_spec(
    'sitecustomize', [p for p in sys.path if os.path.abspath(p or '.') != _HERE]
)
if _other is not None:
    _other.loader.exec_module(importlib.util.module_from_spec(_other))
"""


def _prepare_interrupted(tmp_path: Path, count: int, size: int, ready, pythonpath: str | None = None):
    """prepare with two workers, Ctrl-C'd as a terminal does (SIGINT to the whole process group) once
    ``ready(stderr_lines)`` says so; returns (status, stderr after the SIGINT, HR folder, output folder)."""
    hr, out = tmp_path / 'hr', tmp_path / 'out'
    hr.mkdir()
    for seed in range(count):
        (hr / f'im{seed:02d}.png').write_bytes(rgb_png(size, size, seed=seed))
    environment = env()
    if pythonpath:
        environment['PYTHONPATH'] = os.pathsep.join(filter(None, [pythonpath, environment.get('PYTHONPATH')]))
    argv = [sys.executable, '-c', CLI, 'prepare', hr, out, '--scales', '2', '3', '4', '--workers', '2']
    proc = subprocess.Popen(
        [str(a) for a in argv], cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,  # a process group of its own, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        ready(proc)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err, hr, out


def _assert_nothing_half_written(hr: Path, out: Path, before: dict) -> None:
    from alkdsr.files.images import read_image

    from .helpers import fingerprint

    assert fingerprint(hr) == before  # the inputs as they were
    written = [p for p in out.rglob('*') if p.is_file()]
    assert not [p for p in written if '.tmp' in p.name], written  # no temporary file left by a worker
    for path in written:  # and every file there complete
        if path.suffix == '.png':
            read_image(path)


def test_ctrl_c_while_prepares_workers_work_is_one_line(tmp_path):
    """Each worker raised KeyboardInterrupt inside its task and printed its traceback (most of the time: it
    raced the main process's terminate(), which cut the printing short; three runs)."""
    from .helpers import fingerprint

    for run in range(3):
        folder = tmp_path / f'run{run}'
        folder.mkdir()
        before = None

        def first_file_written(proc, folder=folder):
            nonlocal before
            before = fingerprint(folder / 'hr')
            deadline = time.monotonic() + 120
            while not list((folder / 'out' / 'LR_bicubic').glob('X*/*.png')):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.02)

        rc, err, hr, out = _prepare_interrupted(folder, count=16, size=480, ready=first_file_written)
        assert rc == 130 and err == STREAM_MISTAKES['Ctrl-C during prepare --workers 2'].expect + '\n', err
        _assert_nothing_half_written(hr, out, before)
        assert len([p for p in out.rglob('*.png') if 'LR_bicubic' in p.parts]) < 16 * 3  # stopped part way


def test_ctrl_c_while_prepares_workers_start_is_one_line(tmp_path):
    """A worker still starting (importing) printed its KeyboardInterrupt ("Error in sitecustomize", or a
    traceback through importlib)."""
    from .helpers import fingerprint

    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(_SLOW_WORKERS)
    before = None

    def two_workers_starting(proc):
        nonlocal before
        before = fingerprint(tmp_path / 'hr')
        lines = [proc.stderr.readline() for _ in range(2)]
        assert lines == ['worker starting\n'] * 2, lines

    rc, err, hr, out = _prepare_interrupted(tmp_path, 4, 24, two_workers_starting, pythonpath=str(site))
    assert rc == 130 and err == STREAM_MISTAKES["Ctrl-C as prepare's workers start"].expect + '\n', err
    _assert_nothing_half_written(hr, out, before)
