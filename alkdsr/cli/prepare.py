"""Prepare an SR training/test set from a folder of HR images (the EDSR/DIV2K layout).

Writes OUT_DIR/HR/<name>.png and, for each scale s, OUT_DIR/LR_bicubic/X{s}/<name>x{s}.png made with
MATLAB's bicubic imresize from the HR image cropped to a multiple of s (reproducing the LR images of the
standard benchmarks exactly). Several HR folders may be given (DIV2K + Flickr2K = DF2K); names must differ.
HR_DIR may be OUT_DIR/HR itself (e.g. a benchmark set without LR): its PNGs are then left untouched.

--subimages also cuts aligned crops, as BasicSR's extract_subimages.py does, into OUT_DIR/HR_sub/ and
OUT_DIR/LR_bicubic_sub/X{s}/ (same names, <name>_s001.png, ...); crop size and step must be multiples
of every scale. --lmdb packs them (or the full images) into LMDBs for BasicSR's io_backend: lmdb:
  with --subimages:  OUT_DIR/HR_sub.lmdb        and OUT_DIR/LR_bicubic_sub/X{s}.lmdb
  without:           OUT_DIR/HR_mod{s}.lmdb     and OUT_DIR/LR_bicubic/X{s}.lmdb

Outputs that exist are skipped (--overwrite rewrites them); every file and LMDB is written atomically.
Grey images stay grey; alpha is dropped and 16-bit samples are rounded to 8 bits, with a note.
Exit status: 0 done, 1 some images or LMDBs failed (each named on one line), 2 unusable arguments.
"""

from __future__ import annotations

import argparse
import sys

from alkdsr.cli._options import path_text
from alkdsr.data.subimages import SubimageGrid

HELP = 'make MATLAB-bicubic LR images, sub-images and LMDBs from a folder of HR images'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        'hr_dirs',
        nargs='+',
        type=path_text,
        metavar='HR_DIR',
        help='folder(s) of HR images (png, jpg, webp, bmp, tif, ppm, pgm)',
    )
    parser.add_argument('out_dir', type=path_text, metavar='OUT_DIR', help='output dataset folder')
    parser.add_argument('--scales', type=int, nargs='+', default=[2, 3, 4], metavar='S', help='default: 2 3 4')
    parser.add_argument('--workers', type=int, default=None, help='worker processes (default: min(4, CPUs))')
    parser.add_argument('--overwrite', action='store_true', help='rewrite outputs that already exist')
    sub = parser.add_argument_group('sub-images (BasicSR extract_subimages semantics)')
    sub.add_argument('--subimages', action='store_true', help='also cut aligned HR/LR sub-images')
    sub.add_argument('--crop-size', type=int, default=192, help='HR sub-image size (default: 192)')
    sub.add_argument('--step', type=int, default=96, help='distance between sub-image starts (default: 96)')
    sub.add_argument(
        '--thresh-size',
        type=int,
        default=0,
        help='add a last sub-image at the far edge when more than this many pixels are left (default: 0)',
    )
    parser.add_argument('--lmdb', action='store_true', help='pack HR and LR into LMDBs with meta_info.txt')
    parser.add_argument('--compression', type=int, default=3, help='PNG compression level 0-9 (default: 3)')


def _log(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(f'alkdsr prepare: {line}', file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from alkdsr.data.prepare import prepare

    grid = SubimageGrid(args.crop_size, args.step, args.thresh_size) if args.subimages else None
    summary = prepare(
        args.hr_dirs,
        args.out_dir,
        scales=args.scales,
        workers=args.workers,
        overwrite=args.overwrite,
        grid=grid,
        lmdb=args.lmdb,
        compression=args.compression,
        log=_log,
    )
    scales = ' '.join(f'x{s}' for s in sorted(set(args.scales)))
    print(
        f'{summary.images} HR images -> {args.out_dir} ({scales}): {summary.written} files written, '
        f'{summary.skipped} already there, {summary.failed} image(s) failed'
    )
    if grid is not None:
        print(f'sub-images: {summary.subimages} (crop {grid.crop_size}, step {grid.step}, thresh {grid.thresh_size})')
    for path in summary.lmdbs_written:
        print(f'LMDB written: {path}')
    for path in summary.lmdbs_skipped:
        print(f'LMDB already there: {path}')
    return 0 if summary.ok else 1
