"""Run folders: one run per experiment folder, and a folder archived or resumed only when that is safe.

A second train.py run of a name is refused naming the first, which goes on; the lock a killed run left is
taken over; a run that would archive its folder is refused when one of its inputs lies in it; a refused
``--auto_resume`` leaves the folder as it was; a run whose experiments/ or results/ cannot be made is one
line. The concurrency cases run real train.py processes.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from corpus import RUN_FOLDER_MISTAKES
from train_utils import experiment, failure, run_train, start_train, train_options, write_options

from .helpers import eval_options, fingerprint, pair_dirs, run_in_process


@pytest.mark.parametrize('kind', ['train', 'test'])
def test_a_run_where_its_folder_cannot_be_made_is_one_line(kind, pairs, tiny_x4, tmp_path, monkeypatch):
    case = RUN_FOLDER_MISTAKES['experiments is a file' if kind == 'train' else 'results is a file']
    cwd = tmp_path / 'run'
    cwd.mkdir()
    (cwd / ('experiments' if kind == 'train' else 'results')).write_text('a file where the folder goes')
    opt = train_options('blocked', *pair_dirs(pairs)) if kind == 'train' else eval_options(*pair_dirs(pairs), tiny_x4)
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process(kind, cwd, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1 and case.expect.format(cwd=cwd) in err, err
    assert fingerprint(tmp_path) == before


def _wait_for(predicate, seconds: float = 120) -> None:
    import time

    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, 'timed out'
        time.sleep(0.2)


def _long_run(pairs: Path, name: str) -> dict:
    opt = train_options(name, *pair_dirs(pairs), total_iter=2000, save_freq=1000)
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
    opt = train_options('killed', *pair_dirs(pairs), total_iter=2, save_freq=1)
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
    opt = train_options('again', *pair_dirs(pairs))
    if where == 'pretrain_network_g':
        case = RUN_FOLDER_MISTAKES['pretrain_network_g in the archived folder']
        (folder / 'models').mkdir(parents=True)
        shutil.copy(tiny_x4, folder / 'models' / 'net_g_1.pth')
        opt['network_g'].update(num_feat=16, num_block=1)
        opt['path']['pretrain_network_g'] = str(folder / 'models' / 'net_g_1.pth')
    else:
        case = RUN_FOLDER_MISTAKES['dataroot in the archived folder']
        shutil.copytree(pair_dirs(pairs)[1], folder / 'LR')
        opt['datasets']['train']['dataroot_lq'] = str(folder / 'LR')
    option_file = write_options(opt, tmp_path / 'opt.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1 and case.expect.format(folder=folder) in err, err
    assert fingerprint(tmp_path) == before  # the folder neither archived nor changed


def test_a_refused_auto_resume_leaves_the_folder_as_it_was(pairs, tmp_path, monkeypatch, fresh_basicsr_logger):
    opt = train_options('resumed', *pair_dirs(pairs), total_iter=2, save_freq=1)
    opt['network_g']['num_block'] = 1
    done = run_train(tmp_path, write_options(opt, tmp_path / 'opt.yml'))
    assert done.returncode == 0, failure(done)
    opt['network_g']['num_feat'] = 24  # not the network the saved iteration holds
    option_file = write_options(opt, tmp_path / 'changed.yml')

    def files():  # the lock file names whichever run holds it, this one too
        return {path: digest for path, digest in fingerprint(tmp_path).items() if not path.endswith('.lock')}

    before = files()
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and err.count('\n') == 1, err
    assert RUN_FOLDER_MISTAKES['refused --auto_resume'].expect in err, err
    assert files() == before  # no new option file, no log
