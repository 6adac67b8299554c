"""Reading HR images into the uint8 layout BasicSR trains on, and writing PNGs atomically.

BasicSR reads training images with ``cv2.IMREAD_COLOR``: 8-bit BGR, alpha dropped, grey expanded to three
equal channels. Inputs are brought to that form here, except that grey images stay single-channel (as
the grey images of the benchmark sets do, e.g. Set14's bridge); BasicSR reads them back as three equal
channels, so the pixels it trains on are the same either way.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np

from alkdsr.utils.errors import AlkdsrError
from alkdsr.utils.fileio import atomic_write_bytes

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # IHDR colour type -> channels once decoded


class ImageError(AlkdsrError):
    """An input image that cannot be used; the message names the file."""


@contextlib.contextmanager
def quiet_opencv(native: bool = True):
    """Silence the decoders' own messages: our one-line report replaces them.

    OpenCV's warnings ('PNG input buffer is incomplete') go through its log level; libpng prints its
    errors ('libpng error: IDAT: invalid code lengths set') straight to file descriptor 2, which is
    pointed at /dev/null meanwhile unless ``native`` is False (that silences every thread).
    """
    logging = getattr(getattr(cv2, 'utils', None), 'logging', None)
    level = logging.getLogLevel() if logging is not None else None
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        with _native_stderr_silenced() if native else contextlib.nullcontext():
            yield
    finally:
        if logging is not None:
            logging.setLogLevel(level)


_stderr_lock = threading.Lock()
_stderr_users = 0
_saved_stderr: int | None = None


@contextlib.contextmanager
def _native_stderr_silenced():
    """File descriptor 2 to /dev/null while any thread is inside (the first in redirects, the last out restores)."""
    global _stderr_users, _saved_stderr
    with _stderr_lock:
        if _stderr_users == 0:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            _saved_stderr = _point_stderr_at_devnull()
        _stderr_users += 1
    try:
        yield
    finally:
        with _stderr_lock:
            _stderr_users -= 1
            if _stderr_users == 0 and _saved_stderr is not None:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)
                _saved_stderr = None


def _point_stderr_at_devnull() -> int | None:
    """Point file descriptor 2 at /dev/null; returns a duplicate of the old one, or None if that failed."""
    try:
        saved = os.dup(2)
    except OSError:
        return None
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        os.close(saved)
        return None
    os.dup2(devnull, 2)
    os.close(devnull)
    return saved


def header_problem(path: str | os.PathLike) -> str | None:
    """What makes an image unusable that its header already shows (too many pixels, float samples), or None.

    OpenCV would try to allocate a decompression bomb's pixels (up to 2**30) before finding the data
    missing; Pillow reads the size lazily and has the limit (``Image.MAX_IMAGE_PIXELS``) ``alkdsr
    upscale`` uses. Files Pillow cannot open are left to the decoder to judge.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                (width, height), mode = im.size, im.mode
    except Image.DecompressionBombError as e:
        return f'refused, too many pixels to decode safely ({e})'
    except Exception:  # not for the header check to judge
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        return f'refused, too many pixels to decode safely ({width}x{height} is more than {limit} pixels)'
    if mode == 'F':
        return '32-bit float samples are not supported (use 8- or 16-bit images)'
    return None


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (not recursive, hidden files skipped), sorted by name."""
    folder = Path(folder)
    images = (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith('.'))
    return sorted(p for p in images if p.is_file())


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Decode ``path`` to uint8 (H, W) grey or (H, W, 3) BGR; returns the image and notes on what was changed.

    Alpha is dropped (not composited), as ``cv2.IMREAD_COLOR`` does; 16-bit samples are rounded to 8 bits;
    JPEGs are turned upright by their EXIF orientation, as ``cv2.IMREAD_COLOR`` turns them.
    Raises ``ImageError`` naming the file for anything unreadable or unsupported.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageError(f'{path}: cannot read ({e.strerror or e})') from None
    if data.size == 0:
        raise ImageError(f'{path}: empty file')
    problem = header_problem(path)
    if problem:
        raise ImageError(f'{path}: {problem}')
    # IMREAD_UNCHANGED keeps grey, alpha and 16 bits visible; for JPEGs (no alpha) the EXIF rotation matters more.
    jpeg = data[:3].tobytes() == b'\xff\xd8\xff'  # by content: a JPEG named .png is still turned upright
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if jpeg else cv2.IMREAD_UNCHANGED
    with quiet_opencv():
        try:
            img = cv2.imdecode(data, flags)
        except cv2.error:
            img = None
    if img is None or img.size == 0:
        raise ImageError(f'{path}: not a readable image (corrupt, truncated or an unsupported format)')
    gray_alpha = data[:8].tobytes() == PNG_SIGNATURE and data.size > 25 and data[25] == 4  # IHDR colour type 4
    return _to_uint8_layout(img, path, gray_alpha)


def _to_uint8_layout(img: np.ndarray, path: Path, gray_alpha: bool = False) -> tuple[np.ndarray, list[str]]:
    """``gray_alpha``: the file is grey + alpha, which OpenCV decodes as BGRA (it stays grey here)."""
    notes = []
    if img.dtype == np.uint16:
        img = np.round(img / 257.0).astype(np.uint8)
        notes.append('16-bit samples rounded to 8 bits')
    elif img.dtype != np.uint8:
        kind = f'{img.dtype.itemsize * 8}-bit {"float" if img.dtype.kind == "f" else "integer"}'
        raise ImageError(f'{path}: {kind} samples are not supported (use 8- or 16-bit images)')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, 0] if gray_alpha else img[:, :, :3]
        notes.append('alpha channel dropped')
    elif img.ndim == 3 and img.shape[2] == 2:  # grey + alpha, as some decoders return it
        img = img[:, :, 0]
        notes.append('alpha channel dropped')
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ImageError(f'{path}: unsupported channel layout {img.shape}')
    return np.ascontiguousarray(img), notes


def encode_png(img: np.ndarray, compression: int = 3) -> bytes:
    """PNG bytes of a uint8 image (grey or BGR)."""
    ok, buf = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError(f'cv2 could not encode an image of shape {img.shape} as PNG')
    return buf.tobytes()


def write_png(path: str | os.PathLike, img: np.ndarray, compression: int = 3) -> None:
    """Write ``img`` as a PNG atomically (a killed process leaves no half-written file)."""
    atomic_write_bytes(path, encode_png(img, compression), durable=False)  # prepare syncs once at the end


def png_shape(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) of PNG bytes, read from the IHDR chunk without decoding."""
    if len(data) < 26 or data[:8] != PNG_SIGNATURE or data[12:16] != b'IHDR':
        raise ValueError('not a PNG')
    width, height = struct.unpack('>II', data[16:24])
    return height, width, _PNG_CHANNELS[data[25]]
