"""The main job, offline on the CPU: train ALKDNet x4 on photos that ship with scikit-image, evaluate it.

    make demo                  # or: python scripts/demo.py [--iters 1000] [--out demo_output]

1. writes scikit-image's sample photographs as HR PNGs, holding three out for evaluation;
2. prepares them with ``alkdsr prepare`` (MATLAB-bicubic x4 LR; training sub-images);
3. trains ALKDNet x4 with ``alkdsr/train.py`` (BasicSR's pipeline) for 1,000 iterations (``--iters``);
4. evaluates the trained network and bicubic upsampling on the held-out images (PSNR/SSIM on the
   Y channel, border of 4 pixels cropped, BasicSR's metrics) and writes upscaled examples.

Everything goes under ``--out`` (default ``demo_output/``). Exit status 0 when the trained network
beats bicubic on the held-out images, 1 when it does not, 2 when a step fails.

Training runs on one CPU thread by default: on 8 x 16 x 16 patches ALKDNet's many small operations
gain little from a second OpenMP thread, and when the cores are shared with other work the
threads' waiting for each other made each iteration about four times slower than one thread
(measured on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

import alkdsr  # noqa: F401  (before BasicSR is imported: it makes a stock BasicSR importable on new torchvision)
from alkdsr.errors import AlkdsrError
from alkdsr.utils.packages import require

ROOT = Path(__file__).resolve().parents[1]

SCALE = 4
EXPERIMENT = 'demo_ALKDNet_x4'
# scikit-image's bundled photographs (no download); grey ones are used as RGB with equal channels
TRAIN_IMAGES = (
    'astronaut',
    'rocket',
    'hubble_deep_field',
    'immunohistochemistry',
    'motorcycle_left',
    'colorwheel',
    'brick',
    'grass',
    'gravel',
    'moon',
    'coins',
    'page',
    'text',
    'clock',
    'cell',
)
EVAL_IMAGES = ('chelsea', 'coffee', 'camera')
EXAMPLE_IMAGE = 'chelsea'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=ROOT / 'demo_output', help='output folder (default: demo_output)')
    parser.add_argument('--iters', type=int, default=1000, help='training iterations (default: 1000)')
    parser.add_argument('--batch', type=int, default=8, help='batch size (default: 8)')
    parser.add_argument('--patch', type=int, default=16, help='LR patch size (default: 16)')
    parser.add_argument('--lr', type=float, default=4e-3, help='initial learning rate (default: 4e-3)')
    parser.add_argument('--feat', type=int, default=64, help='ALKDNet width (default: 64, the paper)')
    parser.add_argument('--blocks', type=int, default=8, help='ALKDNet blocks (default: 8, the paper)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='CPU threads for training (default: 1: more rarely help on small patches)',
    )
    return parser.parse_args()


def stage(message: str, started: float) -> None:
    print(f'[demo {time.monotonic() - started:6.1f}s] {message}', flush=True)


def sample_image(name: str) -> np.ndarray:
    """A scikit-image sample photograph as an 8-bit BGR array."""
    import skimage.data

    if name == 'motorcycle_left':
        rgb = skimage.data.stereo_motorcycle()[0]
    else:
        rgb = getattr(skimage.data, name)()
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    return np.ascontiguousarray(rgb[:, :, 2::-1])


def write_png(path: Path, bgr: np.ndarray) -> None:
    from alkdsr.files.fileio import atomic_path

    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr):
            raise OSError(f'{path}: could not write')


def write_sample_images(folder: Path, names) -> None:
    for name in names:
        path = folder / f'{name}.png'
        if not path.is_file():
            write_png(path, sample_image(name))


def run_step(cmd: list[str], cwd: Path, log_path: Path, show, threads: int | None = None) -> None:
    """Run a step, echo the lines ``show`` picks, keep the full output in ``log_path``."""
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')]))}
    env['PYTHONUNBUFFERED'] = '1'
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    lines = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            if show(line):
                print('    ' + line.rstrip(), flush=True)
    log_path.write_text(''.join(lines))
    if proc.returncode != 0:
        tail = ''.join(lines[-30:])
        print(f'{tail}\ndemo: step failed (exit {proc.returncode}): {" ".join(cmd)}', file=sys.stderr)
        print(f'demo: full output in {log_path}', file=sys.stderr)
        raise SystemExit(2)


def prepare(images: Path, data: Path, started: float) -> None:
    # a handful of images: one process prepares them faster than a pool of workers starts
    command = [sys.executable, '-m', 'alkdsr.cli.main', 'prepare', '--workers', '1']
    train = command + [str(images / 'train'), str(data / 'train'), '--scales', str(SCALE)]
    train += ['--subimages', '--crop-size', '128', '--step', '64']
    run_step(train, ROOT, data / 'prepare_train.log', lambda line: 'HR images ->' in line or 'sub-images' in line)
    held_out = command + [str(images / 'eval'), str(data / 'eval'), '--scales', str(SCALE)]
    run_step(held_out, ROOT, data / 'prepare_eval.log', lambda line: 'HR images ->' in line)
    stage('LR images prepared with alkdsr prepare', started)


def training_options(args, data: Path) -> dict:
    eval_hr, eval_lr = data / 'eval' / 'HR', data / 'eval' / 'LR_bicubic' / f'X{SCALE}'
    metric = {'crop_border': SCALE, 'test_y_channel': True}
    return {
        'name': EXPERIMENT,
        'model_type': 'ALKDSRModel',
        'scale': SCALE,
        'num_gpu': 0,  # the CPU, also where there is a GPU
        'manual_seed': 0,
        'datasets': {
            'train': {
                'name': 'skimage_samples',
                'type': 'ALKDSRPairedImageDataset',
                'dataroot_gt': str(data / 'train' / 'HR_sub'),
                'dataroot_lq': str(data / 'train' / 'LR_bicubic_sub' / f'X{SCALE}'),
                'filename_tmpl': '{}',
                'io_backend': {'type': 'disk'},
                'gt_size': args.patch * SCALE,
                'use_hflip': True,
                'use_rot': True,
                'num_worker_per_gpu': 0,
                'batch_size_per_gpu': args.batch,
                'dataset_enlarge_ratio': 1,
            },
            'val': {
                'name': 'held_out',
                'type': 'ALKDSRPairedImageDataset',
                'dataroot_gt': str(eval_hr),
                'dataroot_lq': str(eval_lr),
                'filename_tmpl': f'{{}}x{SCALE}',
                'io_backend': {'type': 'disk'},
            },
        },
        'network_g': {
            'type': 'ALKDNet',
            'upscale': SCALE,
            'preset': 'alkdnet',
            'num_feat': args.feat,
            'num_block': args.blocks,
        },
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'optim_g': {'type': 'Adam', 'lr': args.lr, 'weight_decay': 0, 'betas': [0.9, 0.999]},
            'scheduler': {
                'type': 'CosineAnnealingRestartLR',
                'periods': [args.iters],
                'restart_weights': [1],
                'eta_min': 1e-6,
            },
            'total_iter': args.iters,
            'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'},
        },
        'val': {
            'val_freq': max(1, args.iters // 2),
            'save_img': False,
            'metrics': {'psnr': {'type': 'calculate_psnr', **metric}, 'ssim': {'type': 'calculate_ssim', **metric}},
        },
        'logger': {
            'print_freq': max(1, args.iters // 10),
            'save_checkpoint_freq': args.iters,
            'use_tb_logger': False,
            'wandb': {'project': None, 'resume_id': None},
        },
    }


def train(args, out: Path, data: Path, started: float) -> Path:
    option_file = out / f'train_{EXPERIMENT}.yml'
    option_file.write_text(yaml.safe_dump(training_options(args, data), sort_keys=False))
    for stale in (out / 'experiments' / EXPERIMENT, out / 'tb_logger' / EXPERIMENT):
        shutil.rmtree(stale, ignore_errors=True)  # the demo's own previous run
    threads = args.threads
    stage(
        f'training ALKDNet x4 for {args.iters} iterations on {threads} CPU thread(s) (BasicSR log, abridged)', started
    )

    def show(line):
        return ', lr:(' in line or 'Validation' in line or '# psnr' in line or '# ssim' in line or 'rror' in line

    cmd = [sys.executable, str(ROOT / 'alkdsr' / 'train.py'), '-opt', str(option_file)]
    run_step(cmd, out, out / 'train_stdout.log', show, threads)
    stage('training done', started)
    return out / 'experiments' / EXPERIMENT / 'models' / 'net_g_latest.pth'


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def held_out_pairs(data: Path):
    """(name, LR float32 BGR in [0, 1], HR uint8 BGR cropped to SCALE x LR) for each held-out image."""
    for name in EVAL_IMAGES:
        lr = cv2.imread(str(data / 'eval' / 'LR_bicubic' / f'X{SCALE}' / f'{name}x{SCALE}.png'))
        hr = cv2.imread(str(data / 'eval' / 'HR' / f'{name}.png'))
        yield name, lr.astype(np.float32) / 255.0, hr[: lr.shape[0] * SCALE, : lr.shape[1] * SCALE]


def y_psnr_ssim(img: np.ndarray, hr: np.ndarray) -> tuple[float, float]:
    from alkdsr.metrics.psnr_ssim import y_psnr_ssim

    return y_psnr_ssim(img, hr, SCALE)


def bicubic_upscale(lr: np.ndarray) -> np.ndarray:
    from basicsr.utils.matlab_functions import imresize

    return to_uint8(imresize(lr.astype(np.float64), SCALE))


def bicubic_scores(data: Path) -> dict[str, tuple[float, float]]:
    return {name: y_psnr_ssim(bicubic_upscale(lr), hr) for name, lr, hr in held_out_pairs(data)}


def network_scores(checkpoint: Path, data: Path, results: Path, threads: int) -> dict[str, tuple[float, float]]:
    """Upscale the held-out images with the trained network; write them (and bicubic) to ``results``."""
    import torch

    from alkdsr.inference.tiling import upscale_tensor

    torch.set_num_threads(threads)
    net = alkdsr.load_model(checkpoint)
    scores = {}
    for name, lr, hr in held_out_pairs(data):
        x = torch.from_numpy(np.ascontiguousarray(lr[:, :, ::-1].transpose(2, 0, 1)))[None]
        sr = to_uint8(upscale_tensor(net, x)[0].clamp(0, 1).numpy().transpose(1, 2, 0)[:, :, ::-1])
        scores[name] = y_psnr_ssim(sr, hr)
        bicubic = bicubic_upscale(lr)
        write_png(results / f'{name}_x{SCALE}_ALKDNet.png', sr)
        write_png(results / f'{name}_x{SCALE}_bicubic.png', bicubic)
        if name == EXAMPLE_IMAGE:
            write_png(results / f'{name}_comparison.png', comparison(lr, bicubic, sr, hr))
    return scores


def comparison(lr: np.ndarray, bicubic: np.ndarray, sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """LR (nearest-neighbour enlarged) | bicubic | ALKDNet | HR, side by side with labels."""
    nearest = cv2.resize(to_uint8(lr), (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_NEAREST)
    panels = []
    for label, img in (('LR', nearest), ('bicubic', bicubic), ('ALKDNet', sr), ('HR', hr)):
        img = img.copy()
        cv2.putText(img, label, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
        panels.append(img)
    return np.concatenate(panels, axis=1)


def report(bicubic, trained, checkpoint: Path, out: Path, results: Path, started: float) -> bool:
    print('\nHeld-out images, x4, Y channel, border 4 cropped (PSNR / SSIM as BasicSR computes them):')
    print(f'{"image":<10} {"bicubic PSNR":>13} {"SSIM":>7} {"ALKDNet PSNR":>13} {"SSIM":>7} {"gain dB":>8}')
    rows = [(name, *bicubic[name], *trained[name]) for name in EVAL_IMAGES]
    for name, pb, sb, pn, sn in rows:
        print(f'{name:<10} {pb:13.2f} {sb:7.4f} {pn:13.2f} {sn:7.4f} {pn - pb:+8.2f}')
    mean = np.mean([r[1:] for r in rows], axis=0)
    print(f'{"mean":<10} {mean[0]:13.2f} {mean[1]:7.4f} {mean[2]:13.2f} {mean[3]:7.4f} {mean[2] - mean[0]:+8.2f}')
    beats = bool(mean[2] > mean[0])
    verdict = 'beats' if beats else 'does NOT beat'
    print(f'\nALKDNet x4, trained for minutes on the CPU, {verdict} bicubic: {mean[2]:.2f} dB vs {mean[0]:.2f} dB.')
    exp = out / 'experiments' / EXPERIMENT
    print('\nWhere everything is:')
    print(f'  trained network      {checkpoint}  (alkdsr.load_model(path) loads it)')
    print(f'  training log         {next(iter(sorted(exp.glob("train_*.log"))), exp)}')
    print(f'  upscaled examples    {results}/<image>_x4_ALKDNet.png (and _x4_bicubic.png)')
    print(f'  side by side         {results / f"{EXAMPLE_IMAGE}_comparison.png"} (LR | bicubic | ALKDNet | HR)')
    print(f'  prepared data        {out / "data"}')
    stage('done', started)
    return beats


def main() -> int:
    args = parse_args()
    try:
        require('the demo', 'skimage')  # its photographs; `make demo` installs it (the dev extra)
    except AlkdsrError as e:
        print(f'demo: error: {e}', file=sys.stderr)
        return 2
    started = time.monotonic()
    out = args.out.resolve()
    images, data, results = out / 'images', out / 'data', out / 'results'
    write_sample_images(images / 'train', TRAIN_IMAGES)
    write_sample_images(images / 'eval', EVAL_IMAGES)
    stage(f'{len(TRAIN_IMAGES)} training and {len(EVAL_IMAGES)} held-out photos from scikit-image in {images}', started)
    prepare(images, data, started)
    bicubic = bicubic_scores(data)
    mean_psnr = np.mean([p for p, _ in bicubic.values()])
    stage(f'bicubic upscaling of the held-out images: {mean_psnr:.2f} dB (Y PSNR) - the score to beat', started)
    checkpoint = train(args, out, data, started)
    trained = network_scores(checkpoint, data, results, args.threads)
    return 0 if report(bicubic, trained, checkpoint, out, results, started) else 1


if __name__ == '__main__':
    sys.exit(main())
