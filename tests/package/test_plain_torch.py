"""The networks, and the commands and loaders that run them, need torch only: BasicSR, torchvision and scipy
stay unloaded (they cost a second and a half of start-up), and the CPU path is chosen by the work ahead."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from corpus import rgb_png

from alkdsr.archs import ALKDNet
from alkdsr.inference import fast
from alkdsr.inference.cpu_fast import CpuFastNet
from alkdsr.inference.image import upscale_image

ROOT = fast.__file__.rsplit('/alkdsr/', 1)[0]
TRAINERS = ('basicsr', 'torchvision', 'scipy')


def _loaded_after(script: str, cwd) -> dict:
    """What of TRAINERS a fresh interpreter has loaded after each step of ``script`` (steps end in ``mark(name)``)."""
    prelude = (
        'import json, sys\nsteps = {}\n'
        f'def mark(name): steps[name] = [m for m in {TRAINERS!r} if m in sys.modules]\n'
    )
    proc = subprocess.run(
        [sys.executable, '-c', prelude + script + '\nprint(json.dumps(steps))'],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_archs_and_a_one_image_upscale_load_neither_basicsr_torchvision_nor_scipy(tiny_weights, tmp_path):
    (tmp_path / 'in.png').write_bytes(rgb_png())
    script = f"""
import alkdsr.archs
net = alkdsr.archs.ALKDNet(upscale=2)
mark('import alkdsr.archs')
from alkdsr.cli.main import main
assert main(['upscale', '-i', 'in.png', '-o', 'out.png', '--weights', {str(tiny_weights)!r}]) == 0
mark('alkdsr upscale')
import alkdsr
model = alkdsr.load_model({str(tiny_weights)!r})
mark('alkdsr.load_model')
assert main(['profile', '--weights', {str(tiny_weights)!r}, '--size', '16x16', '--runs', '1']) == 0
mark('alkdsr profile')
assert main(['compare', '--hr', 'in.png', '--weights', {str(tiny_weights)!r}, '-o', 'fig.png']) == 0
mark('alkdsr compare')
assert main(['export', '--weights', {str(tiny_weights)!r}, '-o', 'net.onnx']) == 0
mark('alkdsr export')
import torch
torch.hub.load({ROOT!r}, 'bsrn', source='local', scale=2)
mark('torch.hub')
"""
    steps = _loaded_after(script, tmp_path)
    assert steps == {step: [] for step in steps} and len(steps) == 7, steps
    assert (tmp_path / 'out.png').is_file() and (tmp_path / 'net.onnx').is_file()


def test_spandrel_integration_loads_no_basicsr(tiny_weights, tmp_path):
    script = f"""
import spandrel
before = [m for m in {TRAINERS!r} if m in sys.modules]  # spandrel's own imports (torchvision)
import alkdsr.integrations.spandrel
alkdsr.integrations.spandrel.install()
spandrel.ModelLoader().load_from_file({str(tiny_weights)!r})
steps['added'] = [m for m in {TRAINERS!r} if m in sys.modules and m not in before]
"""
    assert _loaded_after(script, tmp_path) == {'added': []}


def _net(scale=2):
    torch.manual_seed(0)
    return ALKDNet(upscale=scale, num_feat=16, num_block=1).eval()


def test_runner_takes_the_cpu_kernels_only_for_enough_work():
    net = _net()
    assert fast.runner(net, work=fast.FUSED_CPU_MIN_PIXELS - 1) is net
    assert isinstance(fast.runner(net, work=fast.FUSED_CPU_MIN_PIXELS), CpuFastNet)
    assert isinstance(fast.runner(net), CpuFastNet)  # work not known: many calls ahead
    assert fast.runner(net, backend='torch') is net
    bsrn = ALKDNet(upscale=2, preset='bsrn', num_feat=16, num_block=1)
    assert fast.runner(bsrn) is bsrn  # the kernels are ALKConv's
    made = fast.runner(net)
    assert fast.runner(made) is made
    with pytest.raises(ValueError, match='backend must be one of'):
        fast.runner(net, backend='numba')


def test_upscale_image_runs_what_the_command_line_runs(monkeypatch):
    """The Python API picks the path as ``alkdsr upscale`` does: the kernels for a large image, not a small one."""
    calls = []
    plain = CpuFastNet.forward
    monkeypatch.setattr(CpuFastNet, 'forward', lambda self, lr: calls.append(tuple(lr.shape)) or plain(self, lr))
    net = _net()
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    large = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    assert upscale_image(net, small).shape == (40, 48, 3) and calls == []
    assert upscale_image(net, large).shape == (512, 512, 3) and calls == [(1, 3, 256, 256)]
    assert upscale_image(net, large, backend='torch').shape == (512, 512, 3) and len(calls) == 1
