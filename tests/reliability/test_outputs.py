"""Outputs: one that is an input, one that cannot be written, how files are saved, what a failed write leaves.

An output that is one of the command's inputs (by any spelling, a symlink, a hard link) and an output whose
place cannot be written (a folder at its name, a path under a regular file, a read-only file system) are
one line before any work, nothing written and the inputs unchanged; what only the write meets (a full
disk, a file-size limit) is one line naming the file, its temporary file removed. Saving writes a temporary
file, syncs it, renames it and syncs the folder, a training save the network before its state. What a
killed run left is removed by the next, any legal name can be written, and one output that cannot be
written fails alone.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from corpus import OUTPUT_IS_INPUT, OUTPUT_PLACES, rgb_png
from train_utils import env, failure, train_options

import alkdsr
from alkdsr.archs import ALKDNet
from alkdsr.zoo.checkpoint import save_checkpoint

from .helpers import fingerprint, pair_dirs, run_cli


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob('*') if '.tmp' in p.name)


# ---------------------------------------------------------------- outputs that are inputs


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


# ---------------------------------------------------------------- outputs that cannot be written


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


# ---------------------------------------------------------------- saving: temporary file, fsync, rename


def _record_saving(monkeypatch) -> list[tuple]:
    import alkdsr.files.fileio as fileio

    calls: list[tuple] = []
    real_fsync, real_replace = fileio.os.fsync, fileio.os.replace

    def fsync(fd):
        calls.append(('fsync', Path(os.readlink(f'/proc/self/fd/{fd}')).name))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(('rename', Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, 'fsync', fsync)
    monkeypatch.setattr(fileio.os, 'replace', replace)
    return calls


@pytest.mark.parametrize('writer', ['save_checkpoint', 'training state'])
def test_saving_writes_a_temporary_file_syncs_it_then_renames_it(writer, tmp_path, monkeypatch):
    from alkdsr.training.states import read_training_state
    from alkdsr.zoo.checkpoint import atomic_torch_save

    calls = _record_saving(monkeypatch)
    target = tmp_path / ('net.pth' if writer == 'save_checkpoint' else '6.state')
    if writer == 'save_checkpoint':
        save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=1), target)
        alkdsr.load_model(target)
    else:
        atomic_torch_save({'iter': 6, 'epoch': 1, 'optimizers': [], 'schedulers': []}, target)
        assert read_training_state(target)['iter'] == 6
    (fsync_file, temp), (rename, src, dst), (fsync_dir, folder) = calls
    assert (fsync_file, rename, fsync_dir) == ('fsync', 'rename', 'fsync')
    assert temp == src and src.startswith(f'.{target.name}.') and '.tmp' in src and dst == target.name
    assert folder == tmp_path.name  # the rename itself is made durable
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_training_save_writes_the_network_before_its_state(pairs, tmp_path, monkeypatch):
    """After a kill between the two renames, the newest ``<iter>.state`` still has its ``net_g_<iter>.pth``."""
    from basicsr.models import build_model

    calls = _record_saving(monkeypatch)
    opt = train_options('order', *pair_dirs(pairs), total_iter=4)
    opt['network_g']['num_block'] = 1
    models, states = tmp_path / 'models', tmp_path / 'training_states'
    models.mkdir(), states.mkdir()
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0)
    opt['path'].update(models=str(models), training_states=str(states), experiments_root=str(tmp_path))
    model = build_model(opt)
    model.save(0, 3)
    renamed = [dst for kind, *names in calls if kind == 'rename' for dst in names[1:]]
    assert renamed == ['net_g_3.pth', '3.state']
    params, arch = alkdsr.zoo.checkpoint.read_checkpoint(models / 'net_g_3.pth')
    assert arch['num_block'] == 1 and params.keys() == model.net_g.state_dict().keys()


# ---------------------------------------------------------------- leftovers and misleading messages


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
