"""hubconf.py through torch.hub's public API (source='local')."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
import torch
from conftest import ROOT, SHARED, bsrn_weights, official_weights, requires_shared
from corpus import UNDONE_MISTAKES

from alkdsr.errors import AlkdsrError

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)


def hub(entry, **kwargs):
    return torch.hub.load(str(ROOT), entry, source='local', **kwargs)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def golden_error(net, name):
    golden = np.load(SHARED / 'golden' / f'{name}_baby_crop.npz')
    rgb = golden['lq_bgr_uint8'][..., ::-1].astype(np.float32) / 255.0
    lq = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    return np.abs(net(lq)[0].numpy() - golden['sr_rgb_float32']).max()


def test_entry_points_have_docstrings():
    """What ``torch.hub.help`` shows (it returns the entry point's docstring; it reads GitHub repos only)."""
    spec = importlib.util.spec_from_file_location('hubconf', ROOT / 'hubconf.py')
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    for entry in ('alkdnet', 'bsrn'):
        doc = getattr(hubconf, entry).__doc__
        assert 'scale' in doc and 'pretrained' in doc and 'Returns' in doc


def test_untrained_networks_have_the_papers_sizes():
    assert n_params(hub('alkdnet', scale=3)) == 381_371  # the official x3 checkpoint's count
    assert n_params(hub('bsrn', scale=4)) == 352_400
    assert hub('alkdnet', scale=2, preset='bsrn_alk9').config['preset'] == 'bsrn_alk9'


@requires_shared
def test_pretrained_path_reproduces_golden():
    assert golden_error(hub('alkdnet', scale=3, pretrained=str(official_weights(3))), 'official_x3') <= 1e-4
    assert golden_error(hub('bsrn', scale=2, pretrained=bsrn_weights(2)), 'bsrn_official_x2') <= 1e-4


@requires_shared
def test_pretrained_path_of_another_network_is_refused():
    with pytest.raises(ValueError, match='x2 alkdnet network, not the x4 alkdnet'):
        hub('alkdnet', pretrained=str(official_weights(2)))
    with pytest.raises(ValueError, match='not the x2 bsrn'):
        hub('bsrn', scale=2, pretrained=str(official_weights(2)))
    with pytest.raises(AlkdsrError, match='missing.pth: no such checkpoint file'):
        hub('alkdnet', pretrained=str(ROOT / 'missing.pth'))
    with pytest.raises(ValueError, match='no published weights'):
        hub('alkdnet', pretrained=True, preset='bsrn_alk9')


@requires_shared
def test_pretrained_true_fetches_named_weights(tmp_path, monkeypatch):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    for folder in ('official', 'bsrn_official'):
        for src in (SHARED / 'weights' / folder).glob('*.pth'):
            (mirror / src.name).symlink_to(src)
    monkeypatch.setenv('ALKDSR_HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', mirror.as_uri())
    assert golden_error(hub('alkdnet', scale=4, pretrained=True), 'official_x4') <= 1e-4
    assert golden_error(hub('bsrn', scale=3, pretrained=True), 'bsrn_official_x3') <= 1e-4
    assert list((tmp_path / 'home' / 'weights').iterdir())  # fetched into the cache


@pytest.mark.parametrize(
    'shape',
    [(1, 4, 16, 16), (1, 1, 16, 16), (1, 1, 3, 16, 16), (3, 16, 16), (16, 16)],
    ids=['4-channels', '1-channel', '5-D', '3-D', '2-D'],
)
def test_input_shape_is_checked_at_the_call(shape):
    """The hub network says what it expects instead of failing deep inside on 12 or 16 channels."""
    net = hub('bsrn', scale=2)
    with pytest.raises(ValueError) as info:
        net(torch.rand(*shape))
    assert str(info.value) == UNDONE_MISTAKES['input of another shape to the hub module'].expect.format(shape=shape)
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize('preset', ['alkdnet_no_norm', 'bsrn_alk9_abrl'])
def test_pretrained_path_of_a_variant_gives_that_variant(tmp_path, preset):
    """Variants that share their weights' keys with another preset come back as saved (the stored config)."""
    from alkdsr.archs import ALKDNet
    from alkdsr.zoo.checkpoint import save_checkpoint

    torch.manual_seed(0)
    saved = ALKDNet(preset=preset, upscale=2, num_feat=16, num_block=2).eval()
    save_checkpoint(saved, tmp_path / 'net.safetensors')
    net = hub('alkdnet', scale=2, preset=preset, pretrained=str(tmp_path / 'net.safetensors'))
    assert net.config == saved.config
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(net(x), saved(x))
    with pytest.raises(ValueError, match=re.escape('ALKDNet expects (N, 3, H, W), got (1, 4, 16, 16)')):
        net(torch.rand(1, 4, 16, 16))


@pytest.mark.parametrize(
    'case, x',
    [
        ('empty tensor to the hub network', torch.rand(1, 3, 0, 5)),
        ('float64 tensor to the hub network', torch.rand(1, 3, 16, 16, dtype=torch.float64)),
        ('uint8 tensor to the hub network', torch.full((1, 3, 16, 16), 7, dtype=torch.uint8)),
    ],
    ids=['empty', 'float64', 'uint8'],
)
def test_an_input_the_network_cannot_compute_on_is_one_line_at_the_call(case, x):
    """An empty image, or one of another dtype than the weights, failed inside a convolution."""
    from corpus import API_MISTAKES

    net = hub('alkdnet', scale=2)
    before = x.clone()
    with pytest.raises(ValueError) as info:
        net(x)
    assert str(info.value) == API_MISTAKES[case].expect
    assert torch.equal(x, before) and x.dtype == before.dtype  # the caller's tensor as it was
    good = x.float()[..., :1, :] if x.numel() else torch.rand(1, 3, 1, 5)
    assert net(good).shape == (1, 3, 2 * good.shape[2], 2 * good.shape[3])
    with torch.autocast('cpu', dtype=torch.bfloat16):  # autocast casts the input to its own dtype: accepted
        assert net(torch.rand(1, 3, 16, 16, dtype=torch.bfloat16)).shape == (1, 3, 32, 32)
    assert net(torch.rand(0, 3, 16, 16)).shape == (0, 3, 32, 32)  # an empty batch is no empty image
