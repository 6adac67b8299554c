"""Distributed start-up that works with and without GPUs.

BasicSR's ``init_dist`` always uses NCCL and calls ``torch.cuda.set_device(rank % num_gpus)``,
which divides by zero on a machine without GPUs, so it cannot serve here. ``init_dist`` here uses NCCL
when CUDA devices are present and gloo otherwise, so ``torchrun --nproc_per_node N alkdsr/train.py -opt X.yml
--launcher pytorch`` trains on N GPUs, or in N CPU processes where there are none (as in CI).
``alkdsr.training.parse`` calls it in the place of BasicSR's own.
"""

from __future__ import annotations

import os
import subprocess

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from alkdsr.errors import AlkdsrError

_TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def default_backend() -> str:
    """NCCL where there are CUDA devices, gloo on CPU-only machines."""
    return 'nccl' if torch.cuda.is_available() and dist.is_nccl_available() else 'gloo'


def choose_backend(requested: str | None) -> str:
    """The requested backend, except NCCL on a machine without GPUs, which becomes gloo."""
    if requested is None:
        return default_backend()
    if requested == 'nccl' and default_backend() != 'nccl':
        print('NCCL needs CUDA devices and none are available: using the gloo backend on the CPU.', flush=True)
        return 'gloo'
    return requested


def init_dist(launcher: str, backend: str | None = None, **kwargs) -> None:
    """Drop-in replacement for ``basicsr.utils.dist_util.init_dist`` (same arguments)."""
    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method('spawn')
    backend = choose_backend(backend)
    if launcher == 'pytorch':
        _init_dist_pytorch(backend, **kwargs)
    elif launcher == 'slurm':
        _init_dist_slurm(backend, **kwargs)
    else:
        raise AlkdsrError(f'invalid launcher {launcher!r}: use none, pytorch or slurm')
    if dist.get_rank() == 0:
        print(f'Distributed training: {backend} backend, world size {dist.get_world_size()}.', flush=True)


def _init_dist_pytorch(backend: str, **kwargs) -> None:
    missing = [k for k in _TORCHRUN_ENV if k not in os.environ]
    if missing:
        raise AlkdsrError(
            f'--launcher pytorch needs the environment torchrun sets ({", ".join(missing)} missing): '
            'start training with torchrun --nproc_per_node N alkdsr/train.py -opt X.yml --launcher pytorch'
        )
    rank = int(os.environ['RANK'])
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    if backend == 'nccl':
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, **kwargs)


def _init_dist_slurm(backend: str, port: int | None = None) -> None:
    """As BasicSR's slurm start-up, without assuming GPUs."""
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if k not in os.environ]
    if missing:
        raise AlkdsrError(
            f'--launcher slurm needs the environment SLURM sets ({", ".join(missing)} missing): start training '
            'with srun, or use --launcher pytorch under torchrun'
        )
    proc_id = int(os.environ['SLURM_PROCID'])
    ntasks = int(os.environ['SLURM_NTASKS'])
    node_list = os.environ['SLURM_NODELIST']
    num_gpus = torch.cuda.device_count()
    local_rank = proc_id % num_gpus if num_gpus else int(os.environ.get('SLURM_LOCALID', 0))
    if backend == 'nccl':
        torch.cuda.set_device(local_rank)
    addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['MASTER_ADDR'] = addr
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_RANK'] = str(local_rank)
    os.environ['RANK'] = str(proc_id)
    dist.init_process_group(backend=backend)
