"""The training DataLoader, resumable in the middle of an epoch, drawing after a resume what the uninterrupted run drew.

BasicSR's loop restarts the saved epoch from its first batch on resume, keeps no random state, and
reseeds the workers at every epoch: a resumed run trains on other batches than the run it continues.
:class:`ResumableLoader` is the loader BasicSR's ``build_dataloader`` made for the training set, as
a torchdata ``StatefulDataLoader`` (same dataset, sampler, batch size, workers and seeding), which
knows how far the epoch has gone (the sampler is fast-forwarded on resume), the seed the epoch gave
its workers, and, with every batch, the random state of the worker that made it
(:class:`WorkerRandomState`). A *resume point* is that state, the epoch, and the random state of this
process, as they stand before a batch is drawn. A checkpoint after ``n`` trained batches saves the
point before batch ``n + 1``: taken when asked, or, where batch ``n + 1`` may be drawn before the
checkpoint asks (the loader is ahead of training, as with BasicSR's CUDA prefetcher, or training has
agreed to stop at the next boundary), noted before that draw (the training loop counts the batches it has
trained on; reading NumPy's state is not free, so the loader notes only where it may be asked). A
resumed run starts its first iteration from that point, so it draws the batches, crops, flips and
seeds the uninterrupted run drew.

BasicSR's prefetchers ask for an iterator when they are built, before the loop sets the first epoch
(the CUDA one even draws a batch from it), and never train on it: until the loop has set an epoch
(:class:`LoopSampler`), the loader's iterators are empty, so no batch is read, no worker started and no
random number drawn for nothing, and the batches drawn are the batches trained, in order.

The point holds only tensors, tuples and plain values, as ``torch.load(weights_only=True)`` reads them.
"""

from __future__ import annotations

import functools
import signal
import threading

import torch
from basicsr.data.prefetch_dataloader import PrefetchDataLoader, PrefetchGenerator
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info
from torchdata.stateful_dataloader import StatefulDataLoader

from alkdsr.utils import random_state

_POINTS_KEPT = 4  # resume points kept beyond those a prefetch queue may hold


class WorkerRandomState(Dataset):
    """A dataset whose state, read in a DataLoader worker, is that worker's random state.

    ``StatefulDataLoader`` reads it in the worker with every batch and puts it back into the worker
    that takes over on resume (after BasicSR's ``worker_init_fn`` has seeded it). In the main process
    (``num_worker_per_gpu: 0``) the state is None: the resume point holds this process's random state.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]

    def state_dict(self) -> dict | None:
        return random_state.get_state() if get_worker_info() is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if state is not None:
            random_state.set_state(state)


class LoopSampler(Sampler):
    """The training sampler (BasicSR's ``EnlargedSampler``), noting whether the training loop has set an epoch."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.loop_started = False

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.loop_started = True

    def __iter__(self):
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class ResumableLoader(StatefulDataLoader):
    """BasicSR's training loader as a ``StatefulDataLoader`` that gives resume points (module docstring).

    Build it with :meth:`like`; the training loop counts in ``trained`` the batches it has trained on, and
    the run's model reads :meth:`resume_point` when it saves and hands a saved point to :meth:`resume_from`
    when it resumes. ``stop`` is the run's ``alkdsr.training.stopping.StopRequests`` (``agreed``: training
    will stop at the next boundary, so a checkpoint may ask for the point after the next batch is drawn).
    """

    def __init__(self, *args, prefetch_queue: int = 0, stop=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.prefetch_queue = prefetch_queue  # BasicSR's prefetch_mode: cpu (a thread drawing ahead)
        self.stop = stop
        self.drawn = 0  # batches this process has drawn
        self.trained: int | None = None  # batches training has consumed, as the loop reports them (None: none does)
        self._points: dict[int, dict] = {}  # batches drawn -> resume point noted before the next draw
        self._noted = threading.Condition()
        self._pending: dict | None = None

    @classmethod
    def like(cls, loader: DataLoader, stop=None) -> ResumableLoader:
        """The loader ``loader`` is (BasicSR's ``build_dataloader``: DataLoader or PrefetchDataLoader), resumable,
        its workers seeded by its own ``worker_init_fn`` and leaving SIGTERM to the main process."""
        kwargs = dict(
            batch_size=loader.batch_size,
            sampler=LoopSampler(loader.sampler),
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            drop_last=loader.drop_last,
            timeout=loader.timeout,
            worker_init_fn=functools.partial(_ignoring_sigterm, loader.worker_init_fn),
            multiprocessing_context=loader.multiprocessing_context,
            generator=loader.generator,
            persistent_workers=loader.persistent_workers,
            pin_memory_device=loader.pin_memory_device,
        )
        if loader.num_workers > 0:
            kwargs['prefetch_factor'] = loader.prefetch_factor
        queue = loader.num_prefetch_queue if isinstance(loader, PrefetchDataLoader) else 0
        return cls(WorkerRandomState(loader.dataset), prefetch_queue=queue, stop=stop, **kwargs)

    def layout(self) -> dict:
        """What a saved point is only valid for: the same data in the same batches, shards and workers."""
        return {
            'dataset_size': len(self.dataset),
            'samples_per_epoch': len(self.sampler),
            'world_size': getattr(self.sampler.sampler, 'num_replicas', 1),
            'batch_size': self.batch_size,
            'num_workers': self.num_workers,
        }

    # ------------------------------------------------------------------ saving
    def resume_point(self, trained: int) -> dict:
        """The point to resume from after ``trained`` batches of this process have been trained on."""
        with self._noted:
            if self.prefetch_queue:  # the prefetch thread notes it before drawing batch trained + 1
                if not self._noted.wait_for(lambda: trained in self._points, timeout=60):
                    raise RuntimeError(f'no resume point was noted after batch {trained}')
            if trained in self._points:
                return self._points[trained]
            if trained != self.drawn:
                raise RuntimeError(f'no resume point after batch {trained}; {self.drawn} drawn')
            return self._point()

    def _point(self) -> dict:
        return {
            'epoch': int(self.sampler.epoch),
            'layout': self.layout(),
            'loader': self.state_dict(),
            'random': random_state.get_state(),
        }

    def _note_point(self) -> None:
        """Note the point before the next draw where a checkpoint may ask for it after the draw."""
        ahead = self.trained is not None and self.drawn > self.trained
        if not (self.prefetch_queue or ahead or (self.stop is not None and self.stop.agreed)):
            return
        with self._noted:
            self._points[self.drawn] = self._point()
            for old in [n for n in self._points if n < self.drawn - _POINTS_KEPT - self.prefetch_queue]:
                del self._points[old]
            self._noted.notify_all()

    # ---------------------------------------------------------------- resuming
    def resume_from(self, point: dict) -> str | None:
        """Start the next epoch's iteration at ``point``; or, when it does not fit this loader, say why."""
        saved, now = point.get('layout'), self.layout()
        if saved != now:
            changed = [f'{k} {saved.get(k)} -> {v}' for k, v in now.items() if saved.get(k) != v] if saved else []
            return 'the data layout changed since it was saved (' + (', '.join(changed) or 'unknown') + ')'
        self._pending = point
        return None

    def __iter__(self):
        if not self.sampler.loop_started:  # a prefetcher's, made when it is built: never trained on
            return iter(())
        point, self._pending = self._pending, None
        if point is not None:
            self.load_state_dict(point['loader'])
        batches = super().__iter__()
        if point is not None:  # after the iterator took its seeds, as when the point was noted
            random_state.set_state(point['random'])
        drawing = _Drawing(self, batches)
        return PrefetchGenerator(drawing, self.prefetch_queue) if self.prefetch_queue else drawing


class _Drawing:
    """An epoch's iterator of a :class:`ResumableLoader`: notes the resume point where needed, then draws."""

    def __init__(self, loader: ResumableLoader, batches):
        self.loader = loader
        self.batches = batches

    def __iter__(self):
        return self

    def __next__(self):
        self.loader._note_point()
        batch = next(self.batches)
        self.loader.drawn += 1
        return batch


def _ignoring_sigterm(seeding, worker_id: int) -> None:
    """A worker's start: SIGTERM left to the main process, then the loader's own seeding (BasicSR's), if any.

    A job scheduler signals the whole process group, and a worker that dies of it fails the main process
    before that can save. Module-level (with ``functools.partial``), so that spawned workers can unpickle it.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if seeding is not None:
        seeding(worker_id)


def gather_points(point: dict, distributed: bool) -> list[dict]:
    """Every rank's resume point, in rank order (a collective: every rank calls it)."""
    if not distributed:
        return [point]
    points = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(points, point)
    return points
