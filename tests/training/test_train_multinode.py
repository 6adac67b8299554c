"""Two "nodes" on one machine: two torchrun agents (``--nnodes 2 --nproc_per_node 1``) meeting over
127.0.0.1 with gloo, each in its own working directory as on two machines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from test_train_dist import AUDIT_SITECUSTOMIZE
from train_utils import SCALE, checkpoints, env, failure, make_pairs, states, train_logs, train_options, write_options

from alkdsr.zoo.checkpoint import read_checkpoint

# Runs alkdsr's training entry point (what alkdsr/train.py runs) and records every value of the
# pixel loss this rank computes, in BasicSR's L1Loss itself, written to LOSSES_FILE at exit.
TRAIN_RECORDING_LOSSES = textwrap.dedent(
    """
    import atexit, json, os, sys

    import alkdsr
    from alkdsr.train import main
    from basicsr.utils.registry import LOSS_REGISTRY

    losses = []
    L1Loss = LOSS_REGISTRY.get('L1Loss')
    _forward = L1Loss.forward

    def _recording_forward(self, *args, **kwargs):
        loss = _forward(self, *args, **kwargs)
        losses.append(loss.item())
        return loss

    L1Loss.forward = _recording_forward
    _out = os.environ['LOSSES_FILE'].format(rank=os.environ['RANK'])
    atexit.register(lambda: open(_out, 'w').write(json.dumps(losses)))
    sys.exit(main())
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rendezvous_flags(kind: str, node_rank: int, port: int) -> list[str]:
    if kind == 'static':  # a fixed master: node 0's address and port, each node says its rank
        return ['--node_rank', str(node_rank), '--master_addr', '127.0.0.1', '--master_port', str(port)]
    return ['--rdzv-backend', 'c10d', '--rdzv-endpoint', f'127.0.0.1:{port}', '--rdzv-id', 'alkdsr-test']


# c10d (the elastic rendezvous) runs with the slow tests: both take ~30 s on two loaded cores
@pytest.mark.parametrize('rendezvous', ['static', pytest.param('c10d', marks=pytest.mark.slow)])
def test_two_node_torchrun_over_loopback(tmp_path, rendezvous):
    """Both ranks get the same image (one training pair, its whole size as the crop, no flips), so their
    losses agree exactly only if their networks do: DDP's start-up broadcast and the gradients all-reduced
    between the two "nodes" must keep them in step (BasicSR seeds each rank differently)."""
    pairs = make_pairs(tmp_path / 'pairs', names=('astronaut',), size=64)
    opt = train_options('nodes', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', total_iter=4, save_freq=2)
    opt['datasets']['train'].update(gt_size=64, use_hflip=False, use_rot=False, batch_size_per_gpu=1)
    option_file = write_options(opt, tmp_path / 'nodes.yml')
    script = tmp_path / 'train_recording_losses.py'
    script.write_text(TRAIN_RECORDING_LOSSES)
    hook_dir = tmp_path / 'hook'
    hook_dir.mkdir()
    (hook_dir / 'sitecustomize.py').write_text(AUDIT_SITECUSTOMIZE)

    work = tmp_path / 'work'
    run_env = env()
    run_env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(hook_dir), run_env.get('PYTHONPATH')])),
        AUDIT_ROOT=str(work),
        LOSSES_FILE=str(tmp_path / 'losses_rank{rank}.json'),
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='',  # the CPU path (gloo), also on a machine with GPUs
    )
    port = free_port()
    procs = []
    for node_rank in (0, 1):
        cwd = work / f'node{node_rank}'  # each "machine" has its own working directory
        cwd.mkdir(parents=True)
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc_per_node', '1']
        cmd += rendezvous_flags(rendezvous, node_rank, port)
        cmd += [str(script), '-opt', str(option_file), '--launcher', 'pytorch']
        procs.append(
            subprocess.Popen(cmd, cwd=cwd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for result in results:
        assert result.returncode == 0, failure(result)
    assert 'Distributed training: gloo backend, world size 2.' in results[0].stdout + results[1].stdout

    # the two ranks computed the same loss at every iteration, and it changed as they trained
    losses = [json.loads((tmp_path / f'losses_rank{rank}.json').read_text()) for rank in (0, 1)]
    assert len(losses[0]) == 4 and losses[0] == losses[1]
    assert len(set(losses[0])) == 4

    # rank 0's machine has the log, every checkpoint and state; rank 1 wrote nothing anywhere
    node0, node1 = work / 'node0', work / 'node1'
    (log,) = train_logs(node0, 'nodes')
    assert 'World size (gpu number): 2' in log and 'End of training' in log
    assert set(checkpoints(node0, 'nodes')) == {'net_g_2', 'net_g_4', 'net_g_latest'}
    assert states(node0, 'nodes') == [2, 4]
    assert not any(node1.iterdir())
    audits = {json.loads(p.read_text())['rank']: json.loads(p.read_text()) for p in tmp_path.glob('audit_rank*.json')}
    assert audits[1]['writes'] == []
    assert all(w.startswith(str(node0)) for w in audits[0]['writes'])
    state, meta = read_checkpoint(checkpoints(node0, 'nodes')['net_g_4'])
    assert not any(k.startswith('module.') for k in state) and meta['num_feat'] == 16
