"""alkdsr/train.py is BasicSR: with ``model_type: SRModel`` it trains as stock BasicSR 1.4.2's own
``train_pipeline`` does, bit for bit.

The same option file (PairedImageDataset with flips, rotations, shuffling and 2 DataLoader workers, the
cosine schedule, L1) runs twice: through ``basicsr.train.train_pipeline`` in an interpreter where
nothing of alkdsr but the registration of its architectures has happened (the torchvision alias that a
stock BasicSR needs on today's torchvision is set by hand), and through alkdsr/train.py. Every iteration
both run must log the same ``l_pix`` (read from tensorboard, where MessageLogger writes the float itself),
and every checkpoint both save must hold the same weights. BasicSR's epoch count ends its run early (it
plans for the incomplete batch its loader drops); alkdsr's runs all of ``total_iter`` (docs/training.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from train_utils import SCALE, env, failure, make_patch_pairs, paired_set, train_options, write_options

ROOT = Path(__file__).resolve().parents[2]

STOCK = """
import importlib, os, sys
# what a stock BasicSR 1.4.2 needs to import at all on torchvision >= 0.17
renamed = importlib.import_module('torchvision.transforms._functional_tensor')
sys.modules['torchvision.transforms.functional_tensor'] = renamed
from basicsr.utils.registry import ARCH_REGISTRY
import alkdsr.archs  # with BasicSR loaded, importing alkdsr registers its classes (no patch: package/test_layout.py)
assert ARCH_REGISTRY.get('ALKDNet') is alkdsr.archs.ALKDNet
from basicsr.train import train_pipeline
sys.argv = ['train.py', '-opt', sys.argv[1]]
train_pipeline(os.getcwd())
"""


def _scalars(cwd: Path, name: str) -> dict[int, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(cwd / 'tb_logger' / name))
    events.Reload()
    return {event.step: event.value for event in events.Scalars('losses/l_pix')}


def _weights(cwd: Path, name: str) -> dict[str, dict]:
    models = cwd / 'experiments' / name / 'models'
    return {
        p.stem: torch.load(p, map_location='cpu', weights_only=True)['params']
        for p in models.glob('net_g_*.pth')
        if p.stem != 'net_g_latest'
    }


def test_srmodel_trains_as_basicsrs_own_train_pipeline(tmp_path):
    pairs = make_patch_pairs(tmp_path / 'pairs')
    opt = train_options('identity', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', total_iter=12, save_freq=4)
    opt['model_type'] = 'SRModel'
    train_set = paired_set('train_pairs', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', phase='train')
    train_set.update(
        type='PairedImageDataset', gt_size=32, use_shuffle=True, num_worker_per_gpu=2, batch_size_per_gpu=4,
        dataset_enlarge_ratio=1,
    )  # fmt: skip
    opt['datasets'] = {'train': train_set}
    opt['logger']['use_tb_logger'] = True
    runs = {}
    for side in ('stock', 'alkdsr'):
        cwd = tmp_path / side
        cwd.mkdir()
        option_file = write_options(opt, cwd / 'identity.yml')
        argv = [sys.executable, '-c', STOCK, str(option_file)] if side == 'stock' else [
            sys.executable, str(ROOT / 'alkdsr' / 'train.py'), '-opt', str(option_file)]  # fmt: skip
        proc = subprocess.run(argv, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, failure(proc)
        runs[side] = (_scalars(cwd, 'identity'), _weights(cwd, 'identity'))
    (stock_losses, stock_nets), (our_losses, our_nets) = runs['stock'], runs['alkdsr']
    assert sorted(our_losses) == list(range(1, 13))  # all of total_iter
    both = sorted(set(stock_losses) & set(our_losses))
    assert len(both) >= 8, both  # BasicSR stops early, but not that early
    assert [stock_losses[i] for i in both] == [our_losses[i] for i in both]
    assert len({our_losses[i] for i in both}) == len(both)  # the losses change: the comparison can fail
    saved = sorted(set(stock_nets) & set(our_nets))
    assert saved, (sorted(stock_nets), sorted(our_nets))
    for label in saved:
        assert stock_nets[label].keys() == our_nets[label].keys()
        assert all(torch.equal(stock_nets[label][k], our_nets[label][k]) for k in stock_nets[label]), label
