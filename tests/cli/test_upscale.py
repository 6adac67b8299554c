"""``alkdsr upscale``: image kinds, the benchmark's pixels, tiling, checkpoint recognition, bad input."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from basicsr.utils import img2tensor, tensor2img
from conftest import SHARED, official_weights, requires_shared
from corpus import UNDONE_MISTAKES
from PIL import Image

from alkdsr.archs import PRESETS, ALKDNet
from alkdsr.archs.arch_util import ESA
from alkdsr.archs.presets import preset_config
from alkdsr.cli.main import main
from alkdsr.errors import ImageError
from alkdsr.files.images import read_image, write_image
from alkdsr.inference.image import load_upscaler, upscale_image
from alkdsr.inference.tiling import aligned_esa, upscale_tensor
from alkdsr.zoo.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)
RNG = np.random.default_rng(0)


def smooth(h: int, w: int, channels: int, peak: int, dtype=np.uint8) -> np.ndarray:
    """A smooth random image (what a photo looks like to the network), in [0, peak]."""
    small = RNG.random((max(2, h // 4), max(2, w // 4), channels)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, channels)
    return np.round(big * peak).astype(dtype)


def run_cli(*args) -> int:
    return main(['upscale', *map(str, args)])


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob('*') if p.name.startswith('.') or p.suffix == '.tmp']


def test_folder_of_mixed_images_keeps_size_mode_and_depth(tmp_path, tiny_weights):
    src, out = tmp_path / 'in', tmp_path / 'out'
    (src / 'sub').mkdir(parents=True)
    gray = smooth(20, 26, 1, 255)
    rgb = smooth(20, 26, 3, 255)
    alpha = np.full((20, 26, 1), 200, np.uint8)
    alpha[5:15, 8:18] = 30
    Image.fromarray(gray[..., 0]).save(src / 'gray.png')
    Image.fromarray(rgb).save(src / 'rgb.png')
    Image.fromarray(np.concatenate([rgb, alpha], 2)).save(src / 'sub' / 'rgba.png')
    Image.fromarray(np.concatenate([gray, alpha], 2), 'LA').save(src / 'gray_alpha.png')
    rgb16 = rgb.astype(np.uint16) * 257
    cv2.imwrite(str(src / 'rgb16.png'), rgb16[..., ::-1])
    cv2.imwrite(str(src / 'gray16.png'), gray[..., 0].astype(np.uint16) * 257)
    (src / 'gray_alpha16.png').write_bytes(png_bytes(np.concatenate([gray, alpha], 2).astype(np.uint16) * 257))
    cv2.imwrite(
        str(src / 'sub' / 'rgba16.tif'), np.concatenate([rgb16, alpha.astype(np.uint16) * 257], 2)[..., [2, 1, 0, 3]]
    )
    Image.fromarray(rgb).save(src / 'photo.jpg', quality=95)
    Image.fromarray(rgb).save(src / 'pic.webp', lossless=True)
    Image.fromarray(rgb).save(src / 'pic.bmp')
    assert run_cli('-i', src, '-o', out, '--weights', tiny_weights) == 0

    expected = {
        'gray.png': ('PNG', 'L'),
        'rgb.png': ('PNG', 'RGB'),
        'sub/rgba.png': ('PNG', 'RGBA'),
        'gray_alpha.png': ('PNG', 'LA'),
        'rgb16.png': ('PNG', 'RGB;16'),
        'gray16.png': ('PNG', 'L;16'),
        'gray_alpha16.png': ('PNG', 'RGBA;16'),  # no encoder writes 16-bit gray + alpha
        'sub/rgba16.tif': ('TIFF', 'RGBA;16'),
        'photo.jpg': ('JPEG', 'RGB'),
        'pic.webp': ('WEBP', 'RGB'),
        'pic.bmp': ('BMP', 'RGB'),
    }
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file())
    assert written == sorted(expected)
    results = {}
    for name, (fmt, mode) in expected.items():
        image = read_image(out / name)
        assert (image.format, image.mode, image.pixels.shape[:2]) == (fmt, mode, (40, 52)), name
        results[name] = image.pixels

    # 16-bit input whose values are the 8-bit ones x 257: a 16-bit result within one 8-bit step of 257 x
    # the 8-bit result, with values between the multiples of 257 (real 16-bit precision, not 8-bit widened)
    sr8, sr16 = results['rgb.png'].astype(float), results['rgb16.png'].astype(float)
    assert np.abs(sr16 - 257 * sr8).max() <= 257 and (results['rgb16.png'] % 257 != 0).mean() > 0.5
    # gray: the RGB network's result on the replicated image, converted to luma as Pillow does
    sr_replicated = upscale_image(load_upscaler(tiny_weights), gray.repeat(3, axis=2))
    luma = np.asarray(Image.fromarray(sr_replicated).convert('L')).astype(int)
    assert np.abs(results['gray.png'][..., 0].astype(int) - luma).max() <= 1
    # alpha is upscaled by bicubic interpolation: flat regions stay exact, the result is Pillow's 8-bit bicubic
    alpha_out = results['sub/rgba.png'][..., 3]
    pil_bicubic = np.asarray(Image.fromarray(alpha[..., 0]).resize((52, 40), Image.Resampling.BICUBIC)).astype(int)
    assert np.abs(alpha_out.astype(int) - pil_bicubic).max() <= 1
    assert alpha_out[0, 0] == 200 and alpha_out[20, 26] == 30
    assert np.array_equal(results['sub/rgba.png'][..., :3], results['rgb.png'])
    assert np.array_equal(results['gray_alpha.png'][..., 0], results['gray.png'][..., 0])
    gray_alpha16 = results['gray_alpha16.png']
    assert np.array_equal(gray_alpha16[..., 0], gray_alpha16[..., 2]) and (gray_alpha16[..., 0] % 257 != 0).any()
    assert np.abs(gray_alpha16[..., 3].astype(int) - 257 * alpha_out.astype(int)).max() <= 257
    assert leftovers(out) == []


@requires_shared
def test_official_x4_gives_the_benchmark_pixels(tmp_path):
    """upscale --backend torch == BasicSR's path: cv2 read, img2tensor, model(tensor), tensor2img (clamp,
    *255, round); the default (fused CPU kernels, within 1e-5) rounds the same but for a rare pixel."""
    lr_path = SHARED / 'datasets' / 'benchmark' / 'Set5' / 'LR_bicubic' / 'X4' / 'butterflyx4.png'
    torch_out, default_out = tmp_path / 'torch.png', tmp_path / 'default.png'
    common = ('-i', lr_path, '--weights', official_weights(4), '--device', 'cpu')
    assert run_cli(*common, '-o', torch_out, '--backend', 'torch') == 0
    assert run_cli(*common, '-o', default_out) == 0

    net = ALKDNet(upscale=4).eval()
    net.load_state_dict(torch.load(official_weights(4), weights_only=True)['params'])
    lq = img2tensor(cv2.imread(str(lr_path)).astype(np.float32) / 255.0, bgr2rgb=True, float32=True)[None]
    expected_bgr = tensor2img(net(lq), rgb2bgr=True)
    got_bgr = cv2.imread(str(torch_out))
    assert got_bgr.shape == (256, 256, 3)
    assert np.array_equal(got_bgr, expected_bgr)
    diff = np.abs(cv2.imread(str(default_out)).astype(int) - expected_bgr.astype(int))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= diff.size // 1000


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0**2 / mse)


@requires_shared
def test_tiled_output_matches_untiled():
    """Textured content with tiles of 40 + 2 x 16: plain tiles drift (about 46 dB measured), seamless ones do not."""
    net = load_upscaler(official_weights(4))
    lr = np.array(Image.open(SHARED / 'datasets' / 'benchmark' / 'Set14' / 'LR_bicubic' / 'X4' / 'comicx4.png'))
    whole = upscale_image(net, lr)
    fast = upscale_image(net, lr, tile=40, tile_pad=16, tile_mode='fast')
    seamless = upscale_image(net, lr, tile=40, tile_pad=16, tile_mode='seamless')
    assert whole.shape == fast.shape == seamless.shape == (360, 248, 3)
    assert psnr(seamless, whole) >= 50
    assert psnr(seamless, whole) >= psnr(fast, whole) + 3
    assert np.array_equal(upscale_image(net, lr), whole)  # the seamless pass left the network as it was


class CountingNet(torch.nn.Module):
    """The network, with the sizes of the inputs it was called on."""

    def __init__(self, net):
        super().__init__()
        self.net, self.upscale, self.min_size, self.sizes = net, net.upscale, net.min_size, []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        return self.net(x)


@pytest.mark.parametrize('tile_mode', ['fast', 'seamless'])
def test_tile_bounds_the_area_run_at_once(tile_mode):
    """--tile N runs an image of at most N x N pixels whole (a 20 x 60 one with N = 40: no more memory
    than one tile with its context), and a larger one in tiles that, with their context, hold at most the
    pixels of an N x N tile with the pad on each side: equal bands across the shorter side, equal tiles along."""
    torch.manual_seed(0)
    net = CountingNet(ALKDNet(upscale=2, num_feat=16, num_block=1).eval())
    passes = {'fast': 1, 'seamless': 2}[tile_mode]
    bound = (40 + 2 * 8) ** 2
    wide = torch.rand(1, 3, 20, 60)
    assert torch.equal(upscale_tensor(net, wide, tile=40, tile_pad=8, tile_mode=tile_mode), net.net(wide))
    assert net.sizes == [(20, 60)]
    net.sizes.clear()  # 3 bands of 34 rows (not 40, 40 and 20), each in 3 tiles of 34 columns: 50 x 50 at most
    upscale_tensor(net, torch.rand(1, 3, 100, 100), tile=40, tile_pad=8, tile_mode=tile_mode)
    assert len(net.sizes) == 9 * passes and max(h * w for h, w in net.sizes) <= bound
    assert max(max(size) for size in net.sizes) <= 34 + 2 * 8 + ESA.GRID  # seamless: tile origins on ESA's grid
    net.sizes.clear()  # 41 x 40, within the bound with the context it would have: one piece
    upscale_tensor(net, torch.rand(1, 3, 41, 40), tile=40, tile_pad=8, tile_mode=tile_mode)
    assert net.sizes == [(41, 40)] * passes
    net.sizes.clear()  # 2 x 800 pixels, but 13 x 800 once padded to the network's least size: 4 tiles of 200
    upscale_tensor(net, torch.rand(1, 3, 2, 800), tile=40, tile_pad=8, tile_mode=tile_mode)
    assert len(net.sizes) == 4 * passes and {h for h, _ in net.sizes} == {13}
    assert max(h * w for h, w in net.sizes) <= bound
    with pytest.raises(ValueError, match='tile must be an integer >= 0'):
        upscale_tensor(net, wide, tile=-1)


@pytest.mark.parametrize('esa_padding', [0, 1])
def test_aligned_esa_equals_esa_on_the_whole_image(esa_padding):
    """Seamless tiling's ESA with the tile = the image must be ESA itself (guards against ESA changes)."""
    torch.manual_seed(0)
    esa = ESA(32, 8, down_padding=esa_padding).eval()
    x = torch.randn(2, 32, 37, 50)
    assert torch.allclose(aligned_esa(esa, x, (0, 0), (37, 50)), esa(x), atol=1e-5)


def shared_checkpoints() -> list[Path]:
    return sorted((SHARED / 'weights').rglob('*.pth')) if (SHARED / 'weights').is_dir() else []


@requires_shared
def test_every_shared_checkpoint_is_recognised():
    checkpoints = shared_checkpoints()
    assert len(checkpoints) >= 6
    for path in checkpoints:
        arch, scale = re.fullmatch(r'net_g_(ALKDN|BSRN)_x(\d)\.pth', path.name).groups()
        preset = {'ALKDN': 'alkdnet', 'BSRN': 'bsrn'}[arch]
        net = load_upscaler(path)
        assert net.upscale == int(scale) and net.config['preset'] == preset, path
        assert {k: net.config[k] for k in preset_config(preset)} == {**preset_config(preset), 'upscale': int(scale)}


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_every_preset_saved_fresh_is_recognised(tmp_path, suffix):
    for i, preset in enumerate(sorted(PRESETS)):
        scale = (2, 3, 4)[i % 3]
        net = ALKDNet(preset=preset, upscale=scale)
        save_checkpoint(net, tmp_path / f'{preset}{suffix}')
        loaded = load_upscaler(tmp_path / f'{preset}{suffix}')
        assert loaded.config == net.config and loaded.config['preset'] == preset and loaded.upscale == scale
        saved = loaded.state_dict()
        assert saved.keys() == net.state_dict().keys()
        assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items())


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, tiny_weights, capsys):
    Image.fromarray(smooth(16, 16, 3, 255)).save(tmp_path / 'a.png')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a.png').write_bytes(b'keep me')
    assert run_cli('-i', tmp_path / 'a.png', '-o', out, '--weights', tiny_weights) == 0
    assert (out / 'a.png').read_bytes() == b'keep me'
    assert '0 upscaled, 1 skipped' in capsys.readouterr().out
    assert run_cli('-i', tmp_path / 'a.png', '-o', out, '--weights', tiny_weights, '--overwrite') == 0
    assert read_image(out / 'a.png').pixels.shape == (32, 32, 3)


def test_glob_and_an_output_folder_inside_the_input(tmp_path, tiny_weights, capsys):
    (tmp_path / 'day1').mkdir()
    for name in ('day1/a.png', 'day1/b.jpg', 'c.png', '.hidden.png'):
        Image.fromarray(smooth(14, 14, 3, 255)).save(tmp_path / name)
    out = tmp_path / 'x2'
    assert run_cli('-i', tmp_path, '-o', out, '--weights', tiny_weights, '--glob', 'day1/*') == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file()) == ['day1/a.png', 'day1/b.jpg']
    assert run_cli('-i', tmp_path, '-o', out, '--weights', tiny_weights) == 0  # x2/ itself is not an input
    assert '1 upscaled, 2 skipped' in capsys.readouterr().out.splitlines()[-1]
    assert sorted(p.name for p in out.rglob('*') if p.is_file()) == ['a.png', 'b.jpg', 'c.png']


def test_bad_files_are_reported_and_the_rest_is_done(tmp_path, tiny_weights, capsys):
    src, out = tmp_path / 'in dir', tmp_path / 'out'
    src.mkdir()
    Image.fromarray(smooth(16, 18, 3, 255)).save(src / 'good ü.png')
    (src / 'empty.png').write_bytes(b'')
    (src / 'text.png').write_text('not an image')
    buf = (src / 'good ü.png').read_bytes()
    (src / 'truncated.png').write_bytes(buf[: len(buf) // 2])
    assert run_cli('-i', src, '-o', out, '--weights', tiny_weights) == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3
    assert any('empty.png: empty file' in line for line in errors)
    assert any('text.png: not an image file' in line for line in errors)
    assert any('truncated.png: truncated or corrupt' in line for line in errors)
    assert all(line.startswith('alkdsr upscale: error: ') for line in errors)
    assert '1 upscaled, 0 skipped (output exists), 3 failed' in captured.out
    assert [p.name for p in out.iterdir()] == ['good ü.png']


def test_interrupted_write_leaves_no_partial_file(tmp_path, tiny_weights, monkeypatch):
    Image.fromarray(smooth(16, 16, 3, 255)).save(tmp_path / 'a.png')
    real_save = Image.Image.save

    def save_then_die(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, 'save', save_then_die)
    assert run_cli('-i', tmp_path / 'a.png', '-o', tmp_path / 'out', '--weights', tiny_weights) == 130
    assert list((tmp_path / 'out').iterdir()) == []


def test_single_file_output_ext_and_batch(tmp_path, tiny_weights):
    a, b = smooth(16, 20, 3, 255), smooth(16, 20, 3, 255)
    Image.fromarray(a).save(tmp_path / 'a.png')
    Image.fromarray(b).save(tmp_path / 'b.png')
    assert run_cli('-i', tmp_path / 'a.png', '-o', tmp_path / 'single.jpg', '--weights', tiny_weights) == 0
    assert read_image(tmp_path / 'single.jpg').format == 'JPEG'
    args = ['-i', tmp_path / 'a.png', tmp_path / 'b.png', '--weights', tiny_weights, '--ext', 'webp']
    assert run_cli(*args, '-o', tmp_path / 'one', '--batch', '1') == 0
    assert run_cli(*args, '-o', tmp_path / 'two', '--batch', '2') == 0
    for name in ('a.webp', 'b.webp'):
        one, two = read_image(tmp_path / 'one' / name), read_image(tmp_path / 'two' / name)
        assert one.format == 'WEBP' and np.abs(one.pixels.astype(int) - two.pixels.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ('make_args', 'message'),
    [
        (lambda d, w: ['-i', d / 'missing.png', '-o', d / 'o', '--weights', w], 'missing.png: no such file or folder'),
        (lambda d, w: ['-i', d / 'a.png', '-o', d / 'o'], 'net_g_ALKDN_x4.pth or run `alkdsr weights import FILE`'),
        (lambda d, w: ['-i', d / 'a.png', '-o', d / 'o', '--weights', 'alkdnet-x5'], 'nor a registered weights name'),
        (lambda d, w: ['-i', d / 'a.png', '-o', d / 'o', '--weights', w, '--scale', '4'], 'for x2, not x4 (--scale)'),
        (lambda d, w: ['-i', d / 'a.png', '-o', d, '--weights', w], 'the output would overwrite its input'),
        (
            lambda d, w: ['-i', d / 'a.png', d / 'a.jpg', '-o', d / 'o', '--weights', w, '--ext', 'png'],
            'both be written',
        ),
        (lambda d, w: ['-i', d, '-o', d / 'x.png', '--weights', w], 'names an image file'),
        (lambda d, w: ['-i', d / 'a.png', '-o', d / 'o', '--weights', d / 'a.png'], 'a.png: '),
        (lambda d, w: ['-i', d / 'a.png', '-o', d / 'o', '--weights', w, '--ext', 'gif'], 'unsupported output format'),
        (lambda d, w: ['-i', d / 'a.png', '-o', d / 'o', '--weights', w, '--half', '--device', 'cpu'], 'needs a CUDA'),
    ],
)
def test_plan_errors_are_one_line_before_any_work(tmp_path, tiny_weights, capsys, make_args, message):
    Image.fromarray(smooth(16, 16, 3, 255)).save(tmp_path / 'a.png')
    Image.fromarray(smooth(16, 16, 3, 255)).save(tmp_path / 'a.jpg')
    assert run_cli(*make_args(tmp_path, tiny_weights)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('alkdsr upscale: error: ') and message in err and '\n' not in err
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('mode', ['L', 'LA', 'RGB', 'RGBA', 'L;16', 'LA;16', 'RGB;16', 'RGBA;16'])
@pytest.mark.parametrize('suffix', ['.png', '.tif'])
def test_lossless_round_trip(tmp_path, mode, suffix):
    channels = {'L': 1, 'LA': 2, 'RGB': 3, 'RGBA': 4}[mode.split(';')[0]]
    dtype = np.uint16 if mode.endswith(';16') else np.uint8
    pixels = RNG.integers(0, np.iinfo(dtype).max, (7, 9, channels), dtype=dtype, endpoint=True)
    write_image(tmp_path / f'x{suffix}', pixels)
    back = read_image(tmp_path / f'x{suffix}').pixels
    if mode == 'LA;16':  # no encoder writes 16-bit gray + alpha: it comes back as RGBA with equal colours
        assert np.array_equal(back[..., [0, 3]], pixels) and np.array_equal(back[..., 0], back[..., 2])
    else:
        assert back.dtype == dtype and np.array_equal(back, pixels)


def test_formats_that_cannot_hold_alpha_or_16_bits(tmp_path):
    rgba16 = RNG.integers(0, 65535, (8, 8, 4), dtype=np.uint16, endpoint=True)
    write_image(tmp_path / 'x.jpg', rgba16)
    assert read_image(tmp_path / 'x.jpg').mode == 'RGB'
    write_image(tmp_path / 'x.webp', rgba16)
    assert read_image(tmp_path / 'x.webp').mode == 'RGBA'


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG written by hand (16-bit gray + alpha, which no library here writes)."""
    h, w, c = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = b''.join(b'\0' + row.astype('>u2').tobytes() for row in pixels)
    ihdr = struct.pack('>IIBBBBB', w, h, 16, colour_type, 0, 0, 0)
    return (
        b'\x89PNG\r\n\x1a\n'
        + png_chunk(b'IHDR', ihdr)
        + png_chunk(b'IDAT', zlib.compress(rows))
        + png_chunk(b'IEND', b'')
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` RGB pixels, with almost no data behind it."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (
        b'\x89PNG\r\n\x1a\n'
        + png_chunk(b'IHDR', ihdr)
        + png_chunk(b'IDAT', zlib.compress(b'\0' * 64))
        + png_chunk(b'IEND', b'')
    )


@pytest.mark.parametrize(
    ('content', 'message'),
    [
        (b'', 'empty file'),
        (b'hello, not a picture', 'not an image file'),
        (png_header_only(100_000, 100_000), 'too many pixels'),
        (png_header_only(64, 64), 'truncated or corrupt'),
    ],
)
def test_unreadable_images_name_the_file(tmp_path, content, message):
    path = tmp_path / 'bad name.png'
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        read_image(path)
    assert str(info.value).startswith(str(path)) and '\n' not in str(info.value)


FORMAT_LIST = 'BMP, JPEG, PNG, PPM, TIFF, WEBP'


def frames(count: int, h: int = 16, w: int = 18) -> list[Image.Image]:
    """Distinct RGB frames (Pillow merges equal consecutive frames of an animation)."""
    return [Image.fromarray(smooth(h, w, 3, 255)) for _ in range(count)]


def save_frames(path: Path, count: int, **options) -> Path:
    first, *rest = frames(count)
    first.save(path, save_all=True, append_images=rest, **options)
    return path


MULTI_FRAME = [  # (file, frames, Pillow's save options, the message)
    ('animated.webp', 2, {'lossless': True}, UNDONE_MISTAKES['animated WebP'].expect),
    ('animated.png', 3, {}, UNDONE_MISTAKES['APNG'].expect),
    ('pages.tif', 2, {}, UNDONE_MISTAKES['multi-page TIFF'].expect),
]


@pytest.mark.parametrize(('name', 'count', 'options', 'message'), MULTI_FRAME, ids=[m[0] for m in MULTI_FRAME])
def test_multi_frame_images_are_refused_like_gif(tmp_path, tiny_weights, capsys, name, count, options, message):
    """An animation or page stack is one line naming the file, as a GIF is, not its first frame upscaled."""
    save_frames(tmp_path / 'moving.gif', 2)
    gif_rc = run_cli('-i', tmp_path / 'moving.gif', '-o', tmp_path / 'gif_out', '--weights', tiny_weights)
    gif_err = capsys.readouterr().err.strip()
    assert (
        gif_err == f'alkdsr upscale: error: {tmp_path / "moving.gif"}: GIF images are not supported (use {FORMAT_LIST})'
    )

    path = save_frames(tmp_path / name, count, **options)
    with Image.open(path) as im:  # the file is what the test means it to be
        assert im.format == {'.webp': 'WEBP', '.png': 'PNG', '.tif': 'TIFF'}[path.suffix] and im.n_frames == count
    rc = run_cli('-i', path, '-o', tmp_path / 'out', '--weights', tiny_weights)
    err = capsys.readouterr().err.strip()
    assert rc == gif_rc == 1  # a GIF's exit status: that of any image that fails
    assert err == f'alkdsr upscale: error: {path}: {message}'
    assert not (tmp_path / 'out').exists() or list((tmp_path / 'out').iterdir()) == []
    with pytest.raises(ImageError) as info:  # the reader that compare and export use too
        read_image(path)
    assert str(info.value) == err.removeprefix('alkdsr upscale: error: ')


def test_single_frame_webp_png_and_tiff_still_upscale(tmp_path, tiny_weights):
    """Saved with save_all (the way the multi-frame files are made), one frame is an ordinary image."""
    pixels = smooth(16, 18, 3, 255)
    src = tmp_path / 'in'
    src.mkdir()
    for name, options in (('a.png', {}), ('b.webp', {'lossless': True}), ('c.tif', {})):
        Image.fromarray(pixels).save(src / name, save_all=True, **options)
    assert run_cli('-i', src, '-o', tmp_path / 'out', '--weights', tiny_weights) == 0
    expected = upscale_image(load_upscaler(tiny_weights), pixels)
    for name, fmt in (('a.png', 'PNG'), ('b.webp', 'WEBP'), ('c.tif', 'TIFF')):
        result = read_image(tmp_path / 'out' / name)
        assert result.format == fmt and result.pixels.shape == (32, 36, 3)
        if fmt != 'WEBP':  # the WebP output is written lossy (quality 95)
            assert np.array_equal(result.pixels, expected), name


def test_prepare_refuses_an_animated_png_and_does_the_rest(tmp_path, capsys):
    """``alkdsr prepare`` reads with OpenCV, which takes the first frame: the same check comes first."""
    hr = tmp_path / 'hr'
    hr.mkdir()
    save_frames(hr / 'anim.png', 2)
    Image.fromarray(smooth(16, 18, 3, 255)).save(hr / 'still.png')
    assert main(['prepare', str(hr), str(tmp_path / 'data'), '--scales', '2', '--workers', '1']) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f'alkdsr prepare: {hr / "anim.png"}: {UNDONE_MISTAKES["animated PNG to prepare"].expect}']
    written = sorted(p.relative_to(tmp_path / 'data').as_posix() for p in (tmp_path / 'data').rglob('*.png'))
    assert written == ['HR/still.png', 'LR_bicubic/X2/stillx2.png']


def test_benchmark_refuses_a_multi_page_tiff_lr(tmp_path, tiny_weights, capsys):
    """The benchmark's reader (OpenCV, BasicSR's) has the same check: one line, the other images scored."""
    root = tmp_path / 'root'
    for sub in ('HR', 'LR_bicubic/X2'):
        (root / 'Tiny' / sub).mkdir(parents=True)
    for name in ('a', 'b'):
        hr = smooth(24, 24, 3, 255)
        Image.fromarray(hr).save(root / 'Tiny' / 'HR' / f'{name}.png')
        Image.fromarray(hr[::2, ::2]).save(root / 'Tiny' / 'LR_bicubic' / 'X2' / f'{name}x2.png')
    lr = root / 'Tiny' / 'LR_bicubic' / 'X2' / 'bx2.png'
    first = Image.open(lr).copy()
    first.save(lr.with_suffix('.tif'), save_all=True, append_images=[first.transpose(Image.Transpose.ROTATE_90)])
    lr.unlink()
    args = ['--weights', tiny_weights, '--data-root', root, '--sets', 'Tiny', '--device', 'cpu']
    rc = main(['benchmark', *map(str, args)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert [line for line in err if 'bx2' in line] == [
        f'alkdsr benchmark: error: {lr.with_suffix(".tif")}: '
        + UNDONE_MISTAKES['multi-page TIFF as a benchmark LR'].expect
    ]
