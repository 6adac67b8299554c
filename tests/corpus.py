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
    from alkdsr.utils.img_util import quiet_opencv  # libpng's own messages would clutter the test output

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
# tests/test_reliability.py runs them; test_the_mistakes_table_is_the_corpus keeps the table and these lists equal.


@dataclass(frozen=True)
class Mistake:
    name: str
    what: str
    expect: str
    listed: bool = True
    klass: int = 0  # the class of docs/robustness.md's table (1-7)


def _of_class(klass: int):
    return functools.partial(Mistake, klass=klass)


M1, M2, M3, M4, M5 = (_of_class(k) for k in range(1, 6))


# class 1: an output that is one of the command's own inputs. argv placeholders: {image} an input image,
# {weights} the checkpoint, {link} a symlink to {image}, {hardlink} a hard link to {image}, {tmp} the test's folder,
# {root} = {tmp}/x2, a benchmark root holding the set x2 (its images directly in it: {root}/x2/a.png)
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
