"""Training data: a folder dataset and its LMDB copy feed identical batches for the same seed."""

from __future__ import annotations

import copy

import pytest
import torch
from train_utils import SCALE, make_lmdbs, make_pairs, paired_set

import alkdsr  # noqa: F401  (BasicSR importable, the datasets registered)


def _batches(dataset_opt: dict, seed: int, epochs: int = 2) -> list[dict]:
    """Batches as BasicSR's train_pipeline draws them (EnlargedSampler, seeded worker RNG)."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.data.data_sampler import EnlargedSampler
    from basicsr.utils import set_random_seed

    dataset_opt = {**copy.deepcopy(dataset_opt), 'phase': 'train', 'scale': SCALE}
    set_random_seed(seed)
    dataset = build_dataset(dataset_opt)
    sampler = EnlargedSampler(dataset, 1, 0, dataset_opt['dataset_enlarge_ratio'])
    loader = build_dataloader(dataset, dataset_opt, num_gpu=0, dist=False, sampler=sampler, seed=seed)
    batches = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        batches.extend(loader)
    return batches


@pytest.mark.parametrize('num_workers', [0, 2])
def test_lmdb_and_folder_give_identical_batches(tmp_path, num_workers):
    pairs = make_pairs(tmp_path / 'pairs', names=('rocket', 'coffee', 'astronaut', 'chelsea', 'immunohistochemistry'))
    hr_lmdb, lr_lmdb = make_lmdbs(pairs, tmp_path / 'lmdb')
    folder_opt = paired_set('folder', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', phase='train')
    lmdb_opt = paired_set('lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True)
    for opt in (folder_opt, lmdb_opt):
        opt.update(num_worker_per_gpu=num_workers, batch_size_per_gpu=3, dataset_enlarge_ratio=2)

    from_folder, from_lmdb = _batches(folder_opt, seed=11), _batches(lmdb_opt, seed=11)
    assert len(from_folder) == len(from_lmdb) == 2 * (5 * 2 // 3)
    for a, b in zip(from_folder, from_lmdb):
        assert [p.rsplit('/', 1)[1] for p in a['gt_path']] == [f'{k}.png' for k in b['gt_path']]
        assert a['gt'].shape == (3, 3, 64, 64) and a['lq'].shape == (3, 3, 16, 16)
        assert torch.equal(a['gt'], b['gt']) and torch.equal(a['lq'], b['lq'])
    # a different seed gives different crops: the comparison above is not vacuous
    other = _batches(folder_opt, seed=12)
    assert not all(torch.equal(a['gt'], b['gt']) for a, b in zip(from_folder, other))
