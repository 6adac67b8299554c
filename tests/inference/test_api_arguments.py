"""The library's functions from Python: an argument they cannot use is one ValueError naming it, at the call.

Each case of class 21 here calls ``upscale_image``, ``upscale_tensor``, ``load_model``, the torch.hub network
or ``CpuFastNet`` as a caller's code might; before, each ended in an error from inside torch, pathlib or the
thread pool, or was taken for something else (``tile=True`` as tiles of one pixel, ``device=3.5`` as float64,
``dtype=torch.float16`` on the CPU ignored). The caller's network and tensors are left as they were.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from corpus import API_MISTAKES

from alkdsr import load_model
from alkdsr.archs import ALKDNet
from alkdsr.inference.image import upscale_image
from alkdsr.inference.tiling import upscale_tensor

pytestmark = pytest.mark.usefixtures('no_grad')


@pytest.fixture(scope='module')
def net():
    torch.manual_seed(0)
    return ALKDNet(upscale=2, num_feat=16, num_block=2).eval()


PIXELS = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)


def _hub_under_autocast(net, x):
    import copy

    from alkdsr.archs.inputs import checking_inputs

    checked = checking_inputs(copy.deepcopy(net))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        return checked(x)


def _cpu_fast(*args, **kwargs):
    from alkdsr.inference.cpu_fast import CpuFastNet

    return CpuFastNet(*args, **kwargs)


CALLS = {
    'float tile': lambda net, weights: upscale_image(net, PIXELS, tile=2.5),
    'True as tile': lambda net, weights: upscale_tensor(net, torch.rand(1, 3, 16, 16), tile=True),
    'text tile_pad': lambda net, weights: upscale_tensor(net, torch.rand(1, 3, 16, 16), tile=8, tile_pad='4'),
    'a path as the network': lambda net, weights: upscale_image('net.pth', PIXELS),
    'unbatched tensor to upscale_tensor': lambda net, weights: upscale_tensor(net, torch.rand(3, 16, 16)),
    'float64 tensor to upscale_tensor': lambda net, weights: upscale_tensor(net, torch.rand(1, 3, 16, 16).double()),
    'dtype float64': lambda net, weights: upscale_image(net, PIXELS, dtype=torch.float64),
    'dtype float16 on the CPU': lambda net, weights: upscale_image(net, PIXELS, dtype=torch.float16),
    'load_model(None)': lambda net, weights: load_model(None),
    'load_model of bytes': lambda net, weights: load_model(b'net.pth'),
    'load_model device 3.5': lambda net, weights: load_model(weights, device=3.5),
    'load_model device float16': lambda net, weights: load_model(weights, device=torch.float16),
    'float64 tensor under autocast': lambda net, weights: _hub_under_autocast(net, torch.rand(1, 3, 8, 8).double()),
    'CpuFastNet threads 1.5': lambda net, weights: _cpu_fast(net, threads=1.5),
    'CpuFastNet threads 0': lambda net, weights: _cpu_fast(net, threads=0),
    'uint8 tensor to CpuFastNet': lambda net, weights: _cpu_fast(net)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8)),
    'empty tensor to CpuFastNet': lambda net, weights: _cpu_fast(net)(torch.rand(1, 3, 0, 8)),
}


@pytest.mark.parametrize('case', CALLS)
def test_an_argument_that_cannot_be_used_is_one_line_naming_it(case, net, tiny_weights):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError) as info:
        CALLS[case](net, tiny_weights)
    assert str(info.value) == API_MISTAKES[case].expect
    assert net.training is False and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_every_case_of_the_table_that_calls_these_functions_is_run():
    named = {'upscale_image', 'upscale_tensor', 'load_model', 'CpuFastNet', 'autocast'}
    new = {name for name, m in API_MISTAKES.items() if not m.listed and any(word in m.what for word in named)}
    assert new - {'a float16 network to upscale_image', 'a list to upscale_image', 'CpuFastNet of a float64 network'}\
        <= set(CALLS)  # fmt: skip


@pytest.mark.parametrize('tile', [None, 8], ids=['whole', 'tiled'])
def test_a_network_in_another_dtype_upscales_in_its_dtype(net, tile):
    """The pixels are made into a tensor of the network's dtype: a float16 network failed at its first conv."""
    reference = upscale_image(net, PIXELS, tile=tile, backend=None)
    half = ALKDNet(upscale=2, num_feat=16, num_block=2).eval()
    half.load_state_dict(net.state_dict())
    half = half.half()
    out = upscale_image(half, PIXELS, tile=tile, backend=None)
    assert API_MISTAKES['a float16 network to upscale_image'].expect.startswith('within 2 grey levels')
    assert out.dtype == np.uint8 and out.shape == reference.shape
    assert np.abs(out.astype(int) - reference).max() <= 2
    assert all(p.dtype == torch.float16 for p in half.parameters())  # the caller's network is left in float16
    double = half.double()
    assert np.abs(upscale_image(double, PIXELS, tile=tile).astype(int) - reference).max() <= 2


def test_the_arguments_that_work_still_do(net, tiny_weights):
    """What the checks must let through: a numpy integer as tile, 0 as tile (the whole image), a CUDA index
    and a torch.device as device (where the machine has it), a module without weights of its own."""
    whole = upscale_image(net, PIXELS, backend=None)
    assert np.array_equal(upscale_image(net, PIXELS, tile=0, backend=None), whole)
    assert np.array_equal(upscale_image(net, PIXELS, tile=np.int64(64), tile_pad=np.int32(4), backend=None), whole)
    assert load_model(tiny_weights, device=torch.device('cpu')).upscale == 2
    from alkdsr.inference.cpu_fast import CpuFastNet

    assert CpuFastNet(net, threads=np.int64(1))(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)
