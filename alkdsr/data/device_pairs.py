"""Training pairs resident on the training device, cropped, flipped and rotated there.

``datasets: train: type: DevicePairedImageDataset`` takes the options of BasicSR's
``PairedImageDataset`` (folders or LMDBs, ``gt_size``, ``use_hflip``, ``use_rot``). It decodes
every pair once, as uint8, and its items are only the random decisions BasicSR's
``paired_random_crop`` and ``augment`` would draw for that item, drawn with the same calls in
the same order: the LR patch's top and left corner, hflip, vflip, rot90. ``ALKDSRModel``
receives batches of these decisions through BasicSR's unchanged loop (sampler, epochs, workers,
prefetcher, resume) and turns each batch into patches with one gather from the images it keeps
on the device (:class:`DevicePairs`). So the same seed samples the same patches as
``PairedImageDataset``, pixel for pixel, while the DataLoader moves a few integers per patch
instead of decoding two images and copying 110 KB to the GPU.

Why a dataset type and not a model switch: the decisions must be drawn where BasicSR draws
them (in the dataset, in its DataLoader workers with their seeds), and a dataset option names
the data it applies to; the model only does the device half.

Only the training phase, RGB patches without ``mean``/``std`` are supported (refused in one line).
"""

from __future__ import annotations

import contextlib
import copy
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from basicsr.data import paired_image_dataset

from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset, is_lmdb
from alkdsr.errors import AlkdsrError

DECISIONS = ('index', 'top', 'left', 'hflip', 'vflip', 'rot90')


def _lmdb_env(folder: str):
    import lmdb

    return lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)


class DevicePairedImageDataset(ALKDSRPairedImageDataset):
    """``ALKDSRPairedImageDataset`` (pairs checked and sorted when built) whose items are crop/flip/rotate decisions."""

    def __init__(self, opt: dict):
        self.check_options(opt)
        super().__init__(opt)
        self.pairs = self.decode_pairs()  # the model uploads them (DevicePairs.from_dataset): decoded once
        self.lq_sizes = [lq.shape[:2] for _, lq in self.pairs]

    @staticmethod
    def check_options(opt: dict) -> None:
        """What this dataset supports of PairedImageDataset's options (the run checks it before any work)."""
        where = f'datasets: {opt.get("phase", "train")}: type DevicePairedImageDataset'
        if opt.get('phase', 'train') != 'train':
            raise AlkdsrError(f'{where} is for training only; validate with PairedImageDataset')
        unsupported = [k for k in ('color', 'mean', 'std') if opt.get(k) is not None]
        if unsupported:
            raise AlkdsrError(f'{where} does not support {", ".join(unsupported)} (use PairedImageDataset)')

    def __getstate__(self) -> dict:
        """What a DataLoader worker gets: the decisions need the sizes, not the pixels."""
        return {**self.__dict__, 'pairs': None}

    def decode_pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every (gt, lq) pair as BasicSR's loader reads it (the same bytes, ``imfrombytes``), but uint8 (HWC, BGR):
        what the model uploads once. LMDBs are opened read-only here and closed after: BasicSR's ``FileClient``
        keeps its environments open, and LMDB refuses a second one of the same path in a process."""
        with contextlib.ExitStack() as stack:
            if is_lmdb(self.opt):
                txns = {
                    side: stack.enter_context(
                        stack.enter_context(_lmdb_env(self.opt[f'dataroot_{side}'])).begin(buffers=False)
                    )
                    for side in ('gt', 'lq')
                }

                def read(item, side):
                    return txns[side].get(item[f'{side}_path'].encode('ascii', 'surrogateescape'))
            else:

                def read(item, side):
                    return Path(item[f'{side}_path']).read_bytes()

            def decode(item):
                return tuple(paired_image_dataset.imfrombytes(read(item, side), float32=False) for side in ('gt', 'lq'))

            with ThreadPoolExecutor(8) as pool:  # OpenCV's decoders release the GIL
                return list(pool.map(decode, self.paths))

    def __getitem__(self, index: int) -> dict:
        """The decisions ``paired_random_crop`` and ``augment`` draw for this item, in their order."""
        h_lq, w_lq = self.lq_sizes[index]
        lq_patch = self.opt['gt_size'] // self.opt['scale']
        top = random.randint(0, h_lq - lq_patch)
        left = random.randint(0, w_lq - lq_patch)
        rotation = self.opt['use_rot']
        hflip = self.opt['use_hflip'] and random.random() < 0.5
        vflip = rotation and random.random() < 0.5
        rot90 = rotation and random.random() < 0.5
        return {'index': index, 'top': top, 'left': left, 'hflip': hflip, 'vflip': vflip, 'rot90': rot90}


class _Images:
    """Images of any sizes packed into one flat uint8 buffer, each (3, H, W) RGB."""

    def __init__(self, images: list[np.ndarray], device: torch.device):
        chw = [np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1)) for img in images]
        sizes = torch.tensor([img.shape[1:] for img in chw], dtype=torch.int64)
        lengths = sizes.prod(1) * 3
        self.offsets = (torch.cumsum(lengths, 0) - lengths).to(device)
        self.heights, self.widths = sizes[:, 0].to(device), sizes[:, 1].to(device)
        self.flat = torch.cat([torch.from_numpy(img).reshape(-1) for img in chw]).to(device)

    def patches(self, index, top, left, size: int, hflip, vflip, rot90) -> torch.Tensor:
        """(B, 3, size, size) float32 in [0, 1]: crops at (top, left), then hflip, vflip, transpose.

        Output pixel (i, j) comes from crop pixel (a, b): transposed, (a, b) = (j, i); a vertical
        flip then reads row size-1-a, a horizontal one column size-1-b (``augment``'s order undone).
        """
        shape = (-1, 1, 1)
        r = torch.arange(size, device=self.flat.device)
        i, j = r.view(1, size, 1), r.view(1, 1, size)
        rot90 = rot90.view(shape)
        a, b = torch.where(rot90, j, i), torch.where(rot90, i, j)
        a = torch.where(vflip.view(shape), size - 1 - a, a)
        b = torch.where(hflip.view(shape), size - 1 - b, b)
        width = self.widths[index].view(shape)
        plane = (self.heights[index] * self.widths[index]).view(-1, 1, 1, 1)
        pixel = self.offsets[index].view(shape) + (top.view(shape) + a) * width + left.view(shape) + b
        channel = torch.arange(3, device=self.flat.device).view(1, 3, 1, 1)
        return self.flat[pixel.unsqueeze(1) + channel * plane].float() / 255.0


class DevicePairs:
    """The training pairs on ``device``; :meth:`batch` turns a batch of decisions into (lq, gt)."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], gt_size: int, scale: int, device):
        self.gt = _Images([gt for gt, _ in pairs], torch.device(device))
        self.lq = _Images([lq for _, lq in pairs], torch.device(device))
        self.gt_size, self.scale = gt_size, scale

    @classmethod
    def from_dataset(cls, dataset: DevicePairedImageDataset, device) -> DevicePairs:
        """The pairs the run's training set decoded."""
        return cls(dataset.pairs, dataset.opt['gt_size'], dataset.opt['scale'], device)

    @classmethod
    def from_options(cls, dataset_opt: dict, scale: int, device) -> DevicePairs:
        """The pairs of the training set ``dataset_opt`` describes (built, checked and decoded now)."""
        return cls.from_dataset(DevicePairedImageDataset({**copy.deepcopy(dataset_opt), 'scale': scale}), device)

    @staticmethod
    def is_decisions(data: dict) -> bool:
        return all(k in data for k in DECISIONS) and 'lq' not in data

    def batch(self, decisions: dict) -> dict:
        device = self.gt.flat.device
        index, top, left = (decisions[k].to(device, torch.int64) for k in ('index', 'top', 'left'))
        flips = [decisions[k].to(device, torch.bool) for k in ('hflip', 'vflip', 'rot90')]
        lq = self.lq.patches(index, top, left, self.gt_size // self.scale, *flips)
        gt = self.gt.patches(index, top * self.scale, left * self.scale, self.gt_size, *flips)
        return {'lq': lq, 'gt': gt}
