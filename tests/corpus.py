"""A corpus of awkward and broken inputs, generated on the fly (no binaries in the repository).

Each :class:`Case` is one file (or folder) an image folder may hold, with the outcome every command
must give for it: ``OK`` (processed, the output checked by the test), ``IGNORED`` (not an image the
command looks at: no output, no error) or the text its one-line error must contain. The
pair and LMDB cases (sizes that do not match the scale, a value that is not an image) are built by
:func:`mismatched_pair` and :func:`lmdb_with_a_non_image`.

Images are small (about 24 x 20) so the whole corpus runs through a tiny network in seconds.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OK = 'ok'
IGNORED = 'ignored'
W, H = 24, 20  # the usual corpus image: 24 wide, 20 high
# 'train': the file as the HR image of a training set (PairedImageDataset, x4) beside an LR partner of the right size
COMMANDS = ('upscale', 'prepare', 'bench_hr', 'bench_lr', 'bench_hr_only', 'train')


def smooth(h: int, w: int, channels: int, peak: int = 255, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """A smooth random image, what a photo looks like to the network."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, h // 4), max(2, w // 4), channels)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, channels)
    return np.round(big * peak).astype(dtype)


def _pil_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def png_by_hand(pixels: np.ndarray, bit_depth: int = 16) -> bytes:
    """A PNG written byte by byte (16-bit gray + alpha, which no library here writes)."""
    h, w, c = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    sample = '>u2' if bit_depth == 16 else 'u1'
    rows = b''.join(b'\0' + row.astype(sample).tobytes() for row in pixels)
    ihdr = struct.pack('>IIBBBBB', w, h, bit_depth, colour_type, 0, 0, 0)
    chunks = png_chunk(b'IHDR', ihdr) + png_chunk(b'IDAT', zlib.compress(rows)) + png_chunk(b'IEND', b'')
    return b'\x89PNG\r\n\x1a\n' + chunks


def png_claiming(width: int, height: int) -> bytes:
    """A decompression bomb's header: a PNG claiming ``width`` x ``height`` RGB pixels with almost no data."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    idat = png_chunk(b'IDAT', zlib.compress(b'\0' * 64))
    return b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + idat + png_chunk(b'IEND', b'')


def rgb_png(h: int = H, w: int = W, seed: int = 0) -> bytes:
    return _pil_bytes(Image.fromarray(smooth(h, w, 3, seed=seed)), 'PNG')


def rgb_jpeg(h: int = H, w: int = W, seed: int = 0, **options) -> bytes:
    return _pil_bytes(Image.fromarray(smooth(h, w, 3, seed=seed)), 'JPEG', quality=95, **options)


def _bad_crc_png() -> bytes:
    data = bytearray(rgb_png(seed=3))
    idat = data.index(b'IDAT')
    data[idat + 8] ^= 0xFF  # a flipped byte inside the compressed data: the chunk CRC no longer matches
    return bytes(data)


def _cmyk_jpeg() -> bytes:
    return _pil_bytes(Image.fromarray(smooth(H, W, 3, seed=4)).convert('CMYK'), 'JPEG', quality=95)


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: upright it is 20 wide, 24 high
    return rgb_jpeg(seed=5, exif=exif.tobytes())


def _palette_png(transparency: bool) -> bytes:
    image = Image.fromarray(smooth(H, W, 3, seed=6)).quantize(16)
    if transparency:
        return _pil_bytes(image, 'PNG', transparency=0)
    return _pil_bytes(image, 'PNG')


def _gif() -> bytes:
    frames = [Image.fromarray(smooth(H, W, 3, seed=s)).quantize(16) for s in (7, 8)]
    buf = io.BytesIO()
    frames[0].save(buf, format='GIF', save_all=True, append_images=frames[1:])
    return buf.getvalue()


def _tiff(pixels: np.ndarray, mode: str | None = None) -> bytes:
    return _pil_bytes(Image.fromarray(pixels, mode) if mode else Image.fromarray(pixels), 'TIFF')


def _cv2_bytes(ext: str, pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, pixels)
    assert ok
    return buf.tobytes()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


@dataclass(frozen=True)
class Case:
    """One entry of an image folder and what each command must make of it.

    ``size`` is the upright (width, height) the image has once decoded; ``upscale_mode`` the mode
    ``alkdsr upscale`` writes (e.g. 'LA', 'RGB;16'); ``prepare_channels`` the channels of the PNG
    ``alkdsr prepare`` writes (1 grey, 3 colour). ``expect`` maps each of :data:`COMMANDS` to
    OK, IGNORED or the text of the expected error.
    """

    name: str
    make: Callable[[], bytes] | None  # None: a folder
    what: str
    expect: dict[str, str]
    size: tuple[int, int] = (W, H)
    upscale_mode: str = 'RGB'
    prepare_channels: int = 3
    notes: tuple[str, ...] = field(default_factory=tuple)  # notes prepare prints for it

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def write(self, folder: Path, name: str | None = None) -> Path:
        path = folder / (name or self.name)
        if self.make is None:
            path.mkdir(parents=True)
        else:
            path.write_bytes(self.make())
        return path


def _all(outcome: str, **overrides) -> dict[str, str]:
    return {**dict.fromkeys(COMMANDS, outcome), **overrides}


NOT_DECODABLE_BENCH = 'not a readable image'
TOO_SMALL_TO_SCORE = 'too small to score'

CASES: tuple[Case, ...] = (
    Case(
        'zero_bytes.png',
        lambda: b'',
        'a file of zero bytes',
        {
            'upscale': 'empty file (0 bytes)',
            'prepare': 'empty file',
            'bench_hr': 'empty file',
            'bench_lr': 'empty file',
            'bench_hr_only': 'empty file',
            'train': 'empty file (0 bytes)',
        },
    ),
    Case(
        'truncated_png.png',
        lambda: _half(rgb_png(seed=1)),
        'the first half of a PNG',
        _all(NOT_DECODABLE_BENCH, upscale='truncated or corrupt image', prepare='not a readable image'),
    ),
    Case(
        'truncated_jpeg.jpg',
        lambda: _half(rgb_jpeg(seed=2)),
        'the first half of a JPEG',
        _all(NOT_DECODABLE_BENCH, upscale='truncated or corrupt image', prepare='not a readable image'),
    ),
    Case(
        'bad_crc.png',
        _bad_crc_png,
        'a PNG with one byte of its image data flipped',
        _all(NOT_DECODABLE_BENCH, upscale='truncated or corrupt image', prepare='not a readable image'),
    ),
    Case(
        'text_named.png',
        lambda: b'This is a text file with an image suffix.\n' * 4,
        'a text file named .png',
        _all(NOT_DECODABLE_BENCH, upscale='not an image file', prepare='not a readable image'),
    ),
    Case(
        'bomb.png',
        lambda: png_claiming(100_000, 100_000),
        'a PNG header claiming 100000 x 100000 pixels',
        _all('too many pixels'),
    ),
    Case(
        'one_pixel.png',
        lambda: rgb_png(1, 1),
        '1 x 1 pixels',
        {
            'upscale': OK,
            'prepare': 'too small for x2',
            'bench_hr': 'HR/LR size mismatch',  # no LR image is 1/2 of 1 x 1: its partner is 8 x 8
            'bench_lr': TOO_SMALL_TO_SCORE,
            'bench_hr_only': 'smaller than the scale',
            'train': 'sizes do not match x4',
        },
        size=(1, 1),
    ),
    Case(
        'three_pixels.png',
        lambda: rgb_png(3, 3),
        '3 x 3 pixels',
        {
            'upscale': OK,
            'prepare': OK,
            'bench_hr': TOO_SMALL_TO_SCORE,
            'bench_lr': TOO_SMALL_TO_SCORE,
            'bench_hr_only': TOO_SMALL_TO_SCORE,
            'train': 'sizes do not match x4',
        },
        size=(3, 3),
    ),
    Case(
        'below_tile.png',
        lambda: rgb_png(10, 12),
        'smaller than one tile',
        _all(OK, bench_hr=TOO_SMALL_TO_SCORE, bench_hr_only=TOO_SMALL_TO_SCORE, train='sizes do not match x4'),
        size=(12, 10),
    ),
    Case('above_tile.png', lambda: rgb_png(36, 40), 'larger than one tile (tiled)', _all(OK), size=(40, 36)),
    Case('plain.bmp', lambda: _cv2_bytes('.bmp', smooth(H, W, 3, seed=9)), 'a BMP', _all(OK)),
    Case('UPPER.PNG', lambda: rgb_png(seed=10), 'an upper-case suffix', _all(OK)),
    Case('with spaces.png', lambda: rgb_png(seed=11), 'spaces in the name', _all(OK)),
    Case('ünïcødé_画像.png', lambda: rgb_png(seed=12), 'a non-ASCII name', _all(OK)),
    Case('jpeg_named.png', lambda: rgb_jpeg(seed=13), 'JPEG data behind a .png suffix', _all(OK)),
    Case(
        'gray.png',
        lambda: _pil_bytes(Image.fromarray(smooth(H, W, 1, seed=14)[..., 0]), 'PNG'),
        '8-bit grayscale',
        _all(OK),
        upscale_mode='L',
        prepare_channels=1,
    ),
    Case(
        'gray_alpha.png',
        lambda: _pil_bytes(Image.fromarray(smooth(H, W, 2, seed=15), 'LA'), 'PNG'),
        '8-bit grayscale + alpha',
        _all(OK),
        upscale_mode='LA',
        prepare_channels=1,
        notes=('alpha channel dropped',),
    ),
    Case(
        'rgba.png',
        lambda: _pil_bytes(Image.fromarray(smooth(H, W, 4, seed=16)), 'PNG'),
        'RGBA',
        _all(OK),
        upscale_mode='RGBA',
        notes=('alpha channel dropped',),
    ),
    Case('palette.png', lambda: _palette_png(False), 'a palette PNG', _all(OK)),
    Case(
        'palette_trns.png',
        lambda: _palette_png(True),
        'a palette PNG with a transparent colour',
        _all(OK),
        upscale_mode='RGBA',
    ),
    Case('cmyk.jpg', _cmyk_jpeg, 'a CMYK JPEG', _all(OK)),
    Case('exif_rotated.jpg', _exif_rotated_jpeg, 'a JPEG with EXIF orientation 6', _all(OK), size=(H, W)),
    Case(
        'rgb16.png',
        lambda: _cv2_bytes('.png', smooth(H, W, 3, 65535, np.uint16, seed=17)),
        '16-bit RGB',
        _all(OK),
        upscale_mode='RGB;16',
        notes=('16-bit samples rounded to 8 bits',),
    ),
    Case(
        'gray16.png',
        lambda: _cv2_bytes('.png', smooth(H, W, 1, 65535, np.uint16, seed=18)[..., 0]),
        '16-bit grayscale',
        _all(OK),
        upscale_mode='L;16',
        prepare_channels=1,
        notes=('16-bit samples rounded to 8 bits',),
    ),
    Case(
        'gray_alpha16.png',
        lambda: png_by_hand(smooth(H, W, 2, 65535, np.uint16, seed=19)),
        '16-bit grayscale + alpha',
        _all(OK),
        upscale_mode='RGBA;16',  # no encoder writes 16-bit gray + alpha
        prepare_channels=1,
        notes=('16-bit samples rounded to 8 bits', 'alpha channel dropped'),
    ),
    Case(
        'rgba16.tif',
        lambda: _cv2_bytes('.tif', smooth(H, W, 4, 65535, np.uint16, seed=20)),
        '16-bit RGBA TIFF',
        _all(OK),
        upscale_mode='RGBA;16',
        notes=('16-bit samples rounded to 8 bits', 'alpha channel dropped'),
    ),
    Case(
        'float32.tif',
        lambda: _tiff(smooth(H, W, 1, seed=21)[..., 0].astype(np.float32) / 255.0, 'F'),
        '32-bit float TIFF',
        _all('32-bit float'),
    ),
    Case(
        'animated.gif',
        _gif,
        'an animated GIF (no command reads GIFs)',
        _all(IGNORED, bench_lr='not a format the benchmark reads', train=OK),  # BasicSR reads any file: frame 1
    ),
    Case('folder.png', None, 'a folder named like an image', _all(IGNORED, bench_lr='a folder, not an image file')),
)

# pairs and LMDBs, built by the tests (see mismatched_pair, lmdb_with_a_non_image): cases of the corpus too
PAIR_CASES = ('HR/LR sizes that do not match the scale', 'an HR image with no LR partner', 'a non-image LMDB value')


def corpus_size() -> int:
    return len(CASES) + len(PAIR_CASES)


def write_corpus(folder: Path) -> dict[str, Path]:
    """Every case in ``folder``; returns the path of each by case name."""
    folder.mkdir(parents=True, exist_ok=True)
    return {case.name: case.write(folder) for case in CASES}


def decodable_bgr(path: Path) -> np.ndarray | None:
    """The image as BasicSR reads it (cv2.IMREAD_COLOR), or None."""
    from alkdsr.files.images import quiet_opencv  # libpng's own messages would clutter the test output

    data = np.fromfile(path, np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    with quiet_opencv():
        try:
            return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        except cv2.error:  # e.g. more pixels than OpenCV accepts
            return None


def lmdb_with_a_non_image(folder: Path, good: dict[str, tuple[bytes, bytes]], bad_key: str, scale: int):
    """HR and LR LMDBs in BasicSR's layout where the HR value of ``bad_key`` is text, not an image.

    ``good`` maps keys to (HR png bytes, LR png bytes). Returns (hr_lmdb, lr_lmdb).
    """
    import lmdb

    entries = dict(good)
    hr_lmdb, lr_lmdb = folder / 'HR.lmdb', folder / f'X{scale}.lmdb'
    for index, path in enumerate((hr_lmdb, lr_lmdb)):
        env = lmdb.open(str(path), map_size=1 << 24)
        lines = []
        with env.begin(write=True) as txn:
            for key in sorted(entries):
                value = entries[key][index]
                if key == bad_key and index == 0:
                    value = b'{"note": "JSON where a PNG should be"}'
                    shape = (64, 64, 3)
                else:
                    img = cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)
                    shape = (*img.shape[:2], 3)
                txn.put(key.encode(), value)
                lines.append(f'{key}.png ({shape[0]},{shape[1]},{shape[2]}) 1\n')
        env.close()
        (path / 'meta_info.txt').write_text(''.join(lines))
    return hr_lmdb, lr_lmdb


def mismatched_pair(hr_dir: Path, lr_dir: Path, name: str, scale: int, lr_size=(9, 7)) -> None:
    """An HR image of 24 x 20 whose LR partner is ``lr_size`` (not HR / scale)."""
    (hr_dir / f'{name}.png').write_bytes(rgb_png(seed=30))
    w, h = lr_size
    (lr_dir / f'{name}x{scale}.png').write_bytes(rgb_png(h, w, seed=31))


# ---------------------------------------------------------------- round two: whole classes of mistakes
#
# Each entry is one case of a class of docs/robustness.md's "Mistakes, by class" table, with the text its one
# line must contain. ``listed``: a reproduction of a reported case (False: a new case of the same class).
# The modules of tests/reliability run them, a module per kind (test_outputs.py, test_option_mistakes.py,
# test_checkpoints.py, test_run_folders.py, test_interruptions.py; the downloads of class 12 are in
# tests/zoo/test_zoo.py, the other cases of class 13 where docs/robustness.md says);
# test_the_mistakes_table_is_the_corpus (tests/reliability/test_docs_tables.py) keeps the table and these lists equal.


@dataclass(frozen=True)
class Mistake:
    name: str
    what: str
    expect: str
    listed: bool = True
    klass: int = 0  # the class of docs/robustness.md's table


def _of_class(klass: int):
    return functools.partial(Mistake, klass=klass)


M1, M2, M3, M4, M5 = (_of_class(k) for k in range(1, 6))
M8, M9, M10, M11, M12, M13 = (_of_class(k) for k in range(8, 14))
M14, M15, M16, M17, M20 = (_of_class(k) for k in (14, 15, 16, 17, 20))
M18, M19, M21 = (_of_class(k) for k in (18, 19, 21))
M22 = _of_class(22)


# class 1: an output that is one of the command's own inputs. argv placeholders: {image} an input image,
# {weights} the checkpoint, {link} a symlink to {image}, {hardlink} a hard link to {image}, {tmp} the test's folder,
# {root} = {tmp}/x2, a benchmark root holding the set x2 (its images directly in it: {root}/x2/a.png),
# {pngweights} the checkpoint under an image's name, {tmp}/wdir/a.png another copy
OUTPUT_IS_INPUT: dict[str, tuple[Mistake, tuple[str, ...]]] = {
    m.name: (m, argv)
    for m, argv in (
        (M1('compare -o HR', 'compare -o the --hr image', '-o {image}: is the input --hr {image}'),
         ('compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{image}')),
        (M1('benchmark --json image', 'benchmark --json over an image of the set',
                 '--json {root}/x2/a.png: is the input --data-root {root}/x2/a.png'),
         ('benchmark', '--weights', '{weights}', '--data-root', '{root}', '--sets', 'x2', '--hr-only',
          '--device', 'cpu', '--json', '{root}/x2/a.png')),
        (M1('profile --json weights', 'profile --json over the weights file',
                 '--json {weights}: is the input --weights {weights}'),
         ('profile', '--weights', '{weights}', '--size', '8x8', '--json', '{weights}')),
        (M1('compare -o symlink', 'compare -o a symlink to the --hr image', '-o {link}: is the input --hr {image}',
                 listed=False),
         ('compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{link}')),
        (M1('compare -o hard link', 'compare -o a hard link to the --hr image',
                 '-o {hardlink}: is the input --hr {image}', listed=False),
         ('compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{hardlink}')),
        (M1('export -o --verify-image', 'export -o over a --verify-image (named .onnx)',
                 '-o {tmp}/photo.onnx: is the input --verify-image {tmp}/photo.onnx', listed=False),
         ('export', '--weights', '{weights}', '-o', '{tmp}/photo.onnx', '--verify', '--verify-image',
          '{tmp}/photo.onnx')),
        (M1('benchmark --save-images over its set', 'benchmark --save-images writing into the set it reads',
                 '--save-images {tmp}/x2/x2/a.png: is the input --data-root', listed=False),
         ('benchmark', '--weights', '{weights}', '--data-root', '{tmp}/x2', '--sets', 'x2', '--hr-only',
          '--device', 'cpu', '--save-images', '{tmp}')),
        (M1('prepare LR over an HR input', "prepare: the LR of 'a.png' is another HR input, 'ax2.png'",
                 'OUT_DIR {tmp}/LR_bicubic/X2/ax2.png: is the input HR_DIR {tmp}/LR_bicubic/X2/ax2.png',
                 listed=False),
         ('prepare', '{tmp}/LR_bicubic/X2', '{tmp}', '--scales', '2', '--workers', '1')),
        (M1('upscale -o --weights --overwrite', 'upscale -o over its --weights, with --overwrite',
                 '-o {pngweights}: is the input --weights {pngweights}'),
         ('upscale', '-i', '{image}', '-o', '{pngweights}', '--weights', '{pngweights}', '--overwrite')),
        (M1('upscale -o folder holding --weights', 'upscale into the folder of its --weights, same name',
                 '-o {tmp}/wdir/a.png: is the input --weights {tmp}/wdir/a.png', listed=False),
         ('upscale', '-i', '{root}/x2', '-o', '{tmp}/wdir', '--weights', '{tmp}/wdir/a.png', '--overwrite')),
        (M1('upscale -o link to --weights', 'upscale -o a symlink to its --weights',
                 '-o {tmp}/wlink.png: is the input --weights {pngweights}', listed=False),
         ('upscale', '-i', '{image}', '-o', '{tmp}/wlink.png', '--weights', '{pngweights}', '--overwrite')),
    )
}  # fmt: skip

# class 8: an output that cannot be written, every command. Placeholders: {tmp} the test's folder, holding
# {file} (a regular file), {dir.onnx} and {dir.png} (folders with an output's name), {image}, {weights}.
# The line comes before any work (nothing written), except under a file-size limit (``fsize``: the
# bytes a process may write), which only the write itself can meet.
OUTPUT_PLACES: dict[str, tuple[Mistake, tuple[str, ...], int | None]] = {
    m.name: (m, argv, fsize)
    for m, argv, fsize in (
        (M8('export -o under a file', 'export -o a path under a regular file',
                 '-o {file}/x.onnx: {file} is a file, not a folder'),
         ('export', '--weights', '{weights}', '-o', '{file}/x.onnx'), None),
        (M8('export -o a folder', 'export -o where a folder has the name', '-o {tmp}/dir.onnx: is a folder'),
         ('export', '--weights', '{weights}', '-o', '{tmp}/dir.onnx'), None),
        (M8('export -o past ulimit -f', 'export under a 4 KiB file-size limit',
                 '{tmp}/x.onnx: cannot write (File too large)'),
         ('export', '--weights', '{weights}', '-o', '{tmp}/x.onnx'), 4096),
        (M8('compare -o under a file', 'compare -o a path under a regular file',
                 '-o {file}/x.png: {file} is a file, not a folder'),
         ('compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{file}/x.png'), None),
        (M8('compare -o a folder', 'compare -o where a folder has the name', '-o {tmp}/dir.png: is a folder'),
         ('compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{tmp}/dir.png'), None),
        (M8('compare -o past ulimit -f', 'compare under a 4 KiB file-size limit',
                 '{tmp}/x.png: cannot write (File too large)'),
         ('compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{tmp}/x.png'), 4096),
        (M8('profile --json under a file', 'profile --json a path under a regular file',
                 '--json {file}/p.json: {file} is a file, not a folder', listed=False),
         ('profile', '--weights', '{weights}', '--size', '8x8', '--json', '{file}/p.json'), None),
        (M8('upscale -o past ulimit -f', 'upscale under a 4 KiB file-size limit',
                 '{tmp}/up.png: cannot write (File too large)', listed=False),
         ('upscale', '-i', '{image}', '-o', '{tmp}/up.png', '--weights', '{weights}'), 4096),
    )
}  # fmt: skip

# class 14: wrong pixels with exit 0: thin images in tiles, (rows, columns, tile, tile_pad) of a strip of a photo,
# each held to the untiled output at x2, x3 and x4 (tests/inference/test_tiling.py)
THIN_IMAGES: dict[str, tuple[Mistake, tuple[int, int, int, int]]] = {
    m.name: (m, shape)
    for m, shape in (
        (M14('3x6000, default tiles', 'upscale of a 3x6000 image with the default tiling (off by 23 grey levels)',
                  'within 1 grey level of the untiled output'), (3, 6000, 256, 32)),
        (M14('5x6000, default tiles', 'upscale of a 5x6000 image with the default tiling (off by 17)',
                  'within 1 grey level of the untiled output'), (5, 6000, 256, 32)),
        (M14('1x60, tile 8, pad 32', 'a 1x60 image with --tile 8 --tile-pad 32 (off by 3)',
                  'within 1 grey level of the untiled output'), (1, 60, 8, 32)),
        (M14('3x128, tile 16, pad 32', 'upscale_tensor of 3x128 with tile 16, pad 32 (off by 20)',
                  'within 1 grey level of the untiled output'), (3, 128, 16, 32)),
        (M14('600x4, tile 64', 'a thin column, 600 rows of 4 pixels, in tiles of 64',
                  'within 1 grey level of the untiled output', listed=False), (600, 4, 64, 32)),
        (M14('9x900, tile 128', 'an image of 9 rows (under the minimum of 13) in tiles of 128',
                  'within 1 grey level of the untiled output', listed=False), (9, 900, 128, 32)),
    )
}  # fmt: skip

# class 14 too: short wide images, a Set14 HR image resized (bicubic) to a strip, upscaled at x4 with the
# default tiles (256, pad 32, seamless), which cut it into a few long tiles of its whole height
# (alkdsr.inference.tiling.tile_grid; a row of square tiles met in many seams, each off by a few grey levels).
# (mistake, (Set14 image, rows, columns, grey levels)); tests/inference/test_tiling.py
SHORT_WIDE_IMAGES: dict[str, tuple[Mistake, tuple[str, int, int, int]]] = {
    m.name: (m, shape)
    for m, shape in (
        (M14('ppt3 as 40x3000, default tiles', 'upscale of ppt3 resized to 40x3000, default tiles (off by 4: twelve '
                  'seams)', 'within 1 grey level of the untiled output', listed=False), ('ppt3', 40, 3000, 1)),
        (M14('comic as 12x7000, default tiles', 'upscale of comic resized to 12x7000, default tiles (off by 6)',
                  'within 1 grey level of the untiled output', listed=False), ('comic', 12, 7000, 1)),
        (M14('baboon as 300x1200, default tiles', 'upscale of baboon resized to 300x1200, default tiles (off by '
                  '3: bands of 256 and 44 rows)', 'within 1 grey level of the untiled output', listed=False),
         ('baboon', 300, 1200, 1)),
        (M14('ppt3 as 100x3000, default tiles', 'upscale of ppt3 resized to 100x3000, default tiles (off by 6)',
                  'within 2 grey levels of the untiled output', listed=False), ('ppt3', 100, 3000, 2)),
        (M14('ppt3 as 5x8000, default tiles', 'upscale of ppt3 resized to 5x8000, default tiles (off by 5)',
                  'within 2 grey levels of the untiled output', listed=False), ('ppt3', 5, 8000, 2)),
    )
}  # fmt: skip

# class 9: option files as people write them: (mistake, the file's bytes). Each is refused in one line
# naming the file, before any folder.
_OPTION_TEXT = 'name: m\nmodel_type: ALKDSRModel\n'
OPTION_FILE_MISTAKES: dict[str, tuple[Mistake, bytes]] = {
    m.name: (m, content)
    for m, content in (
        (M9('Latin-1 comment', 'a comment written in Latin-1 (an e with an accent)',
                 'not UTF-8 text (byte 5); save the option file as UTF-8'),
         b'# caf\xe9 au lait\nname: m\n'),
        (M9('UTF-16 file', 'the file saved as UTF-16 (with its BOM)',
                 'not UTF-8 text (byte 0); save the option file as UTF-8'), _OPTION_TEXT.encode('utf-16')),
        (M9('duplicate key', 'name: written twice at the top', "the key 'name' is written twice in one mapping "
                 '(lines 1 and 3); keep one'), b'name: m\nmodel_type: ALKDSRModel\nname: n\n'),
        (M9('duplicate nested key', 'lr: written twice inside train: optim_g:',
                 "the key 'lr' is written twice in one mapping (lines 3 and 4); keep one", listed=False),
         b'train:\n  optim_g:\n    lr: 0.001\n    lr: 0.002\n'),
        (M9('invalid UTF-8 in a value', 'a value holding a byte that is not UTF-8',
                 'not UTF-8 text (byte 6); save the option file as UTF-8', listed=False), b'name: \xff\n'),
        (M9('tab indentation', 'a mapping indented with a tab', 'not valid YAML (', listed=False),
         b'train:\n\ttotal_iter: 5\n'),
        # class 17: a traceback, or a hang, before any work
        (M17('very deep nesting', 'lists nested 5000 deep (a RecursionError)',
                  'nested too deeply to be an option file'),
         b'name: ' + b'[' * 5000 + b']' * 5000 + b'\n'),
        (M17('a list as a key', 'a mapping key that is a list', 'a key that is a list or a mapping'),
         b'? [a, b]\n: 1\nname: m\n'),
        (M17('deep flow mappings', 'mappings nested 3000 deep', 'nested too deeply to be an option file', listed=False),
         b'name: m\nnetwork_g: ' + b'{a: ' * 3000 + b'1' + b'}' * 3000 + b'\n'),
        (M17('a mapping as a key', 'a mapping key that is a mapping', 'a key that is a list or a mapping',
                  listed=False), b'? {a: 1}\n: 1\nname: m\n'),
    )
}  # fmt: skip


def _tree_change(path: str, value) -> Callable[[dict], None]:
    """Set (or, with value DELETE, remove) the option at ``a:b:c``."""

    def change(opt: dict) -> None:
        *parents, last = path.split(':')
        node = opt
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(last)
        else:
            node[last] = value

    return change


DELETE = object()

# classes 2-4 in option files: (mistake, mode 'train' or 'test', change to a working option file, --force_yml)
OPTION_MISTAKES: dict[str, tuple[Mistake, str, Callable[[dict], None], tuple[str, ...]]] = {
    m.name: (m, mode, change, force)
    for m, mode, change, force in (
        # class 2: names that would escape experiments/ or results/
        (M2('name ../../x', 'name: ../../somewhere', "name: '../../victim' is not a plain folder name"),
         'train', _tree_change('name', '../../victim'), ()),
        (M2('name absolute', 'name: an absolute path', "is not a plain folder name"),
         'train', _tree_change('name', '/victim'), ()),
        (M2('name empty', "name: ''", "name: must be a non-empty name (got '')"),
         'train', _tree_change('name', ''), ()),
        (M2('name with a newline', "name: 'a<newline>b' (a folder whose name splits the log's lines)",
                 "is not a plain folder name", listed=False),
         'train', _tree_change('name', 'a\nb'), ()),
        (M2('test name ..', 'test.py, name: ..', "name: '..' is not a plain folder name"),
         'test', _tree_change('name', '..'), ()),
        (M2('dataset name a/b', 'a dataset name with a separator (visualization/<name>/)',
                 "datasets:val:name: 'a/b' is not a plain folder name", listed=False),
         'test', _tree_change('datasets:val:name', 'a/b'), ()),
        (M2('--force_yml name=../x', 'a name escaping through --force_yml', "name: '../victim' is not a plain",
                 listed=False), 'train', lambda opt: None, ('name=../victim',)),
        # class 3: keys, registry names, types and ranges
        (M3('total_iters', 'train: total_iters (typo)',
                 'train:total_iters: unknown option; did you mean total_iter?'),
         'train', lambda opt: opt['train'].update(total_iters=opt['train'].pop('total_iter')), ()),
        (M3('batch_size_per_gpuu', 'datasets: train: batch_size_per_gpuu',
                 'datasets:train:batch_size_per_gpuu: unknown option; did you mean batch_size_per_gpu?'),
         'train', _tree_change('datasets:train:batch_size_per_gpuu', 2), ()),
        (M3('gt_szie', 'datasets: train: gt_szie',
                 'datasets:train:gt_szie: unknown option; did you mean gt_size?'),
         'train', _tree_change('datasets:train:gt_szie', 64), ()),
        (M3('no network_g', 'network_g missing', 'lacks network_g, which a training run needs'),
         'train', _tree_change('network_g', DELETE), ()),
        (M3('no train', 'train missing', 'lacks train, which a training run needs'),
         'train', _tree_change('train', DELETE), ()),
        (M3('no logger', 'logger missing', 'lacks logger, which a training run needs'),
         'train', _tree_change('logger', DELETE), ()),
        (M3('no val (test)', 'test.py without val', 'lacks val, which a test run needs'),
         'test', _tree_change('val', DELETE), ()),
        (M3('optimizer AdamW', 'an optimizer BasicSR 1.4.2 does not build',
                 "train:optim_g:type: 'AdamW' is not an optimizer BasicSR knows; did you mean Adam?"),
         'train', _tree_change('train:optim_g:type', 'AdamW'), ()),
        (M3('loss L1loss', 'an unknown loss', "train:pixel_opt:type: 'L1loss' is not a loss BasicSR knows; "
                 'did you mean L1Loss?'), 'train', _tree_change('train:pixel_opt:type', 'L1loss'), ()),
        (M3('scheduler CosineAnnealing', 'an unknown scheduler',
                 "'CosineAnnealing' is not a learning-rate scheduler BasicSR knows; "
                 'did you mean CosineAnnealingRestartLR?'),
         'train', _tree_change('train:scheduler:type', 'CosineAnnealing'), ()),
        (M3('metric calculate_psnrr', 'an unknown metric',
                 "val:metrics:psnr:type: 'calculate_psnrr' is not a metric BasicSR knows; "
                 'did you mean calculate_psnr?'),
         'test', _tree_change('val:metrics:psnr:type', 'calculate_psnrr'), ()),
        (M3('lr 1e-3 (text)', 'lr: 1e-3, which YAML reads as text',
                 "train:optim_g:lr: must be a number (got '1e-3') (YAML reads 1e-3 as text"),
         'train', _tree_change('train:optim_g:lr', '1e-3'), ()),
        (M3('lr negative', 'lr: -0.001', 'train:optim_g:lr: must be > 0 (got -0.001)'),
         'train', _tree_change('train:optim_g:lr', -0.001), ()),
        (M3('batch 0', 'batch_size_per_gpu: 0', 'datasets:train:batch_size_per_gpu: must be >= 1 (got 0)'),
         'train', _tree_change('datasets:train:batch_size_per_gpu', 0), ()),
        (M3('workers -1', 'num_worker_per_gpu: -1', 'datasets:train:num_worker_per_gpu: must be >= 0 (got -1)'),
         'train', _tree_change('datasets:train:num_worker_per_gpu', -1), ()),
        (M3('--force_yml without =', '--force_yml train:total_iter', '--force_yml train:total_iter: expected '
                 'KEY:SUBKEY=VALUE'), 'train', lambda opt: None, ('train:total_iter',)),
        (M3('--force_yml unknown key', '--force_yml trian:total_iter=3',
                 '--force_yml trian:total_iter=3: the option file has no mapping trian; did you mean train?'),
         'train', lambda opt: None, ('trian:total_iter=3',)),
        (M3('network argument typo', 'network_g: num_fet', "unexpected keyword argument 'num_fet'; did you mean "
                 'num_feat?', listed=False), 'train', _tree_change('network_g:num_fet', 16), ()),
        (M3('phase tarin', 'datasets: tarin (a phase BasicSR rejects)',
                 'datasets:tarin: unknown phase: a train run takes train or train_<n> and val or val_<n>; '
                 'did you mean train?', listed=False), 'train',
         lambda opt: opt['datasets'].update(tarin=opt['datasets'].pop('train')), ()),
        (M3('Adam argument typo', 'optim_g: beta (for betas)', 'train:optim_g:beta: Adam takes no option beta; '
                 'did you mean betas?', listed=False), 'train', _tree_change('train:optim_g:beta', [0.9, 0.99]), ()),
        (M3('--force_yml unreadable value', '--force_yml train:total_iter=[1,2 (an unclosed list)',
                 "--force_yml train:total_iter=[1,2: cannot read the value '[1,2'", listed=False),
         'train', lambda opt: None, ('train:total_iter=[1,2',)),
        # class 4: runs that would do nothing and exit 0
        (M4('total_iter 0', 'total_iter: 0', 'train:total_iter: must be >= 1 (got 0)'),
         'train', _tree_change('train:total_iter', 0), ()),
        (M4('batch larger than the set', 'batch 5 for 4 pairs',
                 'datasets: train: batch_size_per_gpu 5 is larger than the 4 training pair(s)'),
         'train', lambda opt: opt['datasets']['train'].update(batch_size_per_gpu=5, dataset_enlarge_ratio=1), ()),
        (M4('test without weights', 'test.py without pretrain_network_g (a random network scored)',
                 'path: lacks pretrain_network_g, which a test run needs'),
         'test', _tree_change('path:pretrain_network_g', DELETE), ()),
        (M4('save_checkpoint_freq 0', 'logger: save_checkpoint_freq: 0',
                 'logger:save_checkpoint_freq: must be >= 1 (got 0)', listed=False),
         'train', _tree_change('logger:save_checkpoint_freq', 0), ()),
        (M4('val_freq 0', 'val: val_freq: 0', 'val:val_freq: must be >= 1 (got 0)', listed=False),
         'train', lambda opt: opt.update(val={'val_freq': 0, 'save_img': False}), ()),
        (M4('test scoring and saving nothing', 'test.py with save_img: false and no metrics (ran the network, '
                 'exit 0)', 'val: neither scores (no metrics) nor saves (save_img: false) the upscaled images',
                 listed=False),
         'test', lambda opt: opt.update(val={'save_img': False}), ()),
        (M4('metrics {}', 'test.py with val: metrics: {} (no metric)', 'val:metrics: must hold at least 1 item(s) '
                 '(got {})', listed=False),
         'test', _tree_change('val:metrics', {}), ()),
        # class 10: options BasicSR reads as opt[key] (a KeyError, or a shape error, once the run has begun)
        (M10('num_in_ch 1', 'network_g: num_in_ch: 1, num_out_ch: 1 (BasicSR reads 3 channels)',
                  "network_g: num_in_ch 1, but BasicSR's datasets give colour images of 3 channels; set num_in_ch: 3"),
         'test', lambda opt: opt['network_g'].update(num_in_ch=1, num_out_ch=1), ()),
        (M10('save_img without suffix', 'test.py with save_img: true and no suffix',
                  'val: lacks suffix, which a test run with save_img: true reads (suffix: ~ adds none)'),
         'test', _tree_change('val:save_img', True), ()),
        (M10('training set without use_rot', 'datasets: train: use_rot missing',
                  'datasets:train: lacks use_rot, which ALKDSRPairedImageDataset reads', listed=False),
         'train', _tree_change('datasets:train:use_rot', DELETE), ()),
        (M10('no scale', 'scale missing, with a paired dataset (it reads opt[scale])',
                  'the option file lacks scale, which a training run needs', listed=False),
         'train', _tree_change('scale', DELETE), ()),
        (M10('test set without dataroot_gt', 'test.py, datasets: val: dataroot_gt missing',
                  'datasets:val: lacks dataroot_gt, which ALKDSRPairedImageDataset reads', listed=False),
         'test', _tree_change('datasets:val:dataroot_gt', DELETE), ()),
        # class 15: option values misread or ignored, now read as written or refused
        (M15('restart_weights [-1]', 'restart_weights: [-1] (trained with a negative learning rate)',
                  'train:scheduler:restart_weights:0: must be > 0 (got -1)'),
         'train', _tree_change('train:scheduler:restart_weights', [-1]), ()),
        (M15("amsgrad 'no'", "optim_g: amsgrad: 'no' (text, read as true)",
                  "train:optim_g:amsgrad: must be true or false (got 'no')"),
         'train', _tree_change('train:optim_g:amsgrad', 'no'), ()),
        (M15("test_y_channel 'no'", "test.py, a metric's test_y_channel: 'no' (text, read as true)",
                  "val:metrics:psnr:test_y_channel: must be true or false (got 'no')"),
         'test', _tree_change('val:metrics:psnr:test_y_channel', 'no'), ()),
        (M15('crop_border 200', 'test.py, crop_border: 200 (PSNR logged as nan, exit 0)',
                  'val:metrics:psnr:crop_border 200 leaves nothing of'),
         'test', _tree_change('val:metrics:psnr:crop_border', 200), ()),
        (M15('val without a val set', 'a val: section and no validation dataset (never validated, silently)',
                  'val: validates every 2 iterations, but datasets has no val set to validate on'),
         'train', lambda opt: opt.update(val={'val_freq': 2, 'save_img': False}), ()),
        (M15("fused 'no'", "optim_g: fused: 'no' (text, read as true)",
                  "train:optim_g:fused: must be true or false (got 'no')", listed=False),
         'train', _tree_change('train:optim_g:fused', 'no'), ()),
        (M15("better 'up'", "a metric's better: 'up' (BasicSR compares with > unless it is 'lower')",
                  "val:metrics:psnr:better: must be one of 'higher', 'lower' (got 'up')", listed=False),
         'test', _tree_change('val:metrics:psnr:better', 'up'), ()),
        # class 16: options BasicSR met only once the run folder, its option copy and its log existed
        (M16('periods 8', 'scheduler: periods: 8 (not a list)', 'train:scheduler:periods: must be a list (got 8)'),
         'train', _tree_change('train:scheduler:periods', 8), ()),
        (M16('restart_weights 1', 'scheduler: restart_weights: 1 (not a list)',
                  'train:scheduler:restart_weights: must be a list (got 1)'),
         'train', _tree_change('train:scheduler:restart_weights', 1), ()),
        (M16('a weight per period', 'two restart weights for one period',
                  'train:scheduler:restart_weights: 2 weight(s) for 1 periods'),
         'train', _tree_change('train:scheduler:restart_weights', [1, 1]), ()),
        (M16('milestones 2', 'MultiStepRestartLR with milestones: 2 (not a list)',
                  'train:scheduler:milestones: must be a list (got 2)'),
         'train', _tree_change('train:scheduler', {'type': 'MultiStepRestartLR', 'milestones': 2}), ()),
        (M16('betas [0.9, 1.5]', 'optim_g: betas: [0.9, 1.5]', 'train:optim_g:betas:1: must be < 1 (got 1.5)'),
         'train', _tree_change('train:optim_g:betas', [0.9, 1.5]), ()),
        (M16('betas 0.9', 'optim_g: betas: 0.9 (not a pair)', 'train:optim_g:betas: must be a list (got 0.9)'),
         'train', _tree_change('train:optim_g:betas', 0.9), ()),
        (M16('reduction avg', 'pixel_opt: reduction: avg',
                  "train:pixel_opt:reduction: must be one of 'none', 'mean', 'sum' (got 'avg')"),
         'train', _tree_change('train:pixel_opt:reduction', 'avg'), ()),
        (M16('wandb not installed', 'a wandb project where the wandb package is not installed',
                  'logger:wandb:project p: the wandb package is not installed'),
         'train', lambda opt: opt['logger'].update(use_tb_logger=True, wandb={'project': 'p'}), ()),
        (M16("mean 'abc'", "datasets: train: mean: 'abc'", "datasets:train:mean: must be a list (got 'abc')"),
         'train', _tree_change('datasets:train:mean', 'abc'), ()),
        (M16('num_block 0', 'network_g: num_block: 0 (an IndexError once the run folder existed)',
                  'num_block must be a positive integer (got 0)'),
         'train', _tree_change('network_g:num_block', 0), ()),
        (M16('num_replicas 0', 'network_g: num_replicas: 0 (built, then failed at the first step)',
                  'num_replicas must be a positive integer (got 0)'),
         'train', _tree_change('network_g:num_replicas', 0), ()),
        (M16('num_replicas -1', 'network_g: num_replicas: -1', 'num_replicas must be a positive integer (got -1)'),
         'train', _tree_change('network_g:num_replicas', -1), ()),
        (M16('std 0', 'datasets: train: std: [0, 0, 0] (a division by zero on the first image)',
                  'datasets:train:std:0: must be > 0 (got 0)', listed=False),
         'train', _tree_change('datasets:train:std', [0, 0, 0]), ()),
        (M16('mean of 2 values', 'datasets: train: mean: [0.5, 0.5] for RGB images',
                  'datasets:train:mean: holds 2 values for 3-channel images; give one value or 3, one per channel',
                  listed=False),
         'train', _tree_change('datasets:train:mean', [0.5, 0.5]), ()),
        (M16('metrics of a SingleImageDataset', 'test.py scoring a SingleImageDataset (a TypeError inside the '
                  'metric, after results/ was made)', 'datasets:val: SingleImageDataset has no HR images for '
                  'val:metrics to score', listed=False),
         'test', _tree_change('datasets:val:type', 'SingleImageDataset'), ()),
        (M16('restarts 3', 'MultiStepRestartLR with restarts: 3 (not a list)',
                  'train:scheduler:restarts: must be a list (got 3)', listed=False),
         'train', _tree_change('train:scheduler', {'type': 'MultiStepRestartLR', 'milestones': [2], 'restarts': 3}),
         ()),
        (M16('three betas', 'optim_g: betas: [0.9, 0.99, 0.9]',
                  'train:optim_g:betas: must hold at most 2 item(s) (got [0.9, 0.99, 0.9])', listed=False),
         'train', _tree_change('train:optim_g:betas', [0.9, 0.99, 0.9]), ()),
        # class 17: a traceback, or a hang, before any work
        (M17('manual_seed -1', 'manual_seed: -1', 'manual_seed: must be >= 0 (got -1)'),
         'train', _tree_change('manual_seed', -1), ()),
        (M17('manual_seed 2**32', 'manual_seed: 4294967296 (NumPy takes less than 2**32)',
                  'manual_seed: must be < 4294967296 (got 4294967296)'),
         'test', _tree_change('manual_seed', 2**32), ()),
        (M17("filename_tmpl '{}{}x4'", "test.py, filename_tmpl: '{}{}x4'",
                  "datasets:val:filename_tmpl: '{}{}x4' must hold one {}"),
         'test', _tree_change('datasets:val:filename_tmpl', '{}{}x4'), ()),
        (M17("filename_tmpl '{name}x4'", "test.py, filename_tmpl: '{name}x4'",
                  "datasets:val:filename_tmpl: '{name}x4' must hold one {}"),
         'test', _tree_change('datasets:val:filename_tmpl', '{name}x4'), ()),
        (M17('--force_yml [1/0]', '--force_yml train:total_iter=[1/0] (evaluated by BasicSR)',
                  "train:total_iter: must be an integer (got ['1/0'])"), 'train', lambda opt: None,
         ('train:total_iter=[1/0]',)),
        (M17("filename_tmpl '{:d}x4'", "filename_tmpl: '{:d}x4' (a format spec a file's stem cannot take)",
                  "datasets:train:filename_tmpl: '{:d}x4' must hold one {}", listed=False),
         'train', _tree_change('datasets:train:filename_tmpl', '{:d}x4'), ()),
        (M17('--force_yml a mapping', '--force_yml train:total_iter={a: 1} (a YAML mapping where a number goes)',
                  "train:total_iter: must be an integer (got {'a': 1})", listed=False),
         'train', lambda opt: None, ('train:total_iter={a: 1}',)),
        # class 20: leftovers of refused runs
        (M20('name of 300 characters', 'a 300-character name (experiments/ and its lock were left)',
                  'is 300 bytes long: it becomes a folder'),
         'train', _tree_change('name', 'n' * 300), ()),
        (M20('resume_state a folder', 'path: resume_state a folder (experiments/ and its lock were left)',
                  '/: a folder, not a training state'),
         'train', _tree_change('path:resume_state', '/'), ()),
        (M20('resume_state missing', 'path: resume_state a file that does not exist',
                  '/no/such/5.state: no such training state'),
         'train', _tree_change('path:resume_state', '/no/such/5.state'), ()),
        (M20('name of 202 bytes', 'a name of 101 two-byte characters', 'is 202 bytes long', listed=False),
         'train', _tree_change('name', '\u00e9' * 101), ()),
        (M20('resume_state a text file', 'path: resume_state a text file (not a training state)',
                  'not a training state (torch.save writes a zip archive or a pickle)', listed=False),
         'train', _tree_change('path:resume_state', '/etc/hostname'), ()),
        (M20('param_key_g of no entry', "test.py, path: param_key_g: nope (refused once results/ existed)",
                  "path: param_key_g nope: ", listed=False),
         'test', _tree_change('path:param_key_g', 'nope'), ()),
    )
}  # fmt: skip

# class 11: one run per experiment folder; each case is a test of its own in tests/reliability/test_run_folders.py
RUN_FOLDER_MISTAKES: dict[str, Mistake] = {
    m.name: m
    for m in (
        M11('two runs, one name', 'a second train.py run of a name while the first runs',
                 'in use by a run that is still going (pid'),
        M11('pretrain_network_g in the archived folder', 'pretrain_network_g inside experiments/<same name>/',
                 'lies in {folder}, which this run archives (renames) as it starts'),
        M11('refused --auto_resume', '--auto_resume with network_g changed since the saved state',
                 'checkpoint network differs from network_g'),
        M11('dataroot in the archived folder', 'datasets: train: dataroot_lq inside experiments/<same name>/',
                 'lies in {folder}, which this run archives (renames) as it starts', listed=False),
        M11('lock of a killed run', 'a run of the name after one killed with SIGKILL (its lock left behind)',
                 'Save the latest model', listed=False),
        M8('experiments is a file', 'train.py where experiments/ cannot be made (a file has its name)',
                 '{cwd}/experiments: is a file, not a folder', listed=False),
        M8('results is a file', 'test.py where results/ cannot be made (a file has its name)',
                 '{cwd}/results: is a file, not a folder', listed=False),
    )
}  # fmt: skip

# class 5: crafted or unusual checkpoints, through every command that takes weights
CHECKPOINT_MISTAKES: dict[str, Mistake] = {
    m.name: m
    for m in (
        M5('missing keys', 'a safetensors file without the shallow layer', 'not an ALKDNet/BSRN state dict '
                '(missing shallow.pw.weight)'),
        M5('zero-sized tensor', 'a tensor of shape (0, 12, 1, 1)', 'tensor shallow.pw.weight is empty'),
        M5('oddly shaped tensor', 'a 1-D tensor where a convolution is', 'not an ALKDNet/BSRN checkpoint'),
        M5('metadata of the wrong type', "alkdsr_arch with upscale 'two'", "the stored config has upscale 'two'"),
        M5('metadata not JSON', 'alkdsr_arch that is not JSON', 'its alkdsr_arch metadata is not JSON'),
        M5('folder as --weights', 'a folder', 'a folder, not a checkpoint file'),
        M5('metadata a list', 'alkdsr_arch that is a JSON list', 'the stored config is not a mapping',
                listed=False),
        M5('NaN weights', 'a tensor holding NaN', 'holds NaN or infinite values', listed=False),
        M5('num_replicas 0', 'alkdsr_arch with num_replicas 0', 'the stored config has num_replicas 0',
                listed=False),
    )
}  # fmt: skip

# class 12: downloads that end, and a cache others can read; the tests are in tests/zoo/test_zoo.py. The texts
# hold the sizes of alkdnet-x2 (1678550 bytes, half of it 839275) and the test's limits (ALKDSR_STALL_TIMEOUT=1,
# ALKDSR_CONNECT_TIMEOUT=0.5).
DOWNLOAD_MISTAKES: dict[str, Mistake] = {
    m.name: m
    for m in (
        M12('server never answers', 'a mirror that accepts the connection and never answers',
                 'stalled: nothing received in 1 s'),
        M12('trickling server', 'a mirror sending one byte every 50 ms', 'stalled: less than 64 KiB received in 1 s'),
        M12('bad mirror leaves a .partial', 'a mirror answering 404 (a .partial file was left in the cache)',
                 '(HTTP 404 File not found)'),
        M12('folder at the cached name', 'a folder where the cached file goes',
                 'is a folder, in the way of the cached file of alkdnet-x2; remove or rename it'),
        M12('import writes 0600', 'a cached file its reader may not read (import kept the mode 0600)',
                 'cannot read the cached file of alkdnet-x2 (Permission denied); fix its permissions or delete it'),
        M12('redirect loop', 'a mirror redirecting to itself', 'HTTP 302: too many redirects'),
        M12('server announcing a huge size', 'a mirror announcing a terabyte',
                 'the server announces 1000000000000 bytes, the file has 1678550; refused'),
        M12('offline with a corrupt cached file', 'no connection, and a cached file that fails its SHA256',
                 'exists but fails its SHA256 check: replace it with the right file'),
        M12('import checks every file first', 'weights import of three files, the second not weights',
                 'nothing was imported'),
        M12('name of another scale', 'a registered name of another scale (it was downloaded, then refused)',
                 'alkdnet-x2: the weights are for x2, not x4 (alkdnet-x4 is the x4 one)'),
        M12('a byte every 2 s', 'a mirror sending one byte every 2 s', 'stalled: nothing received in 1 s',
                 listed=False),
        M12('server never connects', 'a mirror whose connection is never made',
                 'no connection within 0.5 s; ALKDSR_CONNECT_TIMEOUT sets this limit', listed=False),
        M12('truncated download', 'the connection closed at half the file (Content-Length the whole file)',
                 'the connection closed after 839275 of 1678550 bytes', listed=False),
        M12('truncated download without a length', 'the connection closed at half the file, no Content-Length',
                 'the connection closed after 839275 of 1678550 bytes', listed=False),
        M12('short download', 'half the file, announced as such by Content-Length',
                 'the server announces 839275 bytes, the file has 1678550; refused', listed=False),
        M12('connection reset', 'a TCP reset halfway through the file', '(the connection ', listed=False),
        M12('corrupt download', 'one bit of the file flipped on the way', 'does not match its SHA256', listed=False),
        M12('more than the file', 'a mirror sending more than the file, no Content-Length',
                 'the server sends more than the 1678550 bytes of the file; refused', listed=False),
        M12('mirror refusing connections', 'nothing listening where the mirror is', '(Connection refused)',
                 listed=False),
        M12('mirror answering 500', 'a mirror answering HTTP 500', '(HTTP 500 Internal Server Error)', listed=False),
        M12('mirror without a scheme', 'ALKDSR_WEIGHTS_MIRROR=mirror',
                 "(unknown url type: 'mirror/net_g_ALKDN_x2.pth')", listed=False),
        M12('mirror a missing folder', 'a file:// mirror of a folder that does not exist',
                 '(No such file or directory)', listed=False),
        M12('ALKDSR_HOME is a file', 'a cache that cannot be made: ALKDSR_HOME names a file',
                 'is a file; set ALKDSR_HOME to a folder', listed=False),
        M12('read-only ALKDSR_HOME', 'a cache that cannot be made: ALKDSR_HOME is read-only',
                 '(permission denied or a read-only file system)', listed=False),
        M12('bad timeout setting', 'ALKDSR_STALL_TIMEOUT=soon or 0, ALKDSR_CONNECT_TIMEOUT=-1',
                 'not a number of seconds greater than 0', listed=False),
        M12('upscale --weights of another scale', 'upscale --weights alkdnet-x2 --scale 4',
                 'alkdnet-x2: the weights are for x2, not x4 (alkdnet-x4 is the x4 one)', listed=False),
        M12('pretrain_network_g of another scale', 'path: pretrain_network_g alkdnet-x2 in an x4 option file',
                 'path: pretrain_network_g alkdnet-x2: the weights are for x2, not x4 (alkdnet-x4 is the x4 one)',
                 listed=False),
    )
}  # fmt: skip

# class 13: say what was not done (an image of several frames, a variant loaded as another, an input of another
# shape, a Ctrl-C or a resume that ends in a traceback, a worker's message at exit). {preset} and {shape}: the
# test's preset and input shape.
UNDONE_MISTAKES: dict[str, Mistake] = {
    m.name: m
    for m in (
        M13('animated WebP', 'an animated WebP (2 frames) to upscale',
                 'animated WEBP (2 frames) is not supported: save the frame wanted as an image file of its own'),
        M13('APNG', 'an animated PNG (3 frames) to upscale',
                 'animated PNG (3 frames) is not supported: save the frame wanted as an image file of its own'),
        M13('multi-page TIFF', 'a TIFF of 2 pages to upscale',
                 'multi-page TIFF (2 pages) is not supported: save the page wanted as an image file of its own'),
        M13('no_norm and abrl presets through spandrel',
                 'a checkpoint saved for alkdnet_no_norm or an abrl preset, loaded by spandrel (its tags)',
                 '{preset}, 16nf, 2nb'),
        M13('input of 4 channels or 5 dimensions', 'a (1, 4, H, W) or 5-D tensor to the network spandrel loads',
                 'ALKDNet expects (N, 3, H, W), got {shape}'),
        M13("prepare's message at exit", 'prepare with 2 workers, ending normally (a worker printed an ignored '
                 'SystemExit)', '8 files written, 0 already there, 0 image(s) failed'),
        M13('Ctrl-C while importing', 'Ctrl-C while alkdsr upscale is still importing torch',
                 'alkdsr upscale: interrupted'),
        M13('text file as .state', 'a text file as the newest <iter>.state, with --auto_resume',
                 'not a training state (torch.save writes a zip archive or a pickle)'),
        M13('animated PNG to prepare', 'prepare given an animated PNG (2 frames)',
                 'animated PNG (2 frames) is not supported: save the frame wanted as an image file of its own',
                 listed=False),
        M13('multi-page TIFF as a benchmark LR', 'a TIFF of 2 pages as an LR image of a benchmark set',
                 'multi-page TIFF (2 pages) is not supported: save the page wanted as an image file of its own',
                 listed=False),
        M13('input of another shape to the hub module', 'a tensor of 1 or 4 channels, or 2, 3 or 5 dimensions, '
                 'to the torch.hub network', 'ALKDNet expects (N, 3, H, W), got {shape}', listed=False),
        M13('Ctrl-C while train.py imports', 'Ctrl-C while alkdsr/train.py is still importing torch',
                 'alkdsr-train: interrupted', listed=False),
    )
}  # fmt: skip

# class 18: a CPU kernel cache that cannot be made, locked, written or trusted never stops a command: one line,
# and the kernels are compiled for the process only (tests/reliability/test_kernel_cache.py, each an
# `alkdsr upscale` of a 256 x 256 image, which runs the kernels). (mistake, ALKDSR_HOME, what is arranged there
# first); placeholders: {tmp} the test's folder, {key} the kernels' cache folder under ALKDSR_HOME.
# 'fsize N': a file-size limit of N bytes; 'full N': writes under ALKDSR_HOME fail with ENOSPC once N files are
# written there (a disk that fills up, simulated by the test).
KERNEL_CACHE_MISTAKES: dict[str, tuple[Mistake, str, str]] = {
    m.name: (m, home, arranged)
    for m, home, arranged in (
        (M18('kernel cache on a full disk', 'ALKDSR_HOME on a disk with no room left (writes fail with ENOSPC)',
                  'cannot cache the CPU kernels in {key} (No space left on device); compiling them for this '
                  'process only'), '{tmp}/home', 'full 0'),
        (M18('kernel cache past ulimit -f', 'upscale under a 100 KiB file-size limit (a kernel is larger)',
                  'cannot cache the CPU kernels in {key} (File too large); compiling them for this process only'),
         '{tmp}/home', 'fsize 102400'),
        (M18('kernel lock a folder', 'a folder at the name of the cache lock, numba/<key>.lock',
                  'cannot cache the CPU kernels in {key} ({key}.lock is a folder); compiling them for this process '
                  'only'), '{tmp}/home', 'lock folder'),
        (M18('kernel cache a symlink', 'numba/<key> a symbolic link to a folder',
                  'cannot cache the CPU kernels in {key} ({key} is a symbolic link); compiling them for this '
                  'process only'), '{tmp}/home', 'symlink'),
        (M18('ALKDSR_HOME of no user', "ALKDSR_HOME='~nosuchuser/x'",
                  'cannot cache the CPU kernels (ALKDSR_HOME ~nosuchuser/x: no user named nosuchuser (for '
                  '~nosuchuser)); compiling them for this process only'), '~nosuchuser/x', ''),
        (M18('ALKDSR_HOME under /proc', 'ALKDSR_HOME=/proc/x (no folder can be made there)',
                  'cannot cache the CPU kernels in /proc/x/numba/'), '/proc/x', ''),
        (M18('ALKDSR_HOME of 300 bytes', 'ALKDSR_HOME whose last name is 300 bytes long',
                  'cannot cache the CPU kernels in {key} (File name too long); compiling them for this process '
                  'only'), '{tmp}/' + 'h' * 300, ''),
        (M18('two checkouts', 'two checkouts of the same kernel source, run in turns with one ALKDSR_HOME (each '
                  "removed the other's files)", 'compiled in runs 1 and 2'), '{tmp}/home', 'two checkouts'),
        (M18('kernel cache a dangling symlink', 'numba/<key> a symbolic link to nothing (numba would cache beside '
                  'the source instead)', 'cannot cache the CPU kernels in {key} ({key} is a symbolic link); '
                  'compiling them for this process only', listed=False), '{tmp}/home', 'dangling symlink'),
        (M18('kernel lock a symlink', "numba/<key>.lock a symbolic link to a file of the user's (which the lock "
                  'would empty)', 'cannot cache the CPU kernels in {key} ({key}.lock is a symbolic link); '
                  'compiling them for this process only', listed=False), '{tmp}/home', 'lock symlink'),
        (M18('disk full part-way', 'a disk that fills up once the first kernel is cached',
                  'cannot cache the CPU kernels in {key} (No space left on device); compiling them for this '
                  'process only', listed=False), '{tmp}/home', 'full 2'),
        (M18('kernel lock held by a stopped process', 'numba/<key>.lock held by a process stopped (Ctrl-Z) while '
                  'it compiles (waited for ever; the test waits 2 s, a command 60)', 'cannot cache the CPU kernels '
                  'in {key} ({key}.lock: held by another process for 2 s); compiling them for this process only',
                  listed=False), '{tmp}/home', 'lock held'),
        (M18('kernel lock a FIFO', 'a FIFO at the name of the cache lock (said to be "not a folder")',
                  'cannot cache the CPU kernels in {key} ({key}.lock is not a regular file); compiling them for '
                  'this process only', listed=False), '{tmp}/home', 'lock fifo'),
    )
}  # fmt: skip

# class 19: standard output or error closed or full, and Ctrl-C with worker processes
# (tests/reliability/test_standard_streams.py, the Ctrl-C in tests/reliability/test_interruptions.py)
STREAM_MISTAKES: dict[str, Mistake] = {
    m.name: m
    for m in (
        M19('upscale with stdout closed', 'alkdsr upscale ... >&-',
                 'alkdsr upscale: error: the report could not be printed (standard output is closed)'),
        M19('weights list into /dev/full', 'alkdsr weights list > /dev/full',
                 'alkdsr weights: error: the report could not be printed (No space left on device)'),
        M19('upscale into /dev/full', 'alkdsr upscale ... > /dev/full',
                 'alkdsr upscale: error: the report could not be printed (No space left on device)'),
        M19('Ctrl-C during prepare --workers 2', 'SIGINT to the process group (Ctrl-C) while prepare runs two '
                 "workers (their tracebacks were printed)", 'alkdsr prepare: interrupted'),
        M19('prepare into /dev/full', 'alkdsr prepare ... > /dev/full (its images are still written)',
                 'alkdsr prepare: error: the report could not be printed (No space left on device)', listed=False),
        M19('--help into /dev/full', 'alkdsr --help > /dev/full (Python\'s "Exception ignored" at exit, status 120)',
                 'alkdsr: error: the report could not be printed (No space left on device)', listed=False),
        M19('weights list with stdout closed', 'alkdsr weights list >&-',
                 'alkdsr weights: error: the report could not be printed (standard output is closed)', listed=False),
        M19("Ctrl-C as prepare's workers start", "Ctrl-C while prepare's worker processes are still importing",
                 'alkdsr prepare: interrupted', listed=False),
        M19('upscale with stderr closed', 'alkdsr upscale ... 2>&- with an image that cannot be read (the '
                 'progress bar failed: no output)', 'status 1, alkdsr upscale: 2 upscaled, 0 skipped (output exists), '
                 '1 failed', listed=False),
        M19('upscale into a full stderr', 'alkdsr upscale ... 2> /dev/full with an image that cannot be read (its '
                 "error line failed: the others' outputs lost)", 'status 1, alkdsr upscale: 2 upscaled, 0 skipped '
                 '(output exists), 1 failed', listed=False),
        M19('an error with stderr closed', "alkdsr upscale -i missing.png 2>&- (the line went to stdout)",
                 'status 2, nothing on standard output', listed=False),
        M19('an error into a full stderr', 'alkdsr upscale -i missing.png 2> /dev/full (status 1)',
                 'status 2, nothing on standard output', listed=False),
        M19('prepare with stderr closed', 'alkdsr prepare ... 2>&- (its progress bar failed: no images)',
                 'status 0, its report on standard output', listed=False),
        M19('prepare into a full stderr', 'alkdsr prepare ... 2> /dev/full', 'status 0, its report on standard output',
                 listed=False),
        M19('benchmark with stderr closed', 'alkdsr benchmark ... 2>&- (its progress bar failed: no scores)',
                 'status 0, its report on standard output', listed=False),
    )
}  # fmt: skip

# class 21: the library API, called from Python: one ValueError naming the argument, nothing of the caller's
# changed (tests/archs/test_archs.py, tests/integrations/test_hub.py, tests/inference/test_image.py,
# tests/inference/test_cpu_fast.py, tests/zoo/test_weights.py, tests/inference/test_api_arguments.py)
API_MISTAKES: dict[str, Mistake] = {
    m.name: m
    for m in (
        M21('num_block 0', "build_network({'type': 'ALKDNet', 'num_block': 0}) (an IndexError)",
                 'num_block must be a positive integer (got 0)'),
        M21('num_replicas 0', 'ALKDNet(num_replicas=0) (built, then failed at its first call)',
                 'num_replicas must be a positive integer (got 0)'),
        M21('upscale True', 'ALKDNet(upscale=True) (taken as x1)', 'upscale must be a positive integer (got True)'),
        M21('num_in_ch 0', 'ALKDNet(num_in_ch=0, num_out_ch=0) (built of empty convolutions)',
                 'num_in_ch must be a positive integer (got 0)'),
        M21('fusion_kernel_size 2', 'ALKDNet(fusion_kernel_size=2) (reported as kernel_size)',
                 'fusion_kernel_size must be an odd integer >= 3 (got 2)'),
        M21('empty tensor to the hub network', 'a (1, 3, 0, 5) tensor to the torch.hub network',
                 'ALKDNet expects (N, 3, H, W) with H, W >= 1, got (1, 3, 0, 5)'),
        M21('float64 tensor to the hub network', 'a float64 tensor to the torch.hub network (float32 weights)',
                 'ALKDNet expects a torch.float32 tensor (the dtype of its weights), got torch.float64'),
        M21('empty array to upscale_image', 'alkdsr.inference.image.upscale_image of a 0 x 5 x 3 array',
                 'expected H x W x C pixels with H, W >= 1, got an empty image (0, 5, 3)'),
        M21('CpuFastNet of a network in training', "CpuFastNet(net) switched the caller's network to eval mode and "
                 'channels-last memory', 'net: training True, torch.float32, not channels-last'),
        M21("load_model('')", "alkdsr.load_model('') (said '.: a folder')",
                 'an empty name is not a checkpoint file nor a registered weights name ('),
        M21('num_block 2.0', 'ALKDNet(num_block=2.0) (a TypeError from inside torch)',
                 'num_block must be a positive integer (got 2.0)', listed=False),
        M21("pixel_norm 'no'", "ALKDNet(pixel_norm='no') (taken as True)",
                 "pixel_norm must be True or False (got 'no')", listed=False),
        M21('ALKDN lk_size 4', 'ALKDN(lk_size=4) (reported as kernel_size)', 'lk_size must be an odd integer >= 3 '
                 '(got 4)', listed=False),
        M21('uint8 tensor to the hub network', 'a uint8 tensor to the torch.hub network',
                 'ALKDNet expects a torch.float32 tensor (the dtype of its weights), got torch.uint8', listed=False),
        M21('CpuFastNet of a float64 network', "CpuFastNet(net.double()) turned the caller's network to float32",
                 'net: training True, torch.float64, not channels-last', listed=False),
        M21('a list to upscale_image', 'upscale_image of a list of numbers',
                 'expected H x W x C (C = 1..4) uint8/uint16 pixels, got a list', listed=False),
        M21('float tile', 'upscale_image(net, pixels, tile=2.5) (a TypeError from inside the tiling)',
                 'tile must be an integer >= 0 or None (got 2.5)', listed=False),
        M21('True as tile', 'upscale_tensor(net, x, tile=True) (taken as tiles of one pixel)',
                 'tile must be an integer >= 0 or None (got True)', listed=False),
        M21('text tile_pad', "upscale_tensor(net, x, tile=8, tile_pad='4') (a TypeError from inside the tiling)",
                 "tile_pad must be an integer >= 0 (got '4')", listed=False),
        M21('a path as the network', "upscale_image('net.pth', pixels) (an AttributeError)",
                 "expected a super-resolution network (a module with .upscale, as load_upscaler gives), got "
                 "'net.pth'", listed=False),
        M21('unbatched tensor to upscale_tensor', 'upscale_tensor(net, x) of a (3, H, W) tensor',
                 'ALKDNet expects (N, 3, H, W), got (3, 16, 16)', listed=False),
        M21('float64 tensor to upscale_tensor', 'upscale_tensor(net, x) of a float64 tensor (float32 weights; an '
                 'error from inside a convolution)',
                 'ALKDNet expects a torch.float32 tensor (the dtype of its weights), got torch.float64', listed=False),
        M21('dtype float64', 'upscale_image(net, pixels, dtype=torch.float64) (ignored)',
                 'dtype must be None, torch.float16 or torch.bfloat16 (got torch.float64)', listed=False),
        M21('dtype float16 on the CPU', 'upscale_image(net, pixels, dtype=torch.float16) of a network on the CPU '
                 '(ran in float32, saying nothing)',
                 'dtype torch.float16 runs the network under CUDA autocast: the input is on cpu', listed=False),
        M21('a float16 network to upscale_image', "upscale_image of a network in float16 (an error from inside the "
                 'first convolution; now the pixels are made in its dtype)',
                 "within 2 grey levels of the float32 network's pixels", listed=False),
        M21('load_model(None)', 'alkdsr.load_model(None) (a TypeError from inside pathlib)',
                 'path must be a checkpoint file or a registered weights name, got NoneType', listed=False),
        M21('load_model of bytes', "alkdsr.load_model(b'net.pth')",
                 'path must be a checkpoint file or a registered weights name, got bytes', listed=False),
        M21('load_model device 3.5', 'load_model(path, device=3.5) (gave a float64 network)',
                 "device must be a torch.device or a name such as 'cpu' or 'cuda:0' (got 3.5)", listed=False),
        M21('load_model device float16', 'load_model(path, device=torch.float16) (gave a float16 network)',
                 "device must be a torch.device or a name such as 'cpu' or 'cuda:0' (got torch.float16)",
                 listed=False),
        M21('float64 tensor under autocast', 'a float64 tensor to the torch.hub network under autocast (which '
                 'leaves float64 as it is: an error from inside a convolution)',
                 'ALKDNet expects a torch.float32 tensor (the dtype of its weights), got torch.float64', listed=False),
        M21('CpuFastNet threads 1.5', 'CpuFastNet(net, threads=1.5) (a TypeError from inside the thread pool)',
                 'threads must be a positive integer or None (got 1.5)', listed=False),
        M21('CpuFastNet threads 0', 'CpuFastNet(net, threads=0) (taken as every thread)',
                 'threads must be a positive integer or None (got 0)', listed=False),
        M21('uint8 tensor to CpuFastNet', 'CpuFastNet(net) called on a uint8 tensor (computed on values 0-255)',
                 'CpuFastNet expects a torch.float32 tensor (the dtype of its weights), got torch.uint8', listed=False),
        M21('empty tensor to CpuFastNet', 'CpuFastNet(net) called on a (1, 3, 0, 8) tensor',
                 'CpuFastNet expects (N, 3, H, W) with H, W >= 1, got (1, 3, 0, 8)', listed=False),
    )
}  # fmt: skip

# class 22: the README's own paths: its commands and snippets as a new user runs them, after the README's three
# pip install commands (no extras). Each case is a test of its own in tests/reliability/test_readme_paths.py,
# except the snippets (tests/package/test_readme_snippets.py) and make demo twice (tests/training/test_train_demo.py,
# slow). Placeholders: {root} the benchmark's data root, {tmp} the test's folder, {hr} and {lr} Set5's HR and
# LR folders.


def _needs(what: str, package: str, requirement: str | None = None) -> str:
    """The line of a command (``what``) that needs a package that is not installed."""
    return f'{what} needs the {package} package, which is not installed: pip install {requirement or package}'


README_PATHS: dict[str, Mistake] = {
    m.name: m
    for m in (
        M22('make demo twice', 'make demo a second time on a fresh clone, with demo_output/ of the first run there',
                 'ALKDNet x4, trained for minutes on the CPU, beats bicubic'),
        M22('export without onnx', 'export to ONNX without the onnx package', _needs('export to ONNX', 'onnx')),
        M22('export --verify without onnxruntime', 'export --verify without the onnxruntime package',
                 _needs('export to ONNX --verify', 'onnxruntime')),
        M22('--backend onnxruntime without onnxruntime', 'upscale --backend onnxruntime without onnxruntime',
                 _needs('--backend onnxruntime', 'onnxruntime')),
        M22('ncnn without pnnx', 'export --format ncnn without the pnnx package',
                 _needs('export --format ncnn', 'pnnx', 'pnnx==20261020')),
        M22('ncnn --verify without ncnn', 'export --format ncnn --verify without the ncnn package',
                 _needs('export --format ncnn --verify', 'ncnn', 'ncnn==1.0.20261020')),
        M22('compare without matplotlib', 'compare without the matplotlib package',
                 _needs('alkdsr compare', 'matplotlib')),
        M22('demo without scikit-image', 'scripts/demo.py without the scikit-image package',
                 _needs('the demo', 'scikit-image')),
        M22('spandrel integration without spandrel', 'import alkdsr.integrations.spandrel without spandrel',
                 _needs('alkdsr.integrations.spandrel', 'spandrel', '"spandrel>=0.4"')),
        M22('benchmark without a default set', 'benchmark without --sets, the data root holding Set5 alone',
                 'not in {root}, not evaluated: Set14, BSD100, Urban100, Manga109 (evaluated: Set5; '
                 '--sets names the sets to run)'),
        M22('README snippets without a checkpoint file', "README's Python snippets, in a folder without "
                 'net_g_ALKDN_x4.pth', '4 alkdnet'),
        M22('README speed snippet', "README's speed snippet (a fragment: net and lr undefined)", '(1, 3, 256, 256)'),
        M22('README hub example', "README's python -c torch.hub example, without net_g_ALKDN_x4.pth",
                 'alkdnet 4 393488'),
        M22('python alkdsr/test.py outside the venv', 'python alkdsr/test.py by a Python alkdsr is not installed in',
                 'has no alkdsr: run alkdsr/test.py with the Python alkdsr is installed in'),
        M22("the authors' test file on the EDSR layout", "the authors' test option file (BasicSR's PairedImageDataset, "
                 'no filename_tmpl) on Set5 as EDSR lays it out, babyx4.png (AssertionError: woman.png is not in '
                 'lq_paths)', "HR and LR files do not pair up (filename_tmpl '{}'): 5 HR file(s) without an LR "
                 "partner (first: {hr}/baby.png needs {lr}/baby.png); 5 LR file(s) without an HR partner (first: "
                 "{lr}/babyx4.png); set filename_tmpl: '{}x4'"),
        M22('several data folders missing', 'a training and a validation set whose folders are missing (only the '
                 'first was named)', 'datasets: train: dataroot_gt {tmp}/HR: no such folder; datasets: train: '
                 'dataroot_lq {tmp}/LR: no such folder; datasets: val: dataroot_gt {tmp}/valHR: no such folder'),
        M22('a meta_info_file and a folder missing', "a validation folder and the training set's meta_info_file "
                 'missing', 'datasets: train: meta_info_file {tmp}/meta.txt: no such file; datasets: val: '
                 'dataroot_lq {tmp}/valLR: no such folder', listed=False),
        M22('export --verify without onnx and onnxruntime', 'export --verify without either package',
                 'export to ONNX --verify needs the onnx and onnxruntime packages, which are not installed: '
                 'pip install onnx onnxruntime', listed=False),
        M22('--backend onnxruntime without onnx', 'upscale --backend onnxruntime with onnxruntime but not onnx '
                 '(the network is exported first)', _needs('--backend onnxruntime', 'onnx'), listed=False),
        M22('plot_validation without matplotlib', 'scripts/plot_validation.py without the matplotlib package',
                 _needs('scripts/plot_validation.py', 'matplotlib'), listed=False),
        M22('benchmark --sets naming a missing set', '--sets Set5 Urban100 where Urban100 is missing (checked '
                 'before the weights are fetched)', '{root}/Urban100: no such benchmark set folder (found: Set5)',
                 listed=False),
        M22('benchmark with no default set', 'benchmark without --sets, the data root holding none of the five',
                 '{root}: holds none of the sets Set5, Set14, BSD100, Urban100, Manga109 (found: set5); name the '
                 'sets to evaluate with --sets', listed=False),
        M22("README's checkpoint name as --weights", 'upscale --weights net_g_ALKDN_x4.pth where there is no such '
                 'file', 'net_g_ALKDN_x4.pth: no such checkpoint file; net_g_ALKDN_x4.pth is the file of the '
                 'registered weights alkdnet-x4: use the name alkdnet-x4 instead', listed=False),
        M22('train.py by a Python without torch', 'python alkdsr/train.py where alkdsr imports but torch does not',
                 'has no torch, which alkdsr needs: run alkdsr/train.py with the Python alkdsr is installed in',
                 listed=False),
    )
}  # fmt: skip

# the README_PATHS cases of a missing package: (the modules hidden, the command: 'alkdsr' and its arguments, or a
# script of the repository and its). Placeholders: {tmp} the test's folder, {image} an image, {weights} a checkpoint.
_EXPORT = ('alkdsr', 'export', '--weights', '{weights}', '-o')
_UPSCALE_ORT = ('alkdsr', 'upscale', '-i', '{image}', '-o', '{tmp}/out', '--weights', '{weights}', '--backend',
                'onnxruntime')  # fmt: skip
HIDDEN_PACKAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    'export without onnx': (('onnx',), (*_EXPORT, '{tmp}/m.onnx')),
    'export --verify without onnxruntime': (('onnxruntime',), (*_EXPORT, '{tmp}/m.onnx', '--verify')),
    'export --verify without onnx and onnxruntime': (('onnx', 'onnxruntime'), (*_EXPORT, '{tmp}/m.onnx', '--verify')),
    '--backend onnxruntime without onnxruntime': (('onnxruntime',), _UPSCALE_ORT),
    '--backend onnxruntime without onnx': (('onnx',), _UPSCALE_ORT),
    'ncnn without pnnx': (('pnnx',), (*_EXPORT, '{tmp}/m.param')),
    'ncnn --verify without ncnn': (('ncnn',), (*_EXPORT, '{tmp}/m.param', '--verify')),
    'compare without matplotlib': (
        ('matplotlib',), ('alkdsr', 'compare', '--hr', '{image}', '--weights', '{weights}', '-o', '{tmp}/fig.png')),
    'demo without scikit-image': (('skimage',), ('scripts/demo.py', '--out', '{tmp}/demo', '--iters', '1')),
    'plot_validation without matplotlib': (
        ('matplotlib',), ('scripts/plot_validation.py', '{tmp}/train.log', '-o', '{tmp}/curves.png')),
}  # fmt: skip
