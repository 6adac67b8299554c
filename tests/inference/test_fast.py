"""Fast inference paths compute the eager network's function (CPU checks; CUDA-only paths
are exercised by benchmarks/bench_infer.py on a GPU)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from alkdsr.archs import ALKDNet
from alkdsr.archs.arch_util import use_fused_kernels
from alkdsr.inference.fast import optimize
from alkdsr.ops import alkconv_triton

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)


def small_net(preset='alkdnet', scale=2):
    torch.manual_seed(0)
    net = ALKDNet(upscale=scale, preset=preset, num_feat=32, num_block=2).eval()
    for p in net.parameters():  # non-trivial norms and biases
        p.add_(0.05 * torch.randn_like(p))
    return net


def clone(net):
    twin = ALKDNet(**{k: v for k, v in net.config.items() if k != 'preset'}).eval()
    twin.load_state_dict(net.state_dict())
    return twin


def test_custom_op_matches_the_eager_alkconv_on_cpu():
    net = small_net()
    conv = net.blocks[0].refine[0]
    x = torch.randn(2, 32, 11, 19)
    eager = conv(x)
    y = conv.pw(x)
    c, k = y.shape[1], conv.kernel_size
    op = torch.ops.alkdsr.alkconv_branches(
        y, conv.vertical.weight.view(c, k), conv.vertical.bias, conv.horizontal.weight.view(c, k),
        conv.horizontal.bias, conv.square.weight.view(c, 9), conv.square.bias, conv.norm.weight,
        conv.norm.bias, conv.norm.eps,
    )  # fmt: skip
    assert torch.allclose(op, eager, atol=1e-5)


@pytest.mark.skipif(alkconv_triton.triton is None, reason='triton is not installed')
def test_triton_kernel_matches_eager_in_the_interpreter():
    """The Triton kernel itself, run by Triton's CPU interpreter, against PyTorch ops."""
    script = textwrap.dedent(
        """
        import torch
        from alkdsr.ops import alkconv_triton as k
        torch.manual_seed(0)
        worst = 0.0
        for C, H, W, K in [(64, 6, 37, 9), (32, 5, 9, 3), (24, 4, 40, 5)]:
            y = torch.randn(2, C, H, W)
            w = [torch.randn(C, K), torch.randn(C), torch.randn(C, K), torch.randn(C),
                 torch.randn(C, 9), torch.randn(C), torch.randn(C), torch.randn(C)]
            ref = k.reference_branches(y, *w, 1e-6)
            for inp in (y, y.to(memory_format=torch.channels_last)):
                out = k.launch_triton(inp, *w, 1e-6)
                worst = max(worst, (out - ref).abs().max().item())
        print(worst)
        """
    )
    env = {**os.environ, 'TRITON_INTERPRET': '1'}
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert float(proc.stdout.split()[-1]) < 1e-4


@pytest.mark.parametrize('preset', ['alkdnet', 'bsrn'])
def test_fused_flag_is_a_no_op_on_cpu(preset):
    net = small_net(preset)
    x = torch.rand(1, 3, 20, 17)
    ref = net(x)
    use_fused_kernels(net, True)
    assert all(m.fused for m in net.modules() if type(m).__name__ == 'ALKConv')
    assert torch.equal(net(x), ref)


@pytest.mark.parametrize(
    'opts',
    [
        dict(channels_last=True),
        dict(fused=True),
        dict(dtype=torch.bfloat16),
        dict(compile=True, compile_backend='aot_eager'),
        dict(compile=True, compile_backend='aot_eager', channels_last=True),
    ],
    ids=['channels_last', 'fused', 'bf16', 'compile', 'compile+channels_last'],
)
def test_every_cpu_fast_path_matches_eager(opts):
    net = small_net(scale=3)
    x = torch.rand(1, 3, 21, 18)
    ref = net(x)
    out = optimize(clone(net), **opts)(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    if opts.get('dtype') == torch.bfloat16:  # 8-bit mantissa: judged by PSNR, not max |diff|
        assert 10 * torch.log10(1 / (out.clamp(0, 1) - ref.clamp(0, 1)).pow(2).mean()) > 35
    else:
        assert (out - ref).abs().max().item() <= 1e-4


def test_half_precision_keeps_norm_statistics_in_float32():
    """PixelNorm/CCA upcast: bf16 output stays within bf16 rounding of the fp32 one."""
    net = small_net()
    x = torch.rand(1, 3, 16, 16)
    ref = net(x)
    out = clone(net).to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    psnr = 10 * torch.log10(1 / (out.clamp(0, 1) - ref.clamp(0, 1)).pow(2).mean())
    assert psnr > 35


def test_onnxruntime_net_matches_pytorch():
    pytest.importorskip('onnxruntime')
    from alkdsr.inference.onnx_util import OnnxRuntimeNet

    net = small_net(scale=4)
    ort_net = OnnxRuntimeNet(net)
    assert (ort_net.upscale, ort_net.min_size) == (net.upscale, net.min_size)
    for size in [(20, 17), (5, 9)]:  # also below the network's minimum size
        x = torch.rand(1, 3, *size)
        assert (ort_net(x) - net(x)).abs().max().item() <= 1e-4


def test_upscale_cli_onnxruntime_backend_gives_the_torch_pixels(tmp_path):
    pytest.importorskip('onnxruntime')
    import cv2
    import numpy as np

    from alkdsr.cli.main import main
    from alkdsr.zoo.checkpoint import save_checkpoint

    weights = tmp_path / 'w.pth'
    save_checkpoint(small_net(scale=2), weights)
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (30, 26, 3), dtype=np.uint8), (5, 5), 0)
    cv2.imwrite(str(tmp_path / 'in.png'), img)
    common = ['upscale', '-i', str(tmp_path / 'in.png'), '--weights', str(weights), '--device', 'cpu', '--tile', '0']
    assert main([*common, '-o', str(tmp_path / 'torch.png')]) == 0
    assert main([*common, '-o', str(tmp_path / 'ort.png'), '--backend', 'onnxruntime']) == 0
    a = cv2.imread(str(tmp_path / 'torch.png')).astype(int)
    b = cv2.imread(str(tmp_path / 'ort.png')).astype(int)
    assert a.shape == (60, 52, 3) and np.abs(a - b).max() <= 1 and (a == b).mean() > 0.99


def test_upscale_cli_onnxruntime_tiles_fast_by_default_and_refuses_seamless_tiles(tmp_path, capsys):
    from alkdsr.cli.main import main
    from alkdsr.zoo.checkpoint import save_checkpoint

    save_checkpoint(small_net(), tmp_path / 'w.pth')
    (tmp_path / 'in').mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), np.full((20, 20, 3), 128, np.uint8))
    args = ['upscale', '-i', str(tmp_path / 'in'), '-o', str(tmp_path / 'out'), '--weights', str(tmp_path / 'w.pth')]
    assert main([*args, '--backend', 'onnxruntime', '--tile', '64', '--tile-mode', 'seamless']) == 2
    assert 'fast tiles' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
    if importlib.util.find_spec('onnxruntime') is None:
        return
    assert main([*args, '--backend', 'onnxruntime', '--tile', '8']) == 0  # the CPU, fast tiles: no flags needed
    assert cv2.imread(str(tmp_path / 'out' / 'a.png')).shape == (40, 40, 3)
