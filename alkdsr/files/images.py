"""Every image alkdsr reads or writes: one module, one list of formats, one error class.

Three readers for three needs, sharing the checks every input gets (the file exists, is not empty,
its header shows no decompression bomb, float samples or several frames), each raising :class:`ImageError`
with one line naming the file:

- :func:`read_image` (``alkdsr upscale``, ``compare``, ``export``): Pillow, every pixel layout kept;
- :func:`read_bgr` (the benchmark): uint8 BGR exactly as BasicSR reads images (``cv2.IMREAD_COLOR``);
- :func:`read_training_image` (``alkdsr prepare``): uint8 grey or BGR, the form BasicSR trains on.

:func:`list_images` lists the files of :data:`IMAGE_EXTENSIONS` in a folder; writes are atomic.

For :func:`read_image`, pixels travel as ``H x W x C`` numpy arrays of ``uint8`` or ``uint16`` with C = 1 (gray),
2 (gray + alpha), 3 (RGB) or 4 (RGBA), so bit depth and alpha survive a round trip.
Pillow decodes and validates every file (truncated data, non-images and decompression bombs
are refused with one line naming the file); 16-bit colour PNG/TIFF, which Pillow reduces to
8 bits, is decoded again by OpenCV at full depth. Writes are atomic: a failed or interrupted
write never leaves a partial file.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
import warnings
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from alkdsr.errors import AlkdsrError, ImageError
from alkdsr.files.fileio import atomic_path, atomic_write_bytes

# suffix -> Pillow format name; the formats alkdsr reads and writes
FORMATS = {
    '.png': 'PNG',
    '.jpg': 'JPEG',
    '.jpeg': 'JPEG',
    '.webp': 'WEBP',
    '.bmp': 'BMP',
    '.tif': 'TIFF',
    '.tiff': 'TIFF',
    '.ppm': 'PPM',
    '.pgm': 'PPM',
}
IMAGE_EXTENSIONS = tuple(FORMATS)  # the files a folder of images is read for (upscale, prepare, benchmark)
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # IHDR colour type -> channels once decoded
_EXIF_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
UNREADABLE = 'not a readable image (corrupt, truncated or not an image)'
SIXTEEN_BIT_FORMATS = ('PNG', 'TIFF')  # the others hold 8 bits per channel only
ALPHA_FORMATS = ('PNG', 'WEBP', 'BMP', 'TIFF')  # JPEG has no alpha channel
ICC_FORMATS = ('PNG', 'JPEG', 'WEBP', 'TIFF')
MULTI_FRAME_FORMATS = ('PNG', 'WEBP', 'TIFF', 'GIF')  # APNG, animated WebP, multi-page TIFF, animated GIF

# Pillow modes read as they are (after 16-bit and palette handling below)
_CHANNELS = {'L': 1, 'LA': 2, 'RGB': 3, 'RGBA': 4}
_CONVERT = {'1': 'L', 'La': 'LA', 'PA': 'RGBA', 'RGBa': 'RGBA', 'RGBX': 'RGB', 'CMYK': 'RGB', 'YCbCr': 'RGB'}
_CONVERT.update({'LAB': 'RGB', 'HSV': 'RGB'})
_SIXTEEN_BIT_GRAY = ('I;16', 'I;16B', 'I;16L', 'I;16N')


@dataclass
class ImageData:
    """Decoded pixels plus what is needed to write the result in the same kind of file."""

    pixels: np.ndarray  # H x W x C, uint8 or uint16
    format: str  # Pillow format name of the source file: 'PNG', 'JPEG', ...
    icc_profile: bytes | None = None

    @property
    def mode(self) -> str:
        """'L', 'LA', 'RGB' or 'RGBA', with ';16' for 16-bit images."""
        mode = ('L', 'LA', 'RGB', 'RGBA')[self.pixels.shape[2] - 1]
        return mode + (';16' if self.pixels.dtype == np.uint16 else '')


def format_of(path: str | os.PathLike) -> str | None:
    """The Pillow format name for a file name's suffix, or None if alkdsr does not handle it."""
    return FORMATS.get(Path(path).suffix.lower())


def read_image(path: str | os.PathLike) -> ImageData:
    """Decode an image file fully; raise ImageError (one line, naming the file) if it cannot be used.

    Images larger than Pillow's ``Image.MAX_IMAGE_PIXELS`` are refused before decoding, and so are
    files of several frames (:func:`frames_problem`). EXIF orientation is applied (except to 16-bit
    colour, decoded by OpenCV), so the pixels are upright as viewers show them.
    """
    path = Path(path)
    _check_file(path, header=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error', Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                fmt = im.format
                if fmt not in FORMATS.values():
                    raise ImageError(f'{path}: {fmt} images are not supported (use {_format_list()})')
                several = frames_problem(im)
                if several:
                    raise ImageError(f'{path}: {several}')
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
            raise ImageError(f'{path}: cannot read (permission denied)') from None
        except UnidentifiedImageError:
            raise ImageError(f'{path}: not an image file, or an image format Pillow cannot read') from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f'{path}: refused, too many pixels to decode safely ({e})') from None
        except MemoryError:
            raise ImageError(f'{path}: not enough memory to decode this image') from None
        except Exception as e:  # any decoder failure on untrusted data is the file's problem)
            raise ImageError(f'{path}: truncated or corrupt image ({type(e).__name__}: {e})') from None
    return ImageData(pixels=pixels, format=fmt, icc_profile=icc)


def _check_file(path: Path, header: bool = True, namesakes: bool = False, one_frame: bool = False) -> None:
    """The checks every reader makes first: a non-empty regular file whose ``header`` shows nothing unusable.

    :func:`read_image` leaves the header to Pillow, which reads it with the same limits. ``namesakes``
    (the benchmark's LR files): a missing file's namesakes in other formats are named. ``one_frame``
    (the readers of pixels): a file of several frames is refused (:func:`frames_problem`).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(f'{path}: no such file{_unreadable_namesakes(path) if namesakes else ""}') from None
    except OSError as e:
        raise ImageError(f'{path}: cannot read ({e.strerror})') from None
    if path.is_dir():
        raise ImageError(f'{path}: a folder, not an image file')
    if not path.is_file():
        raise ImageError(f'{path}: not a regular file')
    if size == 0:
        raise ImageError(f'{path}: empty file (0 bytes), not an image')
    # before any decoder: a decompression bomb is refused unread
    problem = header_problem(path, one_frame=one_frame) if header else None
    if problem:
        raise ImageError(f'{path}: {problem}')


def _unreadable_namesakes(path: Path) -> str:
    """' (found x.gif, ...)' when files of that name exist in formats the benchmark does not read."""
    if not path.parent.is_dir():
        return ''
    others = sorted(p.name for p in path.parent.glob(f'{glob_escape(path.stem)}.*') if p != path)
    return f' (found {", ".join(others)}: not a format the benchmark reads)' if others else ''


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
    with quiet_opencv(native=False):  # libtiff's warnings are noise here
        bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.dtype != np.uint16 or bgr.shape[1::-1] != size or bgr.ndim != 3:
        raise ImageError(f'{path}: 16-bit {rawmode} image that OpenCV cannot decode at full depth')
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
            raise ImageError(f'{path}: 32-bit integer images are not supported')
        return arr.astype(np.uint16)[..., None]
    if mode == 'P':
        has_alpha = 'transparency' in im.info or im.palette.mode == 'RGBA'
        im, mode = im.convert('RGBA' if has_alpha else 'RGB'), 'RGBA' if has_alpha else 'RGB'
    elif mode in _CONVERT:
        im, mode = im.convert(_CONVERT[mode]), _CONVERT[mode]
    if mode not in _CHANNELS:
        kind = {'F': '32-bit float', 'I': '32-bit integer'}.get(mode, f'{mode} mode')
        raise ImageError(f'{path}: {kind} pixels are not supported (8/16-bit gray, gray+alpha, RGB, RGBA)')
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
        raise ImageError(f'{path}: cannot write {path.suffix or "files without a suffix"} (use {_format_list()})')
    pixels = _fit_format(pixels, format)
    try:
        with atomic_path(path) as tmp:
            if pixels.dtype == np.uint16 and pixels.shape[2] != 1:
                _write_with_opencv(tmp, pixels, format)
            else:
                _write_with_pillow(tmp, pixels, format, quality, icc_profile)
    except ValueError as e:  # an encoder refusing the pixels (a failed write is atomic_path's OutputError)
        raise ImageError(f'{path}: cannot write ({e})') from None


def check_pixels(pixels: np.ndarray) -> None:
    """Pixels as :func:`read_image` returns them: a numpy array H x W x C (C = 1..4, H and W >= 1), uint8 or
    uint16; a ValueError otherwise, before the pixels reach a network or an encoder (whose own errors, from
    deep inside torch or Pillow, would not say what is wrong with them)."""
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f'expected H x W x C (C = 1..4) uint8/uint16 pixels, got a {type(pixels).__name__}')
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'expected H x W x C (C = 1..4) uint8/uint16 pixels, got {pixels.dtype} {pixels.shape}')
    if min(pixels.shape[:2]) < 1:
        raise ValueError(f'expected H x W x C pixels with H, W >= 1, got an empty image {pixels.shape}')


def _fit_format(pixels: np.ndarray, format: str) -> np.ndarray:
    check_pixels(pixels)
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


def header_problem(path: str | os.PathLike, one_frame: bool = False) -> str | None:
    """What makes an image unusable that its header already shows (too many pixels, float samples), or None.

    OpenCV would try to allocate a decompression bomb's pixels (up to 2**30) before finding the data
    missing; Pillow reads the size lazily and has the limit (``Image.MAX_IMAGE_PIXELS``) ``alkdsr
    upscale`` uses. Files Pillow cannot open are left to the decoder to judge. ``one_frame``: a file
    of several frames is unusable too (:func:`frames_problem`).
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                (width, height), mode = im.size, im.mode
                several = _frames_problem_or_none(im) if one_frame else None
    except Image.DecompressionBombError as e:
        return f'refused, too many pixels to decode safely ({e})'
    except Exception:  # not for the header check to judge
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        return f'refused, too many pixels to decode safely ({width}x{height} is more than {limit} pixels)'
    if mode == 'F':
        return '32-bit float samples are not supported (use 8- or 16-bit images)'
    return several


def frames_problem(im: Image.Image) -> str | None:
    """Why an open image file of several frames (APNG, animated WebP or GIF, multi-page TIFF) is refused; None for one.

    Every reader decodes one frame, the first: an animation or a page stack would be upscaled, scored or
    prepared for training as its first frame, silently. Pillow counts the frames (``n_frames``) from the
    headers. (Training datasets read their files as BasicSR does, first frame included: their header
    check, :func:`image_size`, leaves frames alone.)
    """
    frames = getattr(im, 'n_frames', 1) if im.format in MULTI_FRAME_FORMATS else 1
    if frames <= 1:
        return None
    if im.format == 'TIFF':
        return f'multi-page TIFF ({frames} pages) is not supported: save the page wanted as an image file of its own'
    return f'animated {im.format} ({frames} frames) is not supported: save the frame wanted as an image file of its own'


def _frames_problem_or_none(im: Image.Image) -> str | None:
    """:func:`frames_problem`, or None where the frames cannot be counted (the decoder judges such a file)."""
    try:
        return frames_problem(im)
    except Exception:  # a damaged frame index: not for the header check to judge
        return None


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (:data:`IMAGE_EXTENSIONS`, any case) directly in ``folder``, hidden ones skipped, sorted by name."""
    with os.scandir(folder) as entries:  # BasicSR's scandir(folder): files directly in it, hidden ones skipped
        names = [e.name for e in entries if e.is_file() and not e.name.startswith('.')]
    return sorted(Path(folder) / name for name in names if Path(name).suffix.lower() in IMAGE_EXTENSIONS)


def _decode_with_opencv(path: Path, flags: int, namesakes: bool = False) -> np.ndarray:
    """OpenCV's decoding of a checked file, its own messages silenced; any file name works (np.fromfile).

    OpenCV decodes the first frame of a file of several: such files are refused first (``one_frame``).
    """
    _check_file(path, namesakes=namesakes, one_frame=True)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageError(f'{path}: cannot read ({e.strerror or e})') from None
    with quiet_opencv():
        try:
            img = cv2.imdecode(data, flags(data) if callable(flags) else flags)
        except cv2.error:
            img = None
    if img is None or img.size == 0:
        raise ImageError(f'{path}: {UNREADABLE}')
    return img


def decode_bytes(content: bytes | None) -> np.ndarray | None:
    """uint8 BGR from encoded bytes, as BasicSR's ``imfrombytes`` decodes them; None if they are not an image."""
    if content is None:
        return None
    with quiet_opencv(), contextlib.suppress(cv2.error, ValueError, TypeError):
        return cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    return None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as OpenCV decodes it (EXIF-upright), from its header where possible."""
    path = Path(path)
    _check_file(path)
    try:
        with Image.open(path) as im:
            (width, height), fmt = im.size, im.format
            if fmt == 'JPEG' and im.getexif().get(0x0112) in _EXIF_TRANSPOSED:
                width, height = height, width
        return width, height
    except Exception:  # Pillow cannot read it: let OpenCV, which BasicSR reads with, decide
        img = _decode_with_opencv(path, cv2.IMREAD_COLOR)
    return img.shape[1], img.shape[0]


def read_bgr(path: str | os.PathLike) -> np.ndarray:
    """uint8 (H, W, 3) BGR, as BasicSR reads every image (``cv2.IMREAD_COLOR``)."""
    return _decode_with_opencv(Path(path), cv2.IMREAD_COLOR, namesakes=True)


def read_training_image(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Decode ``path`` to uint8 (H, W) grey or (H, W, 3) BGR; returns the image and notes on what was changed.

    BasicSR reads training images with ``cv2.IMREAD_COLOR``: 8-bit BGR, alpha dropped, grey expanded to
    three equal channels. Inputs are brought to that form here, except that grey images stay single-channel
    (as the grey images of the benchmark sets do, e.g. Set14's bridge); BasicSR reads them back as three
    equal channels, so the pixels it trains on are the same either way. Alpha is dropped (not composited);
    16-bit samples are rounded to 8 bits; JPEGs are turned upright by their EXIF orientation, as
    ``cv2.IMREAD_COLOR`` turns them.
    """
    path = Path(path)
    img = _decode_with_opencv(path, _training_flags)
    with open(path, 'rb') as f:
        header = png_header(f.read(26))
    return _to_uint8_layout(img, path, gray_alpha=header is not None and header[2] == 2)


def _training_flags(data: np.ndarray) -> int:
    """IMREAD_UNCHANGED keeps grey, alpha and 16 bits visible; for JPEGs (no alpha) the EXIF rotation matters more."""
    jpeg = data[:3].tobytes() == b'\xff\xd8\xff'  # by content: a JPEG named .png is still turned upright
    return cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if jpeg else cv2.IMREAD_UNCHANGED


def _to_uint8_layout(img: np.ndarray, path: Path, gray_alpha: bool = False) -> tuple[np.ndarray, list[str]]:
    """``gray_alpha``: the file is grey + alpha, which OpenCV decodes as BGRA (it stays grey here)."""
    notes = []
    if img.dtype == np.uint16:
        img = to_eight_bit(img)
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


def png_header(data: bytes) -> tuple[int, int, int] | None:
    """(height, width, channels once decoded) of PNG bytes (their first 26 at least), read from the IHDR chunk
    without decoding; None for other images, a damaged header or a colour type PNG does not define."""
    if len(data) < 26 or data[:8] != PNG_SIGNATURE or data[12:16] != b'IHDR' or data[25] not in _PNG_CHANNELS:
        return None
    width, height = struct.unpack('>II', data[16:24])
    return height, width, _PNG_CHANNELS[data[25]]


def decode_png(data: bytes) -> np.ndarray | None:
    """The pixels of PNG bytes as stored (grey or BGR, what :func:`encode_png` wrote); None if they do not decode."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
