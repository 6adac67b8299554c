"""Distributed training on the CPU: ``torchrun --nproc_per_node 2 alkdsr/train.py --launcher pytorch`` (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from train_utils import (
    SCALE,
    TRAIN_PY,
    checkpoints,
    env,
    failure,
    make_pairs,
    states,
    train_logs,
    train_options,
    write_options,
)

from alkdsr.zoo.checkpoint import read_checkpoint

# Installed in every process through PYTHONPATH: records, per rank, each file the process creates
# or renames into place under AUDIT_ROOT (Python's audit events see open(), os.open() and os.replace()),
# and writes the record when the process exits normally.
AUDIT_SITECUSTOMIZE = textwrap.dedent(
    """
    import atexit, json, os, sys

    _root = os.environ.get('AUDIT_ROOT')
    _rank = os.environ.get('RANK')
    _writes = []
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def _under_root(path):
        try:
            return os.path.abspath(os.fsdecode(path)).startswith(_root)
        except TypeError:
            return False

    def _hook(event, args):
        if event == 'open' and args[0] is not None and _under_root(args[0]):
            mode, flags = args[1], args[2]
            if (mode and any(c in mode for c in 'wax+')) or (mode is None and flags & _WRITE_FLAGS):
                _writes.append(os.path.abspath(os.fsdecode(args[0])))
        elif event == 'os.rename' and _under_root(args[1]):
            _writes.append(os.path.abspath(os.fsdecode(args[1])))

    def _dump():
        with open(os.path.join(_root, '..', f'audit_rank{_rank}.json'), 'w') as f:
            json.dump({'rank': int(_rank), 'writes': _writes}, f)

    if _root and _rank is not None:
        sys.addaudithook(_hook)
        atexit.register(_dump)
    """
)


def test_two_process_cpu_torchrun_only_rank0_writes(tmp_path):
    pairs = make_pairs(tmp_path / 'pairs')
    opt = train_options('ddp', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', total_iter=4, save_freq=2)
    option_file = write_options(opt, tmp_path / 'ddp.yml')
    hook_dir = tmp_path / 'hook'
    hook_dir.mkdir()
    (hook_dir / 'sitecustomize.py').write_text(AUDIT_SITECUSTOMIZE)
    work = tmp_path / 'work'
    work.mkdir()
    run_env = env()
    python_path = os.pathsep.join(filter(None, [str(hook_dir), run_env.get('PYTHONPATH')]))
    run_env.update(PYTHONPATH=python_path, AUDIT_ROOT=str(work / 'experiments'), OMP_NUM_THREADS='1')
    run_env['CUDA_VISIBLE_DEVICES'] = ''  # the CPU path (gloo), also on a machine with GPUs
    (work / 'experiments').mkdir()
    cmd = [
        sys.executable,
        '-m',
        'torch.distributed.run',
        '--standalone',
        '--nproc_per_node',
        '2',
        str(TRAIN_PY),
        '-opt',
        str(option_file),
        '--launcher',
        'pytorch',
    ]
    proc = subprocess.run(cmd, cwd=work, env=run_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, failure(proc)
    assert 'Distributed training: gloo backend, world size 2.' in proc.stdout

    # both ranks ran to a normal exit
    audits = {r: json.loads((work / f'audit_rank{r}.json').read_text()) for r in (0, 1)}
    (log,) = train_logs(work, 'ddp')
    assert 'World size (gpu number): 2' in log
    assert 'End of training' in log

    # rank 0 wrote every checkpoint and training state; rank 1 wrote nothing at all
    assert set(checkpoints(work, 'ddp')) == {'net_g_2', 'net_g_4', 'net_g_latest'}
    assert states(work, 'ddp') == [2, 4]
    rank0 = {p.split('/experiments/')[1] for p in audits[0]['writes']}
    assert {'ddp/models/net_g_2.pth', 'ddp/models/net_g_4.pth', 'ddp/models/net_g_latest.pth'} <= rank0
    assert {'ddp/training_states/2.state', 'ddp/training_states/4.state'} <= rank0
    assert audits[1]['writes'] == []
    state, meta = read_checkpoint(checkpoints(work, 'ddp')['net_g_4'])
    assert not any(k.startswith('module.') for k in state) and meta['num_feat'] == 16


@pytest.mark.skipif(not torch.cuda.is_available(), reason='NCCL needs a CUDA device')
def test_torchrun_on_gpu_uses_nccl(tmp_path):
    pairs = make_pairs(tmp_path / 'pairs')
    opt = train_options('nccl', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', total_iter=2, save_freq=2)
    option_file = write_options(opt, tmp_path / 'nccl.yml')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1']
    cmd += [str(TRAIN_PY), '-opt', str(option_file), '--launcher', 'pytorch']
    proc = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, failure(proc)
    assert 'Distributed training: nccl backend, world size 1.' in proc.stdout
    assert set(checkpoints(tmp_path, 'nccl')) == {'net_g_2', 'net_g_latest'}
