"""Ranks train as one: two CPU processes under torchrun (gloo) with different images per rank.

Every run goes through alkdsr's training entry point inside RECORDING_TRAIN, which records per rank,
for each iteration, the batch trained on, the learning rate and the parameters after the step, and
makes rank 1's loss NaN at iteration POISONED (``nan_policy: skip``). The tiny ALKDNet x4 trains
on 15 pairs (random 32x32 crops, flips, rotations), batch 2 per rank, 12 iterations.

- After every iteration the parameters are equal on both ranks, and within 1e-6 of a one-process
  replay written here with plain torch (the recorded starting weights, Adam, mean L1 on the two
  ranks' batches concatenated), which skips the poisoned step: gradients are averaged, and a NaN
  on one rank skips the step on both.
- SIGTERM to rank 1 only: the run saves once (the iteration every rank agreed on) and every rank
  exits 143; resumed, it ends with the uninterrupted run's weights, optimizer state and losses, bit
  for bit.

Measured: both ranks equal at every iteration; the replay within 1.2e-7. Without gradient averaging
(no DistributedDataParallel, applied by hand) both tests fail; the other mutations of the resume
contract are listed in tests/training/test_resume.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from test_resume import assert_same_checkpoint, iteration_lines, same
from train_utils import (
    SCALE,
    checkpoints,
    experiment,
    failure,
    make_patch_pairs,
    states,
    train_logs,
    train_options,
    write_options,
)

from alkdsr.training.states import read_training_state

TOTAL, POISONED = 12, 3

RECORDING_TRAIN = textwrap.dedent(
    """
    import atexit, os, sys

    import torch

    import alkdsr
    from alkdsr.models.alkdsr_model import ALKDSRModel
    from alkdsr.train import main
    from basicsr.utils.registry import LOSS_REGISTRY

    rank = int(os.environ['RANK'])
    out = os.environ['RECORD_DIR']
    open(os.path.join(out, f'pid{rank}'), 'w').write(str(os.getpid()))
    record = {'iters': [], 'lq': [], 'gt': [], 'lr': [], 'params': [], 'start': None}
    now = {'iter': 0}

    def flat(model):
        return torch.cat([p.detach().reshape(-1).clone() for p in model.get_bare_model(model.net_g).parameters()])

    _optimize = ALKDSRModel.optimize_parameters

    def recording(self, current_iter):
        now['iter'] = current_iter
        if record['start'] is None:
            record['start'] = flat(self)
        record['iters'].append(current_iter)
        record['lq'].append(self.lq.clone())
        record['gt'].append(self.gt.clone())
        record['lr'].append(self.optimizer_g.param_groups[0]['lr'])
        _optimize(self, current_iter)
        record['params'].append(flat(self))

    ALKDSRModel.optimize_parameters = recording
    L1Loss = LOSS_REGISTRY.get('L1Loss')
    _forward = L1Loss.forward

    def poisoned(self, *args, **kwargs):
        loss = _forward(self, *args, **kwargs)
        poison = rank == 1 and now['iter'] == int(os.environ['POISONED'])
        return loss * float('nan') if poison else loss

    L1Loss.forward = poisoned
    rc = main()
    torch.save(record, os.path.join(out, f'record{rank}_{len(os.listdir(out))}.pt'))
    open(os.path.join(out, f'rc{rank}'), 'w').write(str(rc))
    sys.exit(rc)
    """
)


@pytest.fixture(scope='module')
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """(the recording entry point, the option file)."""
    root = tmp_path_factory.mktemp('ranks')
    pairs = make_patch_pairs(root / 'pairs')
    script = root / 'recording_train.py'
    script.write_text(RECORDING_TRAIN)
    opt = train_options('ranks', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', TOTAL, save_freq=6)
    opt['network_g']['num_block'] = 1
    opt['datasets']['train'].update(gt_size=32, batch_size_per_gpu=2, dataset_enlarge_ratio=1)
    opt['train']['nan_policy'] = 'skip'
    return script, write_options(opt, root / 'ranks.yml')


def torchrun(script: Path, option_file: Path, cwd: Path, *flags: str) -> subprocess.Popen:
    records = cwd / 'records'
    records.mkdir(exist_ok=True)
    run_env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='')
    run_env.update(RECORD_DIR=str(records), POISONED=str(POISONED))
    # the agent looks at its workers every 2 s: a rank that ends first (143 after a stop) is not seen before
    # the other has ended too (the agent ends the others with SIGTERM, which shells also report as 143)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2']
    cmd += ['--monitor-interval', '2', str(script)]
    cmd += ['-opt', str(option_file), '--launcher', 'pytorch', *flags]
    return subprocess.Popen(cmd, cwd=cwd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def records(cwd: Path, rank: int) -> list[dict]:
    return [torch.load(p, weights_only=True) for p in sorted((cwd / 'records').glob(f'record{rank}_*.pt'))]


@pytest.fixture(scope='module')
def reference(setup, tmp_path_factory) -> Path:
    """The uninterrupted two-rank run."""
    cwd = tmp_path_factory.mktemp('reference')
    proc = finish(torchrun(*setup, cwd))
    assert proc.returncode == 0, failure(proc)
    assert 'Distributed training: gloo backend, world size 2.' in proc.stdout
    return cwd


def replay(record: tuple[dict, dict]) -> list[torch.Tensor]:
    """The parameters after each iteration of one process training on both ranks' batches at once."""
    from alkdsr.archs import ALKDNet

    net = ALKDNet(upscale=SCALE, num_feat=16, num_block=1)
    torch.nn.utils.vector_to_parameters(record[0]['start'], net.parameters())
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999))
    after = []
    for i, it in enumerate(record[0]['iters']):
        lq = torch.cat([record[0]['lq'][i], record[1]['lq'][i]])
        gt = torch.cat([record[0]['gt'][i], record[1]['gt'][i]])
        optimizer.param_groups[0]['lr'] = record[0]['lr'][i]
        optimizer.zero_grad()
        if it != POISONED:
            torch.nn.functional.l1_loss(net(lq), gt).backward()
            optimizer.step()
        after.append(torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone())
    return after


def test_ranks_average_gradients_and_skip_a_nan_together(reference):
    (rank0,), (rank1,) = records(reference, 0), records(reference, 1)
    assert rank0['iters'] == rank1['iters'] == list(range(1, TOTAL + 1))
    assert all(not torch.equal(a, b) for a, b in zip(rank0['gt'], rank1['gt']))  # different images
    assert torch.equal(rank0['start'], rank1['start'])
    for it, a, b in zip(rank0['iters'], rank0['params'], rank1['params']):
        assert torch.equal(a, b), f'the ranks differ after iteration {it}'
    assert torch.equal(rank0['params'][POISONED - 1], rank0['params'][POISONED - 2])  # the NaN step skipped
    assert not torch.equal(rank0['params'][POISONED], rank0['params'][POISONED - 1])  # the next one taken
    (log,) = train_logs(reference, 'ranks')
    assert f'Non-finite loss at iteration {POISONED}' in log
    for it, ours, one_process in zip(rank0['iters'], rank0['params'], replay((rank0, rank1))):
        difference = (ours - one_process).abs().max().item()
        assert difference <= 1e-6, f'iteration {it}: {difference:.2e} from the one-process run'


def test_sigterm_to_one_rank_saves_once_and_resumes_exactly(setup, reference, tmp_path):
    proc = torchrun(*setup, tmp_path)
    try:
        deadline = time.monotonic() + 300
        while not any(iteration_lines(log) for log in train_logs(tmp_path, 'ranks')):
            assert proc.poll() is None and time.monotonic() < deadline, 'no iteration was logged'
            time.sleep(0.01)
        os.kill(int((tmp_path / 'records' / 'pid1').read_text()), signal.SIGTERM)
        stopped = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    rcs = [int((tmp_path / 'records' / f'rc{rank}').read_text()) for rank in (0, 1)]
    assert rcs == [143, 143], failure(stopped)
    (log,) = train_logs(tmp_path, 'ranks')
    notes = re.findall(r'stopped by SIGTERM after iteration (\d+)', log)
    assert len(notes) == 1, log[-2000:]
    stopped_at = int(notes[0])
    assert 0 < stopped_at < TOTAL
    saved = sorted({*range(6, stopped_at + 1, 6), stopped_at})
    assert states(tmp_path, 'ranks') == saved
    assert set(checkpoints(tmp_path, 'ranks')) == {f'net_g_{it}' for it in saved}

    resumed = finish(torchrun(*setup, tmp_path, '--auto_resume'))
    assert resumed.returncode == 0, failure(resumed)
    reference_log, log = train_logs(reference, 'ranks')[0], train_logs(tmp_path, 'ranks')[-1]
    expected = {it: line for it, line in iteration_lines(reference_log).items() if it > stopped_at}
    assert iteration_lines(log) == expected
    models, reference_models = experiment(tmp_path, 'ranks') / 'models', experiment(reference, 'ranks') / 'models'
    for name in ('net_g_12.pth', 'net_g_latest.pth'):
        assert_same_checkpoint(reference_models / name, models / name)
    first, second = (read_training_state(experiment(cwd, 'ranks') / 'training_states' / '12.state')
                     for cwd in (reference, tmp_path))  # fmt: skip
    assert same(first['optimizers'], second['optimizers']) and same(first['data'], second['data'])
    assert len(first['data']['ranks']) == 2
