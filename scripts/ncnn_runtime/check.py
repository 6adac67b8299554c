"""Run exported ncnn files with another ncnn build than the Python package's: the one an app is built with.

realesrgan-ncnn-vulkan (v0.2.5.0) and upscayl-bin build ncnn at commit 6125c9f47 (April 2022). Build that
library for the CPU and ``run_ncnn.cpp`` against it (docs/deploy.md, "Checked with the apps' ncnn"), then:

    python scripts/ncnn_runtime/check.py --runner ./run_ncnn --weights alkdnet-x2 alkdnet-x3 alkdnet-x4 bsrn-x4 \\
        --images ../shared/datasets/benchmark/Set5/LR_bicubic/X{scale}/*.png

Each checkpoint is exported (float32 and ``--fp16``) to a temporary folder, every image (``{scale}`` in the
pattern is the checkpoint's) goes through the runner, and the largest |runner - PyTorch| and the lowest PSNR
are printed per file.
"""

from __future__ import annotations

import argparse
import glob
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import alkdsr
from alkdsr.files.images import read_image
from alkdsr.inference.ncnn_util import export_ncnn


def run(runner: str, param: Path, lr: np.ndarray) -> np.ndarray:
    """``lr`` (3 x H x W float32) through the runner binary; its output as 3 x sH x sW float32."""
    with tempfile.TemporaryDirectory() as tmp:
        np.ascontiguousarray(lr, dtype=np.float32).tofile(f'{tmp}/in.f32')
        command = [runner, str(param), str(param.with_suffix('.bin')), f'{tmp}/in.f32', *map(str, lr.shape)]
        subprocess.run([*command, f'{tmp}/out.f32'], check=True)
        shape = np.fromfile(f'{tmp}/out.f32', dtype=np.int32, count=3)
        return np.fromfile(f'{tmp}/out.f32', dtype=np.float32, offset=12).reshape(shape)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runner', required=True, help='run_ncnn built against the ncnn to check')
    p.add_argument('--weights', nargs='+', required=True)
    p.add_argument('--images', required=True, help='a glob; {scale} is replaced by the checkpoint scale')
    args = p.parse_args(argv)
    worst = 0.0
    for weights in args.weights:
        net = alkdsr.load_model(weights)
        paths = sorted(glob.glob(args.images.format(scale=net.upscale)))
        images = [read_image(path).pixels[..., :3].transpose(2, 0, 1).astype(np.float32) / 255 for path in paths]
        with tempfile.TemporaryDirectory() as tmp:
            for fp16 in (False, True):
                param, _ = export_ncnn(net, Path(tmp) / 'model.param', fp16=fp16)
                diffs, psnrs = [], []
                for lr in images:
                    with torch.no_grad():
                        expected = net(torch.from_numpy(np.ascontiguousarray(lr))[None])[0].numpy()
                    got = run(args.runner, param, lr)
                    diffs.append(float(np.abs(got - expected).max()))
                    mse = float(np.mean((np.clip(got, 0, 1) - np.clip(expected, 0, 1)) ** 2))
                    psnrs.append(math.inf if mse == 0 else 10 * math.log10(1 / mse))
                if not fp16:
                    worst = max(worst, max(diffs))
                print(f'{weights} {"fp16" if fp16 else "fp32"}: {len(images)} images, max |ncnn - torch| '
                      f'{max(diffs):.2e}, lowest PSNR {min(psnrs):.1f} dB', flush=True)  # fmt: skip
    return 0 if worst <= 1e-4 else 1


if __name__ == '__main__':
    sys.exit(main())
