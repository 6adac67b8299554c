"""``alkdsr profile``: every reported field, on the CPU at a small size."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch
from conftest import official_weights, requires_shared

from alkdsr.archs import ALKDNet
from alkdsr.cli.main import main as cli_main
from alkdsr.cli.profile import parse_size
from alkdsr.metrics.complexity import count_multi_adds, count_params


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def test_profile_reports_every_field(tmp_path):
    path = tmp_path / 'p.json'
    rc, out, err = run_cli(
        'profile', '--arch', 'BSRN', '--scale', '3', '--size', '70x40', '--device', 'cpu', '--runs', '3',
        '--warmup', '1', '--json', path,
    )  # fmt: skip
    assert rc == 0, err
    r = json.loads(path.read_text())
    assert (r['arch'], r['scale'], r['weights']) == ('bsrn', 3, None)
    assert r['output_size'] == [70, 40] and r['lr_size'] == [24, 14]  # ceil(70/3) x ceil(40/3)
    net = ALKDNet(upscale=3, preset='bsrn')
    assert r['params'] == count_params(net) == 340_283
    expected = count_multi_adds(net, (14, 24))
    assert r['multi_adds'] == expected.as_dict()
    assert r['multi_adds_g'] == pytest.approx(expected.total_g, abs=1e-4)
    assert r['device'] == 'cpu' and r['dtype'] == 'float32' and r['device_name']
    assert (r['runs'], r['warmup']) == (3, 1)
    lat = r['latency_ms']
    assert 0 < lat['min'] <= lat['median'] <= lat['max'] and lat['min'] <= lat['mean'] <= lat['max']
    assert r['peak_memory_mb'] >= r['rss_before_mb'] > 0 and 'RSS' in r['memory_kind']
    for label in (
        'params       340,283',
        'Multi-Adds',
        'LR 24x14',
        'latency      median',
        'peak memory',
        r['device_name'],
    ):
        assert label in out


@requires_shared
def test_profile_of_weights_recognises_them_and_checks_scale(tmp_path):
    rc, out, err = run_cli(
        'profile', '--weights', official_weights(2), '--size', '32x32', '--device', 'cpu', '--runs', '1',
        '--warmup', '0',
    )  # fmt: skip
    assert rc == 0, err
    assert out.startswith('alkdnet x2') and 'params       372,716' in out and 'LR 16x16' in out
    rc, _, err = run_cli('profile', '--weights', official_weights(2), '--scale', '4', '--device', 'cpu')
    assert rc == 2 and err.strip().endswith('the weights are for x2, not x4 (--scale)')


def test_profile_tiled_and_bad_options(tmp_path):
    rc, out, err = run_cli(
        'profile', '--scale', '2', '--size', '80x40', '--tile', '16', '--tile-pad', '4', '--device', 'cpu',
        '--runs', '1', '--warmup', '0',
    )  # fmt: skip
    assert rc == 0, err
    assert 'seamless tiles of 16' in out
    rc, _, err = run_cli('profile', '--half', '--device', 'cpu')
    assert (
        rc == 2
        and err.strip() == 'alkdsr profile: error: --half needs a CUDA device (inference on the CPU runs in float32)'
    )
    with pytest.raises(SystemExit) as e, contextlib.redirect_stderr(io.StringIO()):
        cli_main(['profile', '--size', '1280'])
    assert e.value.code == 2
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        cli_main(['profile', '--runs', '0'])


def test_parse_size():
    assert parse_size('1280x720') == (1280, 720) and parse_size(' 64X48 ') == (64, 48)
    for bad in ('1280', '0x10', 'axb', '-1x5'):
        with pytest.raises(ValueError):
            parse_size(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_profile_on_cuda_uses_events_and_allocator_peak(tmp_path):
    path = tmp_path / 'p.json'
    rc, _, err = run_cli('profile', '--device', 'cuda', '--half', '--runs', '3', '--warmup', '1', '--json', path)
    assert rc == 0, err
    r = json.loads(path.read_text())
    assert r['dtype'] == 'float16' and r['memory_kind'] == 'torch.cuda.max_memory_allocated'
    assert math.isfinite(r['latency_ms']['median']) and r['peak_memory_mb'] > 0
