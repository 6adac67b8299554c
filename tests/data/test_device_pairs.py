"""DevicePairedImageDataset + DevicePairs sample exactly what BasicSR's PairedImageDataset samples."""

from __future__ import annotations

import copy
import random

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate
from train_utils import SCALE, make_lmdbs

from alkdsr.data.device_pairs import DevicePairedImageDataset, DevicePairs
from alkdsr.errors import AlkdsrError

# LR (h, w), odd and non-square, HR 4x; the largest first (BasicSR sizes an LMDB by its first image)
SIZES = {'a_tall': (29, 17), 'b_wide': (23, 31), 'c_small': (8, 9)}


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('pairs')
    (root / 'HR').mkdir()
    (root / 'LR_bicubic' / f'X{SCALE}').mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in SIZES.items():
        cv2.imwrite(str(root / 'HR' / f'{name}.png'), rng.integers(0, 256, (h * SCALE, w * SCALE, 3), dtype=np.uint8))
        cv2.imwrite(
            str(root / 'LR_bicubic' / f'X{SCALE}' / f'{name}x{SCALE}.png'), rng.integers(0, 256, (h, w, 3), np.uint8)
        )
    return root


def options(folder, lmdb=False, use_hflip=True, use_rot=True, gt_size=32):
    opt = {'name': 'pairs', 'phase': 'train', 'scale': SCALE, 'gt_size': gt_size, 'use_hflip': use_hflip,
           'use_rot': use_rot}  # fmt: skip
    if lmdb:
        gt, lq = make_lmdbs(folder, folder.parent / f'{folder.name}_lmdb')
        return {**opt, 'dataroot_gt': str(gt), 'dataroot_lq': str(lq), 'io_backend': {'type': 'lmdb'}}
    return {**opt, 'dataroot_gt': str(folder / 'HR'), 'dataroot_lq': str(folder / 'LR_bicubic' / f'X{SCALE}'),
            'io_backend': {'type': 'disk'}, 'filename_tmpl': f'{{}}x{SCALE}'}  # fmt: skip


@pytest.mark.parametrize(
    'lmdb, use_hflip, use_rot',
    [(False, True, True), (False, True, False), (False, False, True), (True, True, True)],
    ids=['flips+rot', 'hflip only', 'rot only', 'lmdb'],
)
def test_same_decisions_give_basicsr_patches_pixel_for_pixel(folder, lmdb, use_hflip, use_rot):
    from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset as PairedImageDataset

    opt = options(folder, lmdb, use_hflip, use_rot)
    basicsr_set, device_set = PairedImageDataset(copy.deepcopy(opt)), DevicePairedImageDataset(copy.deepcopy(opt))
    expected, decisions = [], []
    for seed in range(48):
        index = seed % len(basicsr_set)
        random.seed(seed)
        expected.append(basicsr_set[index])
        after_basicsr = random.random()
        random.seed(seed)
        decisions.append(device_set[index])
        assert random.random() == after_basicsr  # the same random draws, in the same number
    augments = {(d['hflip'], d['vflip'], d['rot90']) for d in decisions}
    assert len(augments) == 2 ** (use_hflip + 2 * use_rot)  # every augmentation of the setting was sampled

    batch = DevicePairs.from_dataset(device_set, 'cpu').batch(default_collate(decisions))
    assert batch['lq'].shape == (48, 3, 8, 8) and batch['gt'].shape == (48, 3, 32, 32)
    assert batch['lq'].dtype == batch['gt'].dtype == torch.float32
    assert torch.equal(batch['lq'], torch.stack([e['lq'] for e in expected]))
    assert torch.equal(batch['gt'], torch.stack([e['gt'] for e in expected]))


def test_unsupported_options_are_refused_in_one_line(folder):
    with pytest.raises(AlkdsrError, match='^datasets: val: type DevicePairedImageDataset is for training only'):
        DevicePairedImageDataset({**options(folder), 'phase': 'val'})
    with pytest.raises(AlkdsrError, match='does not support color, mean'):
        DevicePairedImageDataset({**options(folder), 'color': 'y', 'mean': [0.5, 0.5, 0.5]})


def test_other_models_are_refused_before_any_work(folder):
    from alkdsr.training.data import check_datasets as check_paired_datasets

    opt = {'model_type': 'SRModel', 'datasets': {'train': {**options(folder), 'type': 'DevicePairedImageDataset'}}}
    with pytest.raises(AlkdsrError, match='^datasets: train: type DevicePairedImageDataset needs model_type: ALKDSRM'):
        check_paired_datasets(opt)
