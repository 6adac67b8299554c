"""The fused CPU kernels (alkdsr.ops.cpu_kernels) compute the eager network's function, and
their on-disk cache is rebuilt, never trusted, when it does not match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alkdsr
from alkdsr.archs import ALKDNet
from alkdsr.inference import cpu_fast
from alkdsr.inference.cpu_fast import CpuFastNet, fast_cpu_net
from alkdsr.inference.fast import optimize
from alkdsr.inference.tiling import upscale_tensor
from tests.conftest import SHARED, official_weights, requires_shared

pytestmark = pytest.mark.usefixtures('no_grad')

TOLERANCE = 1e-4  # what a faster path may differ from the eager float32 network by


def small_net(scale=2, **overrides):
    torch.manual_seed(0)
    net = ALKDNet(upscale=scale, **{'num_feat': 32, 'num_block': 2, **overrides}).eval()
    for p in net.parameters():  # non-trivial norms and biases
        p.add_(0.05 * torch.randn_like(p))
    return net


def max_diff(net, x, threads=None):
    ref = net(x)
    out = CpuFastNet(net, threads=threads)(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    return (out - ref).abs().max().item()


def test_kernel_gelu_is_within_a_micro_of_the_exact_gelu():
    kernels = cpu_fast.load_kernels()
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    x = z.float().numpy().reshape(1, 1, -1, 1).copy()
    kernels.gelu_(x, 0, 1)
    exact = F.gelu(z.float().double()).numpy()
    assert np.abs(x.ravel() - exact).max() < 1e-6


@requires_shared
@pytest.mark.parametrize('scale', [2, 4])
def test_official_network_on_a_set5_image_within_tolerance(scale):
    import cv2

    lr = cv2.imread(str(SHARED / 'datasets/benchmark/Set5/LR_bicubic' / f'X{scale}' / f'bird{"x"}{scale}.png'))
    lr = torch.from_numpy(lr[:40, :56, ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
    net = alkdsr.load_model(official_weights(scale)).eval()
    assert max_diff(net, lr) <= TOLERANCE


@pytest.mark.parametrize(
    'overrides',
    [
        dict(preset='alkdnet_no_norm'),
        dict(preset='bsrn_alk9'),
        dict(preset='bsrn_alk9_abrl'),
        dict(preset='bsrn_alk5'),
        dict(kernel_size=5, fusion_kernel_size=5, esa_padding=0),
    ],
    ids=['no_norm', 'bsrn_alk9', 'abrl', 'k5', 'k5_fusion5_esa_padding0'],
)
def test_every_alkconv_variant_within_tolerance(overrides):
    net = small_net(scale=3, **overrides)
    assert max_diff(net, torch.rand(2, 3, 21, 18)) <= TOLERANCE  # a batch of two, odd sizes


@pytest.mark.parametrize('threads', [1, 3])
def test_row_bands_over_any_number_of_threads(threads):
    net = small_net(scale=2)
    assert max_diff(net, torch.rand(2, 3, 23, 17), threads=threads) <= TOLERANCE


def test_inputs_smaller_than_the_network_minimum():
    net = small_net()
    for size in [(1, 1), (5, 9), (13, 4)]:
        assert max_diff(net, torch.rand(1, 3, *size)) <= TOLERANCE


def test_seamless_tiles_match_the_eager_seamless_tiles():
    net = small_net(scale=2)
    x = torch.rand(1, 3, 50, 61)
    ref = upscale_tensor(net, x, tile=24, tile_pad=8, tile_mode='seamless')
    out = upscale_tensor(CpuFastNet(net), x, tile=24, tile_pad=8, tile_mode='seamless')
    assert (out - ref).abs().max().item() <= TOLERANCE
    fast_tiles = upscale_tensor(net, x, tile=24, tile_pad=8, tile_mode='fast')
    assert (out - fast_tiles).abs().max().item() > 1e-3  # the seamless pass really ran


def test_which_networks_take_the_kernels():
    assert isinstance(fast_cpu_net(small_net()), CpuFastNet)
    assert isinstance(optimize(small_net()), CpuFastNet)
    bsrn = small_net(preset='bsrn')
    assert fast_cpu_net(bsrn) is bsrn  # BSConv refinement: the kernels are ALKConv's
    half = small_net().to(torch.bfloat16)
    assert fast_cpu_net(half) is half
    assert not isinstance(optimize(small_net(), channels_last=True), CpuFastNet)
    with pytest.raises(ValueError, match='ALKConv'):
        CpuFastNet(bsrn)


def test_cache_folder_is_keyed_by_the_kernels_source_and_the_libraries(monkeypatch):
    first = cpu_fast.kernel_cache_dir()
    assert first.parent == Path(os.environ['ALKDSR_HOME']) / cpu_fast.KERNEL_CACHE
    numba_version = cpu_fast._numba_version()
    monkeypatch.setattr(cpu_fast, '_numba_version', lambda: numba_version + '.other')
    assert cpu_fast.kernel_cache_dir() != first


LOAD = textwrap.dedent(
    """
    import time, torch
    from alkdsr.archs import ALKDNet
    from alkdsr.inference import cpu_fast
    torch.manual_seed(0)
    net = ALKDNet(upscale=2, num_feat=16, num_block=1).eval()
    start = time.perf_counter()
    fast = cpu_fast.CpuFastNet(net)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert (fast(x) - net(x)).abs().max().item() <= 1e-4
    print(cpu_fast.kernel_cache_dir())
    """
)


def _run_load(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, 'ALKDSR_HOME': str(home)}
    env.pop('NUMBA_CACHE_DIR', None)
    done = subprocess.run([sys.executable, '-c', LOAD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def _load_in_a_new_process(home: Path) -> Path:
    return Path(_run_load(home).stdout.strip())


def test_processes_compiling_at_once_wait_for_each_other(tmp_path):
    env = {**os.environ, 'ALKDSR_HOME': str(tmp_path)}
    env.pop('NUMBA_CACHE_DIR', None)
    runs = [subprocess.Popen([sys.executable, '-c', LOAD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert cpu_fast._verified(Path(outputs[0][0].strip()))


def _compiled_files(where: Path) -> list[Path]:
    return sorted(p for p in where.rglob('*') if p.suffix in ('.nbi', '.nbc'))


def test_a_corrupt_or_unfinished_cache_is_rebuilt_not_trusted(tmp_path):
    where = _load_in_a_new_process(tmp_path)
    listed = json.loads((where / cpu_fast.MANIFEST).read_text())
    files = _compiled_files(where)
    assert files and sorted(listed) == sorted(p.relative_to(where).as_posix() for p in files)

    files[0].write_bytes(b'not machine code')  # numba itself would load this and fail
    _load_in_a_new_process(tmp_path)
    assert sorted(json.loads((where / cpu_fast.MANIFEST).read_text())) == sorted(listed)  # rebuilt
    assert files[0].read_bytes() != b'not machine code' and cpu_fast._verified(where)

    (where / cpu_fast.MANIFEST).unlink()  # a compilation cut short leaves no manifest
    stale = where / 'stale.nbi'
    stale.write_bytes(b'x')
    _load_in_a_new_process(tmp_path)
    assert not stale.exists() and cpu_fast._verified(where)

    unlisted = files[0].with_name('cpu_kernels.other-1.py311.nbi')  # numba would read it; the manifest does not list it
    unlisted.write_bytes(b'x')
    assert not cpu_fast._verified(where)
    _load_in_a_new_process(tmp_path)
    assert not unlisted.exists() and cpu_fast._verified(where)


def test_a_cache_that_cannot_be_written_is_one_line_and_the_kernels_still_run(tmp_path):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    done = _run_load(blocker / 'home')  # the kernels' own check of the output passed inside
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('alkdsr: cannot cache the CPU kernels in ')
    assert f'({blocker} is a file); compiling them for this process only' in lines[0]


def _state(net) -> str:
    """What CpuFastNet changed of a network: its mode, dtype and memory format (a 3x3 conv's weight shows it)."""
    weight = net.upsample.weight
    channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    return f'net: training {net.training}, {weight.dtype}, {"" if channels_last else "not "}channels-last'


@pytest.mark.parametrize(
    'case, dtype',
    [('CpuFastNet of a network in training', torch.float32), ('CpuFastNet of a float64 network', torch.float64)],
    ids=['training', 'float64'],
)
def test_the_callers_network_is_left_as_it_was(case, dtype):
    """CpuFastNet put the caller's network in eval mode, float32 and channels-last memory: a caller training
    it went on in eval mode; the fast path works on a copy."""
    from corpus import API_MISTAKES

    net = small_net().to(dtype).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = CpuFastNet(net)
    assert _state(net) == API_MISTAKES[case].expect
    assert all(torch.equal(v, before[k]) and v.dtype == dtype for k, v in net.state_dict().items())
    x = torch.rand(1, 3, 19, 22)
    assert (fast(x) - net.float().eval()(x)).abs().max().item() <= TOLERANCE  # the same function all the same
