"""The fused ALKConv's backward (``torch.ops.alkdsr.alkconv_branches`` under autograd) gives the
gradients autograd computes through the reference branches (float64 oracle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from alkdsr.ops import alkconv_triton

NAMES = ('y', 'wv', 'bv', 'wh', 'bh', 'ws', 'bs', 'norm_weight', 'norm_bias')


@torch.enable_grad()  # other test modules (test_fast.py) turn gradients off when imported
def gradient_errors(device: str = 'cpu') -> dict[str, float]:
    """Max relative error of each input's gradient through the custom op against float64 autograd.

    Odd channel counts and widths (a partial BLOCK_W, padded channels), both kernel sizes the
    presets use (9: alkdnet; 3: bsrn_alk3 and fusion_kernel_size), NCHW and channels_last.
    The op runs on ``device``; the float64 oracle on the CPU.
    """
    torch.manual_seed(0)
    worst = dict.fromkeys(NAMES, 0.0)
    for (n, c, h, w, k), layouts in (((1, 13, 3, 37, 9), ('nchw',)), ((2, 6, 2, 5, 3), ('nchw', 'channels_last'))):
        args = [torch.randn(n, c, h, w), 0.3 * torch.randn(c, k), 0.1 * torch.randn(c), 0.3 * torch.randn(c, k)]
        args += [0.1 * torch.randn(c), 0.3 * torch.randn(c, 9), 0.1 * torch.randn(c), 1 + 0.1 * torch.randn(c)]
        args += [0.1 * torch.randn(c)]
        grad_out = torch.randn(n, c, h, w)
        exact = [a.double().requires_grad_() for a in args]
        expected = torch.autograd.grad(alkconv_triton.reference_branches(*exact, 1e-6), exact, grad_out.double())
        for layout in layouts:
            y = args[0].to(memory_format=torch.channels_last) if layout == 'channels_last' else args[0]
            inputs = [t.to(device).requires_grad_() for t in (y, *args[1:])]
            out = torch.ops.alkdsr.alkconv_branches(*inputs, 1e-6)
            got = torch.autograd.grad(out, inputs, grad_out.to(device))
            for name, g, e in zip(NAMES, got, expected):
                worst[name] = max(worst[name], ((g.double().cpu() - e).abs().max() / e.abs().max()).item())
    return worst


def test_cpu_backward_matches_autograd_of_the_reference_branches():
    assert os.environ.get('TRITON_INTERPRET') != '1'  # the PyTorch composition, not the kernels
    errors = gradient_errors()
    assert len(errors) == 9 and max(errors.values()) < 1e-4, errors


@pytest.mark.skipif(alkconv_triton.triton is None, reason='triton is not installed')
def test_triton_backward_matches_autograd_of_the_reference_branches_in_the_interpreter():
    """The forward and backward Triton kernels themselves, on CPU tensors in Triton's interpreter."""
    script = f'import json, runpy; print(json.dumps(runpy.run_path({__file__!r})["gradient_errors"]()))'
    env = {**os.environ, 'TRITON_INTERPRET': '1'}
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = json.loads(proc.stdout.splitlines()[-1])
    assert len(errors) == 9 and max(errors.values()) < 1e-4, errors


@torch.enable_grad()
def test_custom_ops_pass_opcheck():
    """Schema, fake tensors (torch.compile), the autograd registration and AOT dispatch of both ops."""
    torch.manual_seed(0)
    c, k = 5, 9
    args = [torch.randn(1, c, 3, 7), torch.randn(c, k), torch.randn(c), torch.randn(c, k), torch.randn(c)]
    args += [torch.randn(c, 9), torch.randn(c), torch.randn(c), torch.randn(c)]
    inputs = [a.clone().requires_grad_() for a in args]
    torch.library.opcheck(torch.ops.alkdsr.alkconv_branches, (*inputs, 1e-6))
    grad_out = torch.randn(1, c, 3, 7)
    torch.library.opcheck(torch.ops.alkdsr.alkconv_branches_preactivation_grads, (grad_out, *args[:-1], 1e-6))


@pytest.mark.skipif(not alkconv_triton.available(), reason='needs CUDA and Triton')
def test_cuda_backward_matches_autograd_of_the_reference_branches(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)  # the conv backward in full float32
    errors = gradient_errors('cuda')
    assert len(errors) == 9 and max(errors.values()) < 1e-4, errors


@pytest.mark.skipif(not alkconv_triton.available(), reason='needs CUDA and Triton')
@torch.enable_grad()
def test_fused_alkdnet_training_gradients_match_eager_on_cuda(monkeypatch):
    """A whole network's parameter gradients with the fused ALKConv (float32, and bf16 autocast)."""
    from alkdsr.archs import ALKDNet
    from alkdsr.archs.arch_util import use_fused_kernels

    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    torch.manual_seed(0)
    net = ALKDNet(upscale=4, num_feat=24, num_block=2).cuda()
    lr, hr = torch.rand(2, 3, 19, 23, device='cuda'), torch.rand(2, 3, 76, 92, device='cuda')

    def grads(fused: bool, dtype=None):
        use_fused_kernels(net, fused)
        net.zero_grad(set_to_none=True)
        with torch.autocast('cuda', dtype=dtype, enabled=dtype is not None):
            out = net(lr)
        torch.nn.functional.l1_loss(out.float(), hr).backward()
        return [p.grad.clone() for p in net.parameters()]

    eager, fused = grads(False), grads(True)
    worst = max(((f - e).abs().max() / e.abs().max().clamp_min(1e-12)).item() for f, e in zip(fused, eager))
    assert worst < 1e-3, worst  # float32, different summation orders through the whole network
    eager_bf16, fused_bf16 = grads(False, torch.bfloat16), grads(True, torch.bfloat16)

    def closeness(grads_bf16):  # the least cosine similarity of a parameter's gradient to float32's
        cosine = torch.nn.functional.cosine_similarity
        return min(cosine(g.flatten(), e.flatten(), 0).item() for g, e in zip(grads_bf16, eager))

    assert closeness(fused_bf16) >= closeness(eager_bf16) - 0.01  # bf16 autocast: no worse than eager's
