"""Standard output closed (``>&-``) or full (``> /dev/full``): the work is done, the report alone is lost.

Each command runs as a user's shell would start it (a process of its own, standard output block-buffered),
and ends with its outputs written, one line on stderr saying the report could not be printed, a non-zero
status, and nothing else: no traceback, no "Exception ignored" from Python's flush at exit.
"""

from __future__ import annotations

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


def _run(argv: list, stdout: str, cwd: Path) -> subprocess.CompletedProcess:
    """``alkdsr ARGV`` with standard output ``'closed'`` or ``'full'`` (/dev/full), block-buffered as in a shell."""
    environment = env()
    environment.pop('PYTHONUNBUFFERED')  # a user's stdout into a file is block-buffered: errors come at a flush
    with open(os.devnull if stdout == 'closed' else '/dev/full', 'w') as target:
        return subprocess.run(
            [sys.executable, '-c', CLI, *map(str, argv)],
            cwd=cwd,
            env=environment,
            stdout=target,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            preexec_fn=(lambda: os.close(1)) if stdout == 'closed' else None,
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
