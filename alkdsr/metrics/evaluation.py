"""PSNR/SSIM on the SR benchmark sets, computed exactly as BasicSR's ``SRModel`` validation does.

The path from files to numbers is BasicSR's: images read with ``cv2.IMREAD_COLOR`` (grey images
such as Set14's bridge become three equal BGR channels), the LR image fed as RGB float32 in
[0, 1], the output turned to uint8 as BasicSR's ``tensor2img`` does (clamp, round), the HR image
cropped to s times the LR size, and PSNR / SSIM on the Y channel with ``crop_border = s``
(``alkdsr.metrics.psnr_ssim``: BasicSR's ``calculate_psnr`` / ``calculate_ssim``, to the bit).
Sets come in the EDSR layout (``SET/HR`` plus ``SET/LR_bicubic/X{s}``) or
as HR images only, in which case the LR images are made with MATLAB's bicubic ``imresize``
(``alkdsr.data.matlab_resize``, pixel-identical to the shipped LR files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alkdsr.data.matlab_resize import bicubic_downsample
from alkdsr.errors import AlkdsrError, ImageError
from alkdsr.files.images import IMAGE_EXTENSIONS, list_images, read_bgr, write_png
from alkdsr.inference.tiling import upscale_tensor
from alkdsr.metrics.psnr_ssim import SSIM_WINDOW, y_psnr_ssim

HR_FOLDER = 'HR'
LR_FOLDER = 'LR_bicubic'


MODE_LR_FILES = 'lr_files'
MODE_BICUBIC = 'bicubic_from_hr'


@dataclass(frozen=True)
class BenchmarkImage:
    name: str
    hr_path: Path
    lr_path: Path | None  # None: the LR image is made from the HR one


@dataclass
class BenchmarkSet:
    name: str
    scale: int
    images: list[BenchmarkImage]

    @property
    def mode(self) -> str:
        return MODE_BICUBIC if self.images and self.images[0].lr_path is None else MODE_LR_FILES


@dataclass
class SetResult:
    name: str
    scale: int
    mode: str
    per_image: dict[str, tuple[float, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.per_image)

    @property
    def psnr(self) -> float:
        return float(np.mean([p for p, _ in self.per_image.values()])) if self.per_image else float('nan')

    @property
    def ssim(self) -> float:
        return float(np.mean([s for _, s in self.per_image.values()])) if self.per_image else float('nan')


# ---------------------------------------------------------------- finding the images


def set_folder(data_root: str | os.PathLike, name: str | None = None) -> Path:
    """``data_root/name`` (``data_root`` itself without ``name``), or a one-line error naming what is missing
    and the sets that are there."""
    root = Path(data_root)
    if not root.is_dir():
        raise AlkdsrError(f'{root}: no such data root folder')
    if name is None:
        return root
    set_dir = root / name
    if not set_dir.is_dir():
        raise AlkdsrError(f'{set_dir}: no such benchmark set folder (found: {", ".join(set_folders(root)) or "none"})')
    return set_dir


def set_folders(data_root: str | os.PathLike) -> list[str]:
    """The names of the folders in ``data_root``, sorted."""
    return sorted(p.name for p in Path(data_root).iterdir() if p.is_dir())


def find_set(data_root: str | os.PathLike, name: str, scale: int, make_lr: bool = False) -> BenchmarkSet:
    """The images of ``data_root/name`` at ``scale``: EDSR layout, or HR only (LR made on the fly).

    HR images are ``name/HR/*`` (or ``name/*`` when there is no ``HR`` folder). With a
    ``name/LR_bicubic/X{s}`` folder (and not ``make_lr``) each HR image ``<stem>.<ext>`` is
    paired with ``<stem>x{s}.<ext>`` there; otherwise LR images are made from the HR ones.
    """
    set_dir = set_folder(data_root, name)
    hr_dir = set_dir / HR_FOLDER if (set_dir / HR_FOLDER).is_dir() else set_dir
    hr_paths = list_images(hr_dir)
    if not hr_paths:
        raise AlkdsrError(f'{hr_dir}: no images ({", ".join(IMAGE_EXTENSIONS)})')
    lr_dir = set_dir / LR_FOLDER / f'X{scale}'
    use_files = lr_dir.is_dir() and not make_lr
    images = [BenchmarkImage(p.stem, p, _lr_path(lr_dir, p, scale) if use_files else None) for p in hr_paths]
    return BenchmarkSet(name, scale, images)


def _lr_path(lr_dir: Path, hr_path: Path, scale: int) -> Path:
    """``<stem>x{s}`` with the HR image's extension or any other, either case; else the expected .png path."""
    extensions = (hr_path.suffix, *IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS))
    for stem in (f'{hr_path.stem}x{scale}', hr_path.stem):
        for ext in dict.fromkeys(extensions):
            candidate = lr_dir / f'{stem}{ext}'
            if candidate.is_file():
                return candidate
    return lr_dir / f'{hr_path.stem}x{scale}.png'


# ---------------------------------------------------------------- reading and pairing


def load_pair(image: BenchmarkImage, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) uint8 BGR, the HR cropped to exactly ``scale`` times the LR size."""
    hr = read_bgr(image.hr_path)
    if image.lr_path is None:
        if min(hr.shape[:2]) < scale:
            raise ImageError(f'{image.hr_path}: {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {scale}')
        lr = bicubic_downsample(hr, scale)
    else:
        lr = read_bgr(image.lr_path)
    lh, lw = lr.shape[:2]
    hh, hw = hr.shape[:2]
    if not (0 <= hh - lh * scale < scale and 0 <= hw - lw * scale < scale):
        raise ImageError(
            f'{image.hr_path}: HR/LR size mismatch, HR is {hw}x{hh} but LR {image.lr_path} is {lw}x{lh} '
            f'(x{scale} needs HR {lw * scale}x{lh * scale}, or up to {scale - 1} pixels more)'
        )
    _check_scorable(image.hr_path, lw * scale, lh * scale, scale)
    return lr, hr[: lh * scale, : lw * scale]


def min_scorable_size(scale: int) -> int:
    """The least HR side the metrics accept: SSIM's 11 x 11 window inside the image less its ``scale``-pixel border."""
    return SSIM_WINDOW + 2 * scale


def _check_scorable(hr_path: Path, width: int, height: int, scale: int) -> None:
    least = min_scorable_size(scale)
    if min(width, height) < least:
        raise ImageError(
            f'{hr_path}: {width}x{height} (HR as compared) is too small to score at x{scale}: SSIM needs '
            f'{SSIM_WINDOW}x{SSIM_WINDOW} pixels inside the {scale}-pixel border, so at least {least}x{least}'
        )


# ---------------------------------------------------------------- metrics


def super_resolve(
    net: nn.Module,
    lr: np.ndarray,
    device: torch.device | str = 'cpu',
    tile: int | None = None,
    tile_pad: int = 32,
    dtype: torch.dtype | None = None,
    tile_mode: str = 'seamless',
) -> np.ndarray:
    """SR image of a uint8 BGR LR image, uint8 BGR, made as BasicSR's ``SRModel`` makes it.

    Tiles (``tile``) are 'seamless' by default: the whole image's CCA statistics and ESA grid.
    """
    rgb = np.ascontiguousarray(lr[..., ::-1].transpose(2, 0, 1))  # BasicSR's img2tensor(bgr2rgb=True)
    lq = (torch.from_numpy(rgb).float() / 255.0).unsqueeze(0).to(device)
    out = upscale_tensor(net, lq, tile=tile, tile_pad=tile_pad, dtype=dtype, tile_mode=tile_mode)
    sr_rgb = out[0].float().cpu().clamp(0, 1).numpy().transpose(1, 2, 0)  # BasicSR's tensor2img: clamp,
    return (sr_rgb[..., ::-1] * 255.0).round().astype(np.uint8)  # RGB -> BGR, round to uint8


def evaluate_set(
    net: nn.Module,
    bench: BenchmarkSet,
    device: torch.device | str = 'cpu',
    tile: int | None = None,
    tile_pad: int = 32,
    dtype: torch.dtype | None = None,
    tile_mode: str = 'seamless',
    save_dir: Path | None = None,
    on_image: Callable[[str], None] | None = None,
) -> SetResult:
    """Evaluate every image of ``bench``; unusable images are recorded as failures, the rest go on.

    ``save_dir`` receives ``<set>/x<s>/<name>.png``; ``on_image`` is called after each image.
    """
    result = SetResult(bench.name, bench.scale, bench.mode)
    for image in bench.images:
        try:
            lr, hr = load_pair(image, bench.scale)
        except ImageError as e:
            result.failures.append(str(e))
        else:
            sr = super_resolve(net, lr, device, tile=tile, tile_pad=tile_pad, dtype=dtype, tile_mode=tile_mode)
            result.per_image[image.name] = y_psnr_ssim(sr, hr, bench.scale)
            if save_dir is not None:
                try:
                    write_png(saved_image_path(Path(save_dir), bench, image), sr)
                except AlkdsrError as e:  # the score stands; the file is one failure line, the run goes on
                    result.failures.append(str(e))
        if on_image is not None:
            on_image(image.name)
    return result


def saved_image_path(save_dir: Path, bench: BenchmarkSet, image: BenchmarkImage) -> Path:
    return save_dir / bench.name / f'x{bench.scale}' / f'{image.name}.png'


def total_images(sets: Iterable[BenchmarkSet]) -> int:
    return sum(len(s.images) for s in sets)
