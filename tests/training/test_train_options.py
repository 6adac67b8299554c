"""The shipped option files: the paper's recipe (Sec. 4.2), one file per ablation, the benchmark tests.

Option files are read with BasicSR's own YAML loader; the end-to-end runs start the shipped files
through alkdsr/train.py and alkdsr/test.py with only data paths and sizes overridden.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import requires_shared
from train_utils import (
    ROOT,
    SCALE,
    TEST_PY,
    checkpoints,
    env,
    failure,
    logged_iterations,
    logged_metrics,
    make_lmdbs,
    make_pairs,
    run_train,
    states,
    train_logs,
)

from alkdsr.archs import ALKDNet
from alkdsr.archs.presets import PRESETS, preset_config
from alkdsr.zoo import WEIGHTS

OPTIONS = ROOT / 'options'
PAPER_PARAMS = {2: 372_716, 3: 381_371, 4: 393_488}  # docs/architectures.md
BENCHMARKS = ['Set5', 'Set14', 'BSD100', 'Urban100', 'Manga109']


def load(path):
    from basicsr.utils.options import ordered_yaml

    with open(path) as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def build(network_opt):
    from basicsr.archs import build_network

    return build_network(dict(network_opt))


def _plain(obj):
    return json.loads(json.dumps(obj))


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_training_options_follow_the_paper(scale):
    opt = load(OPTIONS / f'train_ALKDNet_x{scale}.yml')
    assert opt['model_type'] == 'ALKDSRModel' and opt['scale'] == scale
    train_set = opt['datasets']['train']
    assert train_set['type'] == 'ALKDSRPairedImageDataset' and train_set['io_backend']['type'] == 'lmdb'
    assert train_set['dataroot_gt'] == 'datasets/DF2K/HR_sub.lmdb'
    assert train_set['dataroot_lq'] == f'datasets/DF2K/LR_bicubic_sub/X{scale}.lmdb'
    assert train_set['gt_size'] == 48 * scale  # LR patch 48 x 48
    assert train_set['batch_size_per_gpu'] == 64
    assert train_set['use_hflip'] is True and train_set['use_rot'] is True
    val_set = opt['datasets']['val']
    assert val_set['name'] == 'Set5' and val_set['dataroot_lq'].endswith(f'Set5/LR_bicubic/X{scale}')
    assert val_set['filename_tmpl'] == f'{{}}x{scale}'

    train = opt['train']
    assert _plain(train['optim_g']) == {
        'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0, 'betas': [0.9, 0.999], 'fused': True,
    }  # fmt: skip
    assert train['amp'] is None and train['compile'] is False and train['channels_last'] is False
    assert _plain(train['scheduler']) == {
        'type': 'CosineAnnealingRestartLR',
        'periods': [1_000_000],
        'restart_weights': [1],
        'eta_min': 1e-7,
    }
    assert train['total_iter'] == 1_000_000
    assert _plain(train['pixel_opt']) == {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}
    assert opt['val']['val_freq'] == 5000
    for metric in ('psnr', 'ssim'):
        m = opt['val']['metrics'][metric]
        assert m['type'] == f'calculate_{metric}' and m['crop_border'] == scale and m['test_y_channel'] is True

    net = build(opt['network_g'])
    assert isinstance(net, ALKDNet) and net.upscale == scale and net.config['preset'] == 'alkdnet'
    assert sum(p.numel() for p in net.parameters()) == PAPER_PARAMS[scale]


def test_one_x2_training_file_per_ablation():
    reference = load(OPTIONS / 'train_ALKDNet_x2.yml')
    files = sorted((OPTIONS / 'ablation').glob('train_*_x2.yml'))
    presets = {re.fullmatch(r'train_(\w+)_x2', f.stem)[1]: f for f in files}
    assert set(presets) == set(PRESETS) - {'alkdnet'}
    for preset, path in presets.items():
        opt = load(path)
        assert opt['network_g']['preset'] == preset
        net = build(opt['network_g'])
        assert {k: v for k, v in net.config.items() if k != 'preset'} == {**preset_config(preset), 'upscale': 2}
        # the same recipe and data as the x2 model: only the name and the network preset differ
        same = {k: v for k, v in _plain(opt).items() if k not in ('name', 'network_g')}
        assert same == {k: v for k, v in _plain(reference).items() if k not in ('name', 'network_g')}
        assert opt['name'] == f'train_{preset}_x2_DF2K'


@pytest.mark.parametrize('model,scale', [(m, s) for m in ('ALKDNet', 'BSRN') for s in (2, 3, 4)])
def test_test_options_cover_the_five_benchmarks(model, scale):
    opt = load(OPTIONS / f'test_{model}_x{scale}.yml')
    sets = [d for _, d in sorted(opt['datasets'].items())]
    assert [d['name'] for d in sets] == BENCHMARKS
    for d in sets:
        assert d['dataroot_gt'].startswith('datasets/benchmark/') and d['dataroot_gt'].endswith('/HR')
        assert d['dataroot_lq'] == d['dataroot_gt'][: -len('HR')] + f'LR_bicubic/X{scale}'
        assert d['filename_tmpl'] == f'{{}}x{scale}'
    for metric in ('psnr', 'ssim'):
        m = opt['val']['metrics'][metric]
        assert m['crop_border'] == scale and m['test_y_channel'] is True
    name = opt['path']['pretrain_network_g']  # the authors' weights, by their registered name
    assert name == f'{model.lower()}-x{scale}'
    assert (WEIGHTS[name].preset, WEIGHTS[name].scale) == (model.lower(), scale)
    assert build(opt['network_g']).config['preset'] == model.lower()


def test_shipped_x4_recipe_trains_from_lmdb(tmp_path):
    """options/train_ALKDNet_x4.yml itself, with data paths, sizes and iterations overridden on the command line."""
    pairs = make_pairs(tmp_path / 'pairs')
    hr_lmdb, lr_lmdb = make_lmdbs(pairs, tmp_path / 'lmdb')
    overrides = {
        'datasets:train:dataroot_gt': hr_lmdb,
        'datasets:train:dataroot_lq': lr_lmdb,
        'datasets:train:gt_size': 64,
        'datasets:train:batch_size_per_gpu': 2,
        'datasets:train:num_worker_per_gpu': 0,
        'datasets:val:dataroot_gt': pairs / 'HR',
        'datasets:val:dataroot_lq': pairs / 'LR_bicubic' / f'X{SCALE}',
        'network_g:num_feat': 16,
        'network_g:num_block': 2,
        'train:total_iter': 2,
        'val:val_freq': 2,
        'logger:print_freq': 1,
        'logger:save_checkpoint_freq': 2,
        'logger:use_tb_logger': 'false',
    }
    flags = ['--force_yml', *(f'{k}={v}' for k, v in overrides.items())]
    proc = run_train(tmp_path, OPTIONS / 'train_ALKDNet_x4.yml', *flags)
    assert proc.returncode == 0, failure(proc)
    name = 'train_ALKDNet_x4_DF2K'
    (log,) = train_logs(tmp_path, name)
    assert 'Dataset [ALKDSRPairedImageDataset] - DF2K is built.' in log
    assert logged_iterations(log) == [1, 2]
    assert logged_metrics(log) and 'Validation Set5' in log
    assert set(checkpoints(tmp_path, name)) == {'net_g_2', 'net_g_latest'} and states(tmp_path, name) == [2]


def _test_run(tmp_path, option_file):
    cmd = [sys.executable, str(TEST_PY), '-opt', str(option_file)]
    return subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)


@requires_shared
@pytest.mark.parametrize(
    'model,weights,golden,sets',
    [
        ('BSRN', 'bsrn_official/net_g_BSRN_x4.pth', 'bsrn_official_benchmark_psnr_ssim.json', ['Set5']),
    ],
)
def test_test_pipeline_reproduces_the_official_scores(shared, tmp_path, model, weights, golden, sets):
    """options/test_*_x4.yml through alkdsr/test.py, pointed at ../shared: the measured golden PSNR/SSIM.

    ALKDNet's, its weights by name, is test_benchmark.py::test_basicsr_test_pipeline_gives_the_benchmark_numbers.
    """
    opt = load(OPTIONS / f'test_{model}_x4.yml')
    opt['datasets'] = {k: d for k, d in opt['datasets'].items() if d['name'] in sets}
    for d in opt['datasets'].values():
        d['dataroot_gt'] = str(shared / 'datasets' / 'benchmark' / d['name'] / 'HR')
        d['dataroot_lq'] = str(shared / 'datasets' / 'benchmark' / d['name'] / 'LR_bicubic' / 'X4')
    opt['path']['pretrain_network_g'] = str(shared / 'weights' / weights)
    option_file = tmp_path / f'test_{model}_x4.yml'
    option_file.write_text(yaml.safe_dump(_plain(opt), sort_keys=False))

    proc = _test_run(tmp_path, option_file)
    assert proc.returncode == 0, failure(proc)
    results = tmp_path / 'results' / f'test_{model}_x4'
    (log_path,) = results.glob('test_*.log')
    log = log_path.read_text()
    assert 'Current net - loaded net' not in log  # official names are translated, not reported as mismatches
    expected = json.loads((shared / 'golden' / golden).read_text())
    logged = logged_metrics(log)
    assert len(logged) == len(sets), logged  # one metric set per dataset, in the option file's order
    assert re.findall(r'Validation (\S+)\n', log) == sets
    for name, metrics in zip(sets, logged):
        assert metrics['psnr'] == pytest.approx(expected[f'{name}_x4']['psnr'], abs=1.5e-4)
        assert metrics['ssim'] == pytest.approx(expected[f'{name}_x4']['ssim'], abs=1.5e-4)
        images = sorted((results / 'visualization' / name).glob('*.png'))
        assert len(images) == len(list((shared / 'datasets' / 'benchmark' / name / 'HR').glob('*.png')))


def test_a_checkpoint_of_another_variant_is_refused_in_one_line(tmp_path):
    """A saved BSRN checkpoint under network_g ALKDNet: a config error before any work, not a silent load."""
    import alkdsr

    bsrn = ALKDNet(upscale=4, preset='bsrn_alk9', num_feat=16, num_block=2)
    alkdsr.save_checkpoint(bsrn, tmp_path / 'bsrn_alk9.pth')
    opt = load(OPTIONS / 'test_ALKDNet_x4.yml')
    pairs = make_pairs(tmp_path / 'pairs', names=('astronaut',))
    opt['datasets'] = {'test_1': {**opt['datasets']['test_1'], 'dataroot_gt': str(pairs / 'HR')}}
    opt['datasets']['test_1']['dataroot_lq'] = str(pairs / 'LR_bicubic' / 'X4')
    opt['network_g'] = {'type': 'ALKDNet', 'upscale': 4, 'preset': 'bsrn_alk9_abrl', 'num_feat': 16, 'num_block': 2}
    opt['path']['pretrain_network_g'] = str(tmp_path / 'bsrn_alk9.pth')
    option_file = tmp_path / 'mismatch.yml'
    option_file.write_text(yaml.safe_dump(_plain(opt), sort_keys=False))
    proc = _test_run(tmp_path, option_file)
    assert proc.returncode == 2, failure(proc)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('alkdsr-test: error: ') and 'bsrn_alk9.pth' in line
    assert "residual 'fsrl' vs 'abrl'" in line
    assert 'Traceback' not in proc.stderr
    assert torch.load(tmp_path / 'bsrn_alk9.pth', weights_only=True)['arch']['residual'] == 'fsrl'
