"""``alkdsr prepare``: MATLAB bicubic LR, aligned sub-images, LMDBs, skipping, bad inputs, atomicity."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import time

import cv2
import lmdb
import numpy as np
import pytest
import torch
from basicsr.data.paired_image_dataset import PairedImageDataset

import alkdsr.data.prepare as prep
from alkdsr.cli.main import main
from alkdsr.data.lmdb_pack import read_keys, write_lmdb
from alkdsr.data.matlab_resize import bicubic_downsample, contributions, imresize
from alkdsr.data.subimages import SubimageGrid


def run_cli(*args) -> int:
    return main(['prepare', *map(str, args)])


def imread(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def make_hr_dir(folder, sizes, seed=0) -> dict[str, np.ndarray]:
    """Smooth random colour images (so bicubic has something to do) saved as PNGs; returns them by name."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for i, (h, w) in enumerate(sizes):
        small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img.astype(int) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
        name = f'img{i:02d}'
        cv2.imwrite(str(folder / f'{name}.png'), img)
        images[name] = img
    return images


# ----------------------------------------------------------------------------- MATLAB bicubic


def test_x2_weights_are_matlabs_antialiased_bicubic():
    # Keys' cubic (a = -0.5) stretched by 2 and sampled at +-0.25, 0.75, 1.25, 1.75 (hand-computed), halved.
    w, idx = contributions(16, 8, 0.5)
    expected = np.array([-0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375])
    np.testing.assert_allclose(w, np.tile(expected / 2, (8, 1)), rtol=0, atol=1e-15)
    # output pixel x (1-based) maps to u = 2x - 0.5: its 8 taps are inputs 2x - 4 .. 2x + 3 (1-based)
    assert idx[3].tolist() == list(range(3, 11))  # 0-based
    assert idx[0].tolist() == [2, 1, 0, 0, 1, 2, 3, 4]  # -3..4, mirrored at the edge (symmetric padding)
    assert idx[-1].tolist() == [11, 12, 13, 14, 15, 15, 14, 13]  # 11..18, mirrored


def test_imresize_keeps_flat_images_and_sizes():
    flat = np.full((37, 50, 3), 201, np.uint8)
    assert np.array_equal(imresize(flat, 1 / 3), np.full((13, 17, 3), 201, np.uint8))  # ceil(37/3), ceil(50/3)
    assert imresize(flat[..., 0], 2).shape == (74, 100)
    with pytest.raises(ValueError, match='smaller than the scale'):
        bicubic_downsample(flat[:3], 4)


@pytest.mark.docs
@pytest.mark.parametrize('benchmark', ['Set5', 'Set14'])
def test_reproduces_the_shipped_matlab_lr(shared, tmp_path, benchmark):
    """docs/datasets.md's claim: every LR image of Set5 and Set14 at x2, x3, x4 pixel for pixel."""
    root = shared / 'datasets' / 'benchmark' / benchmark
    # Set5 through the worker pool, Set14 in this process (the pool is also met by test_bad_images_...)
    assert run_cli(root / 'HR', tmp_path, '--workers', 2 if benchmark == 'Set5' else 1) == 0
    for hr_file in sorted((root / 'HR').glob('*.png')):
        name = hr_file.stem
        assert np.array_equal(imread(tmp_path / 'HR' / f'{name}.png'), imread(hr_file))
        for s in (2, 3, 4):
            ours = imread(tmp_path / 'LR_bicubic' / f'X{s}' / f'{name}x{s}.png')
            ref = imread(root / 'LR_bicubic' / f'X{s}' / f'{name}x{s}.png')
            assert ours.shape == ref.shape, (name, s)  # includes grey staying grey (Set14's bridge)
            diff = np.abs(ours.astype(int) - ref)
            assert not diff.any(), f'{name} x{s}: {np.mean(diff > 0):.3%} of the pixels differ, by up to {diff.max()}'


# ----------------------------------------------------------------------------- sub-images


def test_window_starts_follow_extract_subimages():
    grid = SubimageGrid(crop_size=96, step=48, thresh_size=0)
    # range(0, 205, 48) = 0..192 leaves 12 px > 0 past 192 + 96, so one more window flush with the edge: 204
    assert grid.starts(300, align=4) == [0, 48, 96, 144, 192, 204]
    assert grid.starts(220, align=4) == [0, 48, 96, 124]
    assert SubimageGrid(96, 48, thresh_size=30).starts(300, 4) == [0, 48, 96, 144, 192]  # 12 px left <= 30
    assert grid.starts(288, 4) == [0, 48, 96, 144, 192]  # nothing left over
    assert grid.starts(95, 4) == []  # smaller than one window
    # BasicSR would start the last window at 100 - 48 = 52; 52 is no multiple of 3, so it moves back to 51
    assert SubimageGrid(48, 24, 0).starts(100, align=3) == [0, 24, 48, 51]


def test_subimages_align_with_the_full_lr_images(tmp_path):
    hr = make_hr_dir(tmp_path / 'in', [(300, 220), (90, 100)])['img00']
    out = tmp_path / 'out'
    args = ['--scales', 2, 4, '--subimages', '--crop-size', 96, '--step', 48, '--workers', 1]
    assert run_cli(tmp_path / 'in', out, *args) == 0
    rows, cols = [0, 48, 96, 144, 192, 204], [0, 48, 96, 124]  # hand-checked above
    names = [f'img00_s{i:03d}' for i in range(1, 25)]
    assert sorted(p.stem for p in (out / 'HR_sub').iterdir()) == names  # img01 is smaller than one crop
    boxes = [(y, x) for y in rows for x in cols]
    for s in (2, 4):
        assert sorted(p.stem for p in (out / 'LR_bicubic_sub' / f'X{s}').iterdir()) == names
        lr = imread(out / 'LR_bicubic' / f'X{s}' / f'img00x{s}.png')
        assert lr.shape == (300 // s, 220 // s, 3)
        for name, (y, x) in zip(names, boxes):
            gt = imread(out / 'HR_sub' / f'{name}.png')
            lq = imread(out / 'LR_bicubic_sub' / f'X{s}' / f'{name}.png')
            assert np.array_equal(gt, hr[y : y + 96, x : x + 96])
            assert np.array_equal(lq, lr[y // s : (y + 96) // s, x // s : (x + 96) // s])
            assert gt.shape == (s * lq.shape[0], s * lq.shape[1], 3)


def test_crop_size_must_be_a_multiple_of_every_scale(tmp_path, capsys):
    make_hr_dir(tmp_path / 'in', [(64, 64)])
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--subimages', '--crop-size', 100, '--step', 48) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and '--crop-size 100 is not a multiple of scale 3' in err
    assert not (tmp_path / 'out').exists()


def test_a_different_grid_on_existing_subimages_is_refused(tmp_path, capsys):
    make_hr_dir(tmp_path / 'in', [(100, 100)])
    grid = ['--workers', 1, '--subimages', '--crop-size', 48, '--step']
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, *grid, 24) == 0
    # a subset of the scales reuses the earlier windows; another step would silently mix two grids
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 2, *grid, 24) == 0
    capsys.readouterr()
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, *grid, 16) == 2
    assert 'holds sub-images cut with crop 48, step 24' in capsys.readouterr().err


# ----------------------------------------------------------------------------- LMDB


def paired_dataset(gt, lq, scale, phase='val', backend='lmdb', gt_size=48):
    opt = {
        'dataroot_gt': str(gt),
        'dataroot_lq': str(lq),
        'io_backend': {'type': backend},
        'filename_tmpl': '{}',
        'scale': scale,
        'phase': phase,
        'gt_size': gt_size,
        'use_hflip': True,
        'use_rot': True,
    }
    return PairedImageDataset(opt)


def lmdb_values(path) -> dict[str, bytes]:
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        values = {k.decode(): bytes(v) for k, v in txn.cursor()}
    env.close()
    return values


def test_subimage_lmdbs_are_read_by_basicsr(tmp_path):
    make_hr_dir(tmp_path / 'in', [(120, 96), (96, 144)])
    out = tmp_path / 'out'
    args = ['--scales', 2, 4, '--subimages', '--crop-size', 48, '--step', 48, '--lmdb', '--workers', 1]
    assert run_cli(tmp_path / 'in', out, *args) == 0
    keys = sorted(p.stem for p in (out / 'HR_sub').iterdir())
    assert len(keys) == 3 * 2 + 2 * 3  # 120x96: rows 0, 48, 72 (flush, 24 px left), cols 0, 48; 96x144: 2 x 3
    for s in (2, 4):
        gt_db, lq_db = out / 'HR_sub.lmdb', out / 'LR_bicubic_sub' / f'X{s}.lmdb'
        for db, folder in ((gt_db, out / 'HR_sub'), (lq_db, out / 'LR_bicubic_sub' / f'X{s}')):
            values = lmdb_values(db)
            assert sorted(values) == keys == read_keys(db)
            for key, data in values.items():
                assert data == (folder / f'{key}.png').read_bytes()  # the folder's PNG, byte for byte
            for line in (db / 'meta_info.txt').read_text().splitlines():
                key, h, w, c = re.fullmatch(r'(\w+)\.png \((\d+),(\d+),(\d+)\) 3', line).groups()
                assert imread(folder / f'{key}.png').shape == (int(h), int(w), int(c))
        ds = paired_dataset(gt_db, lq_db, s)
        assert len(ds) == len(keys)
        for i, key in enumerate(keys):
            item = ds[i]
            assert item['gt_path'] == item['lq_path'] == key
            lq = imread(out / 'LR_bicubic_sub' / f'X{s}' / f'{key}.png')[:, :, ::-1].astype(np.float32) / 255
            assert torch.equal(item['lq'], torch.from_numpy(lq.transpose(2, 0, 1).copy()))
        ds.opt['phase'] = 'train'  # (py-lmdb opens an environment once per process: reuse this dataset)
        item = ds[0]  # paired_random_crop insists on GT == s x LQ
        assert item['gt'].shape == (3, 48, 48) and item['lq'].shape == (3, 48 // s, 48 // s)
        del ds  # closes its LMDB environments


def test_lmdb_and_folder_give_the_same_training_samples(tmp_path):
    make_hr_dir(tmp_path / 'in', [(144, 144)])
    out = tmp_path / 'out'
    args = ['--scales', 4, '--subimages', '--crop-size', 96, '--step', 48, '--lmdb', '--workers', 1]
    assert run_cli(tmp_path / 'in', out, *args) == 0
    lm = paired_dataset(out / 'HR_sub.lmdb', out / 'LR_bicubic_sub' / 'X4.lmdb', 4, 'train')
    fo = paired_dataset(out / 'HR_sub', out / 'LR_bicubic_sub' / 'X4', 4, 'train', backend='disk')
    folder_index = {os.path.basename(p['gt_path'])[:-4]: i for i, p in enumerate(fo.paths)}
    assert len(lm) == len(fo) == 4
    for i, paths in enumerate(lm.paths):
        random.seed(i)
        a = lm[i]
        random.seed(i)
        b = fo[folder_index[paths['gt_path']]]
        assert torch.equal(a['gt'], b['gt']) and torch.equal(a['lq'], b['lq'])


def test_full_image_lmdbs_crop_hr_to_the_scale(tmp_path):
    hr = make_hr_dir(tmp_path / 'in', [(50, 61), (48, 36)])
    out = tmp_path / 'out'
    assert run_cli(tmp_path / 'in', out, '--scales', 3, 4, '--lmdb', '--workers', 1) == 0
    for s in (3, 4):
        gt_db, lq_db = out / f'HR_mod{s}.lmdb', out / 'LR_bicubic' / f'X{s}.lmdb'
        gts, lqs = lmdb_values(gt_db), lmdb_values(lq_db)
        assert sorted(gts) == sorted(lqs) == ['img00', 'img01']
        for name, img in hr.items():
            gt = cv2.imdecode(np.frombuffer(gts[name], np.uint8), cv2.IMREAD_UNCHANGED)
            h, w = img.shape[0] // s * s, img.shape[1] // s * s
            assert np.array_equal(gt, img[:h, :w])
            assert lqs[name] == (out / 'LR_bicubic' / f'X{s}' / f'{name}x{s}.png').read_bytes()
        item = paired_dataset(gt_db, lq_db, s, phase='train', gt_size=24)[0]
        assert item['gt'].shape == (3, 24, 24)


def test_names_that_basicsr_cannot_key_are_refused_for_lmdb(tmp_path, capsys):
    make_hr_dir(tmp_path / 'in', [(32, 32)])
    (tmp_path / 'in' / 'img00.png').rename(tmp_path / 'in' / 'shot.v2.png')
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--lmdb') == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and 'shot.v2.png' in err and "cuts keys at the first '.'" in err
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--workers', 1) == 0  # fine as folders


def test_an_exception_mid_lmdb_leaves_no_lmdb(tmp_path, monkeypatch):
    make_hr_dir(tmp_path / 'in', [(64, 64), (64, 64), (64, 64)])
    real, calls = prep.load_lmdb_value, []

    def failing(job):
        calls.append(job)
        if len(calls) == 2:
            raise RuntimeError('disk full')
        return real(job)

    monkeypatch.setattr(prep, 'load_lmdb_value', failing)
    with pytest.raises(RuntimeError, match='disk full'):
        run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--lmdb', '--workers', 1)
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['HR', 'LR_bicubic']
    assert sorted(p.name for p in (tmp_path / 'out' / 'LR_bicubic').iterdir()) == ['X4']
    monkeypatch.setattr(prep, 'load_lmdb_value', real)
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--lmdb', '--workers', 1) == 0
    assert sorted(read_keys(tmp_path / 'out' / 'HR_mod4.lmdb')) == ['img00', 'img01', 'img02']


def test_the_lmdb_map_grows_when_the_data_outgrow_it(tmp_path, monkeypatch):
    import alkdsr.data.lmdb_pack as pack

    monkeypatch.setattr(pack, 'MIN_MAP_SIZE', 64 << 10)  # 64 KiB map, 1.2 MB of data
    monkeypatch.setattr(pack, 'COMMIT_EVERY', 7)
    rng = np.random.default_rng(0)
    items = [(f'k{i:03d}', rng.bytes(4000 + i), (1, i, 3)) for i in range(300)]
    assert write_lmdb(tmp_path / 'big.lmdb', iter(items), compression=1) == 300
    assert lmdb_values(tmp_path / 'big.lmdb') == {k: v for k, v, _ in items}
    lines = (tmp_path / 'big.lmdb' / 'meta_info.txt').read_text().splitlines()
    assert lines[0] == 'k000.png (1,0,3) 1' and lines[-1] == 'k299.png (1,299,3) 1'


def _write_slowly(target, ready):
    def items():
        for i in range(1000):
            if i == 5:
                ready.set()
            time.sleep(0.05)
            yield f'k{i:04d}', b'x' * 100, (1, 1, 1)

    write_lmdb(target, items(), compression=3)


def test_a_killed_lmdb_writer_leaves_no_lmdb_and_the_next_run_cleans_up(tmp_path):
    make_hr_dir(tmp_path / 'in', [(32, 32)])
    target = tmp_path / 'out' / 'HR_mod4.lmdb'
    ctx = multiprocessing.get_context('fork')
    ready = ctx.Event()
    child = ctx.Process(target=_write_slowly, args=(target, ready))
    child.start()
    assert ready.wait(60)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert not target.exists()
    assert [p.name.startswith('.HR_mod4.lmdb.') and p.name.endswith('.tmp') for p in target.parent.iterdir()] == [True]
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--lmdb', '--workers', 1) == 0
    assert read_keys(target) == ['img00']
    assert not [p for p in target.parent.iterdir() if p.name.startswith('.')]


def test_an_existing_lmdb_with_other_images_is_reported(tmp_path, capsys):
    make_hr_dir(tmp_path / 'in', [(32, 32)])
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--lmdb', '--workers', 1) == 0
    make_hr_dir(tmp_path / 'in', [(32, 32), (40, 40)])
    capsys.readouterr()
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--lmdb', '--workers', 1) == 1
    err = capsys.readouterr().err
    assert 'HR_mod4.lmdb exists with other images (1 entries, this run has 2); delete it to rebuild' in err
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--lmdb', '--overwrite', '--workers', 1) == 0
    assert read_keys(tmp_path / 'out' / 'HR_mod4.lmdb') == ['img00', 'img01']


# ----------------------------------------------------------------------------- skipping, bad input, odd images


def _stats(folder):
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.rglob('*.png'))}


def test_existing_outputs_are_skipped_without_reading_inputs(tmp_path, monkeypatch, capsys):
    make_hr_dir(tmp_path / 'in', [(100, 100), (60, 80)])
    out = tmp_path / 'out'
    args = [tmp_path / 'in', out, '--scales', 2, 4, '--subimages', '--crop-size', 48, '--step', 24, '--workers', 1]
    assert run_cli(*args) == 0
    before = _stats(out)
    # 100x100: windows at 0, 24, 48, 52 both ways (16); 60x80: rows 0, 12 x cols 0, 24, 32 (6); HR + 2 LR each
    assert len(before) == 2 * 3 + (16 + 6) * 3

    def no_reading(path):
        raise AssertionError(f'{path} was read although its outputs exist')

    monkeypatch.setattr(prep, 'read_training_image', no_reading)
    capsys.readouterr()
    assert run_cli(*args) == 0
    assert '0 files written, 72 already there' in capsys.readouterr().out
    assert _stats(out) == before  # untouched: same inode, same mtime
    monkeypatch.undo()

    lost = out / 'LR_bicubic_sub' / 'X4' / 'img00_s005.png'
    lost.unlink()
    (out / 'LR_bicubic' / 'X2' / 'img01x2.png').write_bytes(b'stale')
    assert run_cli(*args) == 0
    assert '1 files written' in capsys.readouterr().out and lost.exists()
    assert (out / 'LR_bicubic' / 'X2' / 'img01x2.png').read_bytes() == b'stale'  # exists: skipped

    assert run_cli(*args, '--overwrite') == 0
    assert '72 files written, 0 already there' in capsys.readouterr().out
    after = _stats(out)
    assert all(after[p][0] != before[p][0] for p in before if p != lost)  # every file replaced by a rename
    assert imread(out / 'LR_bicubic' / 'X2' / 'img01x2.png').shape == (30, 40, 3)


def test_bad_images_are_named_and_the_rest_is_prepared(tmp_path, capsys):
    make_hr_dir(tmp_path / 'in', [(40, 40), (48, 32)])
    good = (tmp_path / 'in' / 'img00.png').read_bytes()
    (tmp_path / 'in' / 'cut.png').write_bytes(good[: len(good) // 2])
    (tmp_path / 'in' / 'notes.jpg').write_text('not an image')
    (tmp_path / 'in' / 'tiny.png').write_bytes(cv2.imencode('.png', np.zeros((3, 9, 3), np.uint8))[1].tobytes())
    (tmp_path / 'in' / 'readme.txt').write_text('ignored: not an image extension')
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 2, 4, '--lmdb', '--workers', 2) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 4, lines
    assert any('cut.png: not a readable image' in line for line in lines)
    assert any('notes.jpg: not a readable image' in line for line in lines)
    assert any('tiny.png: 9x3 pixels is too small for x4' in line for line in lines)
    assert 'LMDBs not written: 3 image(s) failed' in lines[-1]
    assert '5 HR images' in captured.out and '6 files written, 0 already there, 3 image(s) failed' in captured.out
    assert sorted(p.name for p in (tmp_path / 'out' / 'HR').iterdir()) == ['img00.png', 'img01.png']
    assert (tmp_path / 'out' / 'LR_bicubic' / 'X4' / 'img01x4.png').exists()
    assert not list((tmp_path / 'out').rglob('*.lmdb'))


def _same_name_twice(folder):
    make_hr_dir(folder, [(8, 8)])
    cv2.imwrite(str(folder / 'img00.bmp'), imread(folder / 'img00.png'))


@pytest.mark.parametrize(
    'setup, message',
    [
        (lambda d: None, 'HR folder not found'),
        (lambda d: d.mkdir(), 'no images (png, jpg, bmp, tif, webp) in'),
        (_same_name_twice, "two HR images named 'img00'"),
    ],
)
def test_unusable_hr_dirs_are_one_line_errors(tmp_path, capsys, setup, message):
    setup(tmp_path / 'in')
    assert run_cli(tmp_path / 'in', tmp_path / 'out') == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('alkdsr prepare: error: ') and message in err
    assert not (tmp_path / 'out').exists()


def test_grey_rgba_and_16_bit_inputs(tmp_path, capsys):
    rgb = make_hr_dir(tmp_path / 'in', [(40, 48)])['img00']
    grey = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / 'in' / 'grey.png'), grey)
    cv2.imwrite(str(tmp_path / 'in' / 'rgba.png'), np.dstack([rgb, np.full(grey.shape, 7, np.uint8)]))
    deep = rgb.astype(np.uint32) * 257 + np.where(rgb < 255, 100, 0)  # 100/257 < 0.5: rounds back to rgb
    cv2.imwrite(str(tmp_path / 'in' / 'deep.tif'), deep.astype(np.uint16))
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 4, '--workers', 1) == 0
    err = capsys.readouterr().err
    assert 'rgba.png: alpha channel dropped' in err and 'deep.tif: 16-bit samples rounded to 8 bits' in err
    out = tmp_path / 'out'
    assert np.array_equal(imread(out / 'HR' / 'grey.png'), grey)  # grey stays single-channel
    assert np.array_equal(imread(out / 'LR_bicubic' / 'X4' / 'greyx4.png'), imresize(grey, 0.25))
    assert np.array_equal(imread(out / 'HR' / 'rgba.png'), rgb)
    assert np.array_equal(imread(out / 'HR' / 'deep.png'), rgb)
    assert np.array_equal(imread(out / 'LR_bicubic' / 'X4' / 'rgbax4.png'), imread(out / 'LR_bicubic/X4/img00x4.png'))


def test_jpeg_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    (tmp_path / 'in').mkdir()
    img = Image.new('RGB', (40, 24), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / 'in' / 'photo.jpg', exif=exif.tobytes(), quality=95)
    assert run_cli(tmp_path / 'in', tmp_path / 'out', '--scales', 2, '--workers', 1) == 0
    assert imread(tmp_path / 'out' / 'HR' / 'photo.png').shape == (40, 24, 3)


def test_a_benchmark_folder_gets_its_lr_in_place(tmp_path):
    images = make_hr_dir(tmp_path / 'Set' / 'HR', [(40, 36)])
    before = (tmp_path / 'Set' / 'HR' / 'img00.png').read_bytes()
    assert run_cli(tmp_path / 'Set' / 'HR', tmp_path / 'Set', '--scales', 4, '--overwrite', '--workers', 1) == 0
    assert (tmp_path / 'Set' / 'HR' / 'img00.png').read_bytes() == before  # never rewritten, even with --overwrite
    lr = imread(tmp_path / 'Set' / 'LR_bicubic' / 'X4' / 'img00x4.png')
    assert np.array_equal(lr, imresize(images['img00'], 0.25))
