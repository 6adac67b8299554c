"""ALKDNet, ALKDN and BSRN: registration, parameter counts, golden outputs, presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from basicsr.archs import build_network
from basicsr.models.base_model import BaseModel
from conftest import SHARED, bsrn_weights, official_weights, requires_shared

from alkdsr.archs import PRESETS, ALKDNet

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)

# Parameter counts of the official checkpoints (summed over their tensors) and of BSRN x4 (its paper: 352K).
OFFICIAL_PARAMS = {2: 372_716, 3: 381_371, 4: 393_488}
BSRN_X4_PARAMS = 352_400


def n_params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize('arch', ['ALKDNet', 'ALKDN', 'BSRN'])
def test_build_network_from_basicsr_registry(arch, scale):
    net = build_network({'type': arch, 'upscale': scale})
    assert type(net).__name__ == arch
    if arch != 'BSRN':
        assert n_params(net) == OFFICIAL_PARAMS[scale]
    elif scale == 4:
        assert n_params(net) == BSRN_X4_PARAMS


def load_with_basicsr(net, path):
    """BasicSR's own loader, strict, as a BasicSR model would call it."""
    BaseModel({'num_gpu': 0, 'is_train': False}).load_network(net, str(path), strict=True, param_key='params')
    return net.eval()


def golden_forward(net, golden_file):
    golden = np.load(golden_file)
    rgb = golden['lq_bgr_uint8'][..., ::-1].astype(np.float32) / 255.0
    lq = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    return net(lq)[0].numpy(), golden['sr_rgb_float32']


@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize('arch', ['ALKDNet', 'ALKDN'])
def test_official_alkdnet_checkpoint_reproduces_golden(arch, scale):
    net = load_with_basicsr(build_network({'type': arch, 'upscale': scale}), official_weights(scale))
    sr, expected = golden_forward(net, SHARED / 'golden' / f'official_x{scale}_baby_crop.npz')
    assert sr.shape == expected.shape
    assert np.abs(sr - expected).max() <= 1e-4
    checkpoint = torch.load(official_weights(scale), weights_only=True)['params']
    assert n_params(net) == sum(v.numel() for v in checkpoint.values()) == OFFICIAL_PARAMS[scale]


@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_official_bsrn_checkpoint_reproduces_golden(scale):
    net = load_with_basicsr(build_network({'type': 'BSRN', 'upscale': scale}), bsrn_weights(scale))
    sr, expected = golden_forward(net, SHARED / 'golden' / f'bsrn_official_x{scale}_baby_crop.npz')
    assert np.abs(sr - expected).max() <= 1e-4


@requires_shared
def test_bsrn_weights_do_not_load_into_alkdnet():
    net = ALKDNet(upscale=4)
    with pytest.raises(RuntimeError, match='Missing key'):
        net.load_state_dict(torch.load(bsrn_weights(4), weights_only=True)['params'], strict=True)


@requires_shared
def test_official_and_translated_names_agree():
    """Saving our state dict and loading it back gives the same function as the official keys."""
    official = torch.load(official_weights(2), weights_only=True)['params']
    a = ALKDNet(upscale=2).eval()
    a.load_state_dict(dict(official))
    assert not any(k.startswith(('B1.', 'fea_conv')) for k in a.state_dict())
    b = ALKDNet(upscale=2).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 20, 24)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize('preset', sorted(PRESETS))
@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize('size', [(17, 23), (48, 48)])
def test_every_preset_runs_on_odd_sizes(preset, scale, size):
    torch.manual_seed(0)
    net = build_network({'type': 'ALKDNet', 'preset': preset, 'upscale': scale}).eval()
    out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('preset', ['alkdnet', 'bsrn'])
@pytest.mark.parametrize('size', [(1, 1), (3, 3), (5, 40), (12, 14), (14, 14)])
def test_inputs_below_esa_minimum_are_padded_and_cropped(preset, size):
    net = ALKDNet(upscale=3, preset=preset).eval()
    assert net.min_size == {'alkdnet': 13, 'bsrn': 15}[preset]
    x = torch.rand(1, 3, *size)
    out = net(x)
    assert out.shape == (1, 3, size[0] * 3, size[1] * 3)
    assert torch.isfinite(out).all()


def test_minimum_size_is_what_esa_needs():
    """At min_size the unpadded network runs; one pixel less, ESA's pooling cannot."""
    for preset in ('alkdnet', 'bsrn'):
        block = ALKDNet(upscale=2, preset=preset).blocks[0].eval()
        m = block.esa.min_size
        block(torch.rand(1, 64, m, m))
        with pytest.raises(RuntimeError):
            block(torch.rand(1, 64, m - 1, m))


@pytest.mark.parametrize('k', [2, 4, 1, 0, -3, 8])
def test_even_or_small_kernel_size_is_rejected(k):
    with pytest.raises(ValueError, match='kernel_size must be an odd integer >= 3'):
        ALKDNet(upscale=2, kernel_size=k)


@pytest.mark.parametrize('k', [3, 5, 11, 13])
def test_any_odd_kernel_size_builds(k):
    net = ALKDNet(upscale=2, kernel_size=k).eval()
    assert net.blocks[0].refine[0].vertical.weight.shape[2:] == (k, 1)
    assert net.blocks[0].refine[0].horizontal.weight.shape[2:] == (1, k)
    assert net(torch.rand(1, 3, 16, 16)).shape == (1, 3, 32, 32)


def test_bad_arguments_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match='unknown ALKDNet preset'):
        ALKDNet(preset='nope')
    with pytest.raises(ValueError, match='residual must be one of'):
        ALKDNet(residual='none')
    with pytest.raises(ValueError, match='refine_conv must be one of'):
        ALKDNet(refine_conv='conv')
    with pytest.raises(ValueError, match='upsampler must be one of'):
        ALKDNet(upsampler='nearestconv')
    with pytest.raises(ValueError, match='conv must be one of'):
        build_network({'type': 'ALKDN', 'conv': 'DepthWiseConv'})


def test_explicit_arguments_override_the_preset():
    net = ALKDNet(preset='bsrn', residual='abrl', upscale=2)
    assert net.config['residual'] == 'abrl' and net.config['refine_conv'] == 'bsconv'
    assert net.config['preset'] == 'bsrn_abrl'
    custom = ALKDNet(kernel_size=7)
    assert custom.config['preset'] is None


def test_presets_differ_from_bsrn_as_the_paper_says():
    """Each Table 1/2 preset changes BSRN in exactly the paper's stated way."""
    base = {**PRESETS['bsrn']}
    changes = {
        name: {k for k in PRESETS[name] if PRESETS[name][k] != base.get(k)}
        for name in PRESETS
        if name.startswith('bsrn_')
    }
    assert changes['bsrn_alk3'] == {'refine_conv'}
    assert changes['bsrn_alk9'] == {'refine_conv', 'kernel_size'}
    assert changes['bsrn_abrl'] == {'residual'}
    assert changes['bsrn_alk9_fsrl_abrl'] == {'refine_conv', 'kernel_size', 'residual'}
    assert {k for k in PRESETS['alkdnet'] if PRESETS['alkdnet'][k] != PRESETS['alkdnet_no_norm'][k]} == {'pixel_norm'}


def test_abrl_anchor_is_nearest_neighbour_upsampling():
    """With a zeroed reconstruction conv, ABRL alone returns the LR image upscaled by repetition."""
    net = ALKDNet(upscale=3, preset='bsrn_abrl').eval()
    torch.nn.init.zeros_(net.upsample.weight)
    torch.nn.init.zeros_(net.upsample.bias)
    x = torch.rand(1, 3, 16, 18)
    expected = x.repeat_interleave(3, dim=2).repeat_interleave(3, dim=3)
    assert torch.allclose(net(x), expected)
    fsrl_only = ALKDNet(upscale=3, preset='bsrn').eval()
    torch.nn.init.zeros_(fsrl_only.upsample.weight)
    torch.nn.init.zeros_(fsrl_only.upsample.bias)
    assert torch.count_nonzero(fsrl_only(x)) == 0


def test_pixel_norm_matches_layernorm_over_channels():
    from alkdsr.archs.arch_util import PixelNorm

    norm = PixelNorm(8, eps=1e-6)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 8, 5, 7)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (8,), norm.weight, norm.bias, 1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(norm(x), ref, atol=1e-5)


ARGUMENT_MISTAKES = {
    'num_block 0': lambda: build_network({'type': 'ALKDNet', 'num_block': 0}),
    'num_replicas 0': lambda: ALKDNet(upscale=2, num_replicas=0),
    'upscale True': lambda: ALKDNet(upscale=True),
    'num_in_ch 0': lambda: ALKDNet(upscale=2, num_in_ch=0, num_out_ch=0),
    'fusion_kernel_size 2': lambda: ALKDNet(upscale=2, fusion_kernel_size=2),
    'num_block 2.0': lambda: ALKDNet(upscale=2, num_block=2.0),
    "pixel_norm 'no'": lambda: ALKDNet(upscale=2, pixel_norm='no'),
    'ALKDN lk_size 4': lambda: build_network({'type': 'ALKDN', 'lk_size': 4}),
}


@pytest.mark.parametrize('case', list(ARGUMENT_MISTAKES))
def test_an_argument_no_network_is_built_from_is_one_line_naming_it(case):
    """Refused at construction, naming the argument as the caller gave it, not at an index or the first call."""
    from corpus import API_MISTAKES

    with pytest.raises(ValueError) as info:
        ARGUMENT_MISTAKES[case]()
    assert str(info.value) == API_MISTAKES[case].expect


def test_the_least_values_of_the_checked_arguments_build_and_run():
    """The checks refuse what no network has, not small networks: one block, one replica, one channel, x1."""
    net = ALKDNet(upscale=1, num_in_ch=1, num_out_ch=1, num_feat=16, num_block=1, num_replicas=1).eval()
    assert net(torch.rand(1, 1, 9, 7)).shape == (1, 1, 9, 7)
    numpy_ints = ALKDNet(upscale=np.int64(2), num_feat=np.int32(16), num_block=np.int64(1), kernel_size=np.int64(5))
    assert numpy_ints.config['upscale'] == 2 and type(numpy_ints.config['upscale']) is int  # a config JSON can hold
    assert type(numpy_ints.config['kernel_size']) is int and numpy_ints.blocks[0].refine[0].kernel_size == 5
