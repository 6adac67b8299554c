"""Batch upscaling: which files to read, where each result goes, and a run that survives bad files.

Planning (``find_jobs``) checks everything that would make the whole run wrong before any work
starts (missing inputs, two inputs written to one output, an output over its own input).
Running (``UpscaleRunner``) reads, upscales and writes one job at a time; a file that cannot
be read or written is reported in one line and the run goes on with the rest.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import remove_stale_temporaries
from alkdsr.files.images import FORMATS, ImageData, format_of, image_size, read_image, write_image
from alkdsr.files.output_guard import same_file
from alkdsr.inference.image import upscale_images


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


def normalise_ext(ext: str | None) -> str | None:
    """'.PNG' / 'png' -> '.png'; refuses suffixes alkdsr cannot write."""
    if ext is None:
        return None
    suffix = '.' + ext.lower().lstrip('.')
    if suffix not in FORMATS:
        raise AlkdsrError(f'--ext {ext}: unsupported output format (choose one of {", ".join(s[1:] for s in FORMATS)})')
    return suffix


def find_jobs(
    inputs: Iterable[str | os.PathLike],
    output: str | os.PathLike,
    glob: str | None = None,
    ext: str | None = None,
) -> list[Job]:
    """Pair every input image with its output path; raise AlkdsrError for a plan that cannot work."""
    inputs, output, suffix = [Path(item) for item in inputs], Path(output), normalise_ext(ext)
    sources: list[tuple[Path, Path]] = []  # (file, path relative to the output folder)
    any_folder = False
    for item in inputs:
        if item.is_dir() and same_file(item, output):
            raise AlkdsrError(
                f'-o {output} is the input folder {item}: the results would replace its images; choose another -o'
            )
        if item.is_dir():
            any_folder = True
            sources += [(f, f.relative_to(item)) for f in _folder_images(item, glob, exclude=output)]
        elif item.exists():
            sources.append((item, Path(item.name)))
        else:
            raise AlkdsrError(f'{item}: no such file or folder')
    sources = _first_of_each_file(sources)
    if not sources:
        raise AlkdsrError(f'no images found in {", ".join(map(str, inputs))}' + (f' matching {glob!r}' if glob else ''))
    if format_of(output) is not None and not output.is_dir():
        if any_folder or len(sources) > 1:
            raise AlkdsrError(f'-o {output} names an image file, but there are {len(sources)} inputs: give a folder')
        if suffix is not None and suffix != output.suffix.lower():
            raise AlkdsrError(f'--ext {ext} contradicts the output file name {output.name}')
        jobs = [Job(sources[0][0], output)]
    else:
        if output.exists() and not output.is_dir():
            raise AlkdsrError(f'-o {output}: exists and is not a folder')
        jobs = [Job(src, output / (rel.with_suffix(suffix) if suffix else rel)) for src, rel in sources]
    _check_targets(jobs)
    return jobs


def _first_of_each_file(sources: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """A file named twice (on its own and in its folder, say) is upscaled once."""
    seen, unique = set(), []
    for src, rel in sources:
        if src.resolve() not in seen:
            seen.add(src.resolve())
            unique.append((src, rel))
    return unique


def _folder_images(folder: Path, glob: str | None, exclude: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted), skipping hidden files and the output folder."""
    exclude = exclude.resolve()
    found = []
    for path in sorted(_walk_files(folder)):
        rel = path.relative_to(folder)
        if glob is not None and not fnmatch.fnmatch(rel.as_posix(), glob):
            continue
        if glob is None and format_of(path) is None:
            continue
        if exclude == path.resolve() or exclude in path.resolve().parents:
            continue
        found.append(path)
    return found


def _walk_files(folder: Path):
    """Every non-hidden file under ``folder``; a subfolder that cannot be listed is an error, not skipped."""

    def unreadable(error: OSError):
        raise AlkdsrError(f'{error.filename}: cannot read the folder ({error.strerror or error})')

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith('.')]
        for name in files:
            path = Path(root) / name
            if not name.startswith('.') and path.is_file():
                yield path


def _check_targets(jobs: list[Job]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if same_file(job.target, job.source):
            raise AlkdsrError(f'{job.source}: the output would overwrite its input; choose another -o')
        if target in seen:
            raise AlkdsrError(f'{seen[target]} and {job.source} would both be written to {job.target}')
        seen[target] = job.source


def planned_pixels(jobs: list[Job], overwrite: bool, enough: int) -> int:
    """The LR pixels of the jobs that will run, from the images' headers, counted until ``enough`` are found.

    What a file that cannot be read would add is left out: its job fails on its own when it runs.
    """
    total = 0
    for job in jobs:
        if total >= enough:
            break
        if job.target.exists() and not overwrite:
            continue
        try:
            width, height = image_size(job.source)
        except AlkdsrError:
            continue
        total += width * height
    return total


class UpscaleRunner:
    """Upscale jobs one batch at a time with a progress bar; failures are reported, not raised.

    ``model`` is run as it is: ``alkdsr.inference.fast.runner`` makes the fast one.
    """

    def __init__(
        self,
        model: nn.Module,
        tile: int | None = None,
        tile_pad: int = 32,
        tile_mode: str = 'seamless',
        dtype: torch.dtype | None = None,
        batch: int = 1,
        overwrite: bool = False,
        quality: int = 95,
    ):
        self.model = model
        self.upscale_options = dict(tile=tile, tile_pad=tile_pad, tile_mode=tile_mode, dtype=dtype)
        self.batch = batch
        self.overwrite = overwrite
        self.quality = quality

    def run(self, jobs: list[Job], report: Callable[[str], None] | None = None) -> Summary:
        """Process ``jobs``; ``report`` gets one line per failure ('<file>: <problem>')."""
        summary = Summary()
        for folder in sorted({job.target.parent for job in jobs}):
            remove_stale_temporaries(folder)  # left by a run that was killed while writing
        pending: list[Job] = []
        with tqdm(total=len(jobs), unit='image', disable=None, file=sys.stderr, dynamic_ncols=True) as bar:

            def fail(message: str) -> None:
                summary.failures.append(message)
                (report or _print_failure)(message)

            for job in jobs:
                if job.target.is_dir():
                    fail(f'{job.target}: a folder is where the output of {job.source} would go')
                    bar.update()
                    continue
                if job.target.exists() and not self.overwrite:
                    summary.skipped += 1
                    bar.update()
                    continue
                pending.append(job)
                if len(pending) == self.batch:
                    summary.done += self._process(pending, fail, bar)
                    pending = []
            if pending:
                summary.done += self._process(pending, fail, bar)
        return summary

    def _process(self, jobs: list[Job], fail: Callable[[str], None], bar: tqdm) -> int:
        loaded: list[tuple[Job, ImageData]] = []
        for job in jobs:
            try:
                loaded.append((job, read_image(job.source)))
            except AlkdsrError as e:
                fail(str(e))
                bar.update()
        if not loaded:
            return 0
        try:
            pixels = [image.pixels for _, image in loaded]
            results = upscale_images(self.model, pixels, backend=None, **self.upscale_options)
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as e:
            if not isinstance(e, (torch.OutOfMemoryError, MemoryError)) and 'memory' not in str(e):
                raise
            _free_cached_memory()
            for job, image in loaded:
                h, w = image.pixels.shape[:2]
                fail(f'{job.source}: out of memory upscaling {w}x{h} pixels; use a smaller --tile (or --batch 1)')
            bar.update(len(loaded))
            return 0
        done = 0
        for (job, image), pixels in zip(loaded, results):
            try:
                write_image(
                    job.target,
                    pixels,
                    format=format_of(job.target) or image.format,
                    quality=self.quality,
                    icc_profile=image.icc_profile,
                )
                done += 1
            except AlkdsrError as e:
                fail(str(e))
            bar.update()
        return done


def _print_failure(line: str) -> None:
    tqdm.write(line, file=sys.stderr)


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
