"""Pack the data a GPU session needs into the git-ignored ``.gpu/data`` (run here, before the session).

    python benchmarks/pack_gpu_data.py [--shared ../shared] [--out .gpu/data] [--limit N]

The device tool sends the working tree and at most 64 MiB with it, and ``../shared`` stays
behind. The 291 training images (T91 + BSD200, 60 MiB as PNG) and Set5/Set14 (HR and x4 LR)
are re-encoded as lossless WebP (about 68% of the PNG bytes) where it decodes to the same
array (grey images stay PNG). ``benchmarks/gpu_train_session.py`` unpacks them to PNG on the GPU machine.
Carry ``.gpu`` (and ``.whl``, the wheels the GPU image lacks: basicsr 1.4.2 and its pure-Python
needs; see /work/.library/device/README.md) with the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

SETS = {
    'train/T91': 'datasets/train/T91',
    'train/BSD200': 'datasets/train/BSD200',
    'benchmark/Set5/HR': 'datasets/benchmark/Set5/HR',
    'benchmark/Set5/LR_bicubic/X4': 'datasets/benchmark/Set5/LR_bicubic/X4',
    'benchmark/Set14/HR': 'datasets/benchmark/Set14/HR',
    'benchmark/Set14/LR_bicubic/X4': 'datasets/benchmark/Set14/LR_bicubic/X4',
}
IMAGE_SUFFIXES = {'.png', '.bmp', '.jpg', '.jpeg', '.tif', '.tiff', '.webp'}


def packed(path: Path) -> tuple[bytes, str]:
    """Lossless WebP, or the file itself where WebP would not give back the same array (grey images)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SystemExit(f'pack_gpu_data: {path}: not a readable image')
    ok, encoded = cv2.imencode('.webp', image, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else None
    if decoded is None or decoded.shape != image.shape or not np.array_equal(decoded, image):
        return path.read_bytes(), path.suffix.lower()
    return encoded.tobytes(), '.webp'


def unpack(packed: Path, out: Path) -> int:
    """``.gpu/data`` -> PNG files in the same layout under ``out``; returns the image count."""
    count = 0
    for source in sorted(f for f in packed.rglob('*') if f.suffix.lower() in IMAGE_SUFFIXES):
        target = out / source.relative_to(packed).with_suffix('.png')
        target.parent.mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None or not cv2.imwrite(str(target), image):
            raise SystemExit(f'unpack: {source}: cannot convert to {target}')
        count += 1
    return count


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--shared', default='../shared', help='the reference data folder (default: ../shared)')
    p.add_argument('--out', default='.gpu/data', help='packed folder (default: .gpu/data)')
    p.add_argument('--limit', type=int, default=None, help='only the first N images of each folder (smoke runs)')
    args = p.parse_args(argv)
    shared, out = Path(args.shared), Path(args.out)
    manifest, total_png, total_webp = {}, 0, 0
    for name, source in SETS.items():
        files = sorted(f for f in (shared / source).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(f'pack_gpu_data: {shared / source}: no images')
        files = files[: args.limit] if args.limit else files
        (out / name).mkdir(parents=True, exist_ok=True)
        for f in files:
            data, suffix = packed(f)
            (out / name / f'{f.stem}{suffix}').write_bytes(data)
            total_png, total_webp = total_png + f.stat().st_size, total_webp + len(data)
        manifest[name] = len(files)
    (out / 'MANIFEST.json').write_text(json.dumps(dict(images=manifest, png_bytes=total_png, webp_bytes=total_webp)))
    mib = f'{total_png / 2**20:.1f} MiB as PNG -> {total_webp / 2**20:.1f} MiB'
    print(f'{sum(manifest.values())} images, {mib} in {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
