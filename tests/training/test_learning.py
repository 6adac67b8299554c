"""Training learns: tests that fail when the training path stops lowering the loss.

The other training tests check that runs finish, save, resume and log; none of them would notice
a network trained uphill. These do, on the CPU, on one thread:

- a fixed batch (four photos, HR 64 x 64, x4 LR, read by BasicSR's PairedImageDataset) through
  ``ALKDSRModel.optimize_parameters``: after FIXED_STEPS Adam steps the L1 loss is at most
  1/LOSS_FACTOR of the first one and below INPUT_BLIND_FRACTION of the best L1 any output that
  ignores the LR input can reach (the per-pixel median of the batch's HR images); BasicSR's own
  ``SRModel`` with ALKDNet, an independent implementation of the step, gives the same losses;
- each training switch that runs on the CPU (channels_last, fused Adam, EMA, bf16 autocast, nan_policy:
  skip) follows the plain run's losses for SWITCH_STEPS steps within a stated tolerance, and
  lowers the loss by SWITCH_FACTOR; torch.compile is left to tests/training/test_train_switches.py
  (first two iterations through alkdsr/train.py), as compiling even with the aot_eager backend
  takes tens of seconds of a 2-core CPU (112 s on this loaded machine) for each run;
- a short real run, ``alkdsr prepare`` on scikit-image photos and alkdsr/train.py with
  scripts/demo.py's options (tiny network, REAL_ITERS iterations): the last validation's PSNR is
  PSNR_GAIN_DB above the first one and within BICUBIC_GAP_DB of bicubic upsampling's.

Measured (CPU, torch 2.14.1): fixed batch, L1 0.438 -> 0.0587 after 60 steps (factor 7.5, stated
5); input-blind bound 0.171 (the trained loss is 0.34 of it, stated 0.5); SRModel's losses equal
ALKDSRModel's exactly; after 10 steps (plain: 0.438 -> 0.137, factor 3.2, stated 2) channels_last
is within 2.3e-7 relative of the plain losses (stated 1e-5), bf16 within 1.6e-3 (stated 1e-2),
fused Adam, EMA and nan_policy: skip are held to 1e-5 too; real run (200 iterations, validations every 50):
26.91 -> 27.45 dB (+0.54, stated +0.3), bicubic 28.75 dB (1.30 dB above, stated at most 2.5).

Mutation check, applied by hand one at a time to alkdsr/ and reverted (the tests that failed):

- loss sign flipped before backward (``(-l_total).backward()`` in ALKDSRModel._step): all eight
  (fixed-batch loss rises to 14, real run stuck at 9.80 dB);
- no optimizer step (``self.optimizer_g.step()`` removed): all eight (loss stays 0.438, PSNR
  13.72 dB at every validation);
- detached loss (``l_total = l_total.detach().requires_grad_()``: backward runs, no gradient
  reaches the network): all eight, as without a step;
- shuffled LR/HR pairing (PairedImageDataset's training items given the next item's LR image):
  all eight: the fixed batch falls by 2.8 only (0.515 -> 0.181), by 1.7 after 10 steps; the real
  run gains 4.5 dB by learning colours (18.85 -> 23.31 dB) but ends 5.4 dB under bicubic.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from train_utils import (
    ROOT,
    SCALE,
    experiment,
    failure,
    logged_metrics,
    make_pairs,
    run_train,
    train_logs,
    train_options,
    write_options,
)

FIXED_STEPS = 60
LOSS_FACTOR = 5.0
INPUT_BLIND_FRACTION = 0.5
SWITCH_STEPS = 10
SWITCH_FACTOR = 2.0
FP32_RTOL = 1e-5
BF16_RTOL = 1e-2
REAL_ITERS = 200
REAL_VAL_FREQ = 50
PSNR_GAIN_DB = 0.3
BICUBIC_GAP_DB = 2.5


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One CPU thread: on these small batches a second one gains little, and on a loaded machine
    threads waiting for each other made the steps many times slower (as scripts/demo.py notes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp('pairs'), size=64)


@pytest.fixture(scope='module')
def fixed_batch(pairs):
    """All four pairs as one batch, read by PairedImageDataset (training phase, whole images)."""
    from basicsr.data import build_dataset

    opt = train_options('learn', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}')['datasets']['train']
    opt.update(phase='train', scale=SCALE, gt_size=64, use_hflip=False, use_rot=False, dataset_enlarge_ratio=1)
    dataset = build_dataset(opt)
    items = [dataset[i] for i in range(len(dataset))]
    return {key: torch.stack([item[key] for item in items]) for key in ('lq', 'gt')}


def build(tmp_path, model_type: str = 'ALKDSRModel', **train):
    """A training model for the tiny ALKDNet of train_utils (Adam, lr 1e-3), on the CPU, seeded."""
    from basicsr.models import build_model

    opt = train_options('learn', tmp_path, tmp_path)
    opt['model_type'] = model_type
    opt['train'].update(train)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0)
    opt['path'].update(models=str(tmp_path), training_states=str(tmp_path), experiments_root=str(tmp_path))
    torch.manual_seed(0)
    return build_model(opt)


def train_losses(model, batch: dict, steps: int, poisoned_step: int | None = None) -> list[float]:
    """The L1 loss before each of ``steps`` optimizer steps and after the last one (steps + 1 values)."""
    losses = []
    with torch.enable_grad():
        for step in range(steps + 1):
            data = batch
            if step == poisoned_step:
                data = {'lq': batch['lq'], 'gt': torch.full_like(batch['gt'], float('nan'))}
            model.feed_data(data)
            model.optimize_parameters(step + 1)
            losses.append(model.log_dict['l_pix'])
    return losses


def input_blind_l1(batch: dict) -> float:
    """The smallest L1 an output that ignores the LR input can have on the batch: the per-pixel median."""
    gt = batch['gt']
    return (gt - gt.median(dim=0).values).abs().mean().item()


@pytest.fixture(scope='module')
def plain_losses(fixed_batch, tmp_path_factory):
    return train_losses(build(tmp_path_factory.mktemp('plain')), fixed_batch, FIXED_STEPS)


def test_alkdsr_model_learns_the_fixed_batch(plain_losses, fixed_batch):
    first, last = plain_losses[0], plain_losses[-1]
    assert all(map(math.isfinite, plain_losses))
    assert last <= first / LOSS_FACTOR, (first, last)
    assert last < INPUT_BLIND_FRACTION * input_blind_l1(fixed_batch), (last, input_blind_l1(fixed_batch))


def test_basicsr_sr_model_with_alkdnet_learns_alike(plain_losses, fixed_batch, tmp_path):
    """BasicSR's SRModel.optimize_parameters is the reference ALKDSRModel's own step must equal."""
    losses = train_losses(build(tmp_path, 'SRModel'), fixed_batch, FIXED_STEPS)
    assert losses[-1] <= losses[0] / LOSS_FACTOR, (losses[0], losses[-1])
    assert losses[-1] < INPUT_BLIND_FRACTION * input_blind_l1(fixed_batch)
    assert losses == plain_losses


SWITCHES = {
    'channels_last': ({'channels_last': True}, FP32_RTOL),
    'bf16': ({'amp': 'bf16'}, BF16_RTOL),
    'fused_adam': ({'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999], 'fused': True}}, FP32_RTOL),
}


@pytest.mark.parametrize('switch', list(SWITCHES))
def test_switch_follows_the_plain_losses(switch, plain_losses, fixed_batch, tmp_path):
    train, rtol = SWITCHES[switch]
    losses = train_losses(build(tmp_path, **train), fixed_batch, SWITCH_STEPS)
    assert losses[-1] <= losses[0] / SWITCH_FACTOR, losses
    assert losses == pytest.approx(plain_losses[: SWITCH_STEPS + 1], rel=rtol)


def test_ema_follows_the_plain_losses_and_averages_the_weights(plain_losses, fixed_batch, tmp_path):
    """The EMA network is decay * itself + (1 - decay) * net_g after every step, computed here by hand."""
    decay = 0.9
    model = build(tmp_path, ema_decay=decay)
    expected = {k: v.detach().clone() for k, v in model.net_g.named_parameters()}
    losses = []
    with torch.enable_grad():
        for step in range(SWITCH_STEPS + 1):
            model.feed_data(fixed_batch)
            model.optimize_parameters(step + 1)
            losses.append(model.log_dict['l_pix'])
            for k, v in model.net_g.named_parameters():
                expected[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
    assert losses[-1] <= losses[0] / SWITCH_FACTOR, losses
    assert losses == pytest.approx(plain_losses[: SWITCH_STEPS + 1], rel=FP32_RTOL)
    ema = dict(model.net_g_ema.named_parameters())
    assert all(torch.allclose(ema[k], expected[k], rtol=1e-5, atol=1e-7) for k in expected)
    assert any(not torch.equal(ema[k], v) for k, v in model.net_g.named_parameters())


def test_nan_policy_skip_skips_only_the_poisoned_step(plain_losses, fixed_batch, tmp_path):
    """A NaN target at step 3: that step is skipped, the others are the plain run's steps 3, 4, ..."""
    model = build(tmp_path, nan_policy='skip')
    losses = train_losses(model, fixed_batch, SWITCH_STEPS + 1, poisoned_step=3)
    assert math.isnan(losses[3]) and model.skipped_steps == 1
    finite = losses[:3] + losses[4:]
    assert finite[-1] <= finite[0] / SWITCH_FACTOR, finite
    assert finite == pytest.approx(plain_losses[: SWITCH_STEPS + 1], rel=FP32_RTOL)


# ----------------------------------------------------------------------------- a short real run


def _demo():
    sys.path.insert(0, str(ROOT / 'scripts'))
    try:
        import demo
    finally:
        sys.path.remove(str(ROOT / 'scripts'))
    return demo


def test_a_short_real_run_raises_validation_psnr(tmp_path, monkeypatch):
    """scripts/demo.py's data and options (4 training photos), a tiny ALKDNet, REAL_ITERS iterations."""
    import argparse

    from alkdsr.cli.main import main

    demo = _demo()
    images, data = tmp_path / 'images', tmp_path / 'data'
    demo.write_sample_images(images / 'train', ('astronaut', 'rocket', 'brick', 'coins'))
    demo.write_sample_images(images / 'eval', demo.EVAL_IMAGES)
    train_args = ['--scales', str(SCALE), '--subimages', '--crop-size', '128', '--step', '64', '--workers', '1']
    assert main(['prepare', str(images / 'train'), str(data / 'train'), *train_args]) == 0
    assert main(['prepare', str(images / 'eval'), str(data / 'eval'), '--scales', str(SCALE), '--workers', '1']) == 0

    args = argparse.Namespace(iters=REAL_ITERS, batch=4, patch=16, lr=4e-3, feat=16, blocks=2)
    opt = demo.training_options(args, data)
    opt['val']['val_freq'] = REAL_VAL_FREQ
    opt['logger']['print_freq'] = REAL_VAL_FREQ
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # as the demo trains
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'real.yml'), timeout=600)
    assert proc.returncode == 0, failure(proc)
    (log,) = train_logs(tmp_path, demo.EXPERIMENT)
    psnrs = [m['psnr'] for m in logged_metrics(log)]
    bicubic = float(np.mean([psnr for psnr, _ in demo.bicubic_scores(data).values()]))
    print(f'validation PSNR {psnrs}, bicubic {bicubic:.4f}')  # the figures in the docstring (pytest -s)
    assert len(psnrs) >= REAL_ITERS // REAL_VAL_FREQ, psnrs
    assert psnrs[-1] >= psnrs[0] + PSNR_GAIN_DB, psnrs
    assert psnrs[-1] >= bicubic - BICUBIC_GAP_DB, (psnrs, bicubic)
    assert (experiment(tmp_path, demo.EXPERIMENT) / 'models' / 'net_g_latest.pth').is_file()
