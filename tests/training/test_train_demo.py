"""The main job's script, scripts/demo.py, end to end: every step offline, and the trained network beats bicubic.

The default suite runs a shorter demo, a 32-channel, 4-block ALKDNet x4 for 600 iterations at
learning rate 6e-3 (measured: 28.97 dB against bicubic's 28.75 on the three held-out photos, each of
them above bicubic); ``make test-slow`` runs the demo as ``make demo`` does, the paper's network
for 1,000 iterations (measured: 29.09 dB). Both on one CPU thread.
"""

from __future__ import annotations

import re
import subprocess
import sys

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
