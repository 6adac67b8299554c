"""Helpers for the training tests: tiny paired datasets, option files, and runs of alkdsr/train.py.

Every training run is a subprocess with its own working directory, so ``experiments/`` lands in
the test's tmp_path and the run sees exactly what a user's ``python alkdsr/train.py`` sees.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = ROOT / 'alkdsr' / 'train.py'
TEST_PY = ROOT / 'alkdsr' / 'test.py'
SCALE = 4


def make_pairs(folder: Path, names=('astronaut', 'chelsea', 'coffee', 'rocket'), size: int = 96) -> Path:
    """HR crops of scikit-image sample photos and their MATLAB-bicubic LR, in the EDSR layout."""
    import skimage.data
    from basicsr.utils.matlab_functions import imresize

    hr_dir, lr_dir = folder / 'HR', folder / 'LR_bicubic' / f'X{SCALE}'
    hr_dir.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    for name in names:
        rgb = getattr(skimage.data, name)()
        top, left = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
        hr = np.ascontiguousarray(rgb[top : top + size, left : left + size, ::-1])  # BGR for cv2
        lr = imresize(hr.astype(np.float64) / 255.0, 1 / SCALE)
        cv2.imwrite(str(hr_dir / f'{name}.png'), hr)
        cv2.imwrite(str(lr_dir / f'{name}x{SCALE}.png'), np.clip(np.round(lr * 255), 0, 255).astype(np.uint8))
    return folder


def make_patch_pairs(folder: Path, count: int = 15, size: int = 48) -> Path:
    """``count`` HR images of ``size`` x ``size`` from different places of scikit-image photos, with their
    MATLAB-bicubic x4 LR, in the EDSR layout: a set of many small pairs, for runs of many short epochs."""
    import skimage.data
    from basicsr.utils.matlab_functions import imresize

    hr_dir, lr_dir = folder / 'HR', folder / 'LR_bicubic' / f'X{SCALE}'
    hr_dir.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    photos = [getattr(skimage.data, name)() for name in ('astronaut', 'chelsea', 'coffee', 'rocket')]
    for i in range(count):
        rgb = photos[i % len(photos)]
        top = (rgb.shape[0] - size) * (i // len(photos) + 1) // (count // len(photos) + 2)
        left = (rgb.shape[1] - size) * (i % 3 + 1) // 4
        hr = np.ascontiguousarray(rgb[top : top + size, left : left + size, ::-1])  # BGR for cv2
        lr = imresize(hr.astype(np.float64) / 255.0, 1 / SCALE)
        cv2.imwrite(str(hr_dir / f'p{i:02d}.png'), hr)
        cv2.imwrite(str(lr_dir / f'p{i:02d}x{SCALE}.png'), np.clip(np.round(lr * 255), 0, 255).astype(np.uint8))
    return folder


def make_lmdbs(pairs: Path, out: Path) -> tuple[Path, Path]:
    """HR and LR LMDBs (same keys, the HR file stems) with BasicSR's own lmdb_util."""
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    names = sorted(p.stem for p in (pairs / 'HR').glob('*.png'))
    out.mkdir(parents=True, exist_ok=True)
    hr_lmdb, lr_lmdb = out / 'HR.lmdb', out / f'X{SCALE}.lmdb'
    make_lmdb_from_imgs(str(pairs / 'HR'), str(hr_lmdb), [f'{n}.png' for n in names], names)
    make_lmdb_from_imgs(
        str(pairs / 'LR_bicubic' / f'X{SCALE}'), str(lr_lmdb), [f'{n}x{SCALE}.png' for n in names], names
    )
    return hr_lmdb, lr_lmdb


def paired_set(name: str, hr: Path, lr: Path, phase: str = 'val', lmdb: bool = False) -> dict:
    opt = {
        'name': name,
        'type': 'ALKDSRPairedImageDataset',
        'dataroot_gt': str(hr),
        'dataroot_lq': str(lr),
        'io_backend': {'type': 'lmdb' if lmdb else 'disk'},
    }
    if not lmdb:
        opt['filename_tmpl'] = f'{{}}x{SCALE}'
    if phase == 'train':
        opt.update(
            gt_size=64,
            use_hflip=True,
            use_rot=True,
            num_worker_per_gpu=0,
            batch_size_per_gpu=2,
            dataset_enlarge_ratio=10,
        )
    return opt


def train_options(
    name: str, hr: Path, lr: Path, total_iter: int = 4, save_freq: int = 2, val_freq=None, period=None
) -> dict:
    """A BasicSR training option dict for a tiny ALKDNet x4 (edit it, then :func:`write_options`).

    ``period`` is the cosine schedule's length (default total_iter); a run resumed with a larger
    total_iter needs it that large from the start, as the schedule is restored from the state.
    """
    opt = {
        'name': name,
        'model_type': 'ALKDSRModel',
        'scale': SCALE,
        'num_gpu': 'auto',
        'manual_seed': 7,
        'datasets': {'train': paired_set('train_pairs', hr, lr, phase='train')},
        'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'num_feat': 16, 'num_block': 2},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]},
            'scheduler': {
                'type': 'CosineAnnealingRestartLR',
                'periods': [period or total_iter],
                'restart_weights': [1],
                'eta_min': 1e-7,
            },
            'total_iter': total_iter,
            'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'},
        },
        'logger': {
            'print_freq': 1,
            'save_checkpoint_freq': save_freq,
            'use_tb_logger': False,
            'wandb': {'project': None, 'resume_id': None},
        },
    }
    if val_freq:
        opt['datasets']['val'] = paired_set('val_pairs', hr, lr)
        opt['val'] = {
            'val_freq': val_freq,
            'save_img': False,
            'metrics': {
                'psnr': {'type': 'calculate_psnr', 'crop_border': SCALE, 'test_y_channel': True},
                'ssim': {'type': 'calculate_ssim', 'crop_border': SCALE, 'test_y_channel': True},
            },
        }
    return opt


def with_changes(opt: dict, **sections) -> dict:
    """A deep copy of ``opt`` with ``train={...}``-style updates merged into its sections."""
    opt = copy.deepcopy(opt)
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(opt.get(section), dict):
            opt[section].update(values)
        else:
            opt[section] = values
    return opt


def write_options(opt: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def env() -> dict:
    e = dict(os.environ)
    e.setdefault('OMP_NUM_THREADS', '2')
    e['PYTHONUNBUFFERED'] = '1'
    return e


def run_train(cwd: Path, option_file: Path, *flags: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TRAIN_PY), '-opt', str(option_file), *flags]
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def start_train(cwd: Path, option_file: Path, *flags: str) -> subprocess.Popen:
    cmd = [sys.executable, str(TRAIN_PY), '-opt', str(option_file), *flags]
    return subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def experiment(cwd: Path, name: str) -> Path:
    return cwd / 'experiments' / name


def train_logs(cwd: Path, name: str) -> list[str]:
    """The text of each training log of an experiment, oldest first."""
    return [p.read_text() for p in sorted(experiment(cwd, name).glob(f'train_{name}_*.log'))]


def logged_iterations(log: str) -> list[int]:
    return [int(m.replace(',', '')) for m in re.findall(r'iter:\s*([\d,]+), lr:', log)]


def logged_metrics(log: str) -> list[dict]:
    """Each validation's logged metrics, e.g. ``[{'psnr': 23.58, 'ssim': 0.45}, ...]``."""
    blocks = re.findall(r'Validation \S+\n((?:\t # \w+: [-\d.]+.*\n)+)', log)
    return [{k: float(v) for k, v in re.findall(r'# (\w+): ([-\d.]+)', b)} for b in blocks]


def checkpoints(cwd: Path, name: str) -> dict[str, Path]:
    models = experiment(cwd, name) / 'models'
    return {p.stem: p for p in models.glob('net_g_*.pth')} if models.is_dir() else {}


def states(cwd: Path, name: str) -> list[int]:
    folder = experiment(cwd, name) / 'training_states'
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return sorted(int(m[1]) for n in names if (m := re.fullmatch(r'(\d+)\.state', n)))


def failure(proc: subprocess.CompletedProcess) -> str:
    return f'rc={proc.returncode}\nstdout tail:\n{proc.stdout[-3000:]}\nstderr tail:\n{proc.stderr[-3000:]}'
