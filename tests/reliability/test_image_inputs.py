"""The image corpus (tests/corpus.py) through ``alkdsr upscale``, ``prepare`` and ``benchmark``.

Every command either handles a file (the right output) or reports it in one line naming the file and the
problem, finishes the rest of the folder, exits non-zero at the end and leaves no partial file. The
handled/rejected counts are printed (``pytest -s``) and recorded as test properties; test_docs_tables.py
holds docs/robustness.md's table of them to the corpus. The corpus as training images is in
test_training_data.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img
from corpus import CASES, IGNORED, OK, corpus_size, decodable_bgr, rgb_png, smooth

import alkdsr
from alkdsr.files.images import read_image
from alkdsr.inference.cpu_fast import fast_cpu_net

from .helpers import cases_expecting, record, run_cli


def leftovers(folder: Path) -> list[str]:
    """Temporary or hidden files: what an interrupted or failed write would leave."""
    return sorted(p.name for p in folder.rglob('*') if p.name.startswith('.') or '.tmp' in p.name)


def test_the_corpus_has_at_least_25_cases():
    assert corpus_size() >= 25
    assert len({c.name for c in CASES}) == len(CASES) and len({c.stem.lower() for c in CASES}) == len(CASES)


def test_a_cmyk_jpeg_decodes_to_its_colours_on_every_path(tmp_path):
    """Pillow (upscale) and OpenCV (prepare, benchmark, training) both undo CMYK, neither inverts it."""
    (case,) = [c for c in CASES if c.name == 'cmyk.jpg']
    path = case.write(tmp_path)
    rgb = smooth(case.size[1], case.size[0], 3, seed=4).astype(np.float64)  # what _cmyk_jpeg converted
    for decoded in (read_image(path).pixels, decodable_bgr(path)[..., ::-1]):
        assert np.abs(decoded.astype(np.float64) - rgb).mean() < 3  # JPEG quality 95; inverted would be ~80


# ---------------------------------------------------------------- alkdsr upscale


def test_upscale_corpus(corpus_dir, tiny_weights, tmp_path, record_property):
    out = tmp_path / 'out'
    rc, stdout, stderr = run_cli('upscale', '-i', corpus_dir, '-o', out, '--weights', tiny_weights, '--tile', 16)
    errors = stderr.strip().splitlines()
    assert rc == 1
    assert all(line.startswith('alkdsr upscale: error: ') for line in errors), stderr
    for case in CASES:
        source, target = corpus_dir / case.name, out / case.name
        lines = [line for line in errors if line.startswith(f'alkdsr upscale: error: {source}: ')]
        expected = case.expect['upscale']
        if expected == OK:
            assert lines == [], case.name
            image = read_image(target)
            w, h = case.size
            assert (image.pixels.shape[:2], image.mode) == ((2 * h, 2 * w), case.upscale_mode), case.name
        elif expected == IGNORED:
            assert lines == [] and not target.is_file(), case.name
        else:
            assert len(lines) == 1 and expected in lines[0], (case.name, lines)
            assert not target.exists(), case.name
    handled, rejected = len(CASES) - len(cases_expecting('upscale')), len(cases_expecting('upscale'))
    assert len(errors) == rejected
    upscaled = len(cases_expecting('upscale', OK))
    assert f'{upscaled} upscaled, 0 skipped (output exists), {rejected} failed' in stdout
    assert leftovers(out) == []
    record('upscale', handled, rejected, record_property)


def test_upscale_of_a_single_bad_file_is_one_line_and_exit_1(corpus_dir, tiny_weights, tmp_path):
    rc, stdout, stderr = run_cli(
        'upscale', '-i', corpus_dir / 'bomb.png', '-o', tmp_path / 'o.png', '--weights', tiny_weights
    )
    assert rc == 1 and stderr.count('\n') == 1 and 'too many pixels' in stderr
    assert not (tmp_path / 'o.png').exists() and leftovers(tmp_path) == []


# ---------------------------------------------------------------- alkdsr prepare


def test_prepare_corpus(corpus_dir, tmp_path, record_property):
    out = tmp_path / 'prepared'
    rc, stdout, stderr = run_cli('prepare', corpus_dir, out, '--scales', 2, '--workers', 1)
    assert rc == 1
    lines = stderr.strip().splitlines()
    notes = [line for line in lines if line.startswith('alkdsr prepare: note: ')]
    errors = [line for line in lines if line not in notes]
    for case in CASES:
        source = corpus_dir / case.name
        hr, lr = out / 'HR' / f'{case.stem}.png', out / 'LR_bicubic' / 'X2' / f'{case.stem}x2.png'
        mine = [line for line in errors if line.startswith(f'alkdsr prepare: {source}: ')]
        expected = case.expect['prepare']
        if expected == OK:
            assert mine == [], case.name
            w, h = case.size
            channels = () if case.prepare_channels == 1 else (3,)
            assert cv2.imread(str(hr), cv2.IMREAD_UNCHANGED).shape == (h, w, *channels), case.name
            assert cv2.imread(str(lr), cv2.IMREAD_UNCHANGED).shape == (h // 2, w // 2, *channels), case.name
            for note in case.notes:
                assert f'alkdsr prepare: note: {source}: {note}' in notes, (case.name, note)
        elif expected == IGNORED:
            assert mine == [] and not hr.exists(), case.name
        else:
            assert len(mine) == 1 and expected in mine[0], (case.name, mine)
            assert not hr.exists() and not lr.exists(), case.name
    rejected = cases_expecting('prepare')
    prepared = cases_expecting('prepare', OK)
    assert len(errors) == len(rejected)
    listed = len(CASES) - len(cases_expecting('prepare', IGNORED))
    assert f'{listed} HR images' in stdout and f'{2 * len(prepared)} files written' in stdout
    assert f'{len(rejected)} image(s) failed' in stdout
    assert leftovers(out) == []
    record('prepare', len(CASES) - len(rejected), len(rejected), record_property)


def test_prepare_lmdb_refuses_names_basicsr_cannot_key_before_any_work(corpus_dir, tmp_path):
    rc, _, stderr = run_cli('prepare', corpus_dir, tmp_path / 'out', '--scales', 2, '--lmdb', '--workers', 1)
    assert rc == 2 and stderr.count('\n') == 1
    assert stderr.startswith(f'alkdsr prepare: error: {corpus_dir / "with spaces.png"}: name ')
    assert 'cannot be packed into an LMDB' in stderr
    assert not (tmp_path / 'out').exists()


# ---------------------------------------------------------------- alkdsr benchmark


def _partner_lr(hr_path: Path) -> np.ndarray:
    """An LR image of the right size for an HR file (any downscaling will do: the test is about the files)."""
    hr = decodable_bgr(hr_path)
    if hr is None or min(hr.shape[:2]) < 2:
        return smooth(8, 8, 3)
    return cv2.resize(hr, (hr.shape[1] // 2, hr.shape[0] // 2), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope='module')
def bench_root(tmp_path_factory) -> Path:
    """Two sets in the EDSR layout: corpus files as HR images, and corpus files as LR images."""
    root = tmp_path_factory.mktemp('bench')
    hr_dir, lr_dir = root / 'hr_side' / 'HR', root / 'hr_side' / 'LR_bicubic' / 'X2'
    hr_dir.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    for case in CASES:
        path = case.write(hr_dir)
        cv2.imwrite(str(lr_dir / f'{case.stem}x2.png'), _partner_lr(path))
    (hr_dir / 'pair_mismatch.png').write_bytes(rgb_png(seed=30))  # 24 x 20 HR, 9 x 7 LR
    (lr_dir / 'pair_mismatchx2.png').write_bytes(rgb_png(7, 9, seed=31))
    (hr_dir / 'pair_lonely.png').write_bytes(rgb_png(seed=32))  # no LR partner

    hr_dir, lr_dir = root / 'lr_side' / 'HR', root / 'lr_side' / 'LR_bicubic' / 'X2'
    hr_dir.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    for case in CASES:
        lr = decodable_bgr(case.write(lr_dir, f'{case.stem}x2{Path(case.name).suffix}'))
        h, w = lr.shape[:2] if lr is not None else (10, 12)
        cv2.imwrite(str(hr_dir / f'{case.stem}.png'), smooth(2 * h, 2 * w, 3, seed=33))
    return root


def _basicsr_psnr(net, lr_path: Path, hr_path: Path) -> float:
    """The Y-channel PSNR of one pair computed with BasicSR's functions alone (crop border = scale)."""
    lr = decodable_bgr(lr_path).astype(np.float32) / 255.0
    hr = decodable_bgr(hr_path)
    with torch.no_grad():
        sr = tensor2img(net(img2tensor(lr, bgr2rgb=True, float32=True)[None]))
    hr = hr[: sr.shape[0], : sr.shape[1]]
    return float(calculate_psnr(sr, hr, crop_border=2, test_y_channel=True))


def _check_benchmark_set(result: dict, errors: list[str], command: str, set_dir: Path, net) -> int:
    """Check every case's outcome in one set (the ``command`` column of the corpus); returns the number rejected."""
    per_image, rejected = result['per_image'], 0
    hr_side = command != 'bench_lr'
    lr_dir = set_dir / 'LR_bicubic' / 'X2'
    for case in CASES:
        hr = set_dir / 'HR' / (case.name if hr_side else f'{case.stem}.png')
        lr = lr_dir / (f'{case.stem}x2.png' if hr_side else f'{case.stem}x2{Path(case.name).suffix}')
        named = (hr, lr, lr_dir / f'{case.stem}x2.png')
        mine = [line for line in errors if any(line.startswith(f'alkdsr benchmark: error: {p}: ') for p in named)]
        expected = case.expect[command]
        if expected not in (OK, IGNORED):
            assert len(mine) == 1 and expected in mine[0], (case.name, mine)
            assert case.stem not in per_image, case.name
            rejected += 1
            continue
        assert mine == [], (case.name, mine)
        assert (case.stem in per_image) == (expected == OK), case.name
        if expected == OK and command != 'bench_hr_only':
            psnr = per_image[case.stem][0]
            assert math.isfinite(psnr) and psnr == pytest.approx(_basicsr_psnr(net, lr, hr), abs=1e-9), case.name
    return rejected


def test_benchmark_corpus(bench_root, tiny_weights, tmp_path, record_property):
    # the network as `alkdsr benchmark` runs it on the CPU: its PSNRs are checked against BasicSR's protocol on
    # the same outputs (the fused path rounds a pixel differently now and then; test_cpu_fast bounds it)
    net = fast_cpu_net(alkdsr.load_model(tiny_weights))
    report = tmp_path / 'edsr.json'
    rc, _, stderr = run_cli(
        'benchmark', '--weights', tiny_weights, '--data-root', bench_root, '--sets', 'hr_side', 'lr_side',
        '--device', 'cpu', '--json', report, '--save-images', tmp_path / 'sr',
    )  # fmt: skip
    assert rc == 2 and 'Traceback' not in stderr
    errors = stderr.strip().splitlines()
    assert all(line.startswith('alkdsr benchmark: error: ') for line in errors)
    sets = json.loads(report.read_text())['sets']

    hr_set = bench_root / 'hr_side'
    rejected = _check_benchmark_set(sets['hr_side'], errors, 'bench_hr', hr_set, net)
    pair_lines = [line for line in errors if '/pair_' in line]
    assert len(pair_lines) == 2 and not {'pair_mismatch', 'pair_lonely'} & set(sets['hr_side']['per_image'])
    assert any(f'{hr_set / "HR" / "pair_mismatch.png"}: HR/LR size mismatch' in line for line in pair_lines)
    assert any(f'{hr_set / "LR_bicubic" / "X2" / "pair_lonelyx2.png"}: no such file' in line for line in pair_lines)
    assert len(sets['hr_side']['failures']) == rejected + 2
    record('benchmark_hr_files', len(CASES) + 2 - rejected - 2, rejected + 2, record_property)

    rejected = _check_benchmark_set(sets['lr_side'], errors, 'bench_lr', bench_root / 'lr_side', net)
    assert len(sets['lr_side']['failures']) == rejected
    record('benchmark_lr_files', len(CASES) - rejected, rejected, record_property)
    assert len(errors) == len(sets['hr_side']['failures']) + len(sets['lr_side']['failures'])
    assert leftovers(tmp_path) == []


def test_benchmark_hr_only_corpus(bench_root, tiny_weights, tmp_path, record_property):
    net = alkdsr.load_model(tiny_weights)
    report = tmp_path / 'hr_only.json'
    rc, _, stderr = run_cli(
        'benchmark', '--weights', tiny_weights, '--data-root', bench_root, '--sets', 'hr_side', '--hr-only',
        '--device', 'cpu', '--json', report,
    )  # fmt: skip
    assert rc == 2 and 'Traceback' not in stderr
    errors = stderr.strip().splitlines()  # only errors: no progress bar when stderr is not a terminal
    result = json.loads(report.read_text())['sets']['hr_side']
    assert result['lr'] == 'bicubic_from_hr'
    rejected = _check_benchmark_set(result, errors, 'bench_hr_only', bench_root / 'hr_side', net)
    assert len(errors) == len(result['failures']) == rejected  # made LR images always fit: no pair problems
    assert {'pair_mismatch', 'pair_lonely'} <= set(result['per_image'])
    record('benchmark_hr_only', len(CASES) - rejected, rejected, record_property)
