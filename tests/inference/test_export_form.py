"""The export form computes what the network computes, for every preset, from operations every runtime has."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from conftest import SHARED, official_weights, requires_shared
from PIL import Image

from alkdsr.archs import ALKDNet
from alkdsr.archs.arch_util import CCA, PixelNorm
from alkdsr.archs.presets import PRESETS
from alkdsr.inference.export_form import ExportForm
from alkdsr.inference.ncnn_util import float16_storage
from alkdsr.zoo.checkpoint import load_model

pytestmark = pytest.mark.usefixtures('no_grad')


def small_net(preset: str, scale: int, seed: int = 0) -> ALKDNet:
    """A small network of ``preset`` whose pixel norms have weights other than 1 and 0 (as trained ones do)."""
    torch.manual_seed(seed)
    net = ALKDNet(upscale=scale, preset=preset, num_feat=16, num_block=2).eval()
    for module in net.modules():
        if isinstance(module, PixelNorm):
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.5, 0.5)
    return net


@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize('preset', list(PRESETS))
def test_export_form_equals_the_network(preset, scale):
    net = small_net(preset, scale)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    form = ExportForm(net)
    g = torch.Generator().manual_seed(scale)
    for h, w in ((17, 19), (net.min_size, net.min_size + 3), (40, 24)):
        lr = torch.rand(2, 3, h, w, generator=g)
        expected = net(lr)
        got = form(lr)
        assert got.shape == expected.shape == (2, 3, h * scale, w * scale)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the network it was made from is left as it was
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert any(isinstance(m, CCA) for m in net.modules())


def test_export_form_uses_no_operation_a_runtime_lacks():
    """What the traced graph holds, independently of any converter: no repeat_interleave (ncnn has no such
    layer), no repeat (Tile: CPU only on ncnn's GPU path), no reductions (likewise), no rsqrt (12-bit in the
    ncnn that realesrgan-ncnn-vulkan builds) and no tensor of more than 4 dimensions."""
    form = ExportForm(small_net('alkdnet', 4))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # torch.jit.trace's deprecation
        graph = torch.jit.trace(form, torch.rand(1, 3, 20, 24)).inlined_graph
    kinds = {node.kind() for node in graph.nodes()}
    forbidden = {'aten::repeat_interleave', 'aten::repeat', 'aten::mean', 'aten::sum', 'aten::rsqrt', 'aten::var'}
    assert not kinds & forbidden
    ranks = {len(v.type().sizes()) for node in graph.nodes() for v in node.outputs() if v.type().kind() == 'TensorType'
             and v.type().sizes() is not None}  # fmt: skip
    assert ranks and max(ranks) <= 4


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(0, 1) - b.clamp(0, 1)).double().pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@requires_shared
@pytest.mark.parametrize('scale', [2, 4])
def test_export_form_survives_float16_storage(scale):
    """ncnn's GPU path stores every blob in float16. ALKDNet's features reach hundreds before a pixel norm,
    so squared deviations overflow float16 unless scaled first: the network's own formulation falls far
    below the export form, which stays near float32."""
    net = load_model(official_weights(scale))
    path = SHARED / 'datasets' / 'benchmark' / 'Set5' / 'LR_bicubic' / f'X{scale}' / f'butterflyx{scale}.png'
    lr = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32).transpose(2, 0, 1) / 255)[None]
    lr = lr[:, :, :48, :48]
    reference = net(lr)
    with float16_storage(ExportForm(net)) as form:
        export_form = form(lr)
    with float16_storage(net) as original:
        network = original(lr)
    assert psnr(export_form, reference) >= 60
    assert psnr(network, reference) <= 40
