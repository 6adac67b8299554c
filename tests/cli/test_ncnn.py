"""``alkdsr export --format ncnn``: .param/.bin files that the ncnn package runs like PyTorch, for ncnn apps."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import SHARED, bsrn_weights, official_weights, requires_shared
from PIL import Image

from alkdsr.archs import ALKDNet
from alkdsr.archs.presets import PRESETS
from alkdsr.cli.main import main
from alkdsr.errors import OutputError
from alkdsr.inference.ncnn_util import NcnnUpscaler, export_ncnn
from alkdsr.zoo.checkpoint import load_model, save_checkpoint

ncnn = pytest.importorskip('ncnn')  # CI fails instead of skipping (conftest.missing_under_ci)
pnnx = pytest.importorskip('pnnx')
pytestmark = pytest.mark.usefixtures('no_grad')

SET5 = ('baby', 'bird', 'butterfly', 'head', 'woman')


def set5_lr(scale: int, name: str) -> np.ndarray:
    path = SHARED / 'datasets' / 'benchmark' / 'Set5' / 'LR_bicubic' / f'X{scale}' / f'{name}x{scale}.png'
    return np.asarray(Image.open(path), dtype=np.float32).transpose(2, 0, 1) / 255


def run_with_ncnn(param, lr: np.ndarray) -> np.ndarray:
    """The files run here with the ncnn package directly (float32, CPU), by the blob names ncnn apps use."""
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix('.bin'))) == 0
    image = np.ascontiguousarray(lr)
    mat = ncnn.Mat(image)
    extractor = net.create_extractor()
    assert extractor.input('data', mat) == 0
    status, out = extractor.extract('output')
    assert status == 0
    return np.array(out)


def scale_as_chainner_reads_it(param) -> float:
    """chaiNNer's NCNN loader takes a model's scale to be its PixelShuffle factors divided by the strides of its
    convolutions (parameter 3), and refuses MemoryData layers."""
    scale = 1.0
    for line in param.read_text().splitlines()[2:]:
        kind, _, bottoms, tops, *rest = line.split()
        params = dict(p.split('=', 1) for p in rest[int(bottoms) + int(tops) :])
        assert kind != 'MemoryData'
        if kind == 'PixelShuffle':
            scale *= int(params['0'])
        elif kind in ('Convolution', 'ConvolutionDepthWise'):
            scale /= int(params.get('3', 1))
    return scale


@pytest.fixture
def named_weights(tmp_path, monkeypatch):
    """Registered names (alkdnet-x4, bsrn-x4, ...) served from ../shared's official files."""
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    for folder in ('official', 'bsrn_official'):
        for src in (SHARED / 'weights' / folder).glob('*.pth'):
            (mirror / src.name).symlink_to(src)
    monkeypatch.setenv('ALKDSR_HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', mirror.as_uri())


@requires_shared
@pytest.mark.parametrize(
    ('weights', 'file', 'scale'),
    [
        ('alkdnet-x4', official_weights(4), 4),  # a registered name, read as `alkdsr upscale` reads it
        (official_weights(3), official_weights(3), 3),
        (official_weights(2), official_weights(2), 2),
        ('bsrn-x4', bsrn_weights(4), 4),
    ],
    ids=['alkdnet-x4', 'alkdnet-x3', 'alkdnet-x2', 'bsrn-x4'],
)
def test_official_weights_match_pytorch_on_set5(tmp_path, capsys, named_weights, weights, file, scale):
    out = tmp_path / 'out'
    param = out / f'model_x{scale}.param'
    folder = SHARED / 'datasets' / 'benchmark' / 'Set5' / 'LR_bicubic' / f'X{scale}'
    images = [folder / f'{name}x{scale}.png' for name in SET5]
    args = ['export', '--weights', str(weights), '-o', str(param), '--verify', '--verify-image', *map(str, images)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f'x{scale}, ncnn, float32 weights' in printed and 'verify: passed' in printed
    reported = dict(re.findall(r'verify (\w+)x\d\.png \S+: max \|ncnn - torch\| = (\S+),', printed))
    assert sorted(reported) == sorted(SET5) and max(map(float, reported.values())) <= 1e-4
    assert sorted(p.name for p in out.iterdir()) == sorted([param.name, param.with_suffix('.bin').name])  # no more

    lines = param.read_text().splitlines()
    assert lines[0] == '7767517' and lines[2].split()[:5] == ['Input', 'data', '0', '1', 'data']
    assert lines[-1].split()[5] == 'output' and '"' not in param.read_text()  # no expressions: 2022 ncnn reads it
    lr = set5_lr(scale, 'bird')
    net = load_model(file)
    expected = net(torch.from_numpy(lr)[None])[0].numpy()
    got = run_with_ncnn(param, lr)
    assert got.shape == expected.shape and float(np.abs(got - expected).max()) <= 1e-4


def small_checkpoint(path, preset='alkdnet', scale=2, seed=0):
    torch.manual_seed(seed)
    save_checkpoint(ALKDNet(upscale=scale, preset=preset, num_feat=16, num_block=2).eval(), path)
    return path


def test_fp16_weights_are_half_the_size_and_close_to_float32(tmp_path, capsys):
    weights = small_checkpoint(tmp_path / 'w.safetensors')
    assert main(['export', '--weights', str(weights), '-o', str(tmp_path / 'fp32.param')]) == 0
    assert main(['export', '--weights', str(weights), '-o', str(tmp_path / 'fp16.param'), '--fp16', '--verify']) == 0
    printed = capsys.readouterr().out
    assert 'float16 weights' in printed and 'verify: passed' in printed
    lowest = float(re.search(r'lowest PSNR (\S+) dB', printed).group(1))
    assert 60 <= lowest < 100  # float16 weights: close to float32, yet not equal
    ratio = (tmp_path / 'fp16.bin').stat().st_size / (tmp_path / 'fp32.bin').stat().st_size
    assert 0.45 <= ratio <= 0.56
    net = load_model(weights)
    lr = np.random.default_rng(0).random((3, 21, 30), dtype=np.float32)
    expected = net(torch.from_numpy(lr)[None])[0].numpy()
    assert np.abs(run_with_ncnn(tmp_path / 'fp32.param', lr) - expected).max() <= 1e-5
    assert np.abs(run_with_ncnn(tmp_path / 'fp16.param', lr) - expected).max() > 1e-5


@pytest.mark.parametrize('preset', list(PRESETS))
def test_every_preset_converts_and_runs_at_any_size(tmp_path, preset):
    """Every preset, at x2, x3 or x4 in turn: the file takes any size of at least ``min_size`` (odd ones
    included); the runner pads smaller ones as the network does."""
    scale = (2, 3, 4)[list(PRESETS).index(preset) % 3]
    torch.manual_seed(1)
    net = ALKDNet(upscale=scale, preset=preset, num_feat=16, num_block=1).eval()
    param, bin_path = export_ncnn(net, tmp_path / f'{preset}.param')
    assert bin_path == tmp_path / f'{preset}.bin' and bin_path.stat().st_size > 0
    assert scale_as_chainner_reads_it(param) == scale
    runner = NcnnUpscaler(param, scale, net.min_size, threads=1)
    rng = np.random.default_rng(2)
    for h, w in ((net.min_size, net.min_size), (23, 17), (net.min_size + 1, 40), (5, 3), (1, 1)):
        lr = rng.random((3, h, w), dtype=np.float32)
        expected = net(torch.from_numpy(lr)[None])[0].numpy()
        got = runner(lr) if min(h, w) < net.min_size else run_with_ncnn(param, lr)
        assert got.shape == (3, h * scale, w * scale) and np.abs(got - expected).max() <= 1e-4, (h, w)


def test_a_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    net = ALKDNet(upscale=2, num_feat=16, num_block=1).eval()
    (tmp_path / 'old.param').write_text('an earlier export')
    (tmp_path / 'old.bin').write_bytes(b'its weights')
    monkeypatch.setattr(pnnx, 'EXEC_PATH', '/bin/false')
    with pytest.raises(RuntimeError, match='pnnx failed'):
        export_ncnn(net, tmp_path / 'new.param')
    with pytest.raises(RuntimeError, match='pnnx failed'):
        export_ncnn(net, tmp_path / 'old.param')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['old.bin', 'old.param']
    assert (tmp_path / 'old.param').read_text() == 'an earlier export'
    assert (tmp_path / 'old.bin').read_bytes() == b'its weights'


def test_a_param_that_cannot_be_placed_takes_its_bin_away(tmp_path):
    net = ALKDNet(upscale=2, num_feat=16, num_block=1).eval()
    (tmp_path / 'net.param').mkdir()  # the .param's rename fails after the .bin's succeeded
    with pytest.raises(OutputError, match='net.param'):
        export_ncnn(net, tmp_path / 'net.param')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['net.param']


@pytest.mark.parametrize(
    ('extra', 'message'),
    [
        (['-o', 'm.bin', '--format', 'ncnn'], 'm.bin: the output file name must end in .param for ncnn'),
        (['-o', 'm.param', '--format', 'onnx'], 'must end in .onnx for onnx'),
        (['-o', 'm.param', '--opset', '17'], '--opset 17: an ONNX option'),
        (['-o', 'w.param'], '-o (its .bin) {tmp}/w.bin: is the input --weights {tmp}/w.bin'),
    ],
)
def test_bad_ncnn_options_are_one_line(tmp_path, capsys, extra, message):
    weights = small_checkpoint(tmp_path / 'w.bin')  # a checkpoint named like the .bin an export would write
    extra = [str(tmp_path / e) if e.endswith(('.bin', '.param')) else e for e in extra]
    assert main(['export', '--weights', str(weights), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and message.format(tmp=tmp_path) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['w.bin']


def test_missing_pnnx_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'pnnx' else find_spec(name, *a))
    assert main(['export', '--weights', str(tmp_path / 'absent.pth'), '-o', str(tmp_path / 'm.param')]) == 2
    err = capsys.readouterr().err
    expected = 'export --format ncnn needs the pnnx package, which is not installed: pip install pnnx==20261020'
    assert err == f'alkdsr export: error: {expected}\n'
