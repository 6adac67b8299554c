"""Training data: checked when a dataset is built, and the same through alkdsr/train.py.

Pairing, headers and sizes are checked when the dataset is built, decoding when a pair is loaded: one
``TrainingDataError`` naming the file. Through train.py each is one line and exit 2 before the first
iteration, a dataloader worker's included. Every file of the image corpus as a training HR image is
trained on as BasicSR reads it, or refused in one line naming it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from basicsr.utils import tensor2img
from corpus import CASES, IGNORED, OK, decodable_bgr, lmdb_with_a_non_image, rgb_png, smooth
from train_utils import SCALE, checkpoints, logged_iterations, paired_set, run_train, train_options, write_options

from alkdsr.errors import TrainingDataError

from .helpers import one_line, pair_dirs, record

# ---------------------------------------------------------------- checked when the dataset is built


def _build(opt: dict):
    from basicsr.data import build_dataset  # alkdsr's datasets registered (conftest imports alkdsr)

    return build_dataset({**opt, 'phase': opt.get('phase', 'train'), 'scale': SCALE})


def _copy_pairs(pairs: Path, dest: Path) -> tuple[Path, Path]:
    import shutil

    shutil.copytree(pairs, dest)
    return pair_dirs(dest)


def test_folder_pairs_that_do_not_pair_up(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    (lr / f'rocketx{SCALE}.png').rename(lr / 'rocket_lr.png')
    with pytest.raises(TrainingDataError) as info:
        _build(paired_set('pairs', hr, lr, phase='train'))
    message = str(info.value)
    assert message.startswith('datasets: train: pairs: HR and LR files do not pair up')
    assert f'1 HR file(s) without an LR partner (first: {hr / "rocket.png"} needs {lr / "rocketx4.png"})' in message
    assert f'1 LR file(s) without an HR partner (first: {lr / "rocket_lr.png"})' in message


def test_sizes_that_do_not_match_the_scale(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    cv2.imwrite(str(lr / f'coffeex{SCALE}.png'), smooth(20, 23, 3))  # HR is 96 x 96: LR must be 24 x 24
    with pytest.raises(TrainingDataError, match=r'1 pair\(s\) whose sizes do not match x4') as info:
        _build(paired_set('pairs', hr, lr, phase='train'))
    assert f'HR {hr / "coffee.png"} is 96x96, LR {lr / "coffeex4.png"} is 23x20; HR must be exactly 92x80' in str(
        info.value
    )
    # validation crops HR to scale x LR: a larger HR is fine, a smaller one is not
    _build({**paired_set('val', hr, lr), 'phase': 'val'})
    cv2.imwrite(str(lr / f'coffeex{SCALE}.png'), smooth(25, 24, 3))
    with pytest.raises(TrainingDataError, match='HR must be at least 96x100'):
        _build({**paired_set('val', hr, lr), 'phase': 'val'})


def test_a_patch_larger_than_the_images(pairs):
    opt = {**paired_set('pairs', *pair_dirs(pairs), phase='train'), 'gt_size': 128}
    with pytest.raises(TrainingDataError) as info:
        _build(opt)
    assert 'gt_size 128 needs LR images of at least 32x32, but 4 are smaller' in str(info.value)
    assert f'(first: {pair_dirs(pairs)[1] / "astronautx4.png"} is 24x24)' in str(info.value)


def test_a_non_image_in_a_folder_and_a_truncated_one(pairs, corpus_dir, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    (hr / 'rocket.png').write_bytes((corpus_dir / 'text_named.png').read_bytes())
    with pytest.raises(TrainingDataError, match=f'{hr / "rocket.png"}: not a readable image'):
        _build(paired_set('pairs', hr, lr, phase='train'))
    data = (pairs / 'HR' / 'rocket.png').read_bytes()
    (hr / 'rocket.png').write_bytes(data[: len(data) // 2])  # the header is intact: found when loaded
    dataset = _build(paired_set('pairs', hr, lr, phase='train'))
    index = [p['gt_path'] for p in dataset.paths].index(str(hr / 'rocket.png'))
    dataset[(index + 1) % 4]  # the others load
    with pytest.raises(TrainingDataError) as info:
        dataset[index]
    assert (
        str(info.value)
        == f'datasets: train: pairs: {hr / "rocket.png"}: not a readable image (corrupt, truncated or not an image)'
    )
    opt = {**paired_set('pairs', hr, lr, phase='train'), 'check_pairs': False}
    (hr / 'rocket.png').write_bytes(b'not an image')
    _build(opt)  # check_pairs: false leaves the headers to training


def _lmdbs(pairs: Path, folder: Path, bad_key: str):
    good = {}
    for name in ('astronaut', 'chelsea', 'coffee', 'rocket'):
        good[name] = ((pairs / 'HR' / f'{name}.png').read_bytes(), (pair_dirs(pairs)[1] / f'{name}x4.png').read_bytes())
    folder.mkdir()
    return lmdb_with_a_non_image(folder, good, bad_key, SCALE)


def test_a_non_image_value_and_unpaired_keys_in_lmdbs(pairs, tmp_path):
    hr_lmdb, lr_lmdb = _lmdbs(pairs, tmp_path / 'lmdb', 'coffee')
    with pytest.raises(TrainingDataError) as info:
        _build(paired_set('lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True))
    assert str(info.value).startswith(f"datasets: train: lmdb: {hr_lmdb} key 'coffee': the value is not an image")
    meta = lr_lmdb / 'meta_info.txt'
    meta.write_text(''.join(line for line in meta.read_text().splitlines(True) if not line.startswith('rocket')))
    with pytest.raises(
        TrainingDataError, match=f"1 key\\(s\\) missing from the LR LMDB {lr_lmdb} \\(first: 'rocket'\\)"
    ):
        _build(paired_set('lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True))


# ---------------------------------------------------------------- the same through alkdsr/train.py: one line, exit 2


def test_training_on_a_non_image_lmdb_value_stops_before_the_first_iteration(pairs, tmp_path):
    hr_lmdb, lr_lmdb = _lmdbs(pairs, tmp_path / 'lmdb', 'chelsea')
    opt = train_options('lmdb_bad', *pair_dirs(pairs))
    opt['datasets']['train'] = paired_set('train_lmdb', hr_lmdb, lr_lmdb, phase='train', lmdb=True)
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'lmdb_bad.yml'))
    one_line(proc, f"{hr_lmdb} key 'chelsea': the value is not an image")
    assert not checkpoints(tmp_path, 'lmdb_bad') and logged_iterations(proc.stderr) == []


def test_training_on_mismatched_pairs_stops_before_the_first_iteration(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    cv2.imwrite(str(lr / f'chelseax{SCALE}.png'), smooth(12, 12, 3))
    proc = run_train(tmp_path, write_options(train_options('mismatch', hr, lr), tmp_path / 'mismatch.yml'))
    one_line(proc, f'LR {lr / "chelseax4.png"} is 12x12; HR must be exactly 48x48')
    assert not checkpoints(tmp_path, 'mismatch')


def test_a_truncated_image_met_by_a_dataloader_worker_is_one_line(pairs, tmp_path):
    hr, lr = _copy_pairs(pairs, tmp_path / 'p')
    data = (hr / 'coffee.png').read_bytes()
    (hr / 'coffee.png').write_bytes(data[: len(data) // 2])
    opt = train_options('truncated', hr, lr, total_iter=40, save_freq=100)
    opt['datasets']['train']['num_worker_per_gpu'] = 1
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'truncated.yml'))
    one_line(proc, f'{hr / "coffee.png"}: not a readable image (corrupt, truncated or not an image)')


# ---------------------------------------------------------------- the image corpus as training HR images


def _train_pair_folder(case, root: Path) -> tuple[Path, Path]:
    """An HR/LR folder pair: a good reference pair, hidden files, and ``case`` as HR beside an LR of HR/4 (>= 1 x 1)."""
    hr, lr = root / 'HR', root / 'LR'
    hr.mkdir(parents=True), lr.mkdir()
    (hr / 'reference.png').write_bytes(rgb_png(32, 32, seed=40))
    (lr / f'referencex{SCALE}.png').write_bytes(rgb_png(8, 8, seed=41))
    (hr / '.DS_Store').write_bytes(b'\0\0\0\1Bud1')  # hidden files, as macOS leaves them: BasicSR skips them
    (lr / '._referencex4.png').write_bytes(b'\0\5\26\7')
    case.write(hr)
    if case.make is not None:
        w, h = case.size
        suffix = Path(case.name).suffix
        (lr / f'{case.stem}x{SCALE}{suffix}').write_bytes(rgb_png(max(1, h // SCALE), max(1, w // SCALE), seed=42))
    return hr, lr


def _is_a_window_of(patch: np.ndarray, image: np.ndarray) -> bool:
    ph, pw = patch.shape[:2]
    return any(
        np.array_equal(patch, image[top : top + ph, left : left + pw])
        for top in range(image.shape[0] - ph + 1)
        for left in range(image.shape[1] - pw + 1)
    )


def test_training_dataset_corpus(tmp_path, record_property):
    """Each corpus file as a training HR image: trained on as BasicSR reads it, or one line naming it.

    Pairing, headers and sizes are checked when the dataset is built, decoding when the pair is loaded.
    """

    def load(opt: dict, name: str) -> tuple[list[str], dict | None]:
        dataset = _build(opt)
        names = [Path(p['gt_path']).name for p in dataset.paths]
        return names, dataset[names.index(name)] if name in names else None

    handled = 0
    for index, case in enumerate(CASES):
        hr, lr = _train_pair_folder(case, tmp_path / f'case{index}')
        opt = {**paired_set('train_pairs', hr, lr, phase='train'), 'gt_size': 4 * SCALE}
        opt.update(use_hflip=False, use_rot=False)
        expected = case.expect['train']
        if expected not in (OK, IGNORED):
            with pytest.raises(TrainingDataError) as info:
                load(opt, case.name)
            message = str(info.value)
            assert '\n' not in message and expected in message, (case.name, message)
            assert f'{hr / case.name} ' in message or f'{hr / case.name}:' in message, (case.name, message)
            continue
        handled += 1
        names, sample = load(opt, case.name)
        if expected == IGNORED:
            assert names == ['reference.png'] and sample is None, case.name
            continue
        gt = tensor2img(sample['gt'])  # BGR uint8, as BasicSR's own validation writes it
        assert gt.shape == (4 * SCALE, 4 * SCALE, 3), case.name
        assert _is_a_window_of(gt, decodable_bgr(hr / case.name)), case.name  # pixels of the file itself
    record('train', handled, len(CASES) - handled, record_property)
