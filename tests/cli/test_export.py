"""``alkdsr export``: ONNX files that onnxruntime runs like PyTorch, at any input size."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import SHARED, official_weights, requires_shared
from PIL import Image

from alkdsr.archs import ALKDNet
from alkdsr.cli.main import main
from alkdsr.zoo.checkpoint import load_model, save_checkpoint

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)


def onnx_vs_torch(onnx_path, net, lr: np.ndarray) -> float:
    """Max |onnxruntime - PyTorch| on ``lr``, computed here without alkdsr's helpers."""
    session = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    is_half = session.get_inputs()[0].type == 'tensor(float16)'
    got = session.run(None, {'lr': lr.astype(np.float16 if is_half else np.float32)})[0].astype(np.float32)
    expected = net(torch.from_numpy(lr)).numpy()
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_official_alkdnet_exports_and_verifies(tmp_path, capsys, scale):
    path = tmp_path / f'alkdnet_x{scale}.onnx'
    real = SHARED / 'datasets' / 'benchmark' / 'Set5' / 'LR_bicubic' / f'X{scale}' / f'birdx{scale}.png'
    args = ['export', '--weights', official_weights(scale), '-o', path, '--verify', '--verify-image', real]
    assert main(list(map(str, args))) == 0
    out = capsys.readouterr().out
    assert f'x{scale}, opset 17, float32' in out
    reported = [float(v) for v in re.findall(r'max \|onnx - torch\| = (\S+)', out)]
    assert len(reported) >= 4 and max(reported) <= 1e-4 and 'verify: passed' in out

    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']
    net = load_model(official_weights(scale))
    photo = np.asarray(Image.open(real), dtype=np.float32).transpose(2, 0, 1)[None] / 255
    rng = np.random.default_rng(scale)
    for lr in (photo[:, :, :29, :41], rng.random((2, 3, 18, 23), dtype=np.float32), photo[:, :, :6, :9]):
        assert onnx_vs_torch(path, net, np.ascontiguousarray(lr)) <= 1e-4


def test_fp16_export_runs_close_to_float32(tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(ALKDNet(upscale=2, preset='bsrn', num_feat=16, num_block=2), tmp_path / 'bsrn.safetensors')
    path = tmp_path / 'bsrn.onnx'
    assert main(['export', '--weights', str(tmp_path / 'bsrn.safetensors'), '-o', str(path), '--fp16']) == 0
    assert 'float16' in capsys.readouterr().out
    net = load_model(tmp_path / 'bsrn.safetensors')
    lr = np.random.default_rng(0).random((1, 3, 21, 17), dtype=np.float32)
    assert onnx_vs_torch(path, net, lr) <= 1e-2


@pytest.mark.parametrize(
    ('extra', 'message'), [(['-o', 'model.pt'], 'must end in .onnx'), (['-o', 'm.onnx', '--opset', '16'], 'opset 17')]
)
def test_bad_export_options_are_one_line(tmp_path, capsys, extra, message):
    torch.manual_seed(0)
    save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=1), tmp_path / 'w.pth')
    extra = [str(tmp_path / e) if e.endswith(('.pt', '.onnx')) else e for e in extra]
    assert main(['export', '--weights', str(tmp_path / 'w.pth'), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1
    assert not list(tmp_path.glob('*.onnx')) and not list(tmp_path.glob('.*'))
