"""Reading and writing images of every kind ``alkdsr upscale`` accepts, safely.

Pixels travel as ``H x W x C`` numpy arrays of ``uint8`` or ``uint16`` with C = 1 (gray),
2 (gray + alpha), 3 (RGB) or 4 (RGBA), so bit depth and alpha survive a round trip.
Pillow decodes and validates every file (truncated data, non-images and decompression bombs
are refused with one line naming the file); 16-bit colour PNG/TIFF, which Pillow reduces to
8 bits, is decoded again by OpenCV at full depth. Writes are atomic: a failed or interrupted
write never leaves a partial file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from alkdsr.utils.errors import AlkdsrError
from alkdsr.utils.fileio import atomic_path

# suffix -> Pillow format name; the formats alkdsr reads and writes
FORMATS = {
    '.png': 'PNG',
    '.jpg': 'JPEG',
    '.jpeg': 'JPEG',
    '.webp': 'WEBP',
    '.bmp': 'BMP',
    '.tif': 'TIFF',
    '.tiff': 'TIFF',
}
SIXTEEN_BIT_FORMATS = ('PNG', 'TIFF')  # the others hold 8 bits per channel only
ALPHA_FORMATS = ('PNG', 'WEBP', 'BMP', 'TIFF')  # JPEG has no alpha channel
ICC_FORMATS = ('PNG', 'JPEG', 'WEBP', 'TIFF')

# Pillow modes read as they are (after 16-bit and palette handling below)
_CHANNELS = {'L': 1, 'LA': 2, 'RGB': 3, 'RGBA': 4}
_CONVERT = {'1': 'L', 'La': 'LA', 'PA': 'RGBA', 'RGBa': 'RGBA', 'RGBX': 'RGB', 'CMYK': 'RGB', 'YCbCr': 'RGB'}
_CONVERT.update({'LAB': 'RGB', 'HSV': 'RGB'})
_SIXTEEN_BIT_GRAY = ('I;16', 'I;16B', 'I;16L', 'I;16N')


class ImageReadError(AlkdsrError):
    """A file that cannot be read as an image; the message names the file and the problem."""


class ImageWriteError(AlkdsrError):
    """An image that cannot be written where or how it was asked."""


@dataclass
class ImageData:
    """Decoded pixels plus what is needed to write the result in the same kind of file."""

    pixels: np.ndarray  # H x W x C, uint8 or uint16
    format: str  # Pillow format name of the source file: 'PNG', 'JPEG', ...
    icc_profile: bytes | None = None

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    @property
    def is_gray(self) -> bool:
        return self.pixels.shape[2] in (1, 2)

    @property
    def mode(self) -> str:
        """'L', 'LA', 'RGB' or 'RGBA', with ';16' for 16-bit images."""
        mode = ('L', 'LA', 'RGB', 'RGBA')[self.pixels.shape[2] - 1]
        return mode + (';16' if self.bit_depth == 16 else '')


def format_of(path: str | os.PathLike) -> str | None:
    """The Pillow format name for a file name's suffix, or None if alkdsr does not handle it."""
    return FORMATS.get(Path(path).suffix.lower())


def read_image(path: str | os.PathLike) -> ImageData:
    """Decode an image file fully; raise ImageReadError (one line, naming the file) if it cannot be used.

    Images larger than Pillow's ``Image.MAX_IMAGE_PIXELS`` are refused before decoding.
    EXIF orientation is applied (except to 16-bit colour, decoded by OpenCV), so the pixels
    are upright as viewers show them.
    """
    path = Path(path)
    _check_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter('error', Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                fmt = im.format
                if fmt not in FORMATS.values():
                    raise ImageReadError(f'{path}: {fmt} images are not supported (use {_format_list()})')
                sixteen_bit_colour, rawmode = _is_sixteen_bit_colour(im), _rawmode(im)
                im.load()
                icc = im.info.get('icc_profile')
                if sixteen_bit_colour:
                    pixels = _decode_sixteen_bit_colour(path, rawmode, im.size)
                else:
                    pixels = _pixels_of(ImageOps.exif_transpose(im), path)
        except AlkdsrError:
            raise
        except PermissionError:
            raise ImageReadError(f'{path}: cannot read (permission denied)') from None
        except UnidentifiedImageError:
            raise ImageReadError(f'{path}: not an image file, or an image format Pillow cannot read') from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageReadError(f'{path}: refused, too many pixels to decode safely ({e})') from None
        except MemoryError:
            raise ImageReadError(f'{path}: not enough memory to decode this image') from None
        except Exception as e:  # any decoder failure on untrusted data is the file's problem)
            raise ImageReadError(f'{path}: truncated or corrupt image ({type(e).__name__}: {e})') from None
    return ImageData(pixels=pixels, format=fmt, icc_profile=icc)


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageReadError(f'{path}: no such file') from None
    except OSError as e:
        raise ImageReadError(f'{path}: cannot read ({e.strerror})') from None
    if not path.is_file():
        raise ImageReadError(f'{path}: not a regular file')
    if size == 0:
        raise ImageReadError(f'{path}: empty file (0 bytes), not an image')


def _format_list() -> str:
    return ', '.join(sorted(set(FORMATS.values())))


def _rawmode(im: Image.Image) -> str:
    if not im.tile:
        return ''
    args = im.tile[0].args
    return args if isinstance(args, str) else str(args[0]) if args else ''


def _is_sixteen_bit_colour(im: Image.Image) -> bool:
    """Pillow reads 16-bit RGB(A) and gray+alpha (as RGBA) with 8 bits; the raw mode tells the truth."""
    return im.format in SIXTEEN_BIT_FORMATS and im.mode in ('RGB', 'RGBA', 'LA') and ';16' in _rawmode(im)


def _decode_sixteen_bit_colour(path: Path, rawmode: str, size: tuple[int, int]) -> np.ndarray:
    """OpenCV's full-depth decoding; ``rawmode`` (Pillow's, e.g. 'LA;16B') says gray + alpha from RGBA."""
    data = np.fromfile(path, dtype=np.uint8)  # np.fromfile + imdecode: any file name works
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # libtiff's warnings are noise here
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if bgr is None or bgr.dtype != np.uint16 or bgr.shape[1::-1] != size or bgr.ndim != 3:
        raise ImageReadError(f'{path}: 16-bit {rawmode} image that OpenCV cannot decode at full depth')
    if bgr.shape[2] == 4:
        rgba = bgr[..., [2, 1, 0, 3]]
        return np.ascontiguousarray(rgba[..., [0, 3]] if rawmode.startswith('LA') else rgba)
    return np.ascontiguousarray(bgr[..., ::-1])


def _pixels_of(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode in _SIXTEEN_BIT_GRAY:
        return np.array(im).astype(np.uint16)[..., None]
    if mode == 'I':  # 16-bit gray that Pillow widened to 32-bit integers
        arr = np.array(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageReadError(f'{path}: 32-bit integer images are not supported')
        return arr.astype(np.uint16)[..., None]
    if mode == 'P':
        has_alpha = 'transparency' in im.info or im.palette.mode == 'RGBA'
        im, mode = im.convert('RGBA' if has_alpha else 'RGB'), 'RGBA' if has_alpha else 'RGB'
    elif mode in _CONVERT:
        im, mode = im.convert(_CONVERT[mode]), _CONVERT[mode]
    if mode not in _CHANNELS:
        kind = {'F': '32-bit float', 'I': '32-bit integer'}.get(mode, f'{mode} mode')
        raise ImageReadError(f'{path}: {kind} pixels are not supported (8/16-bit gray, gray+alpha, RGB, RGBA)')
    arr = np.array(im, dtype=np.uint8)
    return arr.reshape(arr.shape[0], arr.shape[1], _CHANNELS[mode])


def write_image(
    path: str | os.PathLike,
    pixels: np.ndarray,
    format: str | None = None,
    quality: int = 95,
    icc_profile: bytes | None = None,
) -> None:
    """Write ``pixels`` (H x W x C uint8/uint16) atomically in ``format`` (default: from the suffix).

    What the format cannot hold is converted, never refused: JPEG drops alpha, and JPEG, WebP
    and BMP keep 8 bits of a 16-bit image. 16-bit gray + alpha is written as 16-bit RGBA (no
    encoder writes 16-bit gray + alpha).
    """
    path = Path(path)
    format = format or format_of(path)
    if format not in FORMATS.values():
        raise ImageWriteError(f'{path}: cannot write {path.suffix or "files without a suffix"} (use {_format_list()})')
    pixels = _fit_format(pixels, format)
    try:
        with atomic_path(path) as tmp:
            if pixels.dtype == np.uint16 and pixels.shape[2] != 1:
                _write_with_opencv(tmp, pixels, format)
            else:
                _write_with_pillow(tmp, pixels, format, quality, icc_profile)
    except (OSError, ValueError) as e:
        raise ImageWriteError(f'{path}: cannot write ({getattr(e, "strerror", None) or e})') from None


def _fit_format(pixels: np.ndarray, format: str) -> np.ndarray:
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'expected H x W x C (C = 1..4) uint8/uint16 pixels, got {pixels.dtype} {pixels.shape}')
    if format not in ALPHA_FORMATS and pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]
    if format not in SIXTEEN_BIT_FORMATS and pixels.dtype == np.uint16:
        pixels = to_eight_bit(pixels)
    if pixels.dtype == np.uint16 and pixels.shape[2] == 2:
        gray, alpha = pixels[..., :1], pixels[..., 1:]
        pixels = np.concatenate([gray, gray, gray, alpha], axis=2)
    return pixels


def to_eight_bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit to 8-bit by rounding v * 255 / 65535 (= v / 257)."""
    return np.round(pixels.astype(np.float32) / 257.0).astype(np.uint8)


def _write_with_pillow(tmp: Path, pixels: np.ndarray, format: str, quality: int, icc_profile: bytes | None):
    if pixels.dtype == np.uint16:  # gray
        im = Image.fromarray(pixels[..., 0])  # uint16 -> 'I;16'
    else:
        im = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    options = {}
    if format in ('JPEG', 'WEBP'):
        options['quality'] = quality
    if icc_profile and format in ICC_FORMATS:
        options['icc_profile'] = icc_profile
    if format == 'TIFF':
        options['compression'] = 'tiff_lzw'
    im.save(tmp, format=format, **options)


def _write_with_opencv(tmp: Path, pixels: np.ndarray, format: str) -> None:
    order = [2, 1, 0, 3] if pixels.shape[2] == 4 else [2, 1, 0]
    ext = {'PNG': '.png', 'TIFF': '.tif'}[format]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(pixels[..., order]))
    if not ok:
        raise OSError(f'OpenCV could not encode a 16-bit {format}')
    buf.tofile(tmp)
