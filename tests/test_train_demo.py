"""The main job's script, scripts/demo.py, end to end in miniature (tiny network, a few iterations).

Whether the real demo beats bicubic is a property of its full-length run (`make demo`), not of a
unit test; this checks that every step runs offline and that the report and files are there.
"""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
from train_utils import ROOT, env


def test_demo_runs_every_step_and_reports(tmp_path):
    out = tmp_path / 'demo'
    cmd = [sys.executable, str(ROOT / 'scripts' / 'demo.py'), '--out', str(out), '--iters', '3']
    cmd += ['--feat', '16', '--blocks', '2', '--batch', '2', '--threads', '1']
    proc = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: did not beat bicubic

    rows = dict(re.findall(r'^(chelsea|coffee|camera|mean)\s+([\d.]+)\s', proc.stdout, re.M))
    assert set(rows) == {'chelsea', 'coffee', 'camera', 'mean'}
    assert 20 < float(rows['mean']) < 40  # bicubic x4 on natural photos
    assert ('beats bicubic' in proc.stdout) == (proc.returncode == 0)

    checkpoint = out / 'experiments' / 'demo_ALKDNet_x4' / 'models' / 'net_g_latest.pth'
    assert str(checkpoint) in proc.stdout and checkpoint.is_file()
    assert len(list((out / 'data' / 'train' / 'HR_sub').glob('*.png'))) > 100
    hr = cv2.imread(str(out / 'data' / 'eval' / 'HR' / 'chelsea.png'))
    sr = cv2.imread(str(out / 'results' / 'chelsea_x4_ALKDNet.png'))
    assert sr.shape == (hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4, 3)
    comparison = cv2.imread(str(out / 'results' / 'chelsea_comparison.png'))
    assert comparison.shape == (sr.shape[0], 4 * sr.shape[1], 3)
