"""Resuming from a state that cannot be resumed: one line before anything is written, nothing changed.

A state of another network, ``--auto_resume`` beside ``path: resume_state`` in a fresh folder, a file
where the training states go: BasicSR trained from iteration 1, archived the experiment, or failed inside
Adam once the log had started.
"""

from __future__ import annotations

import copy

from train_utils import failure, run_train, train_options, with_changes, write_options

from .helpers import fingerprint, pair_dirs, run_in_process


def _run(opt: dict, tmp_path, name: str):
    opt = with_changes(opt, name=name)
    proc = run_train(tmp_path, write_options(opt, tmp_path / f'{name}.yml'))
    assert proc.returncode == 0, failure(proc)
    return tmp_path / 'experiments' / name


def test_a_state_of_another_network_is_refused_before_the_log(pairs, tmp_path, monkeypatch):
    """The network file of the iteration is this run's own; the optimizer's state is another network's."""
    opt = train_options('mine', *pair_dirs(pairs), total_iter=2, save_freq=2)
    opt['network_g']['num_block'] = 1
    theirs = copy.deepcopy(opt)
    theirs['network_g']['num_feat'] = 20
    other = _run(theirs, tmp_path, 'theirs')
    _run(opt, tmp_path, 'mine')
    state = other / 'training_states' / '2.state'
    option_file = write_options(with_changes(opt, path={'resume_state': str(state)}), tmp_path / 'resume.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch)
    assert rc == 2 and err.count('\n') == 1, err
    assert f'{state}: written by another network than network_g (its parameter ' in err
    assert fingerprint(tmp_path) == before  # no log, no option copy, nothing archived


def test_auto_resume_beside_a_resume_state_in_a_fresh_folder_resumes_or_says_why(pairs, tmp_path, monkeypatch):
    """BasicSR ignored ``resume_state`` under --auto_resume and trained from iteration 1; the run now resumes
    from it, and here says that the network of that iteration is not where BasicSR loads it from."""
    opt = train_options('first', *pair_dirs(pairs), total_iter=2, save_freq=2)
    opt['network_g']['num_block'] = 1
    first = _run(opt, tmp_path, 'first')
    state = first / 'training_states' / '2.state'
    option_file = write_options(with_changes(opt, name='fresh', path={'resume_state': str(state)}), tmp_path / 'f.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    fresh_models = tmp_path / 'experiments' / 'fresh' / 'models'
    assert rc == 2 and err.count('\n') == 1, err
    assert err.strip().endswith(f'{fresh_models / "net_g_2.pth"}: missing, cannot resume from {state} without the '
                                'network of that iteration')  # fmt: skip
    assert fingerprint(tmp_path) == before and not (tmp_path / 'experiments' / 'fresh').exists()


def test_a_file_where_the_training_states_go_is_refused(pairs, tmp_path, monkeypatch):
    """BasicSR found no state in it, archived the experiment and started afresh."""
    opt = train_options('run', *pair_dirs(pairs), total_iter=2, save_freq=2)
    opt['network_g']['num_block'] = 1
    folder = tmp_path / 'experiments' / 'run'
    folder.mkdir(parents=True)
    (folder / 'training_states').write_text('not a folder\n')
    option_file = write_options(opt, tmp_path / 'run.yml')
    before = fingerprint(tmp_path)
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and err == (
        f'alkdsr-train: error: {folder / "training_states"}: a file where --auto_resume looks for the training '
        'states; move it away\n'
    ), err
    assert fingerprint(tmp_path) == before
