"""Training speed switches on the CPU: each trains, validates and saves a checkpoint that loads.

The float32 switches run together in one alkdsr/train.py run and again with bf16 autocast (the
switches compose), fp16 autocast alone (on the CPU it falls back to float32 with a note).

Every run starts from the same seed and draws the same patches, so the first iteration's loss
(computed before any update) and the second's (after one optimizer step) must equal the plain
run's: a switch may change speed, not the function being trained or the step taken.
tests/training/test_learning.py follows the switches for more steps in-process; torch.compile is checked
here only, as its compilation (tens of seconds on 2 cores, even with aot_eager) is paid once.
"""

from __future__ import annotations

import re

import pytest
import torch
from train_utils import (
    SCALE,
    checkpoints,
    experiment,
    failure,
    make_pairs,
    run_train,
    train_logs,
    train_options,
    with_changes,
    write_options,
)

import alkdsr
from alkdsr.errors import AlkdsrError
from alkdsr.models.alkdsr_model import check_model_options
from alkdsr.ops import alkconv_triton
from alkdsr.zoo.checkpoint import read_checkpoint

ADAM = {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]}
CUDA = torch.cuda.is_available()  # num_gpu: auto trains on the GPU where there is one
DEVICE = 'cuda' if CUDA else 'cpu'
FP16_ON_CPU = 'amp: fp16 needs CUDA; training in float32 on the CPU.'
FP16_NOTE = 'amp: autocast to torch.float16 on cuda' if CUDA else FP16_ON_CPU
NOTES = {  # what the log says of each switch
    'amp_bf16': f'amp: autocast to torch.bfloat16 on {DEVICE}',
    'amp_fp16': FP16_NOTE,
    'compile': 'compile: torch.compile(net_g',
    'channels_last': 'channels_last: network and inputs in NHWC',
    'ema': 'Use Exponential Moving Average with decay: 0.9',
}
# inductor needs minutes to compile on 2 cores (test_compile_inductor, marked slow); aot_eager
# still traces the network with dynamo and AOTAutograd
FLOAT32_SWITCHES = {
    'compile': {'backend': 'aot_eager'},
    'channels_last': True,
    'optim_g': {**ADAM, 'fused': True},
    'ema_decay': 0.9,
}
# One run per precision, every float32 switch at once: each alkdsr/train.py run costs seconds of start-up
# alone, and tests/training/test_learning.py follows channels_last, fused Adam, EMA and bf16 one by one for ten steps.
SWITCHES = {
    'amp_fp16': ({'amp': 'fp16'}, ['amp_fp16']),
    'float32_switches': (FLOAT32_SWITCHES, ['compile', 'channels_last', 'ema']),
    'all': ({**FLOAT32_SWITCHES, 'amp': 'bf16'}, ['amp_bf16', 'compile', 'channels_last', 'ema']),
}
if alkconv_triton.available():  # on the CPU it is refused (test_fused_alkconv_needs_cuda_and_triton)
    NOTES['fused_alkconv'] = 'fused_alkconv: ALKConv branches and norm as one Triton'
    SWITCHES['fused_alkconv'] = ({'fused_alkconv': True}, ['fused_alkconv'])
# reduced precision changes the losses by rounding only; on CUDA float32 convs use TF32
LOW_PRECISION_RTOL = 2e-2
FP32_RTOL = 2e-3 if CUDA else 1e-4


def loss_rtol(train: dict) -> float:
    low = train.get('amp') == 'bf16' or (train.get('amp') == 'fp16' and CUDA)
    return LOW_PRECISION_RTOL if low else FP32_RTOL


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp('pairs'))


def _options(pairs, name, **train):
    base = train_options(name, pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', total_iter=2, save_freq=2, val_freq=2)
    return with_changes(base, train=train)


def _losses(log):
    return [float(v) for v in re.findall(r'l_pix: ([-+.\deE]+|nan|inf)', log)]


def _train(tmp_path, opt):
    proc = run_train(tmp_path, write_options(opt, tmp_path / f'{opt["name"]}.yml'))
    assert proc.returncode == 0, failure(proc)
    (log,) = train_logs(tmp_path, opt['name'])
    return log


@pytest.fixture(scope='module')
def plain_losses(pairs, tmp_path_factory):
    return _losses(_train(tmp_path_factory.mktemp('plain'), _options(pairs, 'plain')))


@pytest.mark.parametrize('switch', list(SWITCHES))
def test_speed_switch_trains_validates_and_saves(switch, pairs, plain_losses, tmp_path):
    train, notes = SWITCHES[switch]
    log = _train(tmp_path, _options(pairs, switch, **train))
    assert all(NOTES[note] in log for note in notes), [NOTES[note] for note in notes if NOTES[note] not in log]
    losses = _losses(log)
    assert len(losses) == 2 and all(map(torch.isfinite, torch.tensor(losses)))
    assert losses == pytest.approx(plain_losses, rel=loss_rtol(train))
    assert 'Validation val_pairs' in log and '# psnr:' in log

    ckpt = checkpoints(tmp_path, switch)['net_g_2']
    raw = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert not any('_orig_mod' in k or k.startswith('module.') for k in raw['params'])
    net = alkdsr.load_model(ckpt)  # strict load of the saved params (params_ema when present)
    assert net.config['num_feat'] == 16
    if 'ema_decay' in train:
        assert set(raw) == {'params', 'params_ema', 'arch'}
        assert any(not torch.equal(raw['params'][k], raw['params_ema'][k]) for k in raw['params'])
    if 'fused' in train.get('optim_g', {}):
        state = torch.load(experiment(tmp_path, switch) / 'training_states' / '2.state', weights_only=True)
        assert state['optimizers'][0]['param_groups'][0]['fused'] is True


@pytest.mark.slow
def test_compile_inductor(pairs, plain_losses, tmp_path):
    log = _train(tmp_path, _options(pairs, 'inductor', compile=True))
    assert _losses(log) == pytest.approx(plain_losses, rel=FP32_RTOL)
    read_checkpoint(checkpoints(tmp_path, 'inductor')['net_g_2'])


@pytest.mark.skipif(not CUDA, reason='prefetch_mode: cuda needs a CUDA device')
def test_cuda_prefetch(pairs, plain_losses, tmp_path):
    opt = _options(pairs, 'prefetch')
    opt['datasets']['train'].update(prefetch_mode='cuda', pin_memory=True)
    log = _train(tmp_path, opt)
    assert 'Use cuda prefetch dataloader' in log
    assert _losses(log)[0] == pytest.approx(plain_losses[0], rel=FP32_RTOL)
    read_checkpoint(checkpoints(tmp_path, 'prefetch')['net_g_2'])


def test_device_resident_pairs_train_on_the_same_patches(pairs, plain_losses, tmp_path):
    """DevicePairedImageDataset draws BasicSR's decisions: the same seed gives the plain run's losses."""
    opt = _options(pairs, 'device_pairs')
    opt['datasets']['train']['type'] = 'DevicePairedImageDataset'
    losses = _losses(_train(tmp_path, opt))
    assert len(losses) == len(plain_losses) == 2
    assert losses == pytest.approx(plain_losses, rel=FP32_RTOL)
    read_checkpoint(checkpoints(tmp_path, 'device_pairs')['net_g_2'])


@pytest.mark.skipif(alkconv_triton.available(), reason='checks the refusal where CUDA or Triton is missing')
def test_fused_alkconv_needs_cuda_and_triton():
    with pytest.raises(AlkdsrError) as caught:
        check_model_options({'num_gpu': 0}, {'fused_alkconv': True})
    message = str(caught.value)
    assert message.startswith('train: fused_alkconv needs a CUDA device and Triton (') and '\n' not in message
    check_model_options({'num_gpu': 0}, {'fused_alkconv': False})
    with pytest.raises(AlkdsrError, match='fused_alkconv must be true or false'):
        check_model_options({'num_gpu': 0}, {'fused_alkconv': 'yes'})
