"""The main job's script, scripts/demo.py, end to end: every step offline, and the trained network beats bicubic.

The default suite runs a shorter demo, a 32-channel, 4-block ALKDNet x4 for 600 iterations at
learning rate 6e-3 (measured: 28.97 dB against bicubic's 28.75 on the three held-out photos, each of
them above bicubic); ``make test-slow`` runs the demo as ``make demo`` does, the paper's network
for 1,000 iterations (measured: 29.09 dB). Both on one CPU thread. ``make test-slow`` also runs ``make demo``
twice in a row in a fresh clone (the second run finds the first one's ``demo_output/``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from train_utils import ROOT, env

SHORTER = ['--iters', '600', '--feat', '32', '--blocks', '4', '--lr', '6e-3']


@pytest.mark.parametrize('flags', [SHORTER, pytest.param([], marks=pytest.mark.slow)], ids=['shorter', 'as-make-demo'])
def test_the_demo_beats_bicubic(tmp_path, flags):
    out = tmp_path / 'demo'
    cmd = [sys.executable, str(ROOT / 'scripts' / 'demo.py'), '--out', str(out), '--threads', '1', *flags]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: did not beat bicubic

    rows = {name: [float(v) for v in values.split()] for name, values in
            re.findall(r'^(chelsea|coffee|camera|mean)\s+([\d.\s]+?)\s+[+-][\d.]+$', proc.stdout, re.M)}  # fmt: skip
    assert set(rows) == {'chelsea', 'coffee', 'camera', 'mean'}, proc.stdout[-3000:]
    bicubic, ours = rows['mean'][0], rows['mean'][2]  # PSNR of bicubic, SSIM, PSNR of ALKDNet, SSIM
    assert 20 < bicubic < 40  # bicubic x4 on natural photos
    assert ours > bicubic, proc.stdout[-2000:]
    assert f'beats bicubic: {ours:.2f} dB vs {bicubic:.2f} dB' in proc.stdout

    checkpoint = out / 'experiments' / 'demo_ALKDNet_x4' / 'models' / 'net_g_latest.pth'
    assert str(checkpoint) in proc.stdout and checkpoint.is_file()
    assert len(list((out / 'data' / 'train' / 'HR_sub').glob('*.png'))) > 100
    hr = cv2.imread(str(out / 'data' / 'eval' / 'HR' / 'chelsea.png'))
    sr = cv2.imread(str(out / 'results' / 'chelsea_x4_ALKDNet.png'))
    assert sr.shape == (hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4, 3)
    comparison = cv2.imread(str(out / 'results' / 'chelsea_comparison.png'))
    assert comparison.shape == (sr.shape[0], 4 * sr.shape[1], 3)


def fresh_clone(folder: Path) -> Path:
    """The repository's files as a clone has them (tracked and not ignored, as they are now), and the ``.venv/``
    ``make env`` would have made: its python this one, with the clone's alkdsr (as ``pip install -e .`` gives)."""
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split('\0')  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():  # a file deleted in the work tree is not in a clone of it either
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    python = folder / '.venv' / 'bin' / 'python'
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nPYTHONPATH={folder} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    # the Makefile's mark of an installed environment, newer than setup.py and the Makefile (copied with their
    # times): make installs nothing
    (folder / '.venv' / '.alkdsr-installed').touch()
    return folder


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_make_demo_twice_on_a_fresh_clone(tmp_path):
    """`make demo`, then `make demo` again with the first run's demo_output/ there (the second run once failed:
    BasicSR imported before alkdsr, as nothing had imported alkdsr when the photos were already written)."""
    clone = fresh_clone(tmp_path / 'clone')
    tables = []
    for attempt in ('first', 'second'):
        proc = subprocess.run(['make', 'demo'], cwd=clone, env=env(), capture_output=True, text=True, timeout=1700)
        assert proc.returncode == 0, (attempt, proc.stdout[-3000:] + proc.stderr[-3000:])
        assert 'Traceback' not in proc.stdout + proc.stderr, (attempt, proc.stderr[-3000:])
        assert 'ALKDNet x4, trained for minutes on the CPU, beats bicubic: ' in proc.stdout, proc.stdout[-2000:]
        assert (clone / 'demo_output' / 'results' / 'chelsea_comparison.png').is_file()
        tables.append(re.findall(r'^(?:chelsea|coffee|camera|mean)\s.*$', proc.stdout, re.M))
    assert len(tables[0]) == 4 and tables[1] == tables[0]  # the same training, seeded, on one CPU thread
