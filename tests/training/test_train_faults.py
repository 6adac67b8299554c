"""Training under faults: SIGTERM saves and stops, SIGKILL at random moments loses nothing, seeds repeat.

Each run is alkdsr/train.py in a subprocess on a tiny ALKDNet x4 (16 channels, 1 block) on the CPU.
NaN/Inf losses are covered in test_train.py, bad data and checkpoints in tests/reliability (test_training_data.py,
test_checkpoints.py).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_utils import (
    SCALE,
    TRAIN_PY,
    checkpoints,
    env,
    experiment,
    failure,
    logged_iterations,
    make_pairs,
    run_train,
    states,
    train_logs,
    train_options,
    write_options,
)

import alkdsr
from alkdsr.training.states import read_training_state
from alkdsr.zoo.checkpoint import read_checkpoint


@pytest.fixture(scope='module')
def pairs(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp('pairs'))


def tiny_options(pairs: Path, name: str, total_iter: int, save_freq: int, **dataset) -> dict:
    opt = train_options(name, pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', total_iter, save_freq)
    opt['network_g']['num_block'] = 1
    opt['datasets']['train'].update(dataset)
    return opt


def start(cwd: Path, option_file: Path, *flags: str) -> subprocess.Popen:
    """alkdsr/train.py in its own process group (so the group can be signalled, as a scheduler does)."""
    cmd = [sys.executable, str(TRAIN_PY), '-opt', str(option_file), *flags]
    return subprocess.Popen(
        cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f'training ended before {what}: {proc.stderr.read()[-2000:]}'
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.05)


def log_files(cwd: Path, name: str) -> set[Path]:
    return set(experiment(cwd, name).glob(f'train_{name}_*.log'))


def new_log(cwd: Path, name: str, before: set[Path]) -> str:
    """The text of the training log that is not among ``before`` (the one the latest run writes), or ''."""
    new = log_files(cwd, name) - before
    assert len(new) <= 1, new
    return new.pop().read_text() if new else ''


def resumed_from(log: str) -> int | None:
    found = re.search(r'Resuming training from epoch: \d+, iter: (\d+)\.', log)
    return int(found[1]) if found else None


def test_sigterm_saves_the_last_iteration_and_auto_resume_continues(pairs, tmp_path):
    """SIGTERM to the process group (trainer and DataLoader worker): state saved, one line, exit 143."""
    opt = tiny_options(pairs, 'term', total_iter=100_000, save_freq=100_000, num_worker_per_gpu=1)
    option_file = write_options(opt, tmp_path / 'term.yml')
    proc = start(tmp_path, option_file)
    try:
        wait_for(lambda: len(logged_iterations(new_log(tmp_path, 'term', set()))) >= 5, proc, '5 iterations')
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(r'alkdsr-train: stopped by SIGTERM after iteration (\d+): saved (\S+) and (\S+); '
                         r'resume with --auto_resume', last)  # fmt: skip
    assert match, last
    stopped = int(match[1])
    models, training_states = experiment(tmp_path, 'term') / 'models', experiment(tmp_path, 'term') / 'training_states'
    assert (match[2], match[3]) == (str(models / f'net_g_{stopped}.pth'), str(training_states / f'{stopped}.state'))
    assert 'Traceback' not in stderr
    log = train_logs(tmp_path, 'term')[0]
    assert logged_iterations(log) == list(range(1, stopped + 1))  # iteration `stopped` finished, none after it
    assert set(checkpoints(tmp_path, 'term')) == {f'net_g_{stopped}'} and states(tmp_path, 'term') == [stopped]
    state = read_training_state(training_states / f'{stopped}.state')
    assert state['iter'] == stopped and len(state['optimizers']) == 1
    assert alkdsr.load_model(models / f'net_g_{stopped}.pth').upscale == SCALE

    resumed = run_train(tmp_path, option_file, '--auto_resume', '--force_yml', f'train:total_iter={stopped + 3}')
    assert resumed.returncode == 0, failure(resumed)
    log = train_logs(tmp_path, 'term')[-1]
    assert resumed_from(log) == stopped
    assert logged_iterations(log) == [stopped + 1, stopped + 2, stopped + 3]


def test_sigkill_at_ten_random_moments_loses_no_iteration(pairs, tmp_path):
    """One training run, killed 10 times at random moments and resumed with --auto_resume each time.

    After every kill the newest training state and the network of that iteration load, and the next run
    resumes exactly there: its log starts at that iteration + 1 and counts up without a gap or a repeat.
    """
    rng = random.Random(20260)
    opt = tiny_options(pairs, 'kill', total_iter=100_000, save_freq=3, gt_size=32)
    option_file = write_options(opt, tmp_path / 'kill.yml')
    checked: set[Path] = set()
    resume_point, history = 0, []
    for kill in range(10):
        before = log_files(tmp_path, 'kill')
        proc = start(tmp_path, option_file, *(['--auto_resume'] if kill else []))
        try:
            wait_for(lambda known=before: logged_iterations(new_log(tmp_path, 'kill', known)), proc, 'an iteration')
            if kill == 0:  # a state to resume from: otherwise the next run would start a new experiment
                wait_for(lambda: states(tmp_path, 'kill'), proc, 'the first training state')
            time.sleep(rng.uniform(0.2, 2.5))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log = new_log(tmp_path, 'kill', before)
        assert resumed_from(log) == (resume_point or None), kill
        logged = logged_iterations(log)
        assert logged == list(range(resume_point + 1, resume_point + 1 + len(logged))), kill  # no gap, no repeat

        newest = max(states(tmp_path, 'kill'))
        assert resume_point <= newest <= logged[-1] and newest % 3 == 0, (kill, newest, logged[-1])
        state = read_training_state(experiment(tmp_path, 'kill') / 'training_states' / f'{newest}.state')
        assert state['iter'] == newest
        net = alkdsr.load_model(checkpoints(tmp_path, 'kill')[f'net_g_{newest}'])
        assert all(torch.isfinite(p).all() for p in net.parameters())
        for path in set(checkpoints(tmp_path, 'kill').values()) - checked:  # every network file on disk is whole
            read_checkpoint(path)
            checked.add(path)
        history.append((resume_point, logged[-1], newest))
        resume_point = newest

    print('\nSIGKILL runs (resumed from, last logged iteration, newest state):', history)
    temporaries = [p for p in experiment(tmp_path, 'kill').rglob('.*') if '.tmp' in p.name]
    print(f'temporary files left by the kills: {len(temporaries)}')
    # as a kill in the middle of a save leaves it (alkdsr.files.fileio.atomic_path's name for the file being written)
    planted = experiment(tmp_path, 'kill') / 'models' / f'.net_g_{resume_point + 3}.pth.k1ll3d.tmp.pth'
    planted.write_bytes(checkpoints(tmp_path, 'kill')[f'net_g_{resume_point}'].read_bytes()[:1000])
    temporaries.append(planted)
    before = log_files(tmp_path, 'kill')
    final = run_train(tmp_path, option_file, '--auto_resume', '--force_yml', f'train:total_iter={resume_point + 3}')
    assert final.returncode == 0, failure(final)
    log = new_log(tmp_path, 'kill', before)
    assert resumed_from(log) == resume_point and logged_iterations(log) == [resume_point + i for i in (1, 2, 3)]
    assert all(not p.exists() for p in temporaries)  # files half-written at a kill are removed on resume
    assert max(states(tmp_path, 'kill')) == resume_point + 3


def _first_losses(log: str) -> list[str]:
    return re.findall(r'l_pix: (\S+)', log)


def test_the_same_seed_gives_the_same_first_losses(pairs, tmp_path):
    runs = {}
    for name, seed in (('seed7_a', 7), ('seed7_b', 7), ('seed8', 8)):
        opt = tiny_options(pairs, name, total_iter=4, save_freq=4)
        opt['manual_seed'] = seed
        proc = run_train(tmp_path, write_options(opt, tmp_path / f'{name}.yml'))
        assert proc.returncode == 0, failure(proc)
        (log,) = train_logs(tmp_path, name)
        runs[name] = (_first_losses(log), read_checkpoint(checkpoints(tmp_path, name)['net_g_4'])[0])
    (losses_a, net_a), (losses_b, net_b), (losses_8, _) = runs['seed7_a'], runs['seed7_b'], runs['seed8']
    assert len(losses_a) == 4 and losses_a == losses_b  # the logged values, digit for digit
    assert all(torch.equal(net_a[k], net_b[k]) for k in net_a)  # and the weights after 4 steps, bit for bit
    assert losses_8[0] != losses_a[0]  # another seed draws other patches: the comparison can fail


def test_sigterm_outside_the_loop_stops_at_once_and_a_second_one_ends_the_process():
    """Before the first iteration and from the last one on there is no boundary to wait for; twice is now."""
    script = """
import os, signal, sys
from alkdsr.errors import TrainingStopped
from alkdsr.training.stopping import AFTER_LOOP, IN_LOOP, StopRequests
with StopRequests().on_sigterm():
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # datasets being checked, say
        print('not stopped')
    except TrainingStopped as e:
        print(e)
with StopRequests().on_sigterm() as stop:
    stop.phase = IN_LOOP
    os.kill(os.getpid(), signal.SIGTERM)  # mid-iteration: only noted
    print('requested', stop.requested is not None)
    stop.phase = AFTER_LOOP
    os.kill(os.getpid(), signal.SIGTERM)  # the second: the default action, the process ends
    print('survived a second SIGTERM')
"""
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120, env=env())
    assert proc.returncode == -signal.SIGTERM, failure(proc)
    assert proc.stdout.splitlines() == [
        'stopped by SIGTERM before the first iteration: nothing saved now (the checkpoints on disk are complete); '
        'resume with --auto_resume',
        'requested True',
    ]


def test_resuming_past_the_end_of_the_restored_schedule_is_one_line(pairs, tmp_path):
    """The schedule comes back from the training state: a longer total_iter would fail in BasicSR's scheduler."""
    option_file = write_options(tiny_options(pairs, 'short', total_iter=2, save_freq=2), tmp_path / 'short.yml')
    assert run_train(tmp_path, option_file).returncode == 0
    longer = ['train:total_iter=4', 'train:scheduler:periods=[4]']
    proc = run_train(tmp_path, option_file, '--auto_resume', '--force_yml', *longer)
    state = experiment(tmp_path, 'short') / 'training_states' / '2.state'
    assert proc.returncode == 2, failure(proc)
    assert proc.stderr.strip().splitlines() == [
        f'alkdsr-train: error: train: total_iter 4 is past the end of the learning-rate schedule restored from '
        f'{state} (iteration 2); resume with total_iter <= 2, or start a new run from its network '
        '(path: pretrain_network_g) with a longer schedule'
    ]
