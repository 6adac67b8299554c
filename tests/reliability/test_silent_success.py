"""Runs that would do less than asked and still exit 0.

What docs/robustness.md's class 4 ("runs that would do nothing and exit 0") holds beyond the option checks
(those are in test_option_mistakes.py): training runs exactly ``total_iter`` iterations, an ``upscale``
input subfolder that cannot be listed is an error rather than a silent skip, and ``export --verify`` fails
on a difference that is not a number.
"""

from __future__ import annotations

import os
from pathlib import Path

from corpus import rgb_png
from train_utils import checkpoints, failure, logged_iterations, run_train, train_options, write_options

from .helpers import pair_dirs, run_cli


def test_training_runs_exactly_total_iter_iterations(pairs, tmp_path):
    """4 pairs, batch 3: BasicSR planned 2 iterations an epoch (3 epochs for 4), its loader (drop_last) gives 1,
    so it ran 3. 4 must be 4."""
    opt = train_options('exact', *pair_dirs(pairs), total_iter=4, save_freq=4)
    opt['network_g'].update(num_feat=16, num_block=1)
    opt['datasets']['train'].update(batch_size_per_gpu=3, dataset_enlarge_ratio=1, gt_size=16)
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'exact.yml'))
    assert proc.returncode == 0, failure(proc)
    assert logged_iterations(proc.stderr + proc.stdout) == [1, 2, 3, 4]
    assert set(checkpoints(tmp_path, 'exact')) == {'net_g_4', 'net_g_latest'}


def test_an_unreadable_subfolder_of_an_upscale_input_is_an_error(tiny_weights, tmp_path, monkeypatch):
    (tmp_path / 'in' / 'locked').mkdir(parents=True)
    (tmp_path / 'in' / 'a.png').write_bytes(rgb_png(seed=1))
    real_scandir = os.scandir

    def scandir(path='.'):  # what a folder without read permission gives (root reads anything, so simulate it)
        if Path(path).name == 'locked':
            raise PermissionError(13, 'Permission denied', str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', scandir)
    rc, _, err = run_cli('upscale', '-i', tmp_path / 'in', '-o', tmp_path / 'out', '--weights', tiny_weights)
    assert (
        rc == 2
        and err == f'alkdsr upscale: error: {tmp_path / "in" / "locked"}: cannot read the folder (Permission denied)\n'
    )
    assert not (tmp_path / 'out').exists()


def test_export_verify_fails_when_the_difference_is_not_a_number(tiny_weights, tmp_path, monkeypatch):
    import alkdsr.inference.onnx_util as onnx_util  # the export command loads it when it runs

    monkeypatch.setattr(onnx_util, 'max_abs_diff', lambda session, model, lr: float('nan'))
    rc, out, _ = run_cli('export', '--weights', tiny_weights, '-o', tmp_path / 'n.onnx', '--verify')
    assert rc == 1 and 'verify: FAILED' in out and 'passed' not in out, out
