"""scripts/plot_validation.py reads validation curves out of BasicSR logs and plots them."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'scripts'))

import plot_validation  # noqa: E402

GPU_LOG = ROOT / 'docs/gpu-runs/2026-11-26-h200/train_x4_291_700it.log'


def test_reads_the_committed_gpu_log():
    # the log validates at 350 and 700, then BasicSR repeats the last validation after training
    assert plot_validation.read_curve(GPU_LOG) == [(350, 27.7685), (700, 28.0879)]
    assert [i for i, _ in plot_validation.read_curve(GPU_LOG, 'ssim')] == [350, 700]


def test_writes_a_png_and_rejects_missing_logs(tmp_path, capsys):
    out = tmp_path / 'curve.png'
    assert plot_validation.main([str(GPU_LOG), str(GPU_LOG), '-o', str(out), '--labels', 'a', 'b']) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert plot_validation.main([str(tmp_path / 'nope.log'), '-o', str(out)]) == 2
    assert 'no such log' in capsys.readouterr().err
