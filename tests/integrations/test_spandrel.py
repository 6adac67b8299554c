"""ALKDNet and BSRN through spandrel's public API after ``alkdsr.integrations.spandrel.install()``."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import SHARED, bsrn_weights, official_weights, requires_shared
from corpus import UNDONE_MISTAKES

from alkdsr.archs import ALKDNet
from alkdsr.archs.presets import VARIANT_KEYS, preset_config
from alkdsr.zoo.checkpoint import save_checkpoint

spandrel = pytest.importorskip('spandrel')
from alkdsr.integrations.spandrel import ALKDNetArch, BSRNArch, install  # noqa: E402

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)

install()
CHECKPOINTS = [('ALKDNet', official_weights, 'official'), ('BSRN', bsrn_weights, 'bsrn_official')]


def golden_input(name):
    golden = np.load(SHARED / 'golden' / f'{name}_baby_crop.npz')
    rgb = golden['lq_bgr_uint8'][..., ::-1].astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None], golden['sr_rgb_float32']


@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize(('arch', 'weights', 'golden'), CHECKPOINTS)
def test_official_checkpoints_load_through_spandrel_and_match_golden(arch, weights, golden, scale):
    desc = spandrel.ModelLoader().load_from_file(weights(scale))
    assert isinstance(desc, spandrel.ImageModelDescriptor)
    assert (desc.architecture.id, desc.scale, desc.purpose) == (arch, scale, 'SR')
    assert (desc.input_channels, desc.output_channels) == (3, 3)
    lq, expected = golden_input(f'{golden}_x{scale}')
    # the network itself: spandrel's call API also clamps to [0, 1], which the golden outputs are not
    # (test_size_requirements_are_what_esa_needs checks the call API against the network)
    assert np.abs(desc.model(lq)[0].numpy() - expected).max() <= 1e-4


@requires_shared
@pytest.mark.parametrize(('weights', 'golden'), [(official_weights, 'official'), (bsrn_weights, 'bsrn_official')])
def test_half_and_bfloat16_support_as_declared(weights, golden):
    """The descriptor's precision flags hold: each precision runs and stays close to the float32 golden."""
    desc = spandrel.ModelLoader().load_from_file(weights(4))
    lq = golden_input(f'{golden}_x4')[0][..., :16, :16]  # a real image patch, small: CPU half is slow
    reference = desc(lq)
    for dtype, supported in [(torch.float16, desc.supports_half), (torch.bfloat16, desc.supports_bfloat16)]:
        assert supported
        out = desc.to(dtype)(lq.to(dtype)).float()
        assert out.isfinite().all(), dtype
        psnr = -10 * torch.log10(((out - reference) ** 2).mean())
        assert psnr > 45, (dtype, psnr)  # measured on CPU for this patch: fp16 71 dB, bf16 52-53 dB


@requires_shared
def test_size_requirements_are_what_esa_needs():
    """Inputs down to 1x1 work; the minimum is ESA's (13 px with its padding 1, 15 in BSRN)."""
    alk = spandrel.ModelLoader().load_from_file(official_weights(2))
    bsrn = spandrel.ModelLoader().load_from_file(bsrn_weights(2))
    assert alk.size_requirements.minimum == 13 and bsrn.size_requirements.minimum == 15
    for desc in (alk, bsrn):
        assert desc(torch.rand(1, 3, 5, 9)).shape == (1, 3, 10, 18)
        x = torch.rand(1, 3, desc.size_requirements.minimum, 17)
        assert torch.allclose(desc(x), desc.model(x).clamp(0, 1))


@requires_shared
def test_loading_as_comfyui_does():
    """ComfyUI's "Load Upscale Model" reads the whole file (weights only) and hands it to spandrel."""
    contents = torch.load(official_weights(2), map_location='cpu', weights_only=True)  # {'params': ...}
    desc = spandrel.ModelLoader().load_from_state_dict(contents).eval()
    assert isinstance(desc, spandrel.ImageModelDescriptor)
    assert (desc.architecture.id, desc.scale) == ('ALKDNet', 2)


@pytest.mark.parametrize('wrap', ['params', 'params_ema', 'module', 'safetensors'])
def test_alkdsr_checkpoints_load_through_spandrel(tmp_path, wrap):
    torch.manual_seed(0)
    net = ALKDNet(upscale=3, num_feat=16, num_block=2).eval()
    if wrap == 'safetensors':
        path = tmp_path / 'net.safetensors'
        save_checkpoint(net, path)
    elif wrap == 'module':
        path = tmp_path / 'net.pth'
        torch.save({'params': {f'module.{k}': v for k, v in net.state_dict().items()}}, path)
    else:
        path = tmp_path / 'net.pth'
        save_checkpoint(net, path, param_key=wrap)
    desc = spandrel.ModelLoader().load_from_file(path)
    assert (desc.architecture.id, desc.scale, desc.tags) == ('ALKDNet', 3, ['alkdnet', '16nf', '2nb'])
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(desc.model(x), net(x))


@pytest.mark.parametrize('preset', ['alkdnet', 'bsrn', 'bsrn_alk3', 'bsrn_alk9'])
def test_presets_whose_weights_fix_the_network(preset):
    torch.manual_seed(0)
    net = ALKDNet(preset=preset, upscale=2, num_feat=16, num_block=2).eval()
    desc = spandrel.ModelLoader().load_from_state_dict(net.state_dict())
    assert desc.architecture.id == ('BSRN' if preset == 'bsrn' else 'ALKDNet')
    assert desc.model.config == net.config
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(desc.model(x), net(x))


def test_other_architectures_keep_their_detection():
    """State dicts of spandrel's own architectures (random weights) stay theirs, and ours refuse them."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.SPAN import SPAN

    span = SPAN(num_in_ch=3, num_out_ch=3, upscale=2, feature_channels=16)
    others = [('SPAN', span), ('Compact', Compact(num_conv=2))]
    for arch_id, net in others:
        state = net.state_dict()
        assert spandrel.ModelLoader().load_from_state_dict(state).architecture.id == arch_id
        assert not ALKDNetArch().detect(state) and not BSRNArch().detect(state)


def test_install_twice_is_harmless():
    before = spandrel.MAIN_REGISTRY.architectures('detection')
    assert install() == []
    assert spandrel.MAIN_REGISTRY.architectures('detection') == before
    ids = [a.architecture.id for a in before]
    assert ids.count('ALKDNet') == 1 and ids.count('BSRN') == 1


@requires_shared
def test_no_detection_conflict_with_spandrel_or_its_extra_arches():
    extra = pytest.importorskip('spandrel_extra_arches')
    extra.install(ignore_duplicates=True)
    assert spandrel.ModelLoader().load_from_file(official_weights(4)).architecture.id == 'ALKDNet'
    assert spandrel.ModelLoader().load_from_file(bsrn_weights(4)).architecture.id == 'BSRN'
    # without alkdsr's architectures, no architecture of spandrel or its extras claims these files
    registry = spandrel.ArchRegistry()
    registry.add(*(a for a in spandrel.MAIN_REGISTRY if a.architecture.id not in ('ALKDNet', 'BSRN')))
    assert 'SRFormer' in registry  # the extra architectures are there
    for weights in (official_weights(4), bsrn_weights(4)):
        with pytest.raises(spandrel.UnsupportedModelError):
            spandrel.ModelLoader(registry=registry).load_from_file(weights)


# Variants whose weights have the same keys and shapes as another preset's: residual learning and
# ESA padding have no parameters, only the config alkdsr stores beside the weights tells them apart.
SAME_KEYS_AS = {
    'alkdnet_no_norm': 'bsrn_alk9',
    'bsrn_abrl': 'bsrn',
    'bsrn_fsrl_abrl': 'bsrn',
    'bsrn_alk9_abrl': 'bsrn_alk9',
    'bsrn_alk9_fsrl_abrl': 'bsrn_alk9',
}


def small_net(preset, scale=2, seed=0):
    torch.manual_seed(seed)
    return ALKDNet(preset=preset, upscale=scale, num_feat=16, num_block=2).eval()


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
@pytest.mark.parametrize('preset', sorted(SAME_KEYS_AS))
def test_saved_variants_load_as_the_variant_they_are(tmp_path, preset, suffix):
    """The stored config, not the key-based guess, decides residual learning and ESA padding."""
    net = small_net(preset)
    path = tmp_path / f'net{suffix}'
    save_checkpoint(net, path)
    desc = spandrel.ModelLoader().load_from_file(path)
    tags = UNDONE_MISTAKES['no_norm and abrl presets through spandrel'].expect.format(preset=preset)
    assert (desc.architecture.id, desc.scale, ', '.join(desc.tags)) == ('ALKDNet', 2, tags)
    assert desc.model.config == net.config and desc.model.config['preset'] == preset
    assert {k: desc.model.config[k] for k in VARIANT_KEYS} == {k: preset_config(preset)[k] for k in VARIANT_KEYS}
    x = torch.rand(1, 3, 20, 17)
    assert (desc.model(x) - net(x)).abs().max() <= 1e-6
    # the weights alone are the other preset's network, whose output is unrelated: the stored config is what counts
    guessed = spandrel.ModelLoader().load_from_state_dict(dict(net.state_dict()))
    assert guessed.model.config['preset'] == SAME_KEYS_AS[preset]
    assert (guessed.model(x) - net(x)).abs().max() > 0.01


def test_whole_checkpoint_contents_keep_the_stored_config(tmp_path):
    """ComfyUI hands spandrel everything in the file ({'params': ..., 'arch': ...}), not the file."""
    net = small_net('bsrn_alk9_abrl', scale=3)
    save_checkpoint(net, tmp_path / 'net.pth', param_key='params_ema')
    contents = torch.load(tmp_path / 'net.pth', map_location='cpu', weights_only=True)
    desc = spandrel.ModelLoader().load_from_state_dict(contents)
    assert desc.model.config == net.config and desc.tags[0] == 'bsrn_alk9_abrl'
    x = torch.rand(1, 3, 14, 14)
    assert torch.equal(desc.model(x), net(x))


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'upscale': 4}, 'stored config disagrees with the weights on upscale'),
        ({'residual': 'sideways'}, 'no network can be built from its stored config (residual must be one of'),
        ({'esa_padding': 'one'}, "the stored config has esa_padding 'one', not a valid value"),
    ],
)
def test_stored_config_that_does_not_fit_the_weights_is_one_line(tmp_path, change, message):
    """The config travels among the weights (spandrel hands an architecture the state dict alone, so the
    message names the entry it came from)."""
    from alkdsr.archs import stored_config

    net = small_net('alkdnet_no_norm')
    path = tmp_path / 'net.pth'
    weights = {**net.state_dict(), stored_config.KEY: stored_config.as_tensor({**net.config, **change})}
    torch.save({'params': weights}, path)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        spandrel.ModelLoader().load_from_file(path)
    assert str(info.value).startswith("the weights' alkdsr_config entry: ") and '\n' not in str(info.value)


def test_other_architectures_files_load_as_before(tmp_path):
    """The checkpoint reader that keeps alkdsr's config leaves other files as spandrel reads them."""
    from spandrel.architectures.SPAN import SPAN

    span = SPAN(num_in_ch=3, num_out_ch=3, upscale=2, feature_channels=16).eval()
    torch.save({'params': span.state_dict(), 'arch': {'type': 'SPAN'}}, tmp_path / 'span.pth')
    desc = spandrel.ModelLoader().load_from_file(tmp_path / 'span.pth')
    assert desc.architecture.id == 'SPAN' and type(desc.model) is SPAN
    x = torch.rand(1, 3, 12, 12)
    assert torch.allclose(desc.model.eval()(x), span(x), atol=1e-4)  # SPAN re-parameterises its convs: float noise


@pytest.mark.parametrize(
    'shape',
    [(1, 4, 16, 16), (1, 1, 16, 16), (1, 1, 3, 16, 16), (3, 16, 16), (16, 16)],
    ids=['4-channels', '1-channel', '5-D', '3-D', '2-D'],
)
def test_input_shape_is_checked_at_the_call(tmp_path, shape):
    net = small_net('alkdnet')
    save_checkpoint(net, tmp_path / 'net.pth')
    desc = spandrel.ModelLoader().load_from_file(tmp_path / 'net.pth')
    expected = UNDONE_MISTAKES['input of 4 channels or 5 dimensions'].expect.format(shape=shape)
    with pytest.raises(ValueError) as info:
        desc.model(torch.rand(*shape))
    assert str(info.value) == expected
    if len(shape) == 4:  # spandrel's call API refuses other dimensions itself, before the network
        with pytest.raises(ValueError) as info:
            desc(torch.rand(*shape))
        assert str(info.value) == expected
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(desc.model(x), net(x)) and desc(x[:1]).shape == (1, 3, 32, 32)
