"""The training loader resumes where it stood, however far ahead of training it has drawn.

In process, without a network: a dataset whose items draw from Python's, NumPy's and torch's random
generators (as crops and flips do), BasicSR's EnlargedSampler and worker seeding, 5 batches of 3 an
epoch, 3 epochs. Training is emulated by consumers that draw as BasicSR's prefetchers do: just in
time (``CPUPrefetcher``), one batch ahead (the order of ``CUDAPrefetcher``, which needs a GPU), a
thread ahead (``prefetch_mode: cpu``), and just in time with a stop agreed after the checkpoint's
iteration (the model then asks for the point after the next batch is drawn). After ``k`` batches a
resume point is taken; a new loader, in a process whose random generators were moved on, resumes
from it and must train on exactly the batches the uninterrupted loader gave after batch ``k``.

Applied by hand and reverted: with no point noted ahead, 12 cases fail (every one-ahead, thread and
stop case); with the main process's random state not restored, 15; the others are in tests/training/test_resume.py.
"""

from __future__ import annotations

import random
from functools import partial

import numpy as np
import pytest
import torch
from basicsr.data import worker_init_fn
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.prefetch_dataloader import PrefetchDataLoader
from torch.utils.data import DataLoader, Dataset

from alkdsr.data.resumable_loader import ResumableLoader
from alkdsr.training.stopping import StopRequests
from alkdsr.utils import random_state

PER_EPOCH, BATCH, EPOCHS = 5, 3, 3


class RandomItems(Dataset):
    def __len__(self):
        return PER_EPOCH * BATCH

    def __getitem__(self, index):
        return torch.tensor([index, random.random(), np.random.rand(), torch.rand(()).item()], dtype=torch.float64)


def loader(workers: int, thread: bool = False, stop: StopRequests | None = None) -> ResumableLoader:
    dataset = RandomItems()
    kwargs = dict(dataset=dataset, batch_size=BATCH, sampler=EnlargedSampler(dataset, 1, 0), drop_last=True)
    kwargs.update(num_workers=workers, worker_init_fn=partial(worker_init_fn, num_workers=workers, rank=0, seed=5))
    plain = PrefetchDataLoader(num_prefetch_queue=2, **kwargs) if thread else DataLoader(**kwargs)
    resumable = ResumableLoader.like(plain, stop=stop)
    resumable.trained = 0
    return resumable


def batches_of_an_epoch(loader: ResumableLoader, ahead: bool):
    """The batches in the order training gets them; drawing one ahead as ``CUDAPrefetcher`` does."""
    it = iter(loader)
    if not ahead:
        yield from it
        return
    batch = next(it, None)
    while batch is not None:
        following = next(it, None)
        yield batch
        batch = following


def train(loader: ResumableLoader, ahead: bool, first_epoch: int = 0, save_after=None, stop=False):
    """Every batch trained on, and the resume point after ``save_after`` batches (the loop of basicsr.train)."""
    trained, point = [], None
    for epoch in range(first_epoch, EPOCHS):
        loader.sampler.set_epoch(epoch)
        for batch in batches_of_an_epoch(loader, ahead):
            if stop and loader.stop.agreed and len(trained) == save_after:
                point = loader.resume_point(save_after)  # the loop's stop at the next iteration's start
                loader.stop.agreed = 0  # (the uninterrupted run goes on)
            trained.append(batch)
            loader.trained = len(trained)
            if len(trained) == save_after:
                if stop:
                    loader.stop.agreed = 15  # the check after this iteration saw a SIGTERM
                else:
                    point = loader.resume_point(save_after)
    return trained, point


@pytest.mark.parametrize('workers', [0, 2])
@pytest.mark.parametrize('how', ['in-time', 'one-ahead', 'thread', 'stop'])
@pytest.mark.parametrize('save_after', [7, 10], ids=['mid-epoch', 'end-of-epoch'])
def test_a_resumed_loader_gives_the_batches_of_the_uninterrupted_one(workers, how, save_after):
    ahead = how == 'one-ahead'
    random_state.set_state(random_state.get_state())  # (round trip of the state)
    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    first = loader(workers, thread=how == 'thread', stop=StopRequests())
    everything, point = train(first, ahead, save_after=save_after, stop=how == 'stop')
    assert len(everything) == EPOCHS * PER_EPOCH and point is not None
    # the epoch of the last batch trained, or, stopping after an epoch's last batch, the next one
    assert point['epoch'] == (save_after - 1) // PER_EPOCH + (how == 'stop' and save_after % PER_EPOCH == 0)

    torch.manual_seed(1), random.seed(1), np.random.seed(1)  # another process: other random states
    resumed = loader(workers, thread=how == 'thread')
    assert resumed.resume_from(point) is None
    rest, _ = train(resumed, ahead, first_epoch=point['epoch'])
    assert len(rest) == len(everything) - save_after
    for i, (ours, theirs) in enumerate(zip(rest, everything[save_after:])):
        assert torch.equal(ours, theirs), f'batch {save_after + 1 + i}: {ours} != {theirs}'


def test_a_point_of_another_layout_is_refused_with_the_reason():
    _, point = train(loader(0), ahead=False, save_after=2)
    reason = loader(2).resume_from(point)
    assert reason == 'the data layout changed since it was saved (num_workers 0 -> 2)'
