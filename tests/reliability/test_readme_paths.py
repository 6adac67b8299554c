"""The README's own paths, as a new user takes them after its three pip install commands (no extras).

A package a command needs beyond alkdsr's own is named in one line with its pip install, before any work
(the named weights ``alkdnet-x4`` are not fetched: the test's mirror has no files, so reading them first
would be another line); ``benchmark`` without ``--sets`` runs the default sets that are there and names the
others; the README's checkpoint name given where there is no such file names the registered name; and
``python alkdsr/train.py`` or ``test.py`` by a Python that lacks alkdsr or torch says which Python, in one
line. Packages are hidden with ``sys.modules[name] = None``: in this process for the ``alkdsr`` commands, by
a ``sitecustomize`` for the scripts. Each case checks the exit status, the one line, and that nothing was
written or changed. The README's snippets are run by tests/package/test_readme_snippets.py, ``make demo``
twice by tests/training/test_train_demo.py.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from corpus import HIDDEN_PACKAGES, README_PATHS, rgb_png
from train_utils import env, paired_set, train_options, write_options

from .helpers import fingerprint, run_cli

# hides the modules named in ALKDSR_TEST_HIDE (comma-separated) from every import; runs a sitecustomize it hides
_HIDING = """
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
for _name in filter(None, os.environ.get('ALKDSR_TEST_HIDE', '').split(',')):
    sys.modules[_name] = None  # `import name` raises ModuleNotFoundError, find_spec(name) is None
_other = importlib.machinery.PathFinder.find_spec(
    'sitecustomize', [p for p in sys.path if os.path.abspath(p or '.') != _HERE]
)
if _other is not None:
    _other.loader.exec_module(importlib.util.module_from_spec(_other))
"""


def run_hiding(argv: list, hidden: tuple[str, ...], cwd: Path, site: Path) -> subprocess.CompletedProcess:
    """``argv`` run with ``hidden`` modules hidden by a sitecustomize in ``site``, alkdsr from this repository."""
    site.mkdir(exist_ok=True)
    (site / 'sitecustomize.py').write_text(_HIDING)
    paths = [str(site), str(ROOT), *filter(None, [env().get('PYTHONPATH')])]
    environment = {**env(), 'PYTHONPATH': ':'.join(paths), 'ALKDSR_TEST_HIDE': ','.join(hidden)}
    environment['PYTHONDONTWRITEBYTECODE'] = '1'
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.mark.parametrize('case', list(HIDDEN_PACKAGES))
def test_a_missing_package_is_one_line_before_any_work(case, tmp_path, monkeypatch):
    hidden, argv = HIDDEN_PACKAGES[case]
    expect = README_PATHS[case].expect
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'photo.png').write_bytes(rgb_png(32, 32, seed=1))
    site = tmp_path / 'site'
    names = {'tmp': work, 'image': work / 'photo.png', 'weights': 'alkdnet-x4'}
    argv = [a.format(**names) for a in argv]
    before = fingerprint(work)
    if argv[0] == 'alkdsr':
        for name in hidden:
            monkeypatch.setitem(sys.modules, name, None)
        rc, out, err = run_cli(*argv[1:])
        prog = f'alkdsr {argv[1]}'
    else:
        proc = run_hiding([sys.executable, ROOT / argv[0], *argv[1:]], hidden, work, site)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
        prog = Path(argv[0]).stem
    assert rc == 2 and out == '', (rc, out, err)
    assert err == f'{prog}: error: {expect}\n', err
    assert fingerprint(work) == before  # nothing written, nothing changed


def test_the_spandrel_integration_without_spandrel_is_one_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, 'spandrel', None)
    monkeypatch.delitem(sys.modules, 'alkdsr.integrations.spandrel', raising=False)
    with pytest.raises(ImportError) as raised:
        importlib.import_module('alkdsr.integrations.spandrel')
    assert str(raised.value) == README_PATHS['spandrel integration without spandrel'].expect
    assert 'alkdsr.integrations.spandrel' not in sys.modules  # a later import, with spandrel, starts afresh


def tiny_set(root: Path, set_name: str) -> None:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (32, 28, 3), dtype=np.uint8)
    for folder, name, img in (('HR', 'a.png', hr), ('LR_bicubic/X2', 'ax2.png', hr[::2, ::2])):
        (root / set_name / folder).mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / set_name / folder / name), img)


def test_benchmark_without_sets_runs_the_default_sets_that_are_there(tmp_path, tiny_weights):
    root = tmp_path / 'benchmark'
    tiny_set(root, 'Set5')
    before = fingerprint(root)
    results = tmp_path / 'r.json'
    rc, out, err = run_cli('benchmark', '--weights', tiny_weights, '--data-root', root, '--device', 'cpu',
                           '--json', results)  # fmt: skip
    assert rc == 0, err
    lines = [line for line in err.splitlines() if line.startswith('alkdsr benchmark')]  # (and tqdm's bar)
    assert lines == [f'alkdsr benchmark: {README_PATHS["benchmark without a default set"].expect.format(root=root)}']
    assert [line.split()[0] for line in out.splitlines()[2:]] == ['Set5']  # the table: one row, Set5's
    report = json.loads(results.read_text())
    assert list(report['sets']) == ['Set5'] and report['sets']['Set5']['n'] == 1
    assert report['sets_not_found'] == ['Set14', 'BSD100', 'Urban100', 'Manga109']
    assert fingerprint(root) == before and sorted(p.name for p in tmp_path.iterdir()) == ['benchmark', 'r.json']


@pytest.mark.parametrize(
    'case, folders, sets',
    [('benchmark --sets naming a missing set', ['Set5'], ['--sets', 'Set5', 'Urban100']),
     ('benchmark with no default set', ['set5'], [])],
    ids=['missing-named-set', 'no-default-set'],
)  # fmt: skip
def test_benchmark_sets_that_are_not_there_are_one_line_before_the_weights(case, folders, sets, tmp_path):
    root = tmp_path / 'benchmark'
    for folder in folders:
        tiny_set(root, folder)
    before = fingerprint(tmp_path)
    rc, out, err = run_cli('benchmark', '--weights', 'alkdnet-x4', '--data-root', root, *sets)  # not fetched
    assert rc == 2 and out == '', (rc, out, err)
    assert err == f'alkdsr benchmark: error: {README_PATHS[case].expect.format(root=root)}\n', err
    assert fingerprint(tmp_path) == before


def test_the_readme_checkpoint_name_where_there_is_no_such_file_names_the_registered_name(tmp_path, monkeypatch):
    (tmp_path / 'photo.png').write_bytes(rgb_png(32, 32, seed=2))
    monkeypatch.chdir(tmp_path)
    before = fingerprint(tmp_path)
    rc, out, err = run_cli('upscale', '-i', 'photo.png', '-o', 'out/', '--weights', 'net_g_ALKDN_x4.pth')
    assert rc == 2 and out == '', (rc, out, err)
    assert err.startswith('alkdsr upscale: error: ') and err.count('\n') == 1, err
    assert README_PATHS["README's checkpoint name as --weights"].expect in err
    assert '`alkdsr weights path alkdnet-x4` prints where the file is kept' in err
    assert fingerprint(tmp_path) == before


def test_python_alkdsr_test_py_by_a_python_without_alkdsr_is_one_line(tmp_path):
    venv = tmp_path / 'bare'  # another Python: the standard library only, as a system python3 may be
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', venv], check=True, timeout=120)
    python = venv / 'bin' / 'python'
    environment = {k: v for k, v in env().items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    environment['PYTHONDONTWRITEBYTECODE'] = '1'
    work = tmp_path / 'work'
    work.mkdir()
    proc = subprocess.run([python, ROOT / 'alkdsr' / 'test.py', '-opt', 'options/test_ALKDNet_x4.yml'], cwd=work,
                          env=environment, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == '', proc.stdout + proc.stderr
    expect = README_PATHS['python alkdsr/test.py outside the venv'].expect
    assert proc.stderr == f'alkdsr-test: error: this Python ({python}) {expect} (.venv/bin/python after make env), ' \
                          'or install it there (README: Install)\n', proc.stderr  # fmt: skip
    assert list(work.iterdir()) == []


def test_train_py_by_a_python_without_torch_is_one_line(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    proc = run_hiding([sys.executable, ROOT / 'alkdsr' / 'train.py', '-opt', 'train.yml'], ('torch',), work,
                      tmp_path / 'site')  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == '', proc.stdout + proc.stderr
    assert proc.stderr.startswith(f'alkdsr-train: error: this Python ({sys.executable}) ') and \
        proc.stderr.count('\n') == 1, proc.stderr  # fmt: skip
    assert README_PATHS['train.py by a Python without torch'].expect in proc.stderr
    assert proc.stderr.endswith('or pip install "torch>=2.5"\n')
    assert list(work.iterdir()) == []


def test_benchmark_without_sets_takes_bsd100_as_edsrs_b100(tmp_path, tiny_weights):
    root = tmp_path / 'benchmark'
    for name in ('Set5', 'B100', 'Extra'):
        tiny_set(root, name)
    rc, out, err = run_cli('benchmark', '--weights', tiny_weights, '--data-root', root, '--device', 'cpu')
    assert rc == 0, err
    assert [line.split()[0] for line in out.splitlines()[2:]] == ['Set5', 'B100']  # not Extra: not a default set
    assert f'alkdsr benchmark: not in {root}, not evaluated: Set14, Urban100, Manga109 (evaluated: Set5, B100; ' in err


def test_export_verify_without_scikit_image_says_it_runs_random_inputs_only(tmp_path, tiny_weights, monkeypatch):
    monkeypatch.setitem(sys.modules, 'skimage', None)  # its photographs are --verify's real images by default
    rc, out, err = run_cli('export', '--weights', tiny_weights, '-o', tmp_path / 'm.onnx', '--verify')
    assert rc == 0, err
    assert 'verify: no --verify-image and no scikit-image: random inputs only (pip install scikit-image)' in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith('verify ')] == ['random'] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx']


def _authors_test_options(hr: Path, lr: Path, weights: Path) -> dict:
    """The authors' test option file (Qudaokuan/ALKDNet, options/test/test_ALKDN_x4.yml): BasicSR's own
    PairedImageDataset, here without the filename_tmpl that pairs the EDSR layout; num_gpu 0 for the CPU."""
    network = {'type': 'ALKDN', 'num_in_ch': 3, 'num_feat': 64, 'num_block': 8, 'num_out_ch': 3, 'upscale': 4,
               'conv': 'LargeKernelConv', 'lk_size': 9}  # fmt: skip
    metric = {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}
    dataset = {'name': 'val_set5', 'type': 'PairedImageDataset', 'dataroot_gt': str(hr), 'dataroot_lq': str(lr),
               'io_backend': {'type': 'disk'}}  # fmt: skip
    return {'name': 'test_ALKDN_x4_lkc9C64B8_L1_1000k', 'suffix': None, 'model_type': 'SRModel', 'scale': 4,
            'crop_border': None, 'num_gpu': 0, 'manual_seed': 0, 'datasets': {'test_1': dataset},
            'network_g': network, 'path': {'pretrain_network_g': str(weights), 'strict_load_g': True},
            'val': {'save_img': False, 'suffix': None, 'pbar': True, 'metrics': {'psnr': metric}}}  # fmt: skip


def test_the_authors_test_file_on_the_edsr_layout_names_the_filename_tmpl(
    shared, tmp_path, monkeypatch, fresh_basicsr_logger
):
    """BasicSR's PairedImageDataset asserted pair by pair, once the run had begun: ``woman.png is not in
    lq_paths``. The pairing is checked before, for BasicSR's own dataset too, and the line says which
    ``filename_tmpl`` pairs every file; with it, the file scores the official weights as the official code
    does (32.3667 dB, Table 4's 32.37)."""
    from conftest import official_weights

    from .helpers import run_in_process

    set5 = shared / 'datasets' / 'benchmark' / 'Set5'
    hr, lr = set5 / 'HR', set5 / 'LR_bicubic' / 'X4'
    opt = _authors_test_options(hr, lr, official_weights(4))
    option_file = write_options(opt, tmp_path / 'test.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('test', tmp_path, option_file, monkeypatch)
    expect = README_PATHS["the authors' test file on the EDSR layout"].expect
    expect = expect.replace('{hr}', str(hr)).replace('{lr}', str(lr))  # (it quotes the templates' {})
    assert rc == 2 and err == f'alkdsr-test: error: datasets: test: val_set5: {expect}\n', err
    assert fingerprint(tmp_path) == before  # no results/ folder
    opt['datasets']['test_1']['filename_tmpl'] = '{}x4'  # what the line says
    rc, err = run_in_process('test', tmp_path, write_options(opt, tmp_path / 'test.yml'), monkeypatch)
    assert rc == 0, err
    (log,) = (tmp_path / 'results' / opt['name']).glob('test_*.log')
    golden = json.loads((shared / 'golden' / 'official_benchmark_psnr_ssim.json').read_text())['Set5_x4']['psnr']
    assert abs(float(re.search(r'# psnr: ([\d.]+)', log.read_text())[1]) - golden) < 1e-3


@pytest.mark.parametrize(
    'case, missing',
    [('several data folders missing', {'train': ('dataroot_gt', 'dataroot_lq'), 'val': ('dataroot_gt',)}),
     ('a meta_info_file and a folder missing', {'train': ('meta_info_file',), 'val': ('dataroot_lq',)})],
    ids=['folders', 'meta-info-and-folder'],
)  # fmt: skip
def test_every_missing_data_folder_is_named_at_once(case, missing, pairs, tmp_path, monkeypatch):
    """Only the first missing folder was named: a run with several to fix took a try for each."""
    from .helpers import pair_dirs, run_in_process

    hr, lr = pair_dirs(pairs)
    opt = train_options('missing', hr, lr)
    opt['datasets']['val'] = paired_set('val_pairs', hr, lr)
    opt['val'] = {'val_freq': 2, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}}}
    names = {'dataroot_gt': 'HR', 'dataroot_lq': 'LR', 'meta_info_file': 'meta.txt'}
    for phase, keys in missing.items():
        for key in keys:
            opt['datasets'][phase][key] = str(tmp_path / f'{"val" if phase == "val" else ""}{names[key]}')
    cwd = tmp_path / 'run'
    cwd.mkdir()
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', cwd, option_file, monkeypatch)
    assert rc == 2 and err == f'alkdsr-train: error: {README_PATHS[case].expect.format(tmp=tmp_path)}\n', err
    assert fingerprint(tmp_path) == before
