"""The benchmark scripts run in their CI-sized form and report every path they measure."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_infer_quick_on_cpu(tmp_path):
    out = tmp_path / 'infer.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/bench_infer.py'), '--device', 'cpu', '--quick',
           '--lr-size', '24x20', '--runs', '1', '--turns', '2', '--json', str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())['rows']
    assert [r['path'] for r in rows] == [
        'eager fp32 (reference)', 'channels_last + malloc tuning', 'fused CPU kernels + malloc tuning'
    ]  # fmt: skip
    assert all('error' not in r and r['maxdiff'] <= 1e-4 and len(r['times']) == 2 for r in rows)  # a run per turn
    assert len(proc.stdout.splitlines()) == 1 + len(rows)


def test_bench_infer_times_ncnn_beside_the_default_cpu_path(tmp_path):
    """--paths picks paths also with --quick: the exported ncnn files beside the reference and the default."""
    out = tmp_path / 'infer.json'
    paths = ['eager fp32 (reference)', 'ncnn (export --format ncnn)', 'fused CPU kernels + malloc tuning']
    cmd = [sys.executable, str(ROOT / 'benchmarks/bench_infer.py'), '--device', 'cpu', '--quick', '--lr-size', '24x20',
           '--runs', '1', '--json', str(out), '--paths', *paths]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())['rows']
    assert [r['path'] for r in rows] == paths
    assert all('error' not in r and r['maxdiff'] <= 1e-4 and min(r['times']) > 0 for r in rows)


def test_bench_ncnn_tiling_quick(tmp_path):
    out = tmp_path / 'tiling.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/bench_ncnn_tiling.py'), '--quick', '--threads', '1', '--json', out]
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())['rows']
    assert [r['tile'] for r in rows] == ['untiled', 'one tile', 16, 32]
    assert all(math.isfinite(r['mean_psnr_db']) for r in rows) and rows[0]['max_diff'] == 0
    assert all(0 <= r['max_diff'] <= 255 and math.isfinite(r['mean_change_db']) for r in rows[1:])
    assert rows[1]['seam_diff'] == 0 and rows[2]['seam_diff'] > 0  # 16-pixel tiles of a 40 x 30 image have seams
    assert proc.stdout.startswith('# bench_ncnn_tiling: ncnn ') and '| quick_x2 | random | 16 |' in proc.stdout


def test_bench_ncnn_precision_quick(tmp_path):
    out = tmp_path / 'precision.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/bench_ncnn_precision.py'), '--quick', '--threads', '1', '--json', out]
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())['rows']
    assert row['fp32_max_diff'] <= 1e-4 and 0 < row['fp16_max_diff'] <= 1e-2 and row['fp16_lowest_psnr_db'] >= 40
    assert 0.45 <= row['bin_bytes_fp16'] / row['bin_bytes_fp32'] <= 0.56
    assert row['gpu_storage_export_form_lowest_psnr_db'] >= 50 and '| quick_x2 | ' in proc.stdout


def test_bench_upscale_cpu_times_both_backends_as_whole_processes(tmp_path):
    out = tmp_path / 'upscale.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/bench_upscale_cpu.py'), '--quick', '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result['seconds']) == {'default, first run', 'default, second run', '--backend torch'}
    assert all(len(times) == 1 and min(times) > 0 for times in result['seconds'].values())
    assert result['images'] == 2 and result['max_grey_level_diff'] <= 1
    assert 'CPUs; 1 turns' in proc.stdout and proc.stdout.count('against --backend torch') == 3


def test_profile_infer_ops_groups_the_whole_forward(tmp_path):
    """Every operator lands in one group: the groups add up to the profiled time, convolutions among them."""
    out = tmp_path / 'ops.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/profile_infer_ops.py'), '--scales', '2', '--lr-size', '24x20',
           '--runs', '1', '--threads', '1', '--json', str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    groups = json.loads(out.read_text())['scales']['2']
    assert {'convolution', 'GELU', 'add / mul'} <= set(groups) and all(ms > 0 for ms in groups.values())
    assert f'{sum(groups.values()):.0f} ms per forward' in proc.stdout


def test_profile_infer_ops_times_each_kernel_of_the_fused_path(tmp_path):
    out = tmp_path / 'ops.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/profile_infer_ops.py'), '--path', 'fused', '--scales', '2',
           '--lr-size', '24x20', '--runs', '1', '--threads', '2', '--json', str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    groups = json.loads(out.read_text())['scales']['2']
    kernels = {'compiled kernel alkconv_tail', 'compiled kernel norm_residual', 'compiled kernel gelu_'}
    assert kernels | {'convolution'} <= set(groups) and all(ms > 0 for ms in groups.values())
    assert proc.stdout.startswith('fused CPU kernels') and f'{sum(groups.values()):.0f} ms per forward' in proc.stdout


def test_bench_train_quick_on_cpu(tmp_path):
    """In this process (one configuration after another in one process is how the script runs)."""
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from bench_train import main

    out = tmp_path / 'train.json'
    assert main(['--device', 'cpu', '--quick', '--patch', '8', '--json', str(out)]) == 0
    rows = json.loads(out.read_text())['rows']
    assert len(rows) == 3 and all('error' not in r and min(r['its']) > 0 for r in rows)


def test_gpu_data_pack_unpacks_to_the_same_pixels(shared, tmp_path):
    """gpu_run.py pack (lossless WebP, grey images as they are) gives back every image's array."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from gpu_run import SETS, main, unpack

    assert main(['pack', '--shared', str(shared), '--out', str(tmp_path / 'packed'), '--limit', '3']) == 0
    manifest = json.loads((tmp_path / 'packed' / 'MANIFEST.json').read_text())
    assert manifest['images'] == dict.fromkeys(SETS, 3) and manifest['webp_bytes'] < manifest['png_bytes']
    assert unpack(tmp_path / 'packed', tmp_path / 'png') == 18
    for name, source in SETS.items():
        originals = sorted((shared / source).iterdir())[:3]
        for original in originals:
            back = cv2.imread(str(tmp_path / 'png' / name / f'{original.stem}.png'), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(back, cv2.imread(str(original), cv2.IMREAD_UNCHANGED)), original


def test_bench_startup_times_a_one_image_upscale_against_a_commit(tmp_path):
    out = tmp_path / 'startup.json'
    cmd = [sys.executable, str(ROOT / 'benchmarks/bench_startup.py'), '--against', 'HEAD', '--runs', '1',
           '--size', '24', '--json', str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result['seconds']) == {'this checkout', 'commit HEAD'}
    assert all(len(times) == 1 and min(times) > 0 for times in result['seconds'].values())
    assert result['ratio'] > 0 and 'this checkout / commit HEAD:' in proc.stdout
