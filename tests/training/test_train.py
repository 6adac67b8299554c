"""Training through alkdsr/train.py (BasicSR's pipeline): checkpoints, validation, resume, faults."""

from __future__ import annotations

import hashlib
import signal
import time

import cv2
import numpy as np
import pytest
import torch
from conftest import requires_shared
from train_utils import (
    ROOT,
    SCALE,
    checkpoints,
    experiment,
    failure,
    logged_iterations,
    logged_metrics,
    make_pairs,
    run_train,
    start_train,
    states,
    train_logs,
    train_options,
    with_changes,
    write_options,
)

import alkdsr
from alkdsr.zoo.checkpoint import read_checkpoint


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp('pairs'))


def _pair_dirs(pairs):
    return pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}'


def _y_psnr_ssim(ckpt, hr_dir, lr_dir):
    """Mean Y-channel PSNR/SSIM of a checkpoint on a folder, computed here without BasicSR's model code."""
    from basicsr.metrics import calculate_psnr, calculate_ssim

    net = alkdsr.load_model(ckpt)
    psnrs, ssims = [], []
    for hr_path in sorted(hr_dir.glob('*.png')):
        lr = cv2.imread(str(lr_dir / f'{hr_path.stem}x{SCALE}.png'))
        hr = cv2.imread(str(hr_path))
        x = torch.from_numpy(lr[:, :, ::-1].astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
        with torch.no_grad():
            sr = net(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()[:, :, ::-1]
        sr = (sr * 255.0).round().astype(np.uint8)
        hr = hr[: sr.shape[0], : sr.shape[1]]
        psnrs.append(calculate_psnr(sr, hr, crop_border=SCALE, test_y_channel=True))
        ssims.append(calculate_ssim(sr, hr, crop_border=SCALE, test_y_channel=True))
    return float(np.mean(psnrs)), float(np.mean(ssims))


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@requires_shared
def test_train_on_set5_logs_y_psnr_ssim_and_writes_checkpoints(shared, tmp_path):
    set5 = shared / 'datasets' / 'benchmark' / 'Set5'
    hr, lr = set5 / 'HR', set5 / 'LR_bicubic' / f'X{SCALE}'
    opt = train_options('set5_x4', hr, lr, total_iter=4, save_freq=2, val_freq=4)
    opt['datasets']['val']['name'] = 'Set5'
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'set5.yml'))
    assert proc.returncode == 0, failure(proc)

    exp = experiment(tmp_path, 'set5_x4')
    assert set(checkpoints(tmp_path, 'set5_x4')) == {'net_g_2', 'net_g_4', 'net_g_latest'}
    assert states(tmp_path, 'set5_x4') == [2, 4]
    assert (exp / 'set5.yml').is_file()
    (log,) = train_logs(tmp_path, 'set5_x4')
    assert logged_iterations(log) == [1, 2, 3, 4]
    assert 'Validation Set5' in log
    metrics = logged_metrics(log)[0]  # the validation at iteration 4

    # the logged numbers are Y-channel PSNR/SSIM with crop = scale of the iteration-4 weights
    ckpt = checkpoints(tmp_path, 'set5_x4')['net_g_4']
    psnr, ssim = _y_psnr_ssim(ckpt, hr, lr)
    assert metrics['psnr'] == pytest.approx(psnr, abs=2e-4)
    assert metrics['ssim'] == pytest.approx(ssim, abs=2e-4)

    # the checkpoint is BasicSR's layout plus the network config
    raw = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert set(raw) == {'params', 'arch'}
    assert raw['arch']['type'] == 'ALKDNet'
    assert (raw['arch']['num_feat'], raw['arch']['num_block'], raw['arch']['upscale']) == (16, 2, 4)
    state = torch.load(exp / 'training_states' / '4.state', map_location='cpu', weights_only=True)
    assert state['iter'] == 4 and len(state['optimizers']) == 1 and len(state['schedulers']) == 1


def test_auto_resume_after_sigkill_continues_from_last_state(pairs, tmp_path):
    total = 30
    opt = train_options('resume', *_pair_dirs(pairs), total_iter=total, save_freq=3)
    option_file = write_options(opt, tmp_path / 'resume.yml')
    proc = start_train(tmp_path, option_file)
    try:
        deadline = time.monotonic() + 240
        while len(states(tmp_path, 'resume')) < 2:
            assert proc.poll() is None, 'training ended before it could be killed'
            assert time.monotonic() < deadline, 'no training state appeared'
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = max(states(tmp_path, 'resume'))
    assert killed_at < total
    for path in checkpoints(tmp_path, 'resume').values():  # whatever was on disk at the kill is loadable
        read_checkpoint(path)

    resumed = run_train(tmp_path, option_file, '--auto_resume')
    assert resumed.returncode == 0, failure(resumed)
    log = train_logs(tmp_path, 'resume')[-1]
    assert f'iter: {killed_at}.' in log and 'Resuming training' in log
    assert f'net_g_{killed_at}.pth' in log  # the network of that iteration was loaded
    assert logged_iterations(log) == list(range(killed_at + 1, total + 1))
    assert f'net_g_{total}' in checkpoints(tmp_path, 'resume')
    assert max(states(tmp_path, 'resume')) == total


def _params(path):
    return read_checkpoint(path, 'params')[0]


# A loss weight of 1e39 is a finite option (the option file is checked: NaN is refused there) that overflows
# float32: every loss is infinite, which the NaN/Inf policy handles as it handles NaN.
def test_nan_loss_stops_naming_the_iteration_and_keeps_the_checkpoint(pairs, tmp_path):
    opt = train_options('nan', *_pair_dirs(pairs), total_iter=4, save_freq=2, period=8)
    first = run_train(tmp_path, write_options(opt, tmp_path / 'nan.yml'))
    assert first.returncode == 0, failure(first)
    good = checkpoints(tmp_path, 'nan')['net_g_4']
    digest = _sha256(good)

    poisoned = with_changes(opt, train={'total_iter': 8, 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e39}})
    proc = run_train(tmp_path, write_options(poisoned, tmp_path / 'nan_poisoned.yml'), '--auto_resume')
    assert proc.returncode == 2, failure(proc)
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith('alkdsr-train: error:')]
    assert len(error_lines) == 1, proc.stderr[-2000:]
    assert 'non-finite loss at iteration 5' in error_lines[0]
    assert 'net_g_4.pth' in error_lines[0]
    assert 'Traceback' not in proc.stderr
    assert set(checkpoints(tmp_path, 'nan')) == {'net_g_2', 'net_g_4', 'net_g_latest'}
    assert states(tmp_path, 'nan') == [2, 4]
    assert _sha256(good) == digest
    net = alkdsr.load_model(good)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_nan_policy_skip_skips_the_steps(pairs, tmp_path):
    opt = train_options('skip', *_pair_dirs(pairs), total_iter=2, save_freq=2, period=4)
    first = run_train(tmp_path, write_options(opt, tmp_path / 'skip.yml'))
    assert first.returncode == 0, failure(first)

    poisoned = with_changes(
        opt,
        train={'total_iter': 4, 'nan_policy': 'skip', 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e39}},
    )
    proc = run_train(tmp_path, write_options(poisoned, tmp_path / 'skip_poisoned.yml'), '--auto_resume')
    assert proc.returncode == 0, failure(proc)
    log = train_logs(tmp_path, 'skip')[-1]
    assert 'Non-finite loss at iteration 3' in log and 'Non-finite loss at iteration 4' in log
    before, after = _params(checkpoints(tmp_path, 'skip')['net_g_2']), _params(checkpoints(tmp_path, 'skip')['net_g_4'])
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no step was taken


def test_option_mistake_is_one_line_before_training(pairs, tmp_path):
    opt = with_changes(train_options('bad', *_pair_dirs(pairs)), train={'amp': 'fp8'})
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'bad.yml'))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1] == "alkdsr-train: error: train: amp must be bf16, fp16 or null (got 'fp8')"
    )
    assert 'Traceback' not in proc.stderr
    assert not checkpoints(tmp_path, 'bad')


def test_help_prints_basicsrs_usage(capsys):
    """``alkdsr/train.py -h``: the option check hides what BasicSR prints while parsing, not the usage."""
    from alkdsr.training.parse import parse_options

    with pytest.raises(SystemExit) as stop:
        parse_options(['-h'], str(ROOT), is_train=True)
    assert stop.value.code == 0
    usage = capsys.readouterr().out
    assert all(flag in usage for flag in ('-opt OPT', '--auto_resume', '--force_yml')), usage


def test_missing_option_file_is_one_line(tmp_path):
    proc = run_train(tmp_path, tmp_path / 'nope.yml')
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'alkdsr-train: error: {tmp_path / "nope.yml"}: cannot read the option file (No such file or directory)'
    ]
