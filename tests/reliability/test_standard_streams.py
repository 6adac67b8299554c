"""Standard output closed (``>&-``) or full (``> /dev/full``): the work is done, the report alone is lost.

Each command runs as a user's shell would start it (a process of its own, standard output block-buffered),
and ends with its outputs written, one line on stderr saying the report could not be printed, a non-zero
status, and nothing else: no traceback, no "Exception ignored" from Python's flush at exit.

Standard error closed (``2>&-``) or full (``2> /dev/full``): the work, the report on standard output and the
exit status are those of a command whose stderr is a terminal; only the lines for stderr are lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus import STREAM_MISTAKES, rgb_png
from train_utils import env

from alkdsr.files.images import read_image
from alkdsr.inference.image import load_upscaler, upscale_image

from .helpers import fingerprint, run_cli

CLI = 'import sys; from alkdsr.cli import main; sys.exit(main())'  # the console script, as a command line


def _run(argv: list, stdout: str, cwd: Path, stderr: str = 'pipe') -> subprocess.CompletedProcess:
    """``alkdsr ARGV`` with standard output and error each ``'closed'``, ``'full'`` (/dev/full) or ``'pipe'``
    (captured), block-buffered as in a shell."""
    environment = env()
    environment.pop('PYTHONUNBUFFERED')  # a user's stdout into a file is block-buffered: errors come at a flush
    closed = [fd for fd, how in ((1, stdout), (2, stderr)) if how == 'closed']
    with contextlib.ExitStack() as files:
        places = {'closed': os.devnull, 'full': '/dev/full'}
        opened = {how: files.enter_context(open(to, 'w')) for how, to in places.items() if how in (stdout, stderr)}
        targets = [opened.get(how, subprocess.PIPE) for how in (stdout, stderr)]
        return subprocess.run(
            [sys.executable, '-c', CLI, *map(str, argv)],
            cwd=cwd,
            env=environment,
            stdout=targets[0],
            stderr=targets[1],
            text=True,
            timeout=300,
            preexec_fn=(lambda: [os.close(fd) for fd in closed]) if closed else None,
        )


def _one_line(done: subprocess.CompletedProcess, case: str) -> None:
    assert done.returncode == 1, done.stderr
    assert done.stderr == STREAM_MISTAKES[case].expect + '\n', done.stderr


@pytest.mark.parametrize(
    'case, stdout',
    [('upscale with stdout closed', 'closed'), ('upscale into /dev/full', 'full')],
    ids=['closed', 'full'],
)
def test_upscale_writes_its_outputs_whatever_stdout_is(case, stdout, tiny_weights, tmp_path):
    (tmp_path / 'in').mkdir()
    for seed in range(2):
        (tmp_path / 'in' / f'a{seed}.png').write_bytes(rgb_png(20, 24, seed=seed))
    before = fingerprint(tmp_path)
    done = _run(['upscale', '-i', tmp_path / 'in', '-o', tmp_path / 'out', '--weights', tiny_weights], stdout, tmp_path)
    _one_line(done, case)
    assert fingerprint(tmp_path / 'in') == {k[len('in/') :]: v for k, v in before.items() if k.startswith('in/')}
    net = load_upscaler(tiny_weights)
    for seed in range(2):  # every image written, and right
        expected = upscale_image(net, read_image(tmp_path / 'in' / f'a{seed}.png').pixels)
        assert np.array_equal(read_image(tmp_path / 'out' / f'a{seed}.png').pixels, expected)
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['a0.png', 'a1.png']  # no temporary file


@pytest.mark.parametrize(
    'case, stdout',
    [('weights list into /dev/full', 'full'), ('weights list with stdout closed', 'closed')],
    ids=['full', 'closed'],
)
def test_a_listing_that_cannot_be_printed_is_one_line(case, stdout, tmp_path):
    home = Path(os.environ['ALKDSR_HOME'])
    before = fingerprint(home)
    _one_line(_run(['weights', 'list'], stdout, tmp_path), case)
    assert fingerprint(home) == before and list(tmp_path.iterdir()) == []


def test_help_into_a_full_stdout_is_one_line(tmp_path):
    """argparse prints --help and exits 0; Python's flush at exit then failed: "Exception ignored", status 120."""
    _one_line(_run(['--help'], 'full', tmp_path), '--help into /dev/full')


def test_prepare_writes_its_images_whatever_stdout_is(tmp_path):
    (tmp_path / 'hr').mkdir()
    for seed in range(2):
        (tmp_path / 'hr' / f'a{seed}.png').write_bytes(rgb_png(24, 24, seed=seed))
    argv = ['prepare', tmp_path / 'hr', '--scales', '2', '3', '--workers', '1']
    before = fingerprint(tmp_path / 'hr')
    done = _run([argv[0], argv[1], tmp_path / 'full', *argv[2:]], 'full', tmp_path)
    _one_line(done, 'prepare into /dev/full')
    rc, out, err = run_cli(argv[0], argv[1], tmp_path / 'printed', *argv[2:])  # the same, with its report printed
    assert rc == 0 and '6 files written' in out, err
    written = fingerprint(tmp_path / 'full')
    assert written == fingerprint(tmp_path / 'printed') and len(written) == 4 + 6  # HR, LR_bicubic, X2, X3: 6 files
    assert fingerprint(tmp_path / 'hr') == before


# standard error closed or full: each case's "expect" is the exit status and what standard output says


@pytest.mark.parametrize(
    'case, stderr',
    [('upscale with stderr closed', 'closed'), ('upscale into a full stderr', 'full')],
    ids=['closed', 'full'],
)
def test_upscale_writes_its_outputs_whatever_stderr_is(case, stderr, tiny_weights, tmp_path):
    """Two images and one that cannot be read: its error line is lost with stderr, the others' outputs are not
    (they were lost with the progress bar, which could not be drawn, or with that image's error line)."""
    (tmp_path / 'in').mkdir()
    for seed in range(2):
        (tmp_path / 'in' / f'a{seed}.png').write_bytes(rgb_png(20, 24, seed=seed))
    (tmp_path / 'in' / 'broken.png').write_bytes(b'not an image')
    before = fingerprint(tmp_path / 'in')
    argv = ['upscale', '-i', tmp_path / 'in', '-o', tmp_path / 'out', '--weights', tiny_weights]
    done = _run(argv, 'pipe', tmp_path, stderr)
    status, report = STREAM_MISTAKES[case].expect.split(', ', 1)
    assert (done.returncode, done.stdout.split(', in ')[0]) == (int(status.split()[-1]), report), done.stdout
    assert fingerprint(tmp_path / 'in') == before
    net = load_upscaler(tiny_weights)
    for seed in range(2):
        expected = upscale_image(net, read_image(tmp_path / 'in' / f'a{seed}.png').pixels)
        assert np.array_equal(read_image(tmp_path / 'out' / f'a{seed}.png').pixels, expected)
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['a0.png', 'a1.png']


@pytest.mark.parametrize('stderr', ['closed', 'full'])
def test_an_error_with_stderr_closed_or_full_keeps_its_status(stderr, tmp_path):
    """The line is lost; the status is still 2, and nothing is printed on standard output in its place
    (``print(file=None)`` prints on standard output)."""
    case = 'an error with stderr closed' if stderr == 'closed' else 'an error into a full stderr'
    done = _run(['upscale', '-i', tmp_path / 'nonexist.png', '-o', tmp_path / 'out'], 'pipe', tmp_path, stderr)
    assert (done.returncode, done.stdout) == (2, ''), done.stdout
    assert STREAM_MISTAKES[case].expect == 'status 2, nothing on standard output'
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    'case, stderr',
    [('prepare with stderr closed', 'closed'), ('prepare into a full stderr', 'full')],
    ids=['closed', 'full'],
)
def test_prepare_writes_its_images_whatever_stderr_is(case, stderr, tmp_path):
    (tmp_path / 'hr').mkdir()
    for seed in range(2):
        (tmp_path / 'hr' / f'a{seed}.png').write_bytes(rgb_png(24, 24, seed=seed))
    argv = ['prepare', tmp_path / 'hr', '--scales', '2', '--workers', '1']
    done = _run([argv[0], argv[1], tmp_path / 'quiet', *argv[2:]], 'pipe', tmp_path, stderr)
    rc, out, err = run_cli(argv[0], argv[1], tmp_path / 'printed', *argv[2:])
    assert rc == 0, err
    expect = STREAM_MISTAKES[case].expect
    assert (done.returncode, expect) == (0, 'status 0, its report on standard output')
    assert done.stdout.replace(str(tmp_path / 'quiet'), '') == out.replace(str(tmp_path / 'printed'), '')
    assert fingerprint(tmp_path / 'quiet') == fingerprint(tmp_path / 'printed') != {}


def test_benchmark_scores_with_stderr_closed(tiny_weights, tmp_path):
    """Its progress bar cannot be drawn: the table is printed and the JSON written all the same."""
    (tmp_path / 'sets' / 'Tiny' / 'HR').mkdir(parents=True)
    for seed in range(2):
        (tmp_path / 'sets' / 'Tiny' / 'HR' / f'a{seed}.png').write_bytes(rgb_png(24, 24, seed=seed))
    argv = ['benchmark', '--weights', tiny_weights, '--data-root', tmp_path / 'sets', '--sets', 'Tiny', '--hr-only']
    done = _run([*argv, '--json', tmp_path / 'quiet.json'], 'pipe', tmp_path, 'closed')
    rc, out, err = run_cli(*argv, '--json', tmp_path / 'printed.json')
    assert STREAM_MISTAKES['benchmark with stderr closed'].expect == 'status 0, its report on standard output'
    assert (done.returncode, rc) == (0, 0), err
    assert done.stdout.replace('quiet', 'printed') == out
    scores = [json.loads((tmp_path / f'{run}.json').read_text())['sets'] for run in ('quiet', 'printed')]
    assert scores[0] == scores[1]
