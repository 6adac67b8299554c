"""Option files and option mistakes: each is one line before any work.

The mistakes train.py finds in a working option file changed in one place (the network, the model, the
datasets, the schedule, the device); option files as people write them (their encoding, tabs, merge keys,
a key written twice); the classes of docs/robustness.md's "Mistakes, by class" table that live in options
(names that would escape experiments/ or results/, keys, registry names, types and ranges, runs that would
do nothing, keys BasicSR reads as ``opt[key]``), in train.py and test.py alike; the authors' unchanged
option files on a machine without CUDA; and the limits of command-line arguments. A case checks the exit
status, the one line naming the option or the file, and that no experiments/ or results/ folder was made
and nothing else changed.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys

import pytest
import torch
import yaml
from conftest import official_weights
from corpus import OPTION_FILE_MISTAKES, OPTION_MISTAKES
from train_utils import SCALE, make_pairs, train_options, write_options

from .helpers import eval_options, fingerprint, pair_dirs, run_cli, run_in_process

# ---------------------------------------------------------------- a working option file changed in one place


def _train_in_process(tmp_path, monkeypatch, opt: dict) -> tuple[int, str]:
    """alkdsr/train.py's entry in this process, for mistakes found before BasicSR sets up logging."""
    from alkdsr.train import run

    option_file = write_options(opt, tmp_path / 'opt.yml')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', ['alkdsr-train', '-opt', str(option_file)])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = run('train', prog='alkdsr-train')
    return rc, err.getvalue()


TRAIN_OPTION_MISTAKES = {
    'unknown architecture': (
        {'network_g': {'type': 'EDSRR', 'upscale': SCALE}},
        "network_g: type 'EDSRR' is not a registered architecture",
    ),
    'unknown preset': (
        {'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'preset': 'alkdnet_large'}},
        "unknown ALKDNet preset 'alkdnet_large'",
    ),
    'unknown argument': (
        {'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'num_feats': 16}},
        "unexpected keyword argument 'num_feats'",
    ),
    'network scale differs from the data': (
        {'network_g': {'type': 'ALKDNet', 'upscale': 2, 'num_feat': 16, 'num_block': 1}},
        'network_g: upscale 2 but scale: 4',
    ),
    'unknown model': ({'model_type': 'ALKDSRModle'}, "model_type: 'ALKDSRModle' is not a registered model"),
    'patch not a multiple of the scale': (
        {'datasets': {'train': {'gt_size': 50}}},
        'datasets: train: gt_size 50 is not a multiple of scale 4: the LR patch would be 12.5 pixels (use 48 or 52)',
    ),
    'missing dataset folder': (
        {'datasets': {'train': {'dataroot_lq': '/no/such/LR'}}},
        'dataroot_lq /no/such/LR: no such folder',
    ),
    'a schedule shorter than training': (
        {'train': {'total_iter': 10}},  # the cosine periods add up to 4
        'train: total_iter 10 is past the end of the cosine schedule (scheduler: periods [4] end at iteration 4)',
    ),
    'a misspelled amp': ({'train': {'amp': 'bf61'}}, 'train: amp must be bf16, fp16 or null'),
    'a GPU that is not there': ({'num_gpu': 1}, 'num_gpu: 1 but no CUDA device is available'),
    'HR/LR files that do not pair up': (
        {'datasets': {'train': {'filename_tmpl': '{}_lr'}}},
        'HR and LR files do not pair up',
    ),
}


@pytest.mark.parametrize('mistake', list(TRAIN_OPTION_MISTAKES))
def test_option_mistakes_are_one_line_before_any_work(mistake, pairs, tmp_path, monkeypatch):
    change, message = TRAIN_OPTION_MISTAKES[mistake]
    if mistake == 'a GPU that is not there' and torch.cuda.is_available():
        pytest.skip('a GPU is there')
    opt = train_options('mistake', *pair_dirs(pairs))
    for section, values in change.items():
        if section == 'datasets':
            opt['datasets']['train'].update(values['train'])
        elif section == 'train':
            opt['train'].update(values)
        else:
            opt[section] = values
    rc, err = _train_in_process(tmp_path, monkeypatch, opt)
    assert rc == 2
    assert err.count('\n') == 1 and err.startswith('alkdsr-train: error: ') and message in err, err
    assert not (tmp_path / 'experiments').exists()  # found before any folder or log was made


def test_an_option_file_without_datasets_is_one_line(pairs, tmp_path, monkeypatch):
    opt = train_options('no_data', *pair_dirs(pairs))
    del opt['datasets']
    rc, err = _train_in_process(tmp_path, monkeypatch, opt)
    assert (
        rc == 2
        and err
        == f'alkdsr-train: error: {tmp_path / "opt.yml"}: the option file lacks datasets, which a training run needs\n'
    )


# ---------------------------------------------------------------- the classes of mistakes that live in option files


@pytest.mark.parametrize('case', list(OPTION_MISTAKES))
def test_option_mistakes_by_class_are_one_line_before_any_folder(case, pairs, tiny_x4, tmp_path, monkeypatch):
    mistake, mode, change, force_yml = OPTION_MISTAKES[case]
    opt = train_options('mistake', *pair_dirs(pairs)) if mode == 'train' else eval_options(*pair_dirs(pairs), tiny_x4)
    opt['network_g']['num_block'] = 1
    change(opt)
    cwd = tmp_path / 'run'
    cwd.mkdir()
    victim = tmp_path / 'victim'  # what name: ../../victim would have BasicSR rename
    victim.mkdir()
    (victim / 'keep.txt').write_text('mine')
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    flags = ('--force_yml', *force_yml) if force_yml else ()
    rc, err = run_in_process(mode, cwd, option_file, monkeypatch, *flags)
    assert rc == 2, err
    assert err.count('\n') == 1 and err.startswith(f'alkdsr-{mode}: error: ') and mistake.expect in err, err
    assert fingerprint(tmp_path) == before  # no experiments/ or results/, the victim neither moved nor archived


def test_the_authors_unchanged_option_files_on_a_cpu_only_machine(tmp_path, monkeypatch, fresh_basicsr_logger):
    """The authors' test and train files (Qudaokuan/ALKDNet, options/), data paths aside: num_gpu 1."""
    hr, lr = pair_dirs(make_pairs(tmp_path / 'data', names=('astronaut',), size=48))
    dataset = {
        'type': 'PairedImageDataset',
        'dataroot_gt': str(hr),
        'dataroot_lq': str(lr),
        'io_backend': {'type': 'disk'},
    }
    network = {'type': 'ALKDN', 'num_in_ch': 3, 'num_feat': 64, 'num_block': 8, 'num_out_ch': 3, 'upscale': 4,
               'conv': 'LargeKernelConv', 'lk_size': 9}  # fmt: skip
    metric = {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}
    test_opt = {
        'name': 'test_ALKDN_x4_lkc9C64B8_L1_1000k', 'suffix': None, 'model_type': 'SRModel', 'scale': 4,
        'crop_border': None, 'num_gpu': 1, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'val_set5', **dataset, 'filename_tmpl': '{}x4'}},
        'network_g': network,
        'path': {'pretrain_network_g': str(official_weights(4)), 'strict_load_g': True},
        'val': {'save_img': True, 'suffix': None, 'pbar': True,
                'metrics': {'psnr': metric, 'ssim': {**metric, 'type': 'calculate_ssim'}}},
    }  # fmt: skip
    train_opt = {
        'name': 'train_ALKDN_x4_lkc9C64B8_L1_1000k', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 1,
        'manual_seed': 0,
        'datasets': {
            'train': {'name': 'DF2K', **dataset, 'filename_tmpl': '{}x4', 'gt_size': 192, 'use_hflip': True,
                      'use_rot': True, 'use_shuffle': True, 'num_worker_per_gpu': 16, 'batch_size_per_gpu': 64,
                      'dataset_enlarge_ratio': 100, 'prefetch_mode': None},
            'val': {'name': 'Set5', **dataset},
        },
        'network_g': network,
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0, 'betas': [0.9, 0.999]},
                  'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [1000000], 'restart_weights': [1],
                                'eta_min': 1e-7},
                  'total_iter': 1000000, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'val': {'val_freq': 5e3, 'save_img': False, 'metrics': {'psnr': metric}},
        'logger': {'print_freq': 200, 'save_checkpoint_freq': 5e3, 'use_tb_logger': True,
                   'wandb': {'project': None, 'resume_id': None, 'entity': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }  # fmt: skip
    if not official_weights(4).is_file():
        pytest.skip('the official weights are in ../shared')
    if torch.cuda.is_available():
        pytest.skip('a GPU is there: num_gpu: 1 works')
    for kind, opt in (('test', test_opt), ('train', train_opt)):
        rc, err = run_in_process(kind, tmp_path, write_options(opt, tmp_path / f'{kind}.yml'), monkeypatch)
        assert rc == 2 and err.count('\n') == 1, err
        assert 'num_gpu: 1 but no CUDA device is available; set num_gpu: auto (or 0) to run on the CPU' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'test.yml', 'train.yml']
    # the one change the message asks for, and the authors' test file scores the official weights on the CPU
    test_opt['num_gpu'] = 0
    test_opt['val']['save_img'] = False
    rc, err = run_in_process('test', tmp_path, write_options(test_opt, tmp_path / 'test.yml'), monkeypatch)
    assert rc == 0, err
    (log,) = (tmp_path / 'results' / test_opt['name']).glob('test_*.log')
    psnr = float(re.search(r'# psnr: ([\d.]+)', log.read_text())[1])
    assert 20 < psnr < 40  # 96 x 96 photo crops at x4


# ---------------------------------------------------------------- option files as people write them


@pytest.mark.parametrize('case', list(OPTION_FILE_MISTAKES))
def test_option_files_as_people_write_them(case, tmp_path, monkeypatch):
    mistake, content = OPTION_FILE_MISTAKES[case]
    option_file = tmp_path / 'opt.yml'
    option_file.write_bytes(content)
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1, err
    assert err.startswith(f'alkdsr-train: error: {option_file}: ') and mistake.expect in err, err
    assert fingerprint(tmp_path) == before


def test_merge_keys_and_a_bom_read_as_written_out(tmp_path):
    """``<<: *anchor`` merges the anchored mapping (its own keys win); a UTF-8 BOM is not part of the text."""
    from alkdsr.options.reader import read_option_file

    merged = (
        'defaults: &set\n  type: ALKDSRPairedImageDataset\n  io_backend: {type: disk}\n  name: a\n'
        'datasets:\n  val:\n    <<: *set\n    name: b\n'
    )
    written_out = (
        'defaults:\n  type: ALKDSRPairedImageDataset\n  io_backend: {type: disk}\n  name: a\n'
        'datasets:\n  val:\n    type: ALKDSRPairedImageDataset\n    io_backend: {type: disk}\n    name: b\n'
    )
    (tmp_path / 'merged.yml').write_text(merged)
    (tmp_path / 'bom.yml').write_bytes(b'\xef\xbb\xbf' + written_out.encode())
    expected = yaml.safe_load(written_out)
    assert expected['datasets']['val']['name'] == 'b'
    assert read_option_file(tmp_path / 'merged.yml') == expected
    assert read_option_file(tmp_path / 'bom.yml') == expected


# ---------------------------------------------------------------- limits of command-line arguments


@pytest.mark.parametrize(
    'argv, message',
    [
        (('profile', '--size', '100000x100000'), '--size 100000x100000: more than 89,478,485 output pixels'),
        (('export', '--weights', '{weights}', '-o', '{tmp}/x.onnx', '--opset', '99'),
         '--opset 99: this PyTorch exports opsets 17 to'),
        (('export', '--weights', '{weights}', '-o', '{tmp}/x.onnx', '--opset', '5'),
         '--opset 5: opset 17 or later is needed'),
    ],
)  # fmt: skip
def test_limits_are_one_line(argv, message, tiny_weights, tmp_path):
    rc, _, err = run_cli(*(a.format(weights=tiny_weights, tmp=tmp_path) for a in argv))
    assert rc == 2 and err.count('\n') == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- option files that never reach the tree


def test_an_option_file_that_is_a_fifo_is_refused_unread(tmp_path, monkeypatch):
    """A FIFO (a named pipe nobody writes to) would block the read forever."""
    import os

    fifo = tmp_path / 'opt.yml'
    os.mkfifo(fifo)
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, fifo, monkeypatch)
    assert rc == 2 and err == f'alkdsr-train: error: {fifo}: not a regular file (an option file is a YAML file)\n'
    assert fingerprint(tmp_path) == before


def test_an_alias_bomb_is_named_in_a_short_line(pairs, tmp_path, monkeypatch):
    """YAML aliases nested eight deep expand to 9**8 values; the message quotes a bounded excerpt of them."""
    opt = train_options('bomb', *pair_dirs(pairs))
    text = yaml.safe_dump(opt, sort_keys=False)
    levels = ''.join(f'  l{i}: &l{i} [' + ', '.join([f'*l{i - 1}'] * 9) + ']\n' for i in range(1, 9))
    text = text.replace('network_g:\n', 'network_g:\n  l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n' + levels, 1)
    (tmp_path / 'opt.yml').write_text(text)
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, tmp_path / 'opt.yml', monkeypatch)
    assert rc == 2 and err.count('\n') == 1 and len(err) < 1000, err[:2000]
    assert "network_g: ALKDNet(" in err and 'unexpected keyword argument' in err
    assert fingerprint(tmp_path) == before


def test_the_slurm_launcher_outside_slurm_is_one_line(pairs, tmp_path, monkeypatch):
    for variable in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'):
        monkeypatch.delenv(variable, raising=False)
    option_file = write_options(train_options('slurm', *pair_dirs(pairs)), tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch, '--launcher', 'slurm')
    assert rc == 2 and err.count('\n') == 1, err
    assert err.startswith('alkdsr-train: error: --launcher slurm needs the environment SLURM sets (SLURM_PROCID')
    assert fingerprint(tmp_path) == before
