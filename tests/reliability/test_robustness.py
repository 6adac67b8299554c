"""Bad input everywhere: the corpus through every command, option mistakes, training data, checkpoints.

Every command either handles a case (the right output) or reports it in one line naming the file and the
problem, finishes the rest of the folder, exits non-zero at the end and leaves no partial file. The
handled/rejected counts are printed (``pytest -s``) and recorded as test properties.
SIGTERM/SIGKILL during training and determinism are in test_train_faults.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img
from corpus import CASES, IGNORED, OK, corpus_size, decodable_bgr, lmdb_with_a_non_image, rgb_png, smooth
from train_utils import (
    SCALE,
    checkpoints,
    experiment,
    failure,
    logged_iterations,
    make_pairs,
    paired_set,
    run_train,
    train_options,
    with_changes,
    write_options,
)

import alkdsr
from alkdsr.archs import ALKDNet
from alkdsr.cli.main import main
from alkdsr.errors import TrainingDataError
from alkdsr.files.images import read_image
from alkdsr.inference.cpu_fast import fast_cpu_net
from alkdsr.zoo.checkpoint import save_checkpoint

COUNTS: dict[str, tuple[int, int]] = {}


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def leftovers(folder: Path) -> list[str]:
    """Temporary or hidden files: what an interrupted or failed write would leave."""
    return sorted(p.name for p in folder.rglob('*') if p.name.startswith('.') or '.tmp' in p.name)


def record(command: str, handled: int, rejected: int, record_property) -> None:
    COUNTS[command] = (handled, rejected)
    record_property(f'{command}_handled', handled)
    record_property(f'{command}_rejected', rejected)
    print(f'\n{command}: {handled} handled, {rejected} rejected of {handled + rejected} corpus entries')


def cases_expecting(command: str, outcome: str | None = None) -> list:
    """Cases with ``outcome`` for ``command``; None: those with an error."""
    if outcome is None:
        return [c for c in CASES if c.expect[command] not in (OK, IGNORED)]
    return [c for c in CASES if c.expect[command] == outcome]


@pytest.fixture(scope='module')
def corpus_dir(tmp_path_factory) -> Path:
    from corpus import write_corpus

    folder = tmp_path_factory.mktemp('corpus')
    write_corpus(folder)
    return folder


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


# ---------------------------------------------------------------- option mistakes: one line before any work


@pytest.fixture(scope='module')
def pairs(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp('pairs'))


def _dirs(pairs: Path) -> tuple[Path, Path]:
    return pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}'


def _train_in_process(tmp_path, monkeypatch, opt: dict) -> tuple[int, str]:
    """alkdsr/train.py's entry in this process, for mistakes found before BasicSR sets up logging."""
    from alkdsr.train import run

    option_file = write_options(opt, tmp_path / 'opt.yml')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', ['alkdsr-train', '-opt', str(option_file)])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = run('train', prog='alkdsr-train')
    return rc, err.getvalue()


OPTION_MISTAKES = {
    'unknown architecture': (
        {'network_g': {'type': 'EDSRR', 'upscale': SCALE}},
        "network_g: type 'EDSRR' is not a registered architecture",
    ),
    'unknown preset': (
        {'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'preset': 'alkdnet_large'}},
        "unknown ALKDNet preset 'alkdnet_large'",
    ),
    'unknown argument': (
        {'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'num_feats': 16}},
        "unexpected keyword argument 'num_feats'",
    ),
    'network scale differs from the data': (
        {'network_g': {'type': 'ALKDNet', 'upscale': 2, 'num_feat': 16, 'num_block': 1}},
        'network_g: upscale 2 but scale: 4',
    ),
    'unknown model': ({'model_type': 'ALKDSRModle'}, "model_type: 'ALKDSRModle' is not a registered model"),
    'patch not a multiple of the scale': (
        {'datasets': {'train': {'gt_size': 50}}},
        'datasets: train: gt_size 50 is not a multiple of scale 4: the LR patch would be 12.5 pixels (use 48 or 52)',
    ),
    'missing dataset folder': (
        {'datasets': {'train': {'dataroot_lq': '/no/such/LR'}}},
        'dataroot_lq /no/such/LR: no such folder',
    ),
    'a schedule shorter than training': (
        {'train': {'total_iter': 10}},  # the cosine periods add up to 4
        'train: total_iter 10 is past the end of the cosine schedule (scheduler: periods [4] end at iteration 4)',
    ),
    'a misspelled amp': ({'train': {'amp': 'bf61'}}, 'train: amp must be bf16, fp16 or null'),
    'a GPU that is not there': ({'num_gpu': 1}, 'num_gpu: 1 but no CUDA device is available'),
    'HR/LR files that do not pair up': (
        {'datasets': {'train': {'filename_tmpl': '{}_lr'}}},
        'HR and LR files do not pair up',
    ),
}


@pytest.mark.parametrize('mistake', list(OPTION_MISTAKES))
def test_option_mistakes_are_one_line_before_any_work(mistake, pairs, tmp_path, monkeypatch):
    change, message = OPTION_MISTAKES[mistake]
    if mistake == 'a GPU that is not there' and torch.cuda.is_available():
        pytest.skip('a GPU is there')
    opt = train_options('mistake', *_dirs(pairs))
    for section, values in change.items():
        if section == 'datasets':
            opt['datasets']['train'].update(values['train'])
        elif section == 'train':
            opt['train'].update(values)
        else:
            opt[section] = values
    rc, err = _train_in_process(tmp_path, monkeypatch, opt)
    assert rc == 2
    assert err.count('\n') == 1 and err.startswith('alkdsr-train: error: ') and message in err, err
    assert not (tmp_path / 'experiments').exists()  # found before any folder or log was made


def test_an_option_file_without_datasets_is_one_line(pairs, tmp_path, monkeypatch):
    opt = train_options('no_data', *_dirs(pairs))
    del opt['datasets']
    rc, err = _train_in_process(tmp_path, monkeypatch, opt)
    assert (
        rc == 2
        and err
        == f'alkdsr-train: error: {tmp_path / "opt.yml"}: the option file lacks datasets, which a training run needs\n'
    )


# ---------------------------------------------------------------- training data: checked when the dataset is built


def _build(opt: dict):
    from basicsr.data import build_dataset  # alkdsr's datasets registered (conftest imports alkdsr)

    return build_dataset({**opt, 'phase': opt.get('phase', 'train'), 'scale': SCALE})


def _copy_pairs(pairs: Path, dest: Path) -> tuple[Path, Path]:
    import shutil

    shutil.copytree(pairs, dest)
    return _dirs(dest)


def test_folder_pairs_that_do_not_pair_up(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    (lr / f'rocketx{SCALE}.png').rename(lr / 'rocket_lr.png')
    with pytest.raises(TrainingDataError) as info:
        _build(paired_set('pairs', hr, lr, phase='train'))
    message = str(info.value)
    assert message.startswith('datasets: train: pairs: HR and LR files do not pair up')
    assert f'1 HR file(s) without an LR partner (first: {hr / "rocket.png"} needs {lr / "rocketx4.png"})' in message
    assert f'1 LR file(s) without an HR partner (first: {lr / "rocket_lr.png"})' in message


def test_sizes_that_do_not_match_the_scale(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    cv2.imwrite(str(lr / f'coffeex{SCALE}.png'), smooth(20, 23, 3))  # HR is 96 x 96: LR must be 24 x 24
    with pytest.raises(TrainingDataError, match=r'1 pair\(s\) whose sizes do not match x4') as info:
        _build(paired_set('pairs', hr, lr, phase='train'))
    assert f'HR {hr / "coffee.png"} is 96x96, LR {lr / "coffeex4.png"} is 23x20; HR must be exactly 92x80' in str(
        info.value
    )
    # validation crops HR to scale x LR: a larger HR is fine, a smaller one is not
    _build({**paired_set('val', hr, lr), 'phase': 'val'})
    cv2.imwrite(str(lr / f'coffeex{SCALE}.png'), smooth(25, 24, 3))
    with pytest.raises(TrainingDataError, match='HR must be at least 96x100'):
        _build({**paired_set('val', hr, lr), 'phase': 'val'})


def test_a_patch_larger_than_the_images(pairs):
    opt = {**paired_set('pairs', *_dirs(pairs), phase='train'), 'gt_size': 128}
    with pytest.raises(TrainingDataError) as info:
        _build(opt)
    assert 'gt_size 128 needs LR images of at least 32x32, but 4 are smaller' in str(info.value)
    assert f'(first: {_dirs(pairs)[1] / "astronautx4.png"} is 24x24)' in str(info.value)


def test_a_non_image_in_a_folder_and_a_truncated_one(pairs, corpus_dir, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    (hr / 'rocket.png').write_bytes((corpus_dir / 'text_named.png').read_bytes())
    with pytest.raises(TrainingDataError, match=f'{hr / "rocket.png"}: not a readable image'):
        _build(paired_set('pairs', hr, lr, phase='train'))
    data = (pairs / 'HR' / 'rocket.png').read_bytes()
    (hr / 'rocket.png').write_bytes(data[: len(data) // 2])  # the header is intact: found when loaded
    dataset = _build(paired_set('pairs', hr, lr, phase='train'))
    index = [p['gt_path'] for p in dataset.paths].index(str(hr / 'rocket.png'))
    dataset[(index + 1) % 4]  # the others load
    with pytest.raises(TrainingDataError) as info:
        dataset[index]
    assert (
        str(info.value)
        == f'datasets: train: pairs: {hr / "rocket.png"}: not a readable image (corrupt, truncated or not an image)'
    )
    opt = {**paired_set('pairs', hr, lr, phase='train'), 'check_pairs': False}
    (hr / 'rocket.png').write_bytes(b'not an image')
    _build(opt)  # check_pairs: false leaves the headers to training


def _lmdbs(pairs: Path, folder: Path, bad_key: str):
    good = {}
    for name in ('astronaut', 'chelsea', 'coffee', 'rocket'):
        good[name] = ((pairs / 'HR' / f'{name}.png').read_bytes(), (_dirs(pairs)[1] / f'{name}x4.png').read_bytes())
    folder.mkdir()
    return lmdb_with_a_non_image(folder, good, bad_key, SCALE)


def test_a_non_image_value_and_unpaired_keys_in_lmdbs(pairs, tmp_path):
    hr_lmdb, lr_lmdb = _lmdbs(pairs, tmp_path / 'lmdb', 'coffee')
    with pytest.raises(TrainingDataError) as info:
        _build(paired_set('lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True))
    assert str(info.value).startswith(f"datasets: train: lmdb: {hr_lmdb} key 'coffee': the value is not an image")
    meta = lr_lmdb / 'meta_info.txt'
    meta.write_text(''.join(line for line in meta.read_text().splitlines(True) if not line.startswith('rocket')))
    with pytest.raises(
        TrainingDataError, match=f"1 key\\(s\\) missing from the LR LMDB {lr_lmdb} \\(first: 'rocket'\\)"
    ):
        _build(paired_set('lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True))


# ---------------------------------------------------------------- the same through alkdsr/train.py: one line, exit 2


def _one_line(proc, message: str) -> None:
    assert proc.returncode == 2, failure(proc)
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('alkdsr-train: error: ') and message in last, last


def test_training_on_a_non_image_lmdb_value_stops_before_the_first_iteration(pairs, tmp_path):
    hr_lmdb, lr_lmdb = _lmdbs(pairs, tmp_path / 'lmdb', 'chelsea')
    opt = train_options('lmdb_bad', *_dirs(pairs))
    opt['datasets']['train'] = paired_set('train_lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True)
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'lmdb_bad.yml'))
    _one_line(proc, f"{hr_lmdb} key 'chelsea': the value is not an image")
    assert not checkpoints(tmp_path, 'lmdb_bad') and logged_iterations(proc.stderr) == []


def test_training_on_mismatched_pairs_stops_before_the_first_iteration(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    cv2.imwrite(str(lr / f'chelseax{SCALE}.png'), smooth(12, 12, 3))
    proc = run_train(tmp_path, write_options(train_options('mismatch', hr, lr), tmp_path / 'mismatch.yml'))
    _one_line(proc, f'LR {lr / "chelseax4.png"} is 12x12; HR must be exactly 48x48')
    assert not checkpoints(tmp_path, 'mismatch')


def test_a_truncated_image_met_by_a_dataloader_worker_is_one_line(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    data = (hr / 'coffee.png').read_bytes()
    (hr / 'coffee.png').write_bytes(data[: len(data) // 2])
    opt = train_options('truncated', hr, lr, total_iter=40, save_freq=100)
    opt['datasets']['train']['num_worker_per_gpu'] = 1
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'truncated.yml'))
    _one_line(proc, f'{hr / "coffee.png"}: not a readable image (corrupt, truncated or not an image)')


def _train_pair_folder(case, root: Path) -> tuple[Path, Path]:
    """An HR/LR folder pair: a good reference pair, hidden files, and ``case`` as HR beside an LR of HR/4 (>= 1 x 1)."""
    hr, lr = root / 'HR', root / 'LR'
    hr.mkdir(parents=True), lr.mkdir()
    (hr / 'reference.png').write_bytes(rgb_png(32, 32, seed=40))
    (lr / f'referencex{SCALE}.png').write_bytes(rgb_png(8, 8, seed=41))
    (hr / '.DS_Store').write_bytes(b'\0\0\0\1Bud1')  # hidden files, as macOS leaves them: BasicSR skips them
    (lr / '._referencex4.png').write_bytes(b'\0\5\26\7')
    case.write(hr)
    if case.make is not None:
        w, h = case.size
        suffix = Path(case.name).suffix
        (lr / f'{case.stem}x{SCALE}{suffix}').write_bytes(rgb_png(max(1, h // SCALE), max(1, w // SCALE), seed=42))
    return hr, lr


def _is_a_window_of(patch: np.ndarray, image: np.ndarray) -> bool:
    ph, pw = patch.shape[:2]
    return any(
        np.array_equal(patch, image[top : top + ph, left : left + pw])
        for top in range(image.shape[0] - ph + 1)
        for left in range(image.shape[1] - pw + 1)
    )


def test_training_dataset_corpus(tmp_path, record_property):
    """Each corpus file as a training HR image: trained on as BasicSR reads it, or one line naming it.

    Pairing, headers and sizes are checked when the dataset is built, decoding when the pair is loaded.
    """

    def load(opt: dict, name: str) -> tuple[list[str], dict | None]:
        dataset = _build(opt)
        names = [Path(p['gt_path']).name for p in dataset.paths]
        return names, dataset[names.index(name)] if name in names else None

    handled = 0
    for index, case in enumerate(CASES):
        hr, lr = _train_pair_folder(case, tmp_path / f'case{index}')
        opt = {**paired_set('train_pairs', hr, lr, phase='train'), 'gt_size': 4 * SCALE}
        opt.update(use_hflip=False, use_rot=False)
        expected = case.expect['train']
        if expected not in (OK, IGNORED):
            with pytest.raises(TrainingDataError) as info:
                load(opt, case.name)
            message = str(info.value)
            assert '\n' not in message and expected in message, (case.name, message)
            assert f'{hr / case.name} ' in message or f'{hr / case.name}:' in message, (case.name, message)
            continue
        handled += 1
        names, sample = load(opt, case.name)
        if expected == IGNORED:
            assert names == ['reference.png'] and sample is None, case.name
            continue
        gt = tensor2img(sample['gt'])  # BGR uint8, as BasicSR's own validation writes it
        assert gt.shape == (4 * SCALE, 4 * SCALE, 3), case.name
        assert _is_a_window_of(gt, decodable_bgr(hr / case.name)), case.name  # pixels of the file itself
    record('train', handled, len(CASES) - handled, record_property)


# ---------------------------------------------------------------- checkpoints on training's load paths


class WritesAFile:
    """A pickle that, if loaded unsafely, creates the file ``path`` (harmless proof that code ran)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), 'w'))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _plain_state(path: Path, marker: Path) -> None:
    torch.save({'iter': 2, 'epoch': 0, 'optimizers': [], 'schedulers': []}, path)


CHECKPOINT_CASES = {
    'crafted pretrain_network_g': ('pretrain', lambda p, m: torch.save({'params': WritesAFile(m)}, p), 'refused'),
    'truncated pretrain_network_g': ('pretrain', lambda p, m: _truncate(p), 'truncated or corrupt checkpoint'),
    'x2 weights for an x4 network': ('pretrain_x2', None, 'checkpoint network differs from network_g'),
    'crafted training state': (
        'state',
        lambda p, m: torch.save({'iter': 2, 'epoch': 0, 'optimizers': [WritesAFile(m)], 'schedulers': []}, p),
        'refused, the training state holds objects other than tensors',
    ),
    'truncated training state': (
        'state',
        lambda p, m: (_plain_state(p, m), _truncate(p)),
        'truncated or corrupt training state',
    ),
}


@pytest.mark.parametrize('case', list(CHECKPOINT_CASES))
def test_bad_checkpoints_on_trainings_load_paths_are_one_line(case, pairs, tmp_path):
    where, corrupt, message = CHECKPOINT_CASES[case]
    marker = tmp_path / 'code_ran'
    opt = train_options('ckpt', *_dirs(pairs), total_iter=2, save_freq=2)
    opt['network_g']['num_block'] = 1
    flags, named = [], ''
    if where.startswith('pretrain'):
        weights = tmp_path / 'pretrained.pth'
        net = ALKDNet(upscale=2 if where == 'pretrain_x2' else SCALE, num_feat=16, num_block=1)
        torch.save({'params': net.state_dict()}, weights)  # a bare state dict: no stored config
        if corrupt:
            corrupt(weights, marker)
        opt = with_changes(opt, path={'pretrain_network_g': str(weights)})
        named = str(weights)
        if where == 'pretrain_x2':
            message += ' (checkpoint vs options: upscale 2 vs 4)'
    else:  # the newest state of an experiment that --auto_resume would continue
        state = experiment(tmp_path, 'ckpt') / 'training_states' / '2.state'
        state.parent.mkdir(parents=True)
        corrupt(state, marker)
        flags, named = ['--auto_resume'], str(state)
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'ckpt.yml'), *flags)
    _one_line(proc, f'{named}: {message}')
    assert not marker.exists()  # the pickle's code did not run


# ---------------------------------------------------------------- saving: temporary file, fsync, rename


def _record_saving(monkeypatch) -> list[tuple]:
    import alkdsr.files.fileio as fileio

    calls: list[tuple] = []
    real_fsync, real_replace = fileio.os.fsync, fileio.os.replace

    def fsync(fd):
        calls.append(('fsync', Path(os.readlink(f'/proc/self/fd/{fd}')).name))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(('rename', Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, 'fsync', fsync)
    monkeypatch.setattr(fileio.os, 'replace', replace)
    return calls


@pytest.mark.parametrize('writer', ['save_checkpoint', 'training state'])
def test_saving_writes_a_temporary_file_syncs_it_then_renames_it(writer, tmp_path, monkeypatch):
    from alkdsr.training.states import read_training_state
    from alkdsr.zoo.checkpoint import atomic_torch_save

    calls = _record_saving(monkeypatch)
    target = tmp_path / ('net.pth' if writer == 'save_checkpoint' else '6.state')
    if writer == 'save_checkpoint':
        save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=1), target)
        alkdsr.load_model(target)
    else:
        atomic_torch_save({'iter': 6, 'epoch': 1, 'optimizers': [], 'schedulers': []}, target)
        assert read_training_state(target)['iter'] == 6
    (fsync_file, temp), (rename, src, dst), (fsync_dir, folder) = calls
    assert (fsync_file, rename, fsync_dir) == ('fsync', 'rename', 'fsync')
    assert temp == src and src.startswith(f'.{target.name}.') and '.tmp' in src and dst == target.name
    assert folder == tmp_path.name  # the rename itself is made durable
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_training_save_writes_the_network_before_its_state(pairs, tmp_path, monkeypatch):
    """After a kill between the two renames, the newest ``<iter>.state`` still has its ``net_g_<iter>.pth``."""
    from basicsr.models import build_model

    calls = _record_saving(monkeypatch)
    opt = train_options('order', *_dirs(pairs), total_iter=4)
    opt['network_g']['num_block'] = 1
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    models.mkdir(), states.mkdir()
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0)
    opt['path'].update(models=str(models), training_states=str(states), experiments_root=str(tmp_path))
    model = build_model(opt)
    model.save(0, 3)
    renamed = [dst for kind, *names in calls if kind == 'rename' for dst in names[1:]]
    assert renamed == ['net_g_3.pth', '3.state']
    params, arch = alkdsr.zoo.checkpoint.read_checkpoint(models / 'net_g_3.pth')
    assert arch['num_block'] == 1 and params.keys() == model.net_g.state_dict().keys()


@pytest.mark.docs
def test_the_documented_counts_are_the_corpus_counts():
    """docs/robustness.md's handled/rejected table says what the corpus expects of each command."""
    import re

    text = (Path(__file__).resolve().parents[2] / 'docs' / 'robustness.md').read_text()
    rows = dict(re.findall(r'^\| (.+?) \| (\d+ \| \d+) \|$', text, flags=re.M))
    pair_cases = 2  # the benchmark's HR set also holds a mismatched pair and an HR image without LR
    documented = {
        '`upscale`': ('upscale', 0),
        '`prepare`': ('prepare', 0),
        '`benchmark`, corpus as HR (+ 2 pair cases)': ('bench_hr', pair_cases),
        '`benchmark`, corpus as LR': ('bench_lr', 0),
        '`benchmark --hr-only`': ('bench_hr_only', 0),
        'training dataset': ('train', 0),
    }
    for label, (command, extra_rejected) in documented.items():
        rejected = len(cases_expecting(command)) + extra_rejected
        assert rows[label] == f'{len(CASES) - len(cases_expecting(command))} | {rejected}', label
