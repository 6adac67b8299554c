"""``alkdsr compare``: the paper-style figure and captions equal to the benchmark's per-image values."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr, calculate_ssim
from basicsr.utils import img2tensor, tensor2img
from conftest import SHARED, official_weights, requires_shared
from PIL import Image

import alkdsr.metrics.figures as figures  # the compare command loads it when it runs
from alkdsr.archs import ALKDNet
from alkdsr.cli.main import main

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)


def set5(*parts):
    return SHARED / 'datasets' / 'benchmark' / 'Set5' / '/'.join(parts)


def benchmark_psnr_ssim(hr_path, lr_path, weights, scale):
    """The benchmark's per-image numbers, computed here with BasicSR alone."""
    net = ALKDNet(upscale=scale).eval()
    net.load_state_dict(torch.load(weights, weights_only=True)['params'])
    lq = img2tensor(cv2.imread(str(lr_path)).astype(np.float32) / 255.0, bgr2rgb=True, float32=True)[None]
    sr = tensor2img(net(lq))
    hr = cv2.imread(str(hr_path))[: sr.shape[0], : sr.shape[1]]
    return (
        calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True),
        calculate_ssim(sr, hr, crop_border=scale, test_y_channel=True),
    )


def run_compare(monkeypatch, *args) -> list[str]:
    """``alkdsr compare ARGS`` with the official x4 weights; returns the figure's captions."""
    drawn = []
    real_save = figures.save_figure

    def keep_captions(fig, path):
        drawn.extend(ax.get_xlabel() for ax in fig.axes)
        real_save(fig, path)

    monkeypatch.setattr(figures, 'save_figure', keep_captions)
    args = [*args, '--weights', official_weights(4), '--labels', 'ALKDNet', '--device', 'cpu']
    assert main(['compare', *map(str, args)]) == 0
    return drawn


def golden_x4(name: str) -> tuple[float, float]:
    golden = json.loads((SHARED / 'golden' / 'official_benchmark_psnr_ssim.json').read_text())
    return golden['Set5_x4']['per_image'][name]


@requires_shared
def test_butterfly_x4_figure_captions_match_the_benchmark(tmp_path, capsys, monkeypatch):
    hr, lr, out = set5('HR', 'butterfly.png'), set5('LR_bicubic', 'X4', 'butterflyx4.png'), tmp_path / 'fig 7.png'
    drawn = run_compare(monkeypatch, '--hr', hr, '--lr', lr, '-o', out)

    with Image.open(out) as figure:
        assert figure.format == 'PNG' and figure.size[0] > 600 and figure.size[1] > 300
    assert drawn[0] == 'butterfly (x4)' and drawn[1] == 'HR\nPSNR/SSIM' and drawn[2].startswith('Bicubic\n')
    caption = re.fullmatch(r'ALKDNet\n(\d+\.\d{3}) dB / (0\.\d{4})', drawn[3])
    assert caption, drawn
    caption_psnr, caption_ssim = map(float, caption.groups())
    psnr, ssim = benchmark_psnr_ssim(hr, lr, official_weights(4), 4)
    assert abs(caption_psnr - psnr) <= 0.0005 and abs(caption_ssim - ssim) <= 0.00005
    golden_psnr, golden_ssim = golden_x4('butterfly')
    assert abs(caption_psnr - golden_psnr) <= 0.002 and abs(caption_ssim - golden_ssim) <= 0.0001
    bicubic_psnr = float(re.search(r'Bicubic: PSNR (\S+) dB', capsys.readouterr().out).group(1))
    assert bicubic_psnr < caption_psnr - 5  # the paper's gap at x4 is about 4-7 dB
    assert [p.name for p in tmp_path.iterdir()] == ['fig 7.png']


@requires_shared
def test_without_lr_the_lr_is_matlab_exact_and_the_caption_the_benchmarks(tmp_path, monkeypatch):
    """HR only: compare makes the LR as MATLAB does, so the caption is the official per-image value."""
    drawn = run_compare(monkeypatch, '--hr', set5('HR', 'bird.png'), '-o', tmp_path / 'bird.png')
    caption = re.fullmatch(r'ALKDNet\n(\d+\.\d{3}) dB / (0\.\d{4})', drawn[3])
    golden_psnr, golden_ssim = golden_x4('bird')
    assert abs(float(caption[1]) - golden_psnr) <= 0.002 and abs(float(caption[2]) - golden_ssim) <= 0.0001


@pytest.mark.parametrize(
    ('extra', 'message'),
    [
        (['--lr', 'big.png'], 'is larger than HR'),
        (['--box', '30', '30', '20', '20'], 'is not inside'),
        (['--labels', 'A', 'B'], '2 --labels for 1 --weights'),
    ],
)
def test_bad_compare_input_is_one_line(tmp_path, capsys, extra, message):
    torch.manual_seed(0)
    from alkdsr.zoo.checkpoint import save_checkpoint

    save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=1), tmp_path / 'w.pth')
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / 'hr.png')
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(tmp_path / 'big.png')
    extra = [str(tmp_path / e) if e.endswith('.png') else e for e in extra]
    args = [
        'compare',
        '--hr',
        str(tmp_path / 'hr.png'),
        '--weights',
        str(tmp_path / 'w.pth'),
        '-o',
        str(tmp_path / 'f.png'),
    ]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1
    assert not (tmp_path / 'f.png').exists()
