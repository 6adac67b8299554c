"""Round two of bad input: whole classes of mistakes, each one line before any work.

1. an output that is one of the command's inputs; 2. option-file names escaping experiments/ or results/;
3. option mistakes (keys, registry names, types, ranges); 4. runs that would do nothing and exit 0, and
training that must run exactly total_iter iterations; 5. crafted checkpoints through every command that takes
weights; 6. leftovers and misleading messages; 7. checkpoints BasicSR itself loads, whatever
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says. The cases are in tests/corpus.py and docs/robustness.md's table.

Every case checks: exit status and one line naming the option or file, no temporary file, no experiments/ or
results/ folder of a run that never started, and inputs unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, official_weights
from corpus import (
    CHECKPOINT_MISTAKES,
    DOWNLOAD_MISTAKES,
    OPTION_FILE_MISTAKES,
    OPTION_MISTAKES,
    OUTPUT_IS_INPUT,
    OUTPUT_PLACES,
    RUN_FOLDER_MISTAKES,
    UNDONE_MISTAKES,
    rgb_png,
)
from safetensors.torch import save_file
from train_utils import (
    SCALE,
    TRAIN_PY,
    checkpoints,
    env,
    experiment,
    failure,
    logged_iterations,
    make_pairs,
    paired_set,
    run_train,
    start_train,
    train_options,
    write_options,
)

from alkdsr.archs import ALKDNet
from alkdsr.cli.main import main
from alkdsr.zoo.checkpoint import save_checkpoint


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and a hash of its contents: what a case must not change."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else 'dir'
        for p in sorted(folder.rglob('*'))
    }


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob('*') if '.tmp' in p.name)


@pytest.fixture(scope='module')
def pairs(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp('pairs'))


def _dirs(pairs: Path) -> tuple[Path, Path]:
    return pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}'


@pytest.fixture(scope='module')
def tiny_x4(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('x4') / 'tiny_x4.pth'
    save_checkpoint(ALKDNet(upscale=SCALE, num_feat=16, num_block=1).eval(), path)
    return path


# ---------------------------------------------------------------- class 1: outputs that are inputs


@pytest.mark.parametrize('case', list(OUTPUT_IS_INPUT))
def test_an_output_that_is_an_input_is_refused_before_any_work(case, tiny_weights, tmp_path):
    mistake, argv = OUTPUT_IS_INPUT[case]
    image = tmp_path / 'hr.png'
    image.write_bytes(rgb_png(32, 32, seed=1))
    (tmp_path / 'link.png').symlink_to(image)
    os.link(image, tmp_path / 'hard.png')
    (tmp_path / 'photo.onnx').write_bytes(rgb_png(seed=2))  # an image under an .onnx name
    (tmp_path / 'x2' / 'x2').mkdir(parents=True)
    (tmp_path / 'x2' / 'x2' / 'a.png').write_bytes(rgb_png(32, 32, seed=3))
    (tmp_path / 'LR_bicubic' / 'X2').mkdir(parents=True)
    (tmp_path / 'LR_bicubic' / 'X2' / 'a.png').write_bytes(rgb_png(32, 32, seed=4))
    (tmp_path / 'LR_bicubic' / 'X2' / 'ax2.png').write_bytes(rgb_png(32, 32, seed=5))
    weights = tmp_path / 'weights.pth'
    weights.write_bytes(tiny_weights.read_bytes())
    (tmp_path / 'w.png').write_bytes(tiny_weights.read_bytes())  # a checkpoint under an image's name
    (tmp_path / 'wlink.png').symlink_to(tmp_path / 'w.png')
    (tmp_path / 'wdir').mkdir()
    (tmp_path / 'wdir' / 'a.png').write_bytes(tiny_weights.read_bytes())
    names = {
        'image': image,
        'weights': weights,
        'pngweights': tmp_path / 'w.png',
        'link': tmp_path / 'link.png',
        'hardlink': tmp_path / 'hard.png',
        'root': tmp_path / 'x2',
        'tmp': tmp_path,
    }
    before = fingerprint(tmp_path)
    rc, out, err = run_cli(*(a.format(**names) for a in argv))
    command = argv[0]
    assert rc == 2 and out == '', (rc, out, err)
    assert err.startswith(f'alkdsr {command}: error: ') and err.count('\n') == 1, err
    assert mistake.expect.format(**names) in err and 'choose another output' in err, err
    assert fingerprint(tmp_path) == before  # nothing written, nothing changed


def test_upscale_into_its_own_input_folder_is_one_line(tiny_weights, tmp_path):
    (tmp_path / 'a.png').write_bytes(rgb_png(seed=1))
    before = fingerprint(tmp_path)
    rc, _, err = run_cli('upscale', '-i', tmp_path, '-o', tmp_path / '.' / '', '--weights', tiny_weights)
    assert rc == 2 and err.count('\n') == 1 and 'is the input folder' in err and 'no images found' not in err
    assert fingerprint(tmp_path) == before


# ---------------------------------------------------------------- class 8: outputs that cannot be written


def _cli_with_file_size_limit(argv: list[str], fsize: int) -> tuple[int, str, str]:
    """``alkdsr ARGV`` in a process that may write at most ``fsize`` bytes a file (``ulimit -f``)."""
    import resource
    import subprocess

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    code = 'import sys; from alkdsr.cli import main; sys.exit(main())'
    proc = subprocess.run([sys.executable, '-c', code, *argv], capture_output=True, text=True, env=env(),
                          preexec_fn=limit, timeout=300)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize('case', list(OUTPUT_PLACES))
def test_an_output_that_cannot_be_written_is_one_line(case, tiny_weights, tmp_path):
    mistake, argv, fsize = OUTPUT_PLACES[case]
    (tmp_path / 'file').write_text('a regular file')
    (tmp_path / 'dir.onnx').mkdir()
    (tmp_path / 'dir.png').mkdir()
    (tmp_path / 'hr.png').write_bytes(rgb_png(32, 32, seed=1))
    (tmp_path / 'weights.pth').write_bytes(tiny_weights.read_bytes())
    names = {
        'tmp': tmp_path,
        'file': tmp_path / 'file',
        'image': tmp_path / 'hr.png',
        'weights': tmp_path / 'weights.pth',
    }
    argv = [a.format(**names) for a in argv]
    before = fingerprint(tmp_path)
    rc, _, err = _cli_with_file_size_limit(argv, fsize) if fsize else run_cli(*argv)
    assert rc == (1 if argv[0] == 'upscale' else 2), (rc, err)  # upscale: an image that failed, the rest go on
    assert err.startswith(f'alkdsr {argv[0]}: error: ') and err.count('\n') == 1, err
    assert mistake.expect.format(**names) in err, err
    assert fingerprint(tmp_path) == before  # no output, no temporary file, the inputs as they were


def test_a_failed_read_inside_an_atomic_write_is_not_called_a_failed_write(tmp_path):
    """Only errors about the output become its one line; one naming another file (an input) passes on as it is."""
    from alkdsr.errors import OutputError
    from alkdsr.files.fileio import atomic_path

    missing = tmp_path / 'missing-input.png'
    with pytest.raises(FileNotFoundError) as caught, atomic_path(tmp_path / 'out.lmdb', folder=True):
        missing.read_bytes()
    assert caught.value.filename == str(missing) and not isinstance(caught.value, OutputError)
    with pytest.raises(OutputError, match=r'out\.bin: cannot write \(No space left on device\)$'):
        with atomic_path(tmp_path / 'out.bin'):
            raise OSError(28, 'No space left on device')  # how a write to an open file fails: no file named
    assert list(tmp_path.iterdir()) == []


def test_an_output_under_a_read_only_file_system_is_one_line(tiny_weights, tmp_path):
    """(Permissions do not stop root, which runs the suite in CI: a read-only mount does.)"""
    read_only = next((p for p in ('/sys', '/proc/sys') if not os.access(p, os.W_OK)), None)
    if read_only is None:
        pytest.skip('no read-only file system here')
    rc, _, err = run_cli('export', '--weights', tiny_weights, '-o', f'{read_only}/x.onnx')
    assert rc == 2 and err == (
        f'alkdsr export: error: -o {read_only}/x.onnx: cannot write in {read_only} '
        '(permission denied or a read-only file system)\n'
    )


@pytest.mark.parametrize('kind', ['train', 'test'])
def test_a_run_where_its_folder_cannot_be_made_is_one_line(kind, pairs, tiny_x4, tmp_path, monkeypatch):
    case = RUN_FOLDER_MISTAKES['experiments is a file' if kind == 'train' else 'results is a file']
    cwd = tmp_path / 'run'
    cwd.mkdir()
    (cwd / ('experiments' if kind == 'train' else 'results')).write_text('a file where the folder goes')
    opt = train_options('blocked', *_dirs(pairs)) if kind == 'train' else _test_options(*_dirs(pairs), tiny_x4)
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    rc, err = _run_in_process(kind, cwd, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1 and case.expect.format(cwd=cwd) in err, err
    assert fingerprint(tmp_path) == before


# ---------------------------------------------------------------- class 9: option files as people write them


@pytest.mark.parametrize('case', list(OPTION_FILE_MISTAKES))
def test_option_files_as_people_write_them(case, tmp_path, monkeypatch):
    mistake, content = OPTION_FILE_MISTAKES[case]
    option_file = tmp_path / 'opt.yml'
    option_file.write_bytes(content)
    before = fingerprint(tmp_path)
    rc, err = _run_in_process('train', tmp_path, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1, err
    assert err.startswith(f'alkdsr-train: error: {option_file}: ') and mistake.expect in err, err
    assert fingerprint(tmp_path) == before


def test_merge_keys_and_a_bom_read_as_written_out(tmp_path):
    """``<<: *anchor`` merges the anchored mapping (its own keys win); a UTF-8 BOM is not part of the text."""
    from alkdsr.options.reader import read_option_file

    merged = (
        'defaults: &set\n  type: ALKDSRPairedImageDataset\n  io_backend: {type: disk}\n  name: a\n'
        'datasets:\n  val:\n    <<: *set\n    name: b\n'
    )
    written_out = (
        'defaults:\n  type: ALKDSRPairedImageDataset\n  io_backend: {type: disk}\n  name: a\n'
        'datasets:\n  val:\n    type: ALKDSRPairedImageDataset\n    io_backend: {type: disk}\n    name: b\n'
    )
    (tmp_path / 'merged.yml').write_text(merged)
    (tmp_path / 'bom.yml').write_bytes(b'\xef\xbb\xbf' + written_out.encode())
    expected = yaml.safe_load(written_out)
    assert expected['datasets']['val']['name'] == 'b'
    assert read_option_file(tmp_path / 'merged.yml') == expected
    assert read_option_file(tmp_path / 'bom.yml') == expected


# ---------------------------------------------------------------- class 11: one run per experiment folder


def _wait_for(predicate, seconds: float = 120) -> None:
    import time

    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, 'timed out'
        time.sleep(0.2)


def _long_run(pairs: Path, name: str) -> dict:
    opt = train_options(name, *_dirs(pairs), total_iter=2000, save_freq=1000)
    opt['network_g']['num_block'] = 1
    return opt


def test_two_runs_of_one_name_at_once(pairs, tmp_path):
    """Two real train.py processes: the second is refused naming the first, whose folder stays its own."""
    first = start_train(tmp_path, write_options(_long_run(pairs, 'busy'), tmp_path / 'busy.yml'))
    try:
        _wait_for(lambda: (experiment(tmp_path, 'busy') / 'training_states').is_dir() or first.poll() is not None)
        assert first.poll() is None
        second = run_train(tmp_path, tmp_path / 'busy.yml', timeout=120)
        assert second.returncode == 2, failure(second)
        line = second.stderr.strip().splitlines()[-1]
        expect = (
            f'alkdsr-train: error: {experiment(tmp_path, "busy")}: {RUN_FOLDER_MISTAKES["two runs, one name"].expect}'
        )
        assert line.startswith(expect) and f'pid {first.pid} ' in line, line
        assert sorted(p.name for p in (tmp_path / 'experiments').iterdir()) == ['.busy.lock', 'busy']  # none archived
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert first.returncode == 143  # stopped by SIGTERM after saving, as ever


def test_the_lock_of_a_killed_run_is_taken_over(pairs, tmp_path):
    opt = train_options('killed', *_dirs(pairs), total_iter=2, save_freq=1)
    first = start_train(tmp_path, write_options(_long_run(pairs, 'killed'), tmp_path / 'long.yml'))
    _wait_for(lambda: (experiment(tmp_path, 'killed') / 'training_states').is_dir() or first.poll() is not None)
    first.kill()
    first.wait(timeout=60)
    again = run_train(tmp_path, write_options(opt, tmp_path / 'short.yml'))
    assert again.returncode == 0, failure(again)
    assert RUN_FOLDER_MISTAKES['lock of a killed run'].expect in again.stderr + again.stdout
    assert len(list((tmp_path / 'experiments').glob('killed_archived_*'))) == 1  # the killed run's, archived


@pytest.mark.parametrize('where', ['pretrain_network_g', 'dataroot_lq'])
def test_an_input_in_the_folder_a_run_archives_is_refused(where, pairs, tiny_x4, tmp_path, monkeypatch):
    import shutil

    folder = experiment(tmp_path, 'again')
    opt = train_options('again', *_dirs(pairs))
    if where == 'pretrain_network_g':
        case = RUN_FOLDER_MISTAKES['pretrain_network_g in the archived folder']
        (folder / 'models').mkdir(parents=True)
        shutil.copy(tiny_x4, folder / 'models' / 'net_g_1.pth')
        opt['network_g'].update(num_feat=16, num_block=1)
        opt['path']['pretrain_network_g'] = str(folder / 'models' / 'net_g_1.pth')
    else:
        case = RUN_FOLDER_MISTAKES['dataroot in the archived folder']
        shutil.copytree(_dirs(pairs)[1], folder / 'LR')
        opt['datasets']['train']['dataroot_lq'] = str(folder / 'LR')
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    rc, err = _run_in_process('train', tmp_path, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1 and case.expect.format(folder=folder) in err, err
    assert fingerprint(tmp_path) == before  # the folder neither archived nor changed


def test_a_refused_auto_resume_leaves_the_folder_as_it_was(pairs, tmp_path, monkeypatch, fresh_basicsr_logger):
    opt = train_options('resumed', *_dirs(pairs), total_iter=2, save_freq=1)
    opt['network_g']['num_block'] = 1
    done = run_train(tmp_path, write_options(opt, tmp_path / 'opt.yml'))
    assert done.returncode == 0, failure(done)
    opt['network_g']['num_feat'] = 24  # not the network the saved iteration holds
    option_file = write_options(opt, tmp_path / 'changed.yml')

    def files():  # the lock file names whichever run holds it, this one too
        return {path: digest for path, digest in fingerprint(tmp_path).items() if not path.endswith('.lock')}

    before = files()
    rc, err = _run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and err.count('\n') == 1, err
    assert RUN_FOLDER_MISTAKES['refused --auto_resume'].expect in err, err
    assert files() == before  # no new option file, no log


# ---------------------------------------------------------------- classes 2-4 and 10 in option files


def _test_options(hr: Path, lr: Path, weights: Path) -> dict:
    return {
        'name': 'mistake',
        'model_type': 'ALKDSRModel',
        'scale': SCALE,
        'num_gpu': 'auto',
        'datasets': {'val': paired_set('val_pairs', hr, lr)},
        'network_g': {'type': 'ALKDNet', 'upscale': SCALE, 'num_feat': 16, 'num_block': 1},
        'path': {'pretrain_network_g': str(weights), 'strict_load_g': True},
        'val': {'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': SCALE}}},
    }


def _run_in_process(kind: str, cwd: Path, option_file: Path, monkeypatch, *flags: str) -> tuple[int, str]:
    """``alkdsr/train.py`` / ``alkdsr/test.py`` in this process (for mistakes found before any work)."""
    import alkdsr.test
    import alkdsr.train

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, 'argv', [f'alkdsr-{kind}', '-opt', str(option_file), *flags])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = (alkdsr.train if kind == 'train' else alkdsr.test).main()
    return rc, err.getvalue()


@pytest.fixture
def fresh_basicsr_logger(monkeypatch):
    """BasicSR sets its logger up once per process: an in-process run gets its own (its log file too)."""
    import logging

    from basicsr.utils import logger as basicsr_logger

    monkeypatch.setattr(basicsr_logger, 'initialized_logger', {})
    log = logging.getLogger('basicsr')
    before = list(log.handlers)
    yield
    for handler in log.handlers:
        if handler not in before:
            handler.close()
    log.handlers = before


@pytest.mark.parametrize('case', list(OPTION_MISTAKES))
def test_option_mistakes_by_class_are_one_line_before_any_folder(case, pairs, tiny_x4, tmp_path, monkeypatch):
    mistake, mode, change, force_yml = OPTION_MISTAKES[case]
    opt = train_options('mistake', *_dirs(pairs)) if mode == 'train' else _test_options(*_dirs(pairs), tiny_x4)
    opt['network_g']['num_block'] = 1
    change(opt)
    cwd = tmp_path / 'run'
    cwd.mkdir()
    victim = tmp_path / 'victim'  # what name: ../../victim would have BasicSR rename
    victim.mkdir()
    (victim / 'keep.txt').write_text('mine')
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    flags = ('--force_yml', *force_yml) if force_yml else ()
    rc, err = _run_in_process(mode, cwd, option_file, monkeypatch, *flags)
    assert rc == 2, err
    assert err.count('\n') == 1 and err.startswith(f'alkdsr-{mode}: error: ') and mistake.expect in err, err
    assert fingerprint(tmp_path) == before  # no experiments/ or results/, the victim neither moved nor archived


def test_the_authors_unchanged_option_files_on_a_cpu_only_machine(tmp_path, monkeypatch, fresh_basicsr_logger):
    """The authors' test and train files (Qudaokuan/ALKDNet, options/), data paths aside: num_gpu 1."""
    hr, lr = _dirs(make_pairs(tmp_path / 'data', names=('astronaut',), size=48))
    dataset = {
        'type': 'PairedImageDataset',
        'dataroot_gt': str(hr),
        'dataroot_lq': str(lr),
        'io_backend': {'type': 'disk'},
    }
    network = {'type': 'ALKDN', 'num_in_ch': 3, 'num_feat': 64, 'num_block': 8, 'num_out_ch': 3, 'upscale': 4,
               'conv': 'LargeKernelConv', 'lk_size': 9}  # fmt: skip
    metric = {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}
    test_opt = {
        'name': 'test_ALKDN_x4_lkc9C64B8_L1_1000k', 'suffix': None, 'model_type': 'SRModel', 'scale': 4,
        'crop_border': None, 'num_gpu': 1, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'val_set5', **dataset, 'filename_tmpl': '{}x4'}},
        'network_g': network,
        'path': {'pretrain_network_g': str(official_weights(4)), 'strict_load_g': True},
        'val': {'save_img': True, 'suffix': None, 'pbar': True,
                'metrics': {'psnr': metric, 'ssim': {**metric, 'type': 'calculate_ssim'}}},
    }  # fmt: skip
    train_opt = {
        'name': 'train_ALKDN_x4_lkc9C64B8_L1_1000k', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 1,
        'manual_seed': 0,
        'datasets': {
            'train': {'name': 'DF2K', **dataset, 'filename_tmpl': '{}x4', 'gt_size': 192, 'use_hflip': True,
                      'use_rot': True, 'use_shuffle': True, 'num_worker_per_gpu': 16, 'batch_size_per_gpu': 64,
                      'dataset_enlarge_ratio': 100, 'prefetch_mode': None},
            'val': {'name': 'Set5', **dataset},
        },
        'network_g': network,
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0, 'betas': [0.9, 0.999]},
                  'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [1000000], 'restart_weights': [1],
                                'eta_min': 1e-7},
                  'total_iter': 1000000, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'val': {'val_freq': 5e3, 'save_img': False, 'metrics': {'psnr': metric}},
        'logger': {'print_freq': 200, 'save_checkpoint_freq': 5e3, 'use_tb_logger': True,
                   'wandb': {'project': None, 'resume_id': None, 'entity': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }  # fmt: skip
    if not official_weights(4).is_file():
        pytest.skip('the official weights are in ../shared')
    if torch.cuda.is_available():
        pytest.skip('a GPU is there: num_gpu: 1 works')
    for kind, opt in (('test', test_opt), ('train', train_opt)):
        rc, err = _run_in_process(kind, tmp_path, write_options(opt, tmp_path / f'{kind}.yml'), monkeypatch)
        assert rc == 2 and err.count('\n') == 1, err
        assert 'num_gpu: 1 but no CUDA device is available; set num_gpu: auto (or 0) to run on the CPU' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'test.yml', 'train.yml']
    # the one change the message asks for, and the authors' test file scores the official weights on the CPU
    test_opt['num_gpu'] = 0
    test_opt['val']['save_img'] = False
    rc, err = _run_in_process('test', tmp_path, write_options(test_opt, tmp_path / 'test.yml'), monkeypatch)
    assert rc == 0, err
    (log,) = (tmp_path / 'results' / test_opt['name']).glob('test_*.log')
    psnr = float(re.search(r'# psnr: ([\d.]+)', log.read_text())[1])
    assert 20 < psnr < 40  # 96 x 96 photo crops at x4


def test_training_runs_exactly_total_iter_iterations(pairs, tmp_path):
    """4 pairs, batch 3: BasicSR planned 2 iterations an epoch (3 epochs for 4), its loader (drop_last) gives 1,
    so it ran 3. 4 must be 4."""
    opt = train_options('exact', *_dirs(pairs), total_iter=4, save_freq=4)
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


# ---------------------------------------------------------------- class 5: crafted checkpoints, every command


def _crafted(name: str, folder: Path) -> Path:
    net = ALKDNet(upscale=2, num_feat=16, num_block=1)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    meta: dict[str, str] = {}
    if name == 'missing keys':
        state = {k: v for k, v in state.items() if not k.startswith('shallow.')}
    elif name == 'zero-sized tensor':
        state['shallow.pw.weight'] = torch.zeros(0, 12, 1, 1)
    elif name == 'oddly shaped tensor':
        state['shallow.pw.weight'] = torch.zeros(16)
    elif name == 'metadata of the wrong type':
        meta['alkdsr_arch'] = json.dumps({'upscale': 'two'})
    elif name == 'metadata not JSON':
        meta['alkdsr_arch'] = '{"upscale": 2'
    elif name == 'metadata a list':
        meta['alkdsr_arch'] = '[2, 16]'
    elif name == 'NaN weights':
        state['fuse.weight'] = state['fuse.weight'].clone().fill_(float('nan'))
    elif name == 'num_replicas 0':
        meta['alkdsr_arch'] = json.dumps({'num_replicas': 0})
    elif name == 'folder as --weights':
        (folder / 'weights').mkdir()
        return folder / 'weights'
    path = folder / 'crafted.safetensors'
    save_file(state, str(path), metadata=meta)
    return path


WEIGHT_COMMANDS = {
    'upscale': lambda w, t: ('upscale', '-i', t / 'a.png', '-o', t / 'out', '--weights', w),
    'benchmark': lambda w, t: ('benchmark', '--weights', w, '--data-root', t, '--sets', 'set', '--device', 'cpu'),
    'profile': lambda w, t: ('profile', '--weights', w, '--size', '16x16', '--runs', 1, '--warmup', 0),
    'export': lambda w, t: ('export', '--weights', w, '-o', t / 'out.onnx'),
    'compare': lambda w, t: ('compare', '--hr', t / 'a.png', '--weights', w, '-o', t / 'fig.png'),
}


@pytest.mark.parametrize('case', list(CHECKPOINT_MISTAKES))
def test_crafted_checkpoints_are_one_line_in_every_command(case, tmp_path):
    (tmp_path / 'set').mkdir()
    (tmp_path / 'a.png').write_bytes(rgb_png(32, 32, seed=1))
    (tmp_path / 'set' / 'a.png').write_bytes(rgb_png(32, 32, seed=1))
    weights = _crafted(case, tmp_path)
    before = fingerprint(tmp_path)
    for command, argv in WEIGHT_COMMANDS.items():
        rc, _, err = run_cli(*argv(weights, tmp_path))
        assert rc == 2 and err.count('\n') == 1, (command, err)
        assert err.startswith(f'alkdsr {command}: error: {weights}: ') and CHECKPOINT_MISTAKES[case].expect in err
        assert fingerprint(tmp_path) == before, command


def test_unusual_but_valid_checkpoints(tmp_path):
    """A network alkdsr saved with num_in_ch=1: one line where images are fed as RGB, profiled where not;
    a safetensors file with an upper-case suffix or named .pth: read by its contents."""
    (tmp_path / 'set').mkdir()
    (tmp_path / 'a.png').write_bytes(rgb_png(32, 32, seed=1))
    (tmp_path / 'set' / 'a.png').write_bytes(rgb_png(32, 32, seed=1))
    gray = tmp_path / 'gray.pth'
    save_checkpoint(ALKDNet(upscale=2, num_in_ch=1, num_out_ch=1, num_feat=16, num_block=1), gray)
    for command, argv in WEIGHT_COMMANDS.items():
        rc, _, err = run_cli(*argv(gray, tmp_path))
        if command == 'profile':
            assert rc == 0, err
        else:
            assert (
                rc == 2
                and err
                == f'alkdsr {command}: error: {gray}: a network for 1-channel images; images '
                'reach it as RGB (3 channels), which it cannot take\n'
            ), err
    net = ALKDNet(upscale=2, num_feat=16, num_block=1).eval()
    for name in ('UPPER.SAFETENSORS', 'safetensors_named.pth'):
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / name))
        rc, _, err = run_cli('upscale', '-i', tmp_path / 'a.png', '-o', tmp_path / f'{name}.png', '--weights',
                             tmp_path / name)  # fmt: skip
        assert rc == 0 and (tmp_path / f'{name}.png').is_file(), err


# ---------------------------------------------------------------- class 6: leftovers and misleading messages


def test_sigterm_during_an_upscale_write_leaves_no_temporary_file(tiny_weights, tmp_path, monkeypatch):
    import alkdsr.files.fileio

    (tmp_path / 'a.png').write_bytes(rgb_png(seed=1))
    real_replace = os.replace

    def terminated_before_the_rename(src, dst):
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill <pid>` does to the command mid-write
        return real_replace(src, dst)

    monkeypatch.setattr(alkdsr.files.fileio.os, 'replace', terminated_before_the_rename)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped:
        run_cli('upscale', '-i', tmp_path / 'a.png', '-o', tmp_path / 'out', '--weights', tiny_weights)
    assert stopped.value.code == 143 and signal.getsignal(signal.SIGTERM) is previous
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == []


def test_a_rerun_removes_what_a_killed_run_left(tiny_weights, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    stale = out / '.a.png.k2j4h1q9.tmp.png'  # atomic_path's name for a.png, left by SIGKILL
    stale.write_bytes(b'half a png')
    (tmp_path / 'a.png').write_bytes(rgb_png(seed=1))
    rc, _, err = run_cli('upscale', '-i', tmp_path / 'a.png', '-o', out, '--weights', tiny_weights)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ['a.png']


def test_an_output_name_of_250_characters(tiny_weights, tmp_path):
    name = 'n' * 246 + '.png'  # legal (255 is the limit); the temporary name used to be 18 characters longer
    (tmp_path / 'a.png').write_bytes(rgb_png(seed=1))
    rc, _, err = run_cli('upscale', '-i', tmp_path / 'a.png', '-o', tmp_path / name, '--weights', tiny_weights)
    assert rc == 0 and (tmp_path / name).is_file() and temporaries(tmp_path) == [], err


def test_a_folder_where_an_output_goes_is_a_failure_not_a_skip(tiny_weights, tmp_path):
    (tmp_path / 'in').mkdir()
    for name in ('a.png', 'b.png'):
        (tmp_path / 'in' / name).write_bytes(rgb_png(seed=1))
    (tmp_path / 'out' / 'a.png').mkdir(parents=True)
    rc, out, err = run_cli('upscale', '-i', tmp_path / 'in', '-o', tmp_path / 'out', '--weights', tiny_weights)
    assert rc == 1 and '1 upscaled, 0 skipped (output exists), 1 failed' in out
    assert (
        err == f'alkdsr upscale: error: {tmp_path / "out" / "a.png"}: a folder is where the output of '
        f'{tmp_path / "in" / "a.png"} would go\n'
    )


def test_prepare_into_a_folder_it_cannot_make_is_one_line(tmp_path):
    (tmp_path / 'hr').mkdir()
    for name in ('a.png', 'b.png'):
        (tmp_path / 'hr' / name).write_bytes(rgb_png(seed=1))
    (tmp_path / 'file').write_text('a file, not a folder')
    rc, _, err = run_cli('prepare', tmp_path / 'hr', tmp_path / 'file' / 'out', '--scales', 2, '--workers', 1)
    assert (
        rc == 2 and err == f'alkdsr prepare: error: {tmp_path / "file" / "out"}: cannot write there (Not a directory)\n'
    )


@pytest.mark.parametrize(
    'argv, message',
    [
        (('profile', '--size', '100000x100000'), '--size 100000x100000: more than 89,478,485 output pixels'),
        (('export', '--weights', '{weights}', '-o', '{tmp}/x.onnx', '--opset', '99'),
         '--opset 99: this PyTorch exports opsets 17 to'),
        (('export', '--weights', '{weights}', '-o', '{tmp}/x.onnx', '--opset', '5'),
         '--opset 5: opset 17 or later is needed'),
    ],
)  # fmt: skip
def test_limits_are_one_line(argv, message, tiny_weights, tmp_path):
    rc, _, err = run_cli(*(a.format(weights=tiny_weights, tmp=tmp_path) for a in argv))
    assert rc == 2 and err.count('\n') == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_benchmark_with_one_unwritable_image_still_reports(tiny_weights, tmp_path):
    for name in ('a', 'b'):
        (tmp_path / 'data' / 'set').mkdir(parents=True, exist_ok=True)
        (tmp_path / 'data' / 'set' / f'{name}.png').write_bytes(rgb_png(40, 40, seed=ord(name)))
    (tmp_path / 'sr' / 'set' / 'x2' / 'a.png').mkdir(parents=True)  # a folder where the image of a would go
    report = tmp_path / 'r.json'
    rc, out, err = run_cli(
        'benchmark', '--weights', tiny_weights, '--data-root', tmp_path / 'data', '--sets', 'set', '--device', 'cpu',
        '--json', report, '--save-images', tmp_path / 'sr',
    )  # fmt: skip
    assert rc == 2 and err.startswith(
        f'alkdsr benchmark: error: {tmp_path / "sr" / "set" / "x2" / "a.png"}: cannot write'
    )
    assert err.count('\n') == 1 and re.search(r'^set +2 ', out, flags=re.M)  # both scored, the table printed
    result = json.loads(report.read_text())['sets']['set']
    assert set(result['per_image']) == {'a', 'b'} and len(result['failures']) == 1
    assert (tmp_path / 'sr' / 'set' / 'x2' / 'b.png').is_file() and temporaries(tmp_path) == []


def test_a_full_disk_at_a_training_save_is_one_line(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes every write past 4 KiB fail as a full disk does."""
    import subprocess

    code = (
        'import resource, signal, sys, torch\n'
        'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n'
        'resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n'
        'from alkdsr.zoo.checkpoint import atomic_torch_save\n'
        'try:\n'
        '    atomic_torch_save({"w": torch.zeros(10000)}, sys.argv[1])\n'
        'except OSError as e:\n'
        '    print("OSError", e)\n'
    )
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'net_g_5.pth')], capture_output=True, text=True,
                          env={**env(), 'PYTHONPATH': str(ROOT)}, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith('OSError torch.save could not write'), failure(proc)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- class 7: BasicSR's own load paths


class WritesAFile:
    """A pickle that, if loaded unsafely, creates the file ``path`` (harmless proof that code ran)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), 'w'))


def test_srmodel_resume_loads_safely_whatever_the_environment_says(pairs, tmp_path, monkeypatch, fresh_basicsr_logger):
    """model_type: SRModel and --auto_resume: BasicSR's load_network with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    opt = train_options('unsafe', *_dirs(pairs), total_iter=4, save_freq=2)
    opt['model_type'] = 'SRModel'
    opt['network_g']['num_block'] = 1
    models, states = experiment(tmp_path, 'unsafe') / 'models', experiment(tmp_path, 'unsafe') / 'training_states'
    models.mkdir(parents=True), states.mkdir()
    marker = tmp_path / 'code_ran'
    torch.save({'params': {'fuse.weight': WritesAFile(marker)}}, models / 'net_g_2.pth')
    torch.save({'iter': 2, 'epoch': 0, 'optimizers': [], 'schedulers': []}, states / '2.state')
    option_file = write_options(opt, tmp_path / 'unsafe.yml')
    rc, err = _run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and not marker.exists(), err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f'alkdsr-train: error: {models / "net_g_2.pth"}: refused, the checkpoint holds objects')


@pytest.mark.parametrize('kind', ['test', 'train'])
def test_a_crafted_pretrain_network_of_an_srmodel_is_refused(kind, pairs, tiny_x4, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'code_ran'
    crafted = tmp_path / 'crafted.pth'
    torch.save({'params': {'fuse.weight': WritesAFile(marker)}}, crafted)
    opt = train_options('unsafe', *_dirs(pairs)) if kind == 'train' else _test_options(*_dirs(pairs), tiny_x4)
    opt['model_type'] = 'SRModel'
    opt['network_g']['num_block'] = 1
    opt['path']['pretrain_network_g'] = str(crafted)
    rc, err = _run_in_process(kind, tmp_path, write_options(opt, tmp_path / 'opt.yml'), monkeypatch)
    assert rc == 2 and f'{crafted}: refused, the checkpoint holds objects' in err and not marker.exists(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['crafted.pth', 'opt.yml']


# ---------------------------------------------------------------- class 13: say what was not done


def test_a_text_file_as_the_newest_state_is_one_line_and_changes_nothing(
    pairs, tmp_path, monkeypatch, fresh_basicsr_logger
):
    opt = train_options('noted', *_dirs(pairs), total_iter=2, save_freq=1)
    opt['network_g']['num_block'] = 1
    folder = experiment(tmp_path, 'noted')
    (folder / 'models').mkdir(parents=True)
    (folder / 'training_states').mkdir()
    state = folder / 'training_states' / '5.state'
    state.write_text('iteration 5: loss 0.031\n')  # a note where the newest state should be
    option_file = write_options(opt, tmp_path / 'opt.yml')

    def files():  # the lock file names whichever run holds it, this one too
        return {path: digest for path, digest in fingerprint(tmp_path).items() if not path.endswith('.lock')}

    before = files()
    rc, err = _run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and err == f'alkdsr-train: error: {state}: {UNDONE_MISTAKES["text file as .state"].expect}\n', err
    assert files() == before  # nothing archived, no option file copied, no log


CLI = 'import sys; from alkdsr.cli import main; sys.exit(main())'  # the console script, as a command line

# A sitecustomize that holds the first import of torch for 30 s, after a line on stderr: a Ctrl-C sent after
# that line comes while the command is still importing. Another sitecustomize it hides runs too.
_SLOW_TORCH = """
import importlib.machinery
import importlib.util
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))


class _SlowTorch:
    def find_spec(self, name, path=None, target=None):
        if name == 'torch':
            sys.meta_path.remove(self)
            sys.stderr.write('importing torch\\n')
            sys.stderr.flush()
            time.sleep(30)
        return None  # the usual finders import it


sys.meta_path.insert(0, _SlowTorch())
_other = importlib.machinery.PathFinder.find_spec(
    'sitecustomize', [p for p in sys.path if os.path.abspath(p or '.') != _HERE]
)
if _other is not None:
    _other.loader.exec_module(importlib.util.module_from_spec(_other))
"""


def _interrupted_while_importing_torch(argv: list, cwd: Path) -> tuple[int, str]:
    """Run ``argv``, send SIGINT once it is importing torch; its status and what it wrote on stderr after that."""
    site = cwd / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(_SLOW_TORCH)
    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get('PYTHONPATH')]))
    proc = subprocess.Popen(
        [str(a) for a in argv],
        cwd=cwd,
        env={**env(), 'PYTHONPATH': pythonpath},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a process started in the background inherits SIGINT ignored, and Python then never raises
        # KeyboardInterrupt: the command gets the default handler, as in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        before = []
        while (line := proc.stderr.readline()) not in ('importing torch\n', ''):
            before.append(line)
        assert line, ''.join(before)  # it did reach torch
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.mark.parametrize('command', ['upscale', 'train.py'])
def test_ctrl_c_while_a_command_is_importing_is_one_line(command, tiny_weights, pairs, tmp_path):
    if command == 'upscale':
        (tmp_path / 'in.png').write_bytes(rgb_png())
        argv = [sys.executable, '-c', CLI, 'upscale', '-i', tmp_path / 'in.png', '-o', tmp_path / 'out']
        argv += ['--weights', tiny_weights]
        case, lines = UNDONE_MISTAKES['Ctrl-C while importing'], ('alkdsr: interrupted',)  # or before the command
    else:
        option_file = write_options(train_options('stopped', *_dirs(pairs)), tmp_path / 'opt.yml')
        argv = [sys.executable, TRAIN_PY, '-opt', option_file]
        case, lines = UNDONE_MISTAKES['Ctrl-C while train.py imports'], ()
    rc, err = _interrupted_while_importing_torch(argv, tmp_path)
    assert rc == 130 and 'Traceback' not in err, err
    assert err.count('\n') == 1 and err.strip() in (case.expect, *lines), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['site', 'in.png' if command == 'upscale' else 'opt.yml']
    )


def test_prepare_with_workers_ends_without_a_message_from_them(tmp_path):
    """pool.terminate() sent SIGTERM to workers already on their way out: 'Exception ignored ... SystemExit'."""
    hr = tmp_path / 'hr'
    hr.mkdir()
    for seed in range(4):
        (hr / f'im{seed}.png').write_bytes(rgb_png(seed=seed))
    case = UNDONE_MISTAKES["prepare's message at exit"]
    for run in range(3):  # a race between the pool's end and the workers' exit: a few tries
        argv = [sys.executable, '-c', CLI, 'prepare', hr, tmp_path / f'out{run}', '--scales', '2', '--workers', '2']
        done = subprocess.run(
            [str(a) for a in argv], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0 and case.expect in done.stdout, done.stdout + done.stderr
        assert 'Exception ignored' not in done.stderr and 'SystemExit' not in done.stderr, done.stderr


# ---------------------------------------------------------------- a bug of ours is not a user error


def test_a_bug_in_alkdsr_keeps_its_traceback(tiny_weights, pairs, tmp_path, monkeypatch):
    """User errors are one line; an exception that is not an AlkdsrError (a bug) propagates with its traceback."""
    import alkdsr.cli.profile
    import alkdsr.metrics.complexity
    import alkdsr.options.schema

    class BrokenTree:
        model_validate = staticmethod(lambda *args, **kwargs: 1 / 0)

    def broken(*args, **kwargs):
        return 1 / 0

    rc, _, err = run_cli('profile', '--weights', tmp_path / 'missing.pth')
    assert rc == 2 and err.count('\n') == 1  # the user's mistake
    monkeypatch.setattr(alkdsr.metrics.complexity, 'count_params', broken)  # profile loads it when it runs
    with pytest.raises(ZeroDivisionError):
        run_cli('profile', '--weights', tiny_weights, '--size', '8x8', '--runs', 1, '--warmup', 0)
    monkeypatch.setattr(alkdsr.options.schema, 'TrainOptions', BrokenTree())
    option_file = write_options(train_options('bug', *_dirs(pairs)), tmp_path / 'bug.yml')
    with pytest.raises(ZeroDivisionError):
        _run_in_process('train', tmp_path, option_file, monkeypatch)


# ---------------------------------------------------------------- docs/robustness.md says what the corpus holds


@pytest.mark.docs
def test_the_mistakes_table_is_the_corpus():
    text = (ROOT / 'docs' / 'robustness.md').read_text()
    section = text[text.index('## Mistakes, by class') :]
    rows = re.findall(r'^\| (\d+) \| `([^`]+)` \| (.+?) \| (yes|new) \| `(.+?)` \|$', section, flags=re.M)
    documented = {name: (int(klass), what, listed == 'yes', expect) for klass, name, what, listed, expect in rows}
    mistakes = [m for m, _ in OUTPUT_IS_INPUT.values()] + [entry[0] for entry in OPTION_MISTAKES.values()]
    mistakes += [entry[0] for entry in (*OUTPUT_PLACES.values(), *OPTION_FILE_MISTAKES.values())]
    mistakes += [*CHECKPOINT_MISTAKES.values(), *RUN_FOLDER_MISTAKES.values()]
    corpus = {m.name: m for m in mistakes + [*DOWNLOAD_MISTAKES.values(), *UNDONE_MISTAKES.values()]}
    assert set(documented) == set(corpus)
    for name, m in corpus.items():
        assert documented[name] == (m.klass, m.what, m.listed, m.expect), name
    for klass in (*range(1, 6), *range(8, 14)):
        new = [m for m in corpus.values() if m.klass == klass and not m.listed]
        assert len(new) >= 2, klass  # at least two cases of each class beyond the reported ones
