"""``alkdsr benchmark``: the official weights reproduce the golden PSNR/SSIM, HR-only and tiled
modes agree with the standard one, the JSON follows its schema, bad input is one line and exit 2.

CI runs ALKDNet on Set5 x2/x3/x4 and Set14 x4 and BSRN on Set5 x4; ``-m slow`` runs the full
Set5/Set14 grid of both, HR-only mode on both sets and tiling on all of Set14 x2.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import SHARED, bsrn_weights, official_weights, requires_shared

from alkdsr.archs import ALKDNet
from alkdsr.cli import _options
from alkdsr.cli.main import main as cli_main
from alkdsr.errors import AlkdsrError
from alkdsr.files.images import read_bgr
from alkdsr.metrics.evaluation import find_set, load_pair
from alkdsr.metrics.paper import TABLE4, TABLE4_SETS
from alkdsr.zoo.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures('no_grad')  # autograd off in these tests only (conftest.no_grad)

BENCHMARK = SHARED / 'datasets' / 'benchmark'
GOLDEN = {
    'alkdnet': SHARED / 'golden' / 'official_benchmark_psnr_ssim.json',
    'bsrn': SHARED / 'golden' / 'bsrn_official_benchmark_psnr_ssim.json',
}
WEIGHTS = {'alkdnet': official_weights, 'bsrn': bsrn_weights}
PSNR_TOL, SSIM_TOL = 0.002, 0.0001


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


_runs: dict = {}


def benchmark_json(tmp_path_factory, arch: str, scale: int, sets: tuple[str, ...], *extra) -> dict:
    """Run ``alkdsr benchmark`` once per argument set in this test session (the runs are the slow part)."""
    key = (arch, scale, sets, extra)
    if key not in _runs:
        path = tmp_path_factory.mktemp('bench') / 'result.json'
        rc, out, err = run_cli(
            'benchmark', '--weights', WEIGHTS[arch](scale), '--data-root', BENCHMARK, '--sets', *sets,
            '--device', 'cpu', '--json', path, *extra,
        )  # fmt: skip
        assert rc == 0, err
        _runs[key] = {'json': json.loads(path.read_text()), 'stdout': out}
    return _runs[key]


def assert_matches_golden(result: dict, arch: str, scale: int, set_name: str) -> None:
    golden = json.loads(GOLDEN[arch].read_text())[f'{set_name}_x{scale}']
    got = result['sets'][set_name]
    assert got['n'] == len(list((BENCHMARK / set_name / 'HR').glob('*.png')))
    assert got['psnr'] == pytest.approx(golden['psnr'], abs=PSNR_TOL)
    assert got['ssim'] == pytest.approx(golden['ssim'], abs=SSIM_TOL)
    paper_psnr, paper_ssim = TABLE4[scale][{'alkdnet': 'ALKDNet', 'bsrn': 'BSRN'}[arch]].result(set_name)
    assert got['paper'] == {'psnr': paper_psnr, 'ssim': paper_ssim}
    for name, (psnr, ssim) in golden.get('per_image', {}).items():  # the BSRN file has means only
        assert got['per_image'][name][0] == pytest.approx(psnr, abs=PSNR_TOL), name
        assert got['per_image'][name][1] == pytest.approx(ssim, abs=SSIM_TOL), name


# ---------------------------------------------------------------- golden reproduction

CI_GRID = [
    ('alkdnet', 2, ('Set5',)),
    ('alkdnet', 3, ('Set5',)),
    ('alkdnet', 4, ('Set5', 'Set14')),
    ('bsrn', 4, ('Set5',)),
]


@requires_shared
@pytest.mark.parametrize('arch,scale,sets', CI_GRID)
def test_official_weights_reproduce_golden(tmp_path_factory, arch, scale, sets):
    result = benchmark_json(tmp_path_factory, arch, scale, sets)['json']
    for set_name in sets:
        assert_matches_golden(result, arch, scale, set_name)


@pytest.mark.slow
@requires_shared
@pytest.mark.parametrize('arch', ['alkdnet', 'bsrn'])
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_official_weights_reproduce_golden_full_grid(tmp_path_factory, arch, scale):
    result = benchmark_json(tmp_path_factory, arch, scale, ('Set5', 'Set14'))['json']
    for set_name in ('Set5', 'Set14'):
        assert_matches_golden(result, arch, scale, set_name)


# ---------------------------------------------------------------- JSON schema and the table


def hand_counted_multi_adds_g(scale: int) -> float:
    """ALKDNet's conv MACs + bias adds + pixel-norm elements for a 1280x720 output, layer by layer.

    Written from the paper's description (64 channels, 8 blocks, ALKConv k=9: 1x1, then k x 1,
    1 x k and 3 x 3 depthwise; ESA with 16 channels, stride-2 conv (padding 1), 7x7/3 max-pool).
    """
    c, k = 64, 9
    h, w = -(-720 // scale), -(-1280 // scale)
    px = h * w

    def alkconv(cin, cout, kk):  # pw (no bias) + three depthwise convs with bias + pixel norm
        return px * (cin * cout + cout * (kk + kk + 9) + 3 * cout + cout)

    def bsconv(cin, cout, pixels_pw, pixels_dw):  # pw (no bias) + 3x3 depthwise with bias
        return pixels_pw * cin * cout + pixels_dw * cout * (9 + 1)

    h2, w2 = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1  # ESA's stride-2 conv, padding 1
    h3, w3 = (h2 - 7) // 3 + 1, (w2 - 7) // 3 + 1  # 7x7 max-pool, stride 3
    esa = px * (c * 16 + 16) + px * (16 * 16 + 16) + bsconv(16, 16, px, h2 * w2)
    esa += 3 * bsconv(16, 16, h3 * w3, h3 * w3) + px * (16 * c + c)
    cca = (c * 4 + 4) + (4 * c + c)
    block = 3 * px * (c * 32 + 32) + 3 * alkconv(c, c, k) + alkconv(c, 32, k) + px * (128 * c + c)
    block += esa + cca + px * c  # block-level pixel norm
    total = bsconv(12, c, px, px) + 8 * block + px * (8 * c * c + c) + alkconv(c, c, 3)
    total += px * (9 * c * 3 * scale**2 + 3 * scale**2)  # conv before PixelShuffle
    return total / 1e9


@requires_shared
def test_json_schema_params_and_multi_adds(tmp_path_factory):
    run = benchmark_json(tmp_path_factory, 'alkdnet', 4, ('Set5', 'Set14'))
    result = run['json']
    assert {'arch', 'scale', 'weights', 'params', 'multi_adds_g', 'device', 'sets'} <= set(result)
    assert result['arch'] == 'alkdnet' and result['scale'] == 4
    assert result['weights'] == str(official_weights(4))
    assert result['params'] == 393_488
    assert result['multi_adds_g'] == pytest.approx(hand_counted_multi_adds_g(4), abs=1e-4)
    assert isinstance(result['device'], str) and result['device']
    assert list(result['sets']) == ['Set5', 'Set14']
    for set_name, expected_names in (('Set5', ['baby', 'bird', 'butterfly', 'head', 'woman']), ('Set14', None)):
        entry = result['sets'][set_name]
        assert {'psnr', 'ssim', 'n', 'per_image'} <= set(entry)
        assert entry['n'] == len(entry['per_image']) == (5 if set_name == 'Set5' else 14)
        if expected_names:
            assert sorted(entry['per_image']) == expected_names
        values = np.array(list(entry['per_image'].values()))
        assert values.shape == (entry['n'], 2)
        assert entry['psnr'] == pytest.approx(values[:, 0].mean(), abs=1e-9)
        assert entry['ssim'] == pytest.approx(values[:, 1].mean(), abs=1e-9)
        paper = TABLE4[4]['ALKDNet']
        assert entry['paper'] == {
            'psnr': paper.psnr[TABLE4_SETS.index(set_name)],
            'ssim': paper.ssim[TABLE4_SETS.index(set_name)],
        }
    # the table: one row per set with the measured mean, the paper's value and the difference
    rows = {line.split()[0]: line.split() for line in run['stdout'].splitlines()[2:]}
    set5 = rows['Set5']
    assert float(set5[3]) == pytest.approx(result['sets']['Set5']['psnr'], abs=5e-5)
    assert float(set5[5]) == 32.37 and float(set5[8]) == pytest.approx(result['sets']['Set5']['psnr'] - 32.37, abs=5e-4)


@pytest.mark.parametrize('scale,params', [(2, 372_716), (3, 381_371), (4, 393_488)])
def test_params_and_multi_adds_by_hand_and_paper(scale, params):
    from alkdsr.metrics.complexity import count_params, paper_multi_adds

    net = ALKDNet(upscale=scale)
    assert count_params(net) == params
    assert round(params / 1000) == TABLE4[scale]['ALKDNet'].params_k
    ours = paper_multi_adds(net)
    assert ours.total_g == pytest.approx(hand_counted_multi_adds_g(scale), abs=1e-6)
    paper = TABLE4[scale]['ALKDNet'].multi_adds_g
    if scale == 2:  # the paper's x2 figure also counts GELU/pooling/interpolation elements (docs/benchmarks.md)
        assert (ours.total + ours.elementwise) / 1e9 == pytest.approx(paper, abs=0.05)
        assert ours.total_g < paper - 1.5
    else:
        assert ours.total_g == pytest.approx(paper, abs=0.05)


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_conv_macs_agree_with_torch_flop_counter(scale):
    """PyTorch counts 2 FLOPs per conv multiply-accumulate; our 'conv' part must be exactly half."""
    from torch.utils.flop_counter import FlopCounterMode

    from alkdsr.metrics.complexity import count_multi_adds

    for preset in ('alkdnet', 'bsrn'):
        net = ALKDNet(upscale=scale, preset=preset).eval()
        ours = count_multi_adds(net, (180, 321)).conv
        with FlopCounterMode(display=False) as counter:
            net.to('meta')(torch.zeros(1, 3, 180, 321, device='meta'))
        assert ours * 2 == counter.get_total_flops()


def test_bsrn_multi_adds_match_the_paper():
    from alkdsr.metrics.complexity import paper_multi_adds

    for scale in (3, 4):
        got = paper_multi_adds(ALKDNet(upscale=scale, preset='bsrn')).total_g
        assert got == pytest.approx(TABLE4[scale]['BSRN'].multi_adds_g, abs=0.05)


# ---------------------------------------------------------------- HR-only mode


# docs/benchmarks.md: the LR made from HR is the shipped LR, so the scores differ by 0.0000 dB and
# 0.00000 SSIM; these are the largest differences that still round to those figures
HR_ONLY_PSNR_TOL = 5e-5
HR_ONLY_SSIM_TOL = 5e-6


def hr_only_copy(root, set_name: str):
    shutil.copytree(BENCHMARK / set_name / 'HR', root / set_name / 'HR')
    return root


@requires_shared
def test_hr_only_mode_matches_matlab_lr_files(tmp_path, tmp_path_factory):
    files = benchmark_json(tmp_path_factory, 'alkdnet', 4, ('Set5', 'Set14'))['json']['sets']['Set5']
    root = hr_only_copy(tmp_path, 'Set5')
    assert find_set(root, 'Set5', 4).mode == 'bicubic_from_hr'
    out = tmp_path / 'hr_only.json'
    rc, stdout, err = run_cli(
        'benchmark', '--weights', official_weights(4), '--data-root', root, '--sets', 'Set5', '--device', 'cpu',
        '--json', out,
    )  # fmt: skip
    assert rc == 0, err
    made = json.loads(out.read_text())['sets']['Set5']
    assert made['lr'] == 'bicubic_from_hr' and files['lr'] == 'lr_files'
    assert made['psnr'] == pytest.approx(files['psnr'], abs=HR_ONLY_PSNR_TOL)
    assert made['ssim'] == pytest.approx(files['ssim'], abs=HR_ONLY_SSIM_TOL)


@pytest.mark.slow
@requires_shared
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_hr_only_mode_full(tmp_path, tmp_path_factory, scale):
    files = benchmark_json(tmp_path_factory, 'alkdnet', scale, ('Set5', 'Set14'))['json']['sets']
    out = tmp_path / 'hr_only.json'
    rc, _, err = run_cli(
        'benchmark', '--weights', official_weights(scale), '--data-root', BENCHMARK, '--sets', 'Set5', 'Set14',
        '--hr-only', '--device', 'cpu', '--json', out,
    )  # fmt: skip
    assert rc == 0, err
    made = json.loads(out.read_text())['sets']
    for set_name in ('Set5', 'Set14'):
        assert made[set_name]['lr'] == 'bicubic_from_hr'
        assert made[set_name]['psnr'] == pytest.approx(files[set_name]['psnr'], abs=HR_ONLY_PSNR_TOL)
        assert made[set_name]['ssim'] == pytest.approx(files[set_name]['ssim'], abs=HR_ONLY_SSIM_TOL)


@requires_shared
def test_made_lr_is_the_shipped_lr_and_grey_hr_reads_as_three_channels():
    """bridge is a grey PNG: read with IMREAD_COLOR it is three equal channels, as in BasicSR."""
    bridge = read_bgr(BENCHMARK / 'Set14' / 'HR' / 'bridge.png')
    assert bridge.shape[2] == 3 and np.array_equal(bridge[..., 0], bridge[..., 2])
    (image,) = [im for im in find_set(BENCHMARK, 'Set14', 3).images if im.name == 'bridge']
    (made,) = [im for im in find_set(BENCHMARK, 'Set14', 3, make_lr=True).images if im.name == 'bridge']
    lr_file, hr_file = load_pair(image, 3)
    lr_made, hr_made = load_pair(made, 3)
    assert np.array_equal(lr_file, lr_made) and np.array_equal(hr_file, hr_made)


# ---------------------------------------------------------------- tiles

TILE_TOLERANCE_DB = 0.01  # docs/benchmarks.md: what tiles must keep the benchmark PSNR to


def tiled_and_untiled_psnr(weights, names, tile: int, tile_pad: int, tile_mode: str = 'seamless'):
    """The untiled result and the tiled one (or, for tile modes separated by commas, the tiled ones)."""
    from alkdsr.metrics.evaluation import evaluate_set

    net = _options.load_checked(weights)
    bench = find_set(BENCHMARK, 'Set14', net.upscale)
    if names:
        bench.images = [im for im in bench.images if im.name in names]
    whole = evaluate_set(net, bench)
    tiled = [evaluate_set(net, bench, tile=tile, tile_pad=tile_pad, tile_mode=m) for m in tile_mode.split(',')]
    return whole, *tiled


@requires_shared
def test_seamless_tiles_keep_the_psnr_where_plain_tiles_do_not():
    """Set14's comic at x4 in tiles of 40 + 2 x 16 (4 tiles of 45 x 31): plain tiles move its PSNR by 0.017 dB
    (measured), more than the tolerance, seamless ones by 0.0004 dB; so the check tells them apart."""
    whole, seamless, fast = tiled_and_untiled_psnr(official_weights(4), ('comic',), 40, 16, 'seamless,fast')
    assert whole.n == seamless.n == fast.n == 1
    assert abs(fast.psnr - whole.psnr) > TILE_TOLERANCE_DB, (fast.psnr, whole.psnr)
    assert seamless.psnr == pytest.approx(whole.psnr, abs=TILE_TOLERANCE_DB)


@pytest.mark.slow
@requires_shared
def test_tiled_psnr_matches_untiled_on_set14_x2():
    whole, tiled = tiled_and_untiled_psnr(official_weights(2), None, tile=128, tile_pad=32)
    assert whole.n == tiled.n == 14
    assert tiled.psnr == pytest.approx(whole.psnr, abs=TILE_TOLERANCE_DB)


# ---------------------------------------------------------------- user errors


@pytest.fixture
def tiny_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'tiny_x2.pth'
    save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=1), path)
    return path


def write_png(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def tiny_set(root, names=('a', 'b'), set_name='Tiny'):
    rng = np.random.default_rng(0)
    for name in names:
        hr = rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)
        write_png(root / set_name / 'HR' / f'{name}.png', hr)
        write_png(root / set_name / 'LR_bicubic' / 'X2' / f'{name}x2.png', hr[::2, ::2])
    return root


def test_missing_data_root_and_set(tmp_path, tiny_weights):
    rc, out, err = run_cli('benchmark', '--weights', tiny_weights, '--data-root', tmp_path / 'nope', '--sets', 'Set5')
    assert rc == 2 and err.strip() == f'alkdsr benchmark: error: {tmp_path / "nope"}: no such data root folder'
    tiny_set(tmp_path)
    rc, out, err = run_cli('benchmark', '--weights', tiny_weights, '--data-root', tmp_path, '--sets', 'Set5')
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f'{tmp_path / "Set5"}: no such benchmark set folder (found: Tiny)' in err


def test_bad_images_are_reported_and_the_rest_evaluated(tmp_path, tiny_weights):
    root = tiny_set(tmp_path, names=('a', 'b', 'c', 'd'))
    (root / 'Tiny' / 'HR' / 'b.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')  # unreadable HR
    write_png(root / 'Tiny' / 'LR_bicubic' / 'X2' / 'cx2.png', np.zeros((7, 9, 3), np.uint8))  # wrong size
    (root / 'Tiny' / 'LR_bicubic' / 'X2' / 'dx2.png').unlink()  # missing LR
    out = tmp_path / 'r.json'
    rc, stdout, err = run_cli(
        'benchmark', '--weights', tiny_weights, '--data-root', root, '--sets', 'Tiny', '--device', 'cpu', '--json', out,
    )  # fmt: skip
    assert rc == 2
    lines = err.strip().splitlines()
    hr, lr = root / 'Tiny' / 'HR', root / 'Tiny' / 'LR_bicubic' / 'X2'
    assert any(line.startswith(f'alkdsr benchmark: error: {hr / "b.png"}: not a readable image') for line in lines)
    assert any(line.startswith(f'alkdsr benchmark: error: {hr / "c.png"}: HR/LR size mismatch') for line in lines)
    assert f'alkdsr benchmark: error: {lr / "dx2.png"}: no such file' in lines
    result = json.loads(out.read_text())['sets']['Tiny']
    assert result['n'] == 1 and list(result['per_image']) == ['a'] and len(result['failures']) == 3
    assert 'Traceback' not in err


def test_scale_arch_and_device_mismatches_are_one_line(tmp_path, tiny_weights):
    tiny_set(tmp_path)
    base = ('benchmark', '--weights', tiny_weights, '--data-root', tmp_path, '--sets', 'Tiny')
    rc, _, err = run_cli(*base, '--scale', '4')
    assert (
        rc == 2 and err.strip() == f'alkdsr benchmark: error: {tiny_weights}: the weights are for x2, not x4 (--scale)'
    )
    rc, _, err = run_cli(*base, '--arch', 'bsrn')
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "the weights are alkdnet, not bsrn: refine_conv 'alkconv' (bsrn: 'bsconv')" in err
    rc, _, err = run_cli(*base, '--json', tmp_path)
    assert rc == 2 and err.strip() == f'alkdsr benchmark: error: --json {tmp_path}: is a folder, not a file'
    rc, _, err = run_cli(*base, '--arch', 'resnet')
    assert rc == 2 and 'unknown architecture' in err
    rc, _, err = run_cli(*base, '--device', 'cpu', '--half')
    assert rc == 2 and '--half needs a CUDA device' in err
    if not torch.cuda.is_available():
        rc, _, err = run_cli(*base, '--device', 'cuda')
        assert rc == 2 and 'CUDA is not available' in err


def test_arch_settles_what_the_weights_cannot_show(tmp_path):
    """A BSRN+ABRL checkpoint without stored config is recognised as BSRN; --arch says otherwise."""
    torch.manual_seed(0)
    net = ALKDNet(upscale=2, preset='bsrn_abrl', num_feat=16, num_block=1).eval()
    path = tmp_path / 'bare.pth'
    torch.save({'params': net.state_dict()}, path)
    assert _options.load_checked(path).config['residual'] == 'fsrl'
    loaded = _options.load_checked(path, arch='bsrn_abrl', scale=2)
    assert loaded.config['residual'] == 'abrl' and loaded.config['preset'] == 'bsrn_abrl'
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x), net(x))
    stored = tmp_path / 'stored.pth'
    save_checkpoint(net, stored)  # stores residual='abrl': --arch bsrn contradicts it
    with pytest.raises(AlkdsrError, match='stores residual'):
        _options.load_checked(stored, arch='BSRN')


def test_save_images_and_json_are_complete_files(tmp_path, tiny_weights):
    root = tiny_set(tmp_path, set_name='Set5')
    out, images = tmp_path / 'out' / 'r.json', tmp_path / 'sr'
    rc, stdout, err = run_cli(
        'benchmark', '--weights', tiny_weights, '--data-root', root, '--sets', 'Set5', '--device', 'cpu',
        '--save-images', images, '--json', out,
    )  # fmt: skip
    assert rc == 0, err
    result = json.loads(out.read_text())
    assert result['arch'] == 'alkdnet' and result['scale'] == 2 and result['sets']['Set5']['n'] == 2
    # 16 channels and 1 block is not the paper's ALKDNet: no Table 4 comparison
    assert 'paper' not in result['sets']['Set5'] and '38.14' not in stdout
    from alkdsr.metrics.evaluation import y_psnr_ssim

    for name in ('a', 'b'):
        sr = cv2.imread(str(images / 'Set5' / 'x2' / f'{name}.png'), cv2.IMREAD_COLOR)
        hr = cv2.imread(str(root / 'Set5' / 'HR' / f'{name}.png'), cv2.IMREAD_COLOR)
        assert sr.shape == hr.shape
        assert y_psnr_ssim(sr, hr, 2)[0] == pytest.approx(result['sets']['Set5']['per_image'][name][0], abs=1e-9)
    assert not [p for p in tmp_path.rglob('*') if p.name.startswith('.') and '.tmp' in p.name]


@requires_shared
def test_paper_table_is_transcribed_exactly():
    table = json.loads((SHARED / 'paper' / 'table4.json').read_text())
    assert tuple(table['columns']) == TABLE4_SETS
    for key, rows in table['rows'].items():
        scale = int(key[1:])
        assert set(rows) == set(TABLE4[scale])
        for method, row in rows.items():
            ours = TABLE4[scale][method]
            assert (ours.params_k, ours.multi_adds_g) == (row['params_k'], row['multi_adds_g'])
            assert list(ours.psnr) == row['psnr'] and list(ours.ssim) == row['ssim']


# ---------------------------------------------------------------- BasicSR's own test pipeline agrees


@requires_shared
def test_basicsr_test_pipeline_gives_the_benchmark_numbers(tmp_path, tmp_path_factory, monkeypatch):
    """options/test_ALKDNet_x4.yml through alkdsr/test.py on Set5 and Set14 (data paths overridden), its
    weights by name: the golden PSNR/SSIM of the official code, and the numbers of ``alkdsr benchmark``.

    ``path: pretrain_network_g: alkdnet-x4`` resolves to the cached file, seeded with ``alkdsr weights import``.
    """
    root = Path(__file__).resolve().parents[2]
    opt = yaml.safe_load((root / 'options' / 'test_ALKDNet_x4.yml').read_text())
    assert opt['path']['pretrain_network_g'] == 'alkdnet-x4' and opt['val']['save_img']
    sets = ['Set5', 'Set14']
    opt['datasets'] = {key: d for key, d in opt['datasets'].items() if d['name'] in sets}
    for d in opt['datasets'].values():
        folder = BENCHMARK / d['name']
        d.update(dataroot_gt=str(folder / 'HR'), dataroot_lq=str(folder / 'LR_bicubic' / 'X4'))
    option_file = tmp_path / 'test_x4.yml'
    option_file.write_text(yaml.safe_dump(opt, sort_keys=False))
    monkeypatch.setenv('ALKDSR_HOME', str(tmp_path / 'home'))
    assert run_cli('weights', 'import', official_weights(4))[0] == 0
    cmd = [sys.executable, str(root / 'alkdsr' / 'test.py'), '-opt', str(option_file)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)  # ALKDSR_HOME set above
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = tmp_path / 'results' / opt['name']
    (log,) = results.glob('test_*.log')
    log = log.read_text()
    assert 'Current net - loaded net' not in log  # official names are translated, not reported as mismatches
    assert re.findall(r'Validation (\S+)\n', log) == sets
    blocks = re.split(r'Validation \S+\n', log)[1:]
    logged = [dict(re.findall(r'# (psnr|ssim): ([-\d.]+)', block)) for block in blocks]
    assert [set(m) for m in logged] == [{'psnr', 'ssim'}] * len(sets), logged  # one metric set per dataset
    golden = json.loads(GOLDEN['alkdnet'].read_text())
    ours = benchmark_json(tmp_path_factory, 'alkdnet', 4, ('Set5', 'Set14'))['json']['sets']
    for name, metrics in zip(sets, logged):
        for key in ('psnr', 'ssim'):
            assert float(metrics[key]) == pytest.approx(ours[name][key], abs=6e-5)  # the log rounds to 4 decimals
            assert float(metrics[key]) == pytest.approx(golden[f'{name}_x4'][key], abs=1.5e-4)
        images = sorted((results / 'visualization' / name).glob('*.png'))
        assert len(images) == len(list((BENCHMARK / name / 'HR').glob('*.png')))
