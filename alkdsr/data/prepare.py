"""Dataset preparation: HR folder -> EDSR layout with MATLAB bicubic LR, aligned sub-images and LMDBs.

Output layout under ``out_dir`` (``s`` for each scale)::

    HR/<name>.png                          the HR image as read (8-bit, grey or BGR)
    LR_bicubic/X{s}/<name>x{s}.png         MATLAB imresize(HR cropped to a multiple of s, 1/s)
    HR_sub/<name>_s001.png                 --subimages: crops of HR on a grid (see subimages.py)
    LR_bicubic_sub/X{s}/<name>_s001.png    the matching crops of the LR image, crop_size/s wide
    subimages.json                         the grid the sub-images were cut with
    HR_sub.lmdb, LR_bicubic_sub/X{s}.lmdb  --lmdb with --subimages
    HR_mod{s}.lmdb, LR_bicubic/X{s}.lmdb   --lmdb without: HR cropped to a multiple of s, key <name>

Work already done is skipped (every file is written atomically, so an existing file is complete).
When the HR folder is ``out_dir/HR`` itself (a benchmark set that lacks LR images) its files are left as
they are and everything else is written beside it.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from alkdsr.data.lmdb_pack import LmdbError, check_key, read_keys, write_lmdb
from alkdsr.data.matlab_resize import bicubic_downsample, mod_crop
from alkdsr.data.subimages import SubimageGrid, subimage_name
from alkdsr.errors import AlkdsrError, OutputError
from alkdsr.files import fileio
from alkdsr.files.fileio import atomic_write_bytes, raise_on_sigterm
from alkdsr.files.images import (
    ImageError,
    decode_png,
    encode_png,
    list_images,
    png_header,
    read_training_image,
    write_png,
)
from alkdsr.files.output_guard import refuse_outputs_that_are_inputs

SUBIMAGE_SETTINGS = 'subimages.json'


@dataclass(frozen=True)
class PrepareConfig:
    out_dir: Path
    scales: tuple[int, ...] = (2, 3, 4)
    overwrite: bool = False
    grid: SubimageGrid | None = None  # None: no sub-images
    align: int = 0  # sub-image starts are multiples of this (the lcm of the scales, or an earlier run's)
    lmdb: bool = False
    compression: int = 3  # PNG compression level, also recorded in meta_info.txt
    hr_in_place: bool = False  # the HR folder is out_dir/HR: never rewrite it, even with overwrite


@dataclass
class ImageResult:
    name: str
    source: Path
    written: int = 0
    skipped: int = 0
    subimages: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PrepareSummary:
    images: int = 0
    failed: int = 0
    written: int = 0
    skipped: int = 0
    subimages: int = 0
    lmdbs_written: list[Path] = field(default_factory=list)
    lmdbs_skipped: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


# ----------------------------------------------------------------------------- layout


def hr_path(out: Path, name: str) -> Path:
    return out / 'HR' / f'{name}.png'


def lr_path(out: Path, name: str, scale: int) -> Path:
    return out / 'LR_bicubic' / f'X{scale}' / f'{name}x{scale}.png'


def hr_sub_path(out: Path, sub: str) -> Path:
    return out / 'HR_sub' / f'{sub}.png'


def lr_sub_path(out: Path, sub: str, scale: int) -> Path:
    return out / 'LR_bicubic_sub' / f'X{scale}' / f'{sub}.png'


def lmdb_paths(out: Path, scale: int, subimages: bool) -> tuple[Path, Path]:
    """(GT, LQ) LMDB directories for ``scale``: the ``dataroot_gt`` / ``dataroot_lq`` of a BasicSR option file."""
    if subimages:
        return out / 'HR_sub.lmdb', out / 'LR_bicubic_sub' / f'X{scale}.lmdb'
    return out / f'HR_mod{scale}.lmdb', out / 'LR_bicubic' / f'X{scale}.lmdb'


# ----------------------------------------------------------------------------- inputs and checks


def collect_sources(hr_dirs: list[Path]) -> list[tuple[str, Path]]:
    """(name, path) of every image in the HR folders, sorted by name; names must be unique."""
    sources = {}
    for folder in hr_dirs:
        if not folder.is_dir():
            raise AlkdsrError(f'HR folder not found: {folder}')
        for path in list_images(folder):
            name = path.stem
            if name in sources:
                raise AlkdsrError(f'two HR images named {name!r} ({sources[name]} and {path}): outputs would collide')
            sources[name] = path
    if not sources:
        raise AlkdsrError(f'no images (png, jpg, bmp, tif, webp) in {" ".join(map(str, hr_dirs))}')
    return sorted(sources.items())


def check_scales(scales: list[int]) -> tuple[int, ...]:
    if not scales or any(s < 2 for s in scales):
        raise AlkdsrError(f'--scales must be integers >= 2, got {" ".join(map(str, scales))}')
    return tuple(sorted(set(scales)))


def hr_in_place(hr_dirs: list[Path], out_dir: Path, sources: list[tuple[str, Path]]) -> bool:
    """True when the HR folder is ``out_dir/HR`` itself (a benchmark set getting its LR): HR files are then
    left exactly as they are, and must be PNGs, since the layout names them ``HR/<name>.png``."""
    in_place = [d for d in hr_dirs if d.resolve() == (out_dir / 'HR').resolve()]
    if not in_place:
        return False
    if len(hr_dirs) > 1:
        raise AlkdsrError(f'{in_place[0]} is OUT_DIR/HR: it can only be prepared in place on its own')
    for _, path in sources:
        if path.suffix != '.png':
            raise AlkdsrError(f'{path}: HR folder is OUT_DIR/HR, so its images must be .png; choose another OUT_DIR')
    return True


def check_writable(out_dir: Path) -> None:
    """OUT_DIR can be made and written: else one line naming it, not one error per image."""
    problem = fileio.where_writing_fails(out_dir)
    if problem is not None:
        raise AlkdsrError(f'{out_dir}: cannot write there ({os.strerror(fileio.ERRNO[problem[1]])})')


def check_lmdb_keys(sources: list[tuple[str, Path]]) -> None:
    for name, path in sources:
        problem = check_key(name)
        if problem:
            raise AlkdsrError(f'{path}: name {name!r} cannot be packed into an LMDB ({problem}); rename the file')


def resolve_subimage_align(out_dir: Path, grid: SubimageGrid, scales: tuple[int, ...]) -> int:
    """The start alignment of this run's grid, held consistent with sub-images already in ``out_dir``.

    Skipping existing sub-images is only sound when they were cut on the same grid: a different crop,
    step, threshold or alignment is an error (``--overwrite`` rewrites files but leaves extra old ones).
    """
    align = math.lcm(*scales)
    settings_path = out_dir / SUBIMAGE_SETTINGS
    if not settings_path.exists():
        return align
    try:
        earlier = json.loads(settings_path.read_text())
        earlier_grid = SubimageGrid(earlier['crop_size'], earlier['step'], earlier['thresh_size'])
        earlier_align = int(earlier['align'])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AlkdsrError(f'{settings_path}: unreadable ({e}); delete it with the sub-image folders') from None
    if earlier_grid == grid and earlier_align % align == 0:
        return earlier_align  # a subset of the earlier scales: same windows
    raise AlkdsrError(
        f'{out_dir} holds sub-images cut with crop {earlier_grid.crop_size}, step {earlier_grid.step}, '
        f'thresh {earlier_grid.thresh_size}, start alignment {earlier_align}, but this run asks for crop '
        f'{grid.crop_size}, step {grid.step}, thresh {grid.thresh_size}, alignment {align}: remove HR_sub/, '
        f'LR_bicubic_sub/, the sub-image LMDBs and {SUBIMAGE_SETTINGS}, or use another OUT_DIR'
    )


def write_subimage_settings(out_dir: Path, grid: SubimageGrid, align: int) -> None:
    settings = dict(asdict(grid), align=align)
    path = out_dir / SUBIMAGE_SETTINGS
    if not path.exists() or json.loads(path.read_text()) != settings:
        atomic_write_bytes(path, (json.dumps(settings, indent=2) + '\n').encode())


# ----------------------------------------------------------------------------- one image (in a worker)


def process_image(task: tuple[str, Path, PrepareConfig]) -> ImageResult:
    """Write every output of one HR image that is missing (or all, with overwrite); never raises for bad input."""
    name, source, cfg = task
    result = ImageResult(name, source)
    try:
        _process(result, cfg)
    except (ImageError, OutputError) as e:  # one line naming the file already
        result.error = str(e)
    except OSError as e:
        result.error = f'{source}: {e.strerror or e} ({e.filename or "output"})'
    return result


def _process(result: ImageResult, cfg: PrepareConfig) -> None:
    name, out = result.name, cfg.out_dir
    full = [hr_path(out, name)] + [lr_path(out, name, s) for s in cfg.scales]
    if not cfg.overwrite and all(p.exists() for p in full):
        if cfg.grid is None:
            result.skipped += len(full)
            return
        shape = _shape_of_png(full[0])
        boxes = cfg.grid.boxes(*shape, cfg.align) if shape else None
        if boxes is not None and all(p.exists() for p in _subimage_paths(out, name, boxes, cfg.scales)):
            result.skipped += len(full) + len(boxes) * (1 + len(cfg.scales))
            result.subimages = len(boxes)
            return

    hr, result.notes = read_training_image(result.source)
    h, w = hr.shape[:2]
    if min(h, w) < max(cfg.scales):
        raise ImageError(f'{result.source}: {w}x{h} pixels is too small for x{max(cfg.scales)}')
    if cfg.hr_in_place:
        result.skipped += 1
    else:
        _write(result, full[0], lambda: hr, cfg)
    lrs = {}
    for scale, path in zip(cfg.scales, full[1:]):
        lrs[scale] = _write(result, path, lambda s=scale: bicubic_downsample(hr, s), cfg)
    if cfg.grid is None:
        return

    boxes = cfg.grid.boxes(h, w, cfg.align)
    result.subimages = len(boxes)
    crop = cfg.grid.crop_size
    for index, (y, x) in enumerate(boxes):
        sub = subimage_name(name, index)
        _write(result, hr_sub_path(out, sub), lambda y=y, x=x: hr[y : y + crop, x : x + crop], cfg)
        for s in cfg.scales:
            path = lr_sub_path(out, sub, s)
            if path.exists() and not cfg.overwrite:
                result.skipped += 1
                continue
            if lrs[s] is None:  # the full LR image existed: read it back once
                lrs[s] = _read_png(lr_path(out, name, s))
            _write(result, path, lambda lr=lrs[s], y=y // s, x=x // s, c=crop // s: lr[y : y + c, x : x + c], cfg)


def _write(result: ImageResult, path: Path, make: Callable[[], np.ndarray], cfg: PrepareConfig) -> np.ndarray | None:
    """Write ``make()`` to ``path`` unless it exists; returns the image when it was made."""
    if path.exists() and not cfg.overwrite:
        result.skipped += 1
        return None
    try:
        img = make()
    except ValueError as e:
        raise ImageError(f'{result.source}: {e}') from None
    write_png(path, np.ascontiguousarray(img), cfg.compression)
    result.written += 1
    return img


def _subimage_paths(out: Path, name: str, boxes, scales) -> list[Path]:
    paths = []
    for index in range(len(boxes)):
        sub = subimage_name(name, index)
        paths.append(hr_sub_path(out, sub))
        paths.extend(lr_sub_path(out, sub, s) for s in scales)
    return paths


def _shape_of_png(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG's header; None when it is not a PNG we can read that way."""
    with open(path, 'rb') as f:
        header = png_header(f.read(26))
    return header[:2] if header else None


def _read_png(path: Path) -> np.ndarray:
    img = decode_png(path.read_bytes())
    if img is None:
        raise ImageError(f'{path}: existing output is unreadable; delete it or use --overwrite')
    return img


# ----------------------------------------------------------------------------- LMDB packing


def lmdb_plan(cfg: PrepareConfig, results: list[ImageResult]) -> list[tuple[Path, list[tuple[str, Path, int]]]]:
    """For each LMDB to write: its path and the (key, png file, crop multiple or 0) of every entry, sorted by key."""
    out, plan = cfg.out_dir, []
    names = sorted(r.name for r in results)
    if cfg.grid is not None:
        by_name = {r.name: r.subimages for r in results}
        subs = sorted(subimage_name(n, i) for n in names for i in range(by_name[n]))
        gt, _ = lmdb_paths(out, cfg.scales[0], True)
        plan.append((gt, [(k, hr_sub_path(out, k), 0) for k in subs]))
        for s in cfg.scales:
            plan.append((lmdb_paths(out, s, True)[1], [(k, lr_sub_path(out, k, s), 0) for k in subs]))
        return plan
    for s in cfg.scales:
        gt, lq = lmdb_paths(out, s, False)
        plan.append((gt, [(n, hr_path(out, n), s) for n in names]))
        plan.append((lq, [(n, lr_path(out, n, s), 0) for n in names]))
    return plan


def load_lmdb_value(job: tuple[str, Path, int, int]) -> tuple[str, bytes, tuple[int, int, int]]:
    """PNG bytes and shape of one entry: the file's own bytes, or the image cropped to a multiple first."""
    key, path, multiple, compression = job
    data = path.read_bytes()
    h, w, c = png_header(data)  # a PNG this command wrote
    if multiple and (h % multiple or w % multiple):
        img = mod_crop(decode_png(data), multiple)
        data = encode_png(np.ascontiguousarray(img), compression)
        h, w, c = png_header(data)
    return key, data, (h, w, c)


def pack_lmdbs(cfg: PrepareConfig, results: list[ImageResult], imap, summary: PrepareSummary, log) -> None:
    for target, entries in lmdb_plan(cfg, results):
        keys = [k for k, _, _ in entries]
        if target.exists() and not cfg.overwrite:
            problem = _existing_lmdb_problem(target, keys)
            if problem:
                summary.problems.append(problem)
                log(problem)
            else:
                summary.lmdbs_skipped.append(target)
            continue
        for stale in fileio.remove_stale_temporaries(target.parent):
            log(f'note: removed {stale}, left by an interrupted run')
        if not entries:
            summary.problems.append(f'{target}: no images to pack (all smaller than the sub-image crop?)')
            log(summary.problems[-1])
            continue
        jobs = [(k, p, m, cfg.compression) for k, p, m in entries]
        size = sum(p.stat().st_size for _, p, _ in entries)
        values = tqdm(imap(load_lmdb_value, jobs), total=len(jobs), unit='img', desc=target.name, disable=None)
        try:
            write_lmdb(target, values, cfg.compression, size_hint=size)
        except (OSError, LmdbError) as e:  # a full disk, say: the temporary LMDB is gone, the target untouched
            summary.problems.append(f'{target}: cannot write the LMDB ({e})')
            log(summary.problems[-1])
            continue
        summary.lmdbs_written.append(target)


def _existing_lmdb_problem(target: Path, keys: list[str]) -> str | None:
    try:
        existing = read_keys(target)
    except OSError:
        return f'{target} exists but has no readable meta_info.txt; delete it to rebuild'
    if sorted(existing) != keys:
        return (
            f'{target} exists with other images ({len(existing)} entries, this run has {len(keys)}); '
            f'delete it to rebuild'
        )
    return None


# ----------------------------------------------------------------------------- the whole run


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def _pool(processes: int):
    """The worker processes, which never see a Ctrl-C.

    Ctrl-C sends SIGINT to every process of the terminal's group: each worker raised KeyboardInterrupt
    wherever it was (starting, waiting for a task, inside one) and printed its traceback, while the main
    process stopped them anyway. So the workers are started with SIGINT ignored, which a new process keeps
    (Python then installs no KeyboardInterrupt of its own), and ignore it in their initializer too (a worker
    the pool starts later, to replace one); the main process alone hears it, and stops them with
    ``terminate()``. (A signal mask would not do: starting the pool's resource tracker unblocks SIGINT.)
    """
    # spawn, not fork: a process forked after OpenCV or PyTorch started their thread pools can
    # inherit a held lock and hang in its first OpenCV call (seen in the test suite)
    with _sigint_ignored():
        return multiprocessing.get_context('spawn').Pool(processes, initializer=_init_worker)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while the workers start (a few milliseconds; a Ctrl-C then is lost), where it can be set."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers are the main thread's
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # the pool is the parallelism; keep OpenCV from oversubscribing the cores
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process hears Ctrl-C and stops the workers
    raise_on_sigterm()  # pool.terminate() sends SIGTERM: a write in progress removes its temporary file


def prepare(
    hr_dirs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    scales: Sequence[int] = (2, 3, 4),
    workers: int | None = None,
    overwrite: bool = False,
    grid: SubimageGrid | None = None,
    lmdb: bool = False,
    compression: int = 3,
    log: Callable[[str], None] = print,
) -> PrepareSummary:
    """Prepare ``out_dir`` from the HR images in ``hr_dirs``; per-image problems are logged and counted.

    Raises ``AlkdsrError`` (before writing anything) for problems with the whole run: missing or empty
    folders, colliding names, bad scales or sub-image geometry, names unusable as LMDB keys.
    """
    hr_dirs = [Path(d) for d in hr_dirs]
    out_dir = Path(out_dir)
    scales = check_scales(list(scales))
    if workers is not None and workers < 1:
        raise AlkdsrError(f'--workers must be >= 1, got {workers}')
    if not 0 <= compression <= 9:
        raise AlkdsrError(f'--compression must be 0..9, got {compression}')
    sources = collect_sources(hr_dirs)
    in_place = hr_in_place(hr_dirs, out_dir, sources)
    planned = [lr_path(out_dir, name, s) for name, _ in sources for s in scales]
    planned += [] if in_place else [hr_path(out_dir, name) for name, _ in sources]
    refuse_outputs_that_are_inputs({'OUT_DIR': planned}, {'HR_DIR': [path for _, path in sources]})
    if lmdb:
        check_lmdb_keys(sources)
    if grid is not None:
        grid.check(list(scales))
    check_writable(out_dir)  # the first thing made: after every check of the arguments
    for folder in [out_dir / 'HR', *(lr_path(out_dir, 'x', s).parent for s in scales)]:
        fileio.remove_stale_temporaries(folder)  # left by a run that was killed while writing
    align = 0
    if grid is not None:
        align = resolve_subimage_align(out_dir, grid, scales)
        write_subimage_settings(out_dir, grid, align)
    cfg = PrepareConfig(out_dir, scales, overwrite, grid, align, lmdb, compression, in_place)
    workers = workers or default_workers()

    summary = PrepareSummary(images=len(sources))
    tasks = [(name, path, cfg) for name, path in sources]
    pool = _pool(min(workers, len(tasks))) if workers > 1 else None
    try:
        imap = pool.imap if pool else map
        unordered = pool.imap_unordered if pool else map
        results = []
        for result in tqdm(unordered(process_image, tasks), total=len(tasks), unit='img', desc='prepare', disable=None):
            _account(result, summary, log)
            if result.error is None:
                results.append(result)
        if lmdb and summary.failed:
            summary.problems.append(f'LMDBs not written: {summary.failed} image(s) failed; fix them and run again')
            log(summary.problems[-1])
        elif lmdb:
            pack_lmdbs(cfg, results, imap, summary, log)
        if pool:  # the work is done: the workers end on their own (terminate's SIGTERM would reach them
            pool.close()  # inside their exit handlers, which then print the SystemExit it raises)
            pool.join()
    finally:
        if pool:
            pool.terminate()  # an error or an interrupt: stop the workers now (nothing left to stop otherwise)
            pool.join()
        os.sync()  # images are renamed into place without a per-file fsync; make them durable once
    return summary


def _account(result: ImageResult, summary: PrepareSummary, log) -> None:
    for note in result.notes:
        log(f'note: {result.source}: {note}')
    if result.error:
        summary.failed += 1
        log(result.error)
        return
    summary.written += result.written
    summary.skipped += result.skipped
    summary.subimages += result.subimages
