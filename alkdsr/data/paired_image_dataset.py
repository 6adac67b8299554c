"""``ALKDSRPairedImageDataset``: BasicSR's paired SR dataset, checked when built, naming the file when an image fails.

BasicSR's ``PairedImageDataset`` meets unusable data with an assertion, a ``KeyError`` or an
``AttributeError`` deep in a DataLoader worker. ``ALKDSRPairedImageDataset`` (registered in BasicSR's
``DATASET_REGISTRY``; option files name it as ``type: ALKDSRPairedImageDataset``) is the same dataset
with these differences; plain ``PairedImageDataset`` keeps BasicSR's own behaviour.

- Folder pairs are sorted by file name, as the LMDB backend sorts its keys: BasicSR lists folders in
  ``os.scandir`` order, which differs between file systems, so the same seed gives the same batches
  from a folder or an LMDB on any machine.
- :func:`check_sources` and :func:`check_paired_dataset` run when the dataset is built, before the first
  iteration, and raise :class:`TrainingDataError` (one line, naming the file or LMDB key) for the
  following. They read the data (folders, image headers, LMDB values), which the option tree
  (``alkdsr.options.schema``) cannot: it declares the options' form only.

- folders or LMDBs that do not exist, or lack ``data.mdb`` / ``meta_info.txt``;
- HR and LR files that do not pair up (BasicSR's ``filename_tmpl`` rule: ``<stem>`` in the HR
  folder, ``filename_tmpl.format(<stem>)`` with the same extension in the LR folder);
- files that are not images (read from their headers only), LMDB keys without a value, LMDB
  values that are not images;
- HR/LR sizes that do not match the scale (training crops need HR = scale x LR exactly;
  validation crops HR down to scale x LR, so HR must not be smaller);
- training patches (``gt_size``) larger than an image.

- Decoding is left to training: :func:`describe_failure` names the file and the problem when an image
  fails to load later (a truncated file, say), and the decoders' own messages (libpng's) stay off the console.

 ``check_pairs: false`` in a dataset's options skips the
header check of every pair (the folder, pairing and LMDB-key checks always run).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from os import path as osp

from basicsr.data.paired_image_dataset import PairedImageDataset

from alkdsr.errors import AlkdsrError, TrainingDataError
from alkdsr.files.images import (
    PNG_SIGNATURE,
    UNREADABLE,
    ImageError,
    decode_bytes,
    image_size,
    png_header,
    quiet_opencv,
)

IMAGE_SIGNATURES = (PNG_SIGNATURE, b'\xff\xd8\xff', b'BM', b'II*\x00', b'MM\x00*', b'RIFF', b'GIF8')
_META_SHAPE = re.compile(r'\((\d+),\s*(\d+)(?:,\s*\d+)?\)')


@dataclass(frozen=True)
class Source:
    """Where one side (HR 'gt' or LR 'lq') of a dataset comes from."""

    folder: str
    lmdb: bool

    def label(self, item: str) -> str:
        """How the messages name an item: the file path, or the LMDB and the key."""
        return f'{self.folder} key {item!r}' if self.lmdb else item


def is_lmdb(opt: dict) -> bool:
    return (opt.get('io_backend') or {}).get('type') == 'lmdb'


def dataset_label(opt: dict) -> str:
    return f'datasets: {opt.get("phase", "?")}: {opt.get("name", "?")}'


# ---------------------------------------------------------------- before BasicSR lists the pairs


def check_sources(opt: dict) -> None:
    """The folders or LMDBs exist and, for folder datasets, their file lists pair up."""
    lmdb = is_lmdb(opt)
    for key in ('dataroot_gt', 'dataroot_lq'):
        folder = opt.get(key)
        if folder is None:
            raise TrainingDataError(f'{dataset_label(opt)}: {key} is not set')
        _check_folder(opt, key, str(folder), lmdb)
    if lmdb:
        check_lmdb_keys(opt)
    elif opt.get('meta_info_file') is None:
        check_folder_pairs(opt)


def _check_folder(opt: dict, key: str, folder: str, lmdb: bool) -> None:
    where = f'{dataset_label(opt)}: {key} {folder}'
    if not osp.isdir(folder):
        raise TrainingDataError(f'{where}: no such {"LMDB" if lmdb else "folder"}')
    if lmdb:
        if not folder.endswith('.lmdb'):
            raise TrainingDataError(f'{where}: an LMDB folder must be named <name>.lmdb (io_backend: lmdb)')
        missing = [name for name in ('data.mdb', 'meta_info.txt') if not osp.isfile(osp.join(folder, name))]
        if missing:
            raise TrainingDataError(f'{where}: not a BasicSR LMDB (no {" or ".join(missing)})')


def _files(folder: str) -> list[str]:
    """The names BasicSR lists (``scandir``): files directly in the folder, hidden ones (.DS_Store) skipped."""
    from basicsr.utils import scandir

    return sorted(scandir(folder))


def check_folder_pairs(opt: dict) -> None:
    """Every HR file has its LR partner and no LR file is left over (BasicSR's pairing, checked first)."""
    gt_folder, lq_folder = str(opt['dataroot_gt']), str(opt['dataroot_lq'])
    template = opt.get('filename_tmpl', '{}')
    gt_files, lq_files = _files(gt_folder), set(_files(lq_folder))
    expected = {}
    for name in gt_files:
        stem, ext = osp.splitext(name)
        expected[name] = f'{template.format(stem)}{ext}'
    lonely_gt = [name for name in gt_files if expected[name] not in lq_files]
    lonely_lq = sorted(lq_files - set(expected.values()))
    if not gt_files:
        raise TrainingDataError(f'{dataset_label(opt)}: no files in dataroot_gt {gt_folder}')
    if lonely_gt or lonely_lq:
        parts = []
        if lonely_gt:
            first = lonely_gt[0]
            parts.append(
                f'{len(lonely_gt)} HR file(s) without an LR partner (first: {osp.join(gt_folder, first)} '
                f'needs {osp.join(lq_folder, expected[first])})'
            )
        if lonely_lq:
            first = osp.join(lq_folder, lonely_lq[0])
            parts.append(f'{len(lonely_lq)} LR file(s) without an HR partner (first: {first})')
        raise TrainingDataError(
            f'{dataset_label(opt)}: HR and LR files do not pair up (filename_tmpl {template!r}): {"; ".join(parts)}'
            + _template_hint(template, gt_files, lq_files, opt.get('scale'))
        )


def _template_hint(template: str, gt_files: list[str], lq_files: set[str], scale) -> str:
    """'; set filename_tmpl: ...' when another template pairs every file (the EDSR layout's '{}x4', say)."""
    for candidate in dict.fromkeys(('{}', f'{{}}x{scale}' if scale else '{}', '{}_lr', '{}_LR')):
        if candidate != template and all(f'{candidate.format(osp.splitext(n)[0])}{osp.splitext(n)[1]}' in lq_files
                                         for n in gt_files):  # fmt: skip
            return f"; set filename_tmpl: '{candidate}'"
    return ''


def check_lmdb_keys(opt: dict) -> None:
    """The HR and LR LMDBs list the same keys (BasicSR's check, with the keys named)."""
    gt_keys = set(_read_meta_info(opt, str(opt['dataroot_gt'])))
    lq_keys = set(_read_meta_info(opt, str(opt['dataroot_lq'])))
    if gt_keys == lq_keys:
        return
    parts = []
    sides = ((gt_keys - lq_keys, 'LR', opt['dataroot_lq']), (lq_keys - gt_keys, 'HR', opt['dataroot_gt']))
    for keys, side, folder in sides:
        if keys:
            parts.append(f'{len(keys)} key(s) missing from the {side} LMDB {folder} (first: {sorted(keys)[0]!r})')
    raise TrainingDataError(f'{dataset_label(opt)}: HR and LR LMDBs do not pair up: {"; ".join(parts)}')


# ---------------------------------------------------------------- after BasicSR listed the pairs


def check_paired_dataset(opt: dict, paths: list[dict]) -> dict[str, tuple[int, int]] | None:
    """Every pair BasicSR listed is a pair of images whose sizes fit the scale and the patch size; returns the
    HR images' (width, height) by path or key, or None where ``check_pairs: false`` skipped reading them."""
    if not paths:
        raise TrainingDataError(f'{dataset_label(opt)}: no image pairs')
    lmdb = is_lmdb(opt)
    gt, lq = Source(str(opt['dataroot_gt']), lmdb), Source(str(opt['dataroot_lq']), lmdb)
    if lmdb:  # reads only the first bytes of each value: always
        gt_sizes, lq_sizes = lmdb_sizes(opt, gt), lmdb_sizes(opt, lq)
    if opt.get('check_pairs', True) is False:
        return gt_sizes if lmdb else None
    if not lmdb:
        gt_sizes = {p['gt_path']: file_size(opt, p['gt_path']) for p in paths}
        lq_sizes = {p['lq_path']: file_size(opt, p['lq_path']) for p in paths}
    _check_sizes(opt, paths, gt, lq, gt_sizes, lq_sizes)
    return gt_sizes


def check_one_batch(pairs: int, dataset_opt: dict, world_size: int) -> None:
    """The loader drops the last incomplete batch: a batch larger than the (enlarged) set gives no iteration."""
    ratio, batch = dataset_opt.get('dataset_enlarge_ratio', 1), dataset_opt['batch_size_per_gpu']
    per_process = pairs * ratio // world_size
    if per_process < batch:
        raise AlkdsrError(
            f'datasets: train: batch_size_per_gpu {batch} is larger than the {pairs} training pair(s)'
            + (f' x dataset_enlarge_ratio {ratio}' if ratio != 1 else '')
            + (f' / {world_size} processes' if world_size != 1 else '')
            + ': not one iteration would run; lower the batch or raise dataset_enlarge_ratio'
        )


def _check_sizes(opt: dict, paths: list[dict], gt: Source, lq: Source, gt_sizes: dict, lq_sizes: dict) -> None:
    scale, train = int(opt.get('scale') or 1), opt.get('phase') == 'train'
    patch = opt.get('gt_size') if train else None
    wrong_scale, too_small = [], []
    for pair in paths:
        (gw, gh), (lw, lh) = gt_sizes.get(pair['gt_path']), lq_sizes.get(pair['lq_path'])
        fits = (gw, gh) == (lw * scale, lh * scale) if train else gw >= lw * scale and gh >= lh * scale
        if not fits:
            wrong_scale.append((pair, (gw, gh), (lw, lh)))
        elif patch and min(lw, lh) < patch // scale:
            too_small.append((pair, (lw, lh)))
    if wrong_scale:
        pair, (gw, gh), (lw, lh) = wrong_scale[0]
        need = 'exactly' if train else 'at least'
        raise TrainingDataError(
            f'{dataset_label(opt)}: {len(wrong_scale)} pair(s) whose sizes do not match x{scale} (first: HR '
            f'{gt.label(pair["gt_path"])} is {gw}x{gh}, LR {lq.label(pair["lq_path"])} is {lw}x{lh}; '
            f'HR must be {need} {lw * scale}x{lh * scale})'
        )
    if too_small:
        pair, (lw, lh) = too_small[0]
        raise TrainingDataError(
            f'{dataset_label(opt)}: gt_size {patch} needs LR images of at least {patch // scale}x{patch // scale}, '
            f'but {len(too_small)} are smaller (first: {lq.label(pair["lq_path"])} is {lw}x{lh}); '
            'lower gt_size or remove those images'
        )


def file_size(opt: dict, path: str) -> tuple[int, int]:
    """(width, height) of an image file as OpenCV decodes it (EXIF-upright), from its header where possible."""
    try:
        return image_size(path)
    except ImageError as e:
        raise TrainingDataError(f'{dataset_label(opt)}: {e}') from None


def lmdb_sizes(opt: dict, source: Source) -> dict[str, tuple[int, int]]:
    """(width, height) of every key of an LMDB, from its values' PNG headers or else meta_info.txt.

    Every key of meta_info.txt must have a value that starts like an image; only the first bytes of each
    value are read (the LMDB is memory-mapped), so this is fast even for large datasets.
    """
    import lmdb

    meta = _read_meta_info(opt, source.folder)
    sizes = {}
    env = lmdb.open(source.folder, readonly=True, lock=False, readahead=False, meminit=False)
    try:
        with env.begin(buffers=True) as txn:
            for key, meta_size in meta.items():
                value = txn.get(key.encode('ascii', 'surrogateescape'))
                if value is None:
                    raise TrainingDataError(
                        f'{dataset_label(opt)}: {source.label(key)}: listed in meta_info.txt but has no value'
                    )
                head = bytes(value[:33])
                if not head.startswith(IMAGE_SIGNATURES):
                    raise TrainingDataError(
                        f'{dataset_label(opt)}: {source.label(key)}: the value is not an image '
                        f'(starts with {head[:12]!r})'
                    )
                header = png_header(head)
                size = (header[1], header[0]) if header else meta_size
                if size is None:
                    raise TrainingDataError(
                        f'{dataset_label(opt)}: {source.label(key)}: no (h,w,c) shape in meta_info.txt and not a PNG'
                    )
                sizes[key] = size
    finally:
        env.close()
    return sizes


def _read_meta_info(opt: dict, folder: str) -> dict[str, tuple[int, int] | None]:
    """Key -> (width, height) from ``meta_info.txt`` lines ``<key>.png (h,w,c) <level>`` (key as BasicSR cuts it)."""
    meta = {}
    with open(osp.join(folder, 'meta_info.txt'), encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            if not line.strip():
                continue
            shape = _META_SHAPE.search(line)
            meta[line.split('.')[0]] = (int(shape[2]), int(shape[1])) if shape else None
    if not meta:
        raise TrainingDataError(f'{dataset_label(opt)}: {folder}/meta_info.txt lists no images')
    return meta


# ---------------------------------------------------------------- when an image fails to load


def describe_failure(dataset, index: int, error: BaseException) -> str | None:
    """One line naming the pair's file (or LMDB key) that made ``dataset[index]`` fail and why, or None.

    None when both files read and decode and the error is not one of BasicSR's checks of a pair
    (``ValueError``/``AssertionError`` from its crops): then the data does not explain it.
    """
    opt = dataset.opt
    lmdb = is_lmdb(opt)
    pair = dataset.paths[index]
    sources = {'gt': Source(str(opt['dataroot_gt']), lmdb), 'lq': Source(str(opt['dataroot_lq']), lmdb)}
    client = getattr(dataset, 'file_client', None)
    for key in ('gt', 'lq'):
        item, source = pair[f'{key}_path'], sources[key]
        if client is None:
            break
        try:
            content = client.get(item, key)
        except Exception as e:  # any reader failure is this file's problem
            return f'{dataset_label(opt)}: {source.label(item)}: cannot read ({type(e).__name__}: {e})'
        if decode_bytes(content) is None:
            return f'{dataset_label(opt)}: {source.label(item)}: {UNREADABLE}'
    if not isinstance(error, (ValueError, AssertionError)):
        return None
    first = str(error).strip().splitlines()[0] if str(error).strip() else ''
    gt_label = sources['gt'].label(pair['gt_path'])
    return f'{dataset_label(opt)}: {gt_label} (and its LR partner): {type(error).__name__}: {first}'


class ALKDSRPairedImageDataset(PairedImageDataset):
    """BasicSR's ``PairedImageDataset`` with its pairs sorted and checked when built (see the module's doc)."""

    def __init__(self, opt: dict):
        check_sources(opt)
        super().__init__(opt)
        if not is_lmdb(opt) and opt.get('meta_info_file') is None:  # folder pairs: by name, like LMDB keys
            self.paths.sort(key=lambda pair: osp.splitext(osp.basename(pair['gt_path']))[0])
        self.gt_sizes = check_paired_dataset(opt, self.paths)  # (width, height) by path, or None

    def __getitem__(self, index: int) -> dict:
        """BasicSR's item; a failure the data explains is a one-line ``TrainingDataError`` naming the file.

        Anything else is re-raised as it is, so a bug still shows its traceback. The decoders' own messages
        are silenced through file descriptor 2 only in a main thread (the training loop's, or a DataLoader
        worker process's), never in a prefetch thread: that would silence every thread of the process.
        """
        try:
            with quiet_opencv(native=threading.current_thread() is threading.main_thread()):
                return super().__getitem__(index)
        except Exception as e:
            message = describe_failure(self, index, e)
            if message is None:
                raise
            raise TrainingDataError(message) from e
