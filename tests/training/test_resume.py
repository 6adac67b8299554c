"""A resumed run is the run it interrupted: the same weights, EMA weights, optimizer, losses, learning rates
and validation scores, bit for bit on the CPU with one thread.

Each case trains a tiny ALKDNet x4 through alkdsr/train.py on 15 pairs of 48x48 HR / 12x12 LR images
with random 32x32 crops, flips, rotations and shuffling, batch 5 (3 iterations an epoch), EMA decay
0.9, 24 iterations with a checkpoint every 4 and a validation every 6 (so a checkpoint falls in the
middle of an epoch, at 8, and at the end of one, at 12), once with ``num_worker_per_gpu: 0`` and cosine
annealing with restarts, once with 2 workers and ``MultiStepRestartLR`` with a restart, both with a
warm-up. The uninterrupted run is the reference; each interrupted run continues with
``--auto_resume`` from a copy of the reference's experiment folder as it stood after the checkpoint
(what a run killed after that save leaves), or after a SIGTERM to the whole process group (trainer
and workers) during training. Every later checkpoint (``params`` and ``params_ema``), training state
(optimizer, scheduler, the loader's resume points), log line (epoch, iteration, learning rate, loss) and
validation block (scores and bests) must equal the reference's. The logged learning rate of every
iteration, before and after the resume, must equal the schedule's closed form, computed here from its
definition (BasicSR's scheduler classes are not used).

Measured: all cases equal to the last bit; the 2-worker reference takes 12 s, a resumed run 8 s.

Mutations, applied by hand one at a time to alkdsr/ and reverted, with the default-suite tests of this
file, tests/data/test_resumable_loader.py and tests/training/test_train_ranks.py that failed:

- ``resume_training`` not called (``ALKDSRModel.resume_training`` returns at once): 9 - every resume
  here (checkpoint, SIGTERM, both cases), the two "as BasicSR does" lines, and the ranks' resume;
- the scheduler state not restored (only the optimizers loaded): 7 - every exact resume here and
  the ranks' resume;
- the EMA copy not restored (``model_ema(0)`` after resuming): 6 - every exact resume here;
- validation with the raw weights (``test()`` uses ``net_g``): 1 - ``test_validation_scores_the_ema_weights``;
- gradients not averaged across ranks (no DistributedDataParallel): 2 - both tests of test_train_ranks.py;
- the sampler position not restored (the saved loader state not loaded): 22 - every exact resume
  here, the ranks' resume and 15 of the 16 loader cases (the one left: a stop after an epoch's last
  batch, whose point is the next epoch's start);
- the workers' random state not restored (``WorkerRandomState.load_state_dict`` does nothing): 6 -
  the 2-worker mid-epoch and SIGTERM resumes here, and the four 2-worker mid-epoch loader cases.
"""

from __future__ import annotations

import math
import os
import re
import shutil
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
    experiment,
    failure,
    make_patch_pairs,
    train_logs,
    train_options,
    write_options,
)

from alkdsr.training.states import read_training_state

TOTAL, SAVE_FREQ, VAL_FREQ = 24, 4, 6
LR = 1e-3
COSINE = {
    'type': 'CosineAnnealingRestartLR',
    'periods': [10, 14],
    'restart_weights': [1, 0.5],
    'eta_min': 1e-7,
}
MULTISTEP = {
    'type': 'MultiStepRestartLR',
    'milestones': [6, 15, 20],
    'gamma': 0.5,
    'restarts': [12],
    'restart_weights': [0.5],
}
WARMUP = 4
CASES = {'workers0-cosine': (0, COSINE, False), 'workers2-multistep': (2, MULTISTEP, True)}  # True: deterministic


def closed_form_lr(iteration: int, schedule: dict) -> float:
    """The learning rate of ``iteration`` (1-based) by the definitions: linear warm-up to LR over WARMUP
    iterations, then the scheduler after ``iteration - 1`` steps."""
    if iteration < WARMUP:
        return LR * iteration / WARMUP
    step = iteration - 1
    if schedule['type'] == 'CosineAnnealingRestartLR':
        start = 0
        for period, weight in zip(schedule['periods'], schedule['restart_weights']):
            if step <= start + period:
                eta = schedule['eta_min']
                return eta + weight * (LR - eta) * (1 + math.cos(math.pi * (step - start) / period)) / 2
            start += period
        raise ValueError(f'step {step} is past the schedule')
    restarts = [(r, w) for r, w in zip(schedule['restarts'], schedule['restart_weights']) if r <= step]
    since, weight = restarts[-1] if restarts else (0, 1.0)
    decays = sum(1 for m in schedule['milestones'] if since < m <= step)
    return LR * weight * schedule['gamma'] ** decays


# ----------------------------------------------------------------------------------------------- runs
def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    return e


def train(cwd: Path, option_file: Path, *flags: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TRAIN_PY), '-opt', str(option_file), *flags]
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def pairs(tmp_path_factory) -> Path:
    return make_patch_pairs(tmp_path_factory.mktemp('pairs'))


@pytest.fixture(scope='module', params=list(CASES))
def reference(request, pairs, tmp_path_factory) -> tuple[Path, Path, dict]:
    """The uninterrupted run: (its working directory, its option file, its schedule)."""
    workers, schedule, deterministic = CASES[request.param]
    cwd = tmp_path_factory.mktemp(request.param)
    opt = train_options('run', pairs / 'HR', pairs / 'LR_bicubic' / f'X{SCALE}', TOTAL, SAVE_FREQ, VAL_FREQ)
    opt['network_g']['num_block'] = 1
    opt['datasets']['train'].update(gt_size=32, batch_size_per_gpu=5, dataset_enlarge_ratio=1)
    opt['datasets']['train']['num_worker_per_gpu'] = workers
    opt['train'].update(ema_decay=0.9, warmup_iter=WARMUP, scheduler=schedule, deterministic=deterministic)
    opt['train']['optim_g']['lr'] = LR
    option_file = write_options(opt, cwd / 'run.yml')
    proc = train(cwd, option_file)
    assert proc.returncode == 0, failure(proc)
    return cwd, option_file, schedule


def copy_as_stopped_after(reference: Path, iteration: int, cwd: Path) -> None:
    """The reference's experiment folder as a run killed right after saving ``iteration`` leaves it."""
    folder = experiment(cwd, 'run')
    shutil.copytree(experiment(reference, 'run'), folder)
    for log in folder.glob('*.log'):
        log.unlink()
    for path in [*(folder / 'models').iterdir(), *(folder / 'training_states').iterdir()]:
        number = re.search(r'(\d+|latest)\.(pth|state)$', path.name)[1]
        if number == 'latest' or int(number) > iteration:
            path.unlink()


# ------------------------------------------------------------------------------------------ the logs
def iteration_lines(log: str) -> dict[int, str]:
    """Each logged training iteration: ``{iter: 'epoch: E, iter: I, lr:(...)] l_pix: ...'}`` without timings."""
    found = {}
    for epoch, it, lr, losses in re.findall(r'\[epoch:\s*(\d+), iter:\s*([\d,]+), lr:\(([^)]*)\)\].*?\] (.*)', log):
        found[int(it.replace(',', ''))] = f'epoch {epoch}, lr ({lr}), {losses.strip()}'
    return found


def validations(log: str) -> list[str]:
    """Each validation's block of scores and bests, in log order."""
    return re.findall(r'Validation \S+\n((?:\t # \w+: .*\n)+)', log)


def logged_lrs(log: str) -> dict[int, float]:
    return {it: float(line.split('lr (')[1].split(',')[0]) for it, line in iteration_lines(log).items()}


def assert_closed_form(lrs: dict[int, float], schedule: dict) -> None:
    for iteration, lr in lrs.items():
        expected = closed_form_lr(iteration, schedule)
        assert lr == pytest.approx(expected, rel=6e-4), f'iteration {iteration}: logged lr {lr}, expected {expected}'


# ------------------------------------------------------------------------------------ the comparisons
def assert_same_checkpoint(a: Path, b: Path) -> None:
    first, second = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert first.keys() == second.keys()
    for key in {'params', 'params_ema'} & first.keys():
        assert first[key].keys() == second[key].keys()
        different = [n for n in first[key] if not torch.equal(first[key][n], second[key][n])]
        assert not different, f'{b.name} {key}: {len(different)} tensors differ from the reference, e.g. {different[0]}'


def assert_same_state(a: Path, b: Path) -> None:
    first, second = read_training_state(a), read_training_state(b)
    assert (first['epoch'], first['iter']) == (second['epoch'], second['iter'])
    assert same(first['optimizers'], second['optimizers']), f'{b.name}: optimizer state differs'
    assert same(first['schedulers'], second['schedulers']), f'{b.name}: scheduler state differs'
    assert same(first['data'], second['data']), f'{b.name}: the data position or a random state differs'
    assert same(first.get('best_metric_results'), second.get('best_metric_results')), f'{b.name}: best scores differ'


def same(a, b) -> bool:
    """Whether two nested states are equal, tensors bit for bit."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def assert_continues_the_reference(reference_cwd: Path, cwd: Path, resumed_at: int, schedule: dict) -> None:
    reference_log, log = train_logs(reference_cwd, 'run')[0], train_logs(cwd, 'run')[-1]
    assert 'Resuming training from epoch: ' in log and f'iter: {resumed_at}.' in log
    assert 'data order will differ' not in log
    expected = {it: line for it, line in iteration_lines(reference_log).items() if it > resumed_at}
    assert iteration_lines(log) == expected
    done = sum(1 for it in range(1, resumed_at + 1) if it % VAL_FREQ == 0)
    assert validations(log) == validations(reference_log)[done:]
    assert_closed_form(logged_lrs(log), schedule)
    models, states = experiment(cwd, 'run') / 'models', experiment(cwd, 'run') / 'training_states'
    reference_models = experiment(reference_cwd, 'run') / 'models'
    reference_states = experiment(reference_cwd, 'run') / 'training_states'
    later = [it for it in range(SAVE_FREQ, TOTAL + 1, SAVE_FREQ) if it > resumed_at]
    for it in later:
        assert_same_checkpoint(reference_models / f'net_g_{it}.pth', models / f'net_g_{it}.pth')
        assert_same_state(reference_states / f'{it}.state', states / f'{it}.state')
    assert_same_checkpoint(reference_models / 'net_g_latest.pth', models / 'net_g_latest.pth')


# ------------------------------------------------------------------------------------------ the tests
def test_the_reference_logs_the_closed_form_learning_rates(reference):
    cwd, _, schedule = reference
    lrs = logged_lrs(train_logs(cwd, 'run')[0])
    assert sorted(lrs) == list(range(1, TOTAL + 1))
    assert_closed_form(lrs, schedule)


@pytest.mark.parametrize('stopped_at', [8, 12], ids=['mid-epoch', 'end-of-epoch'])
def test_resume_from_a_checkpoint_is_the_uninterrupted_run(reference, stopped_at, tmp_path):
    reference_cwd, option_file, schedule = reference
    copy_as_stopped_after(reference_cwd, stopped_at, tmp_path)
    proc = train(tmp_path, option_file, '--auto_resume')
    assert proc.returncode == 0, failure(proc)
    assert_continues_the_reference(reference_cwd, tmp_path, stopped_at, schedule)


def test_resume_after_sigterm_is_the_uninterrupted_run(reference, tmp_path):
    """SIGTERM to the process group as soon as the first iteration is logged; the run saves the last
    finished iteration (between checkpoints, as the reaction takes a few iterations) and exits 143."""
    reference_cwd, option_file, schedule = reference
    cmd = [sys.executable, str(TRAIN_PY), '-opt', str(option_file)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not any(iteration_lines(log) for log in train_logs(tmp_path, 'run')):
            assert proc.poll() is None and time.monotonic() < deadline, 'no iteration was logged'
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, f'the run ended with {proc.returncode} before the signal: {stderr[-2000:]}'
    stopped_at = int(re.search(r'stopped by SIGTERM after iteration (\d+)', stderr)[1])
    assert 0 < stopped_at < TOTAL

    resumed = train(tmp_path, option_file, '--auto_resume')
    assert resumed.returncode == 0, failure(resumed)
    logs = train_logs(tmp_path, 'run')
    before = iteration_lines(logs[0])
    assert sorted(before) == list(range(1, stopped_at + 1))
    assert_closed_form(logged_lrs(logs[0]), schedule)
    assert_continues_the_reference(reference_cwd, tmp_path, stopped_at, schedule)


ONE_CASE = pytest.mark.parametrize('reference', ['workers0-cosine'], indirect=True)


@ONE_CASE
def test_a_state_without_a_data_position_resumes_as_basicsr_does(reference, tmp_path):
    """A ``.state`` from BasicSR or an older alkdsr: one log line, and the saved epoch starts over."""
    reference_cwd, option_file, _ = reference
    copy_as_stopped_after(reference_cwd, 8, tmp_path)
    path = experiment(tmp_path, 'run') / 'training_states' / '8.state'
    state = read_training_state(path)
    del state['data'], state['best_metric_results']
    torch.save(state, path)
    proc = train(tmp_path, option_file, '--auto_resume', '--force_yml', 'train:total_iter=12')
    assert proc.returncode == 0, failure(proc)
    log = train_logs(tmp_path, 'run')[-1]
    notes = [line for line in log.splitlines() if 'data order will differ' in line]
    assert len(notes) == 1 and f'{path}: it holds no data position' in notes[0], notes
    epochs = {it: int(line.split(',')[0].split()[1]) for it, line in iteration_lines(log).items()}
    assert epochs == {9: 2, 10: 2, 11: 2, 12: 3}  # epoch 2 (iterations 7-9) replayed from its first batch


@ONE_CASE
def test_a_changed_data_layout_resumes_as_basicsr_does(reference, tmp_path):
    reference_cwd, option_file, _ = reference
    copy_as_stopped_after(reference_cwd, 8, tmp_path)
    workers = read_training_state(experiment(tmp_path, 'run') / 'training_states' / '8.state')['data']['ranks'][0]
    workers = workers['layout']['num_workers']
    flag = f'datasets:train:num_worker_per_gpu={1 - workers // 2}'
    proc = train(tmp_path, option_file, '--auto_resume', '--force_yml', 'train:total_iter=9', flag)
    assert proc.returncode == 0, failure(proc)
    notes = [line for line in train_logs(tmp_path, 'run')[-1].splitlines() if 'data order will differ' in line]
    assert len(notes) == 1 and f'num_workers {workers} -> {1 - workers // 2}' in notes[0], notes


def y_psnr(net: torch.nn.Module, pairs: Path) -> float:
    """Mean Y-channel PSNR (border SCALE) of ``net`` on the training pairs, which the runs also validate on."""
    import cv2
    from basicsr.metrics import calculate_psnr

    scores = []
    for hr_path in sorted((pairs / 'HR').glob('*.png')):
        lr = cv2.imread(str(pairs / 'LR_bicubic' / f'X{SCALE}' / f'{hr_path.stem}x{SCALE}.png'))
        x = torch.from_numpy(lr[:, :, ::-1].astype('float32') / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            sr = net(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()[:, :, ::-1]
        sr = (sr * 255).round().astype('uint8')
        scores.append(calculate_psnr(sr, cv2.imread(str(hr_path)), crop_border=SCALE, test_y_channel=True))
    return sum(scores) / len(scores)


@ONE_CASE
def test_validation_scores_the_ema_weights(reference, pairs):
    """At iteration 12 the run saves, then validates: the logged PSNR is that of the saved ``params_ema``,
    which differs from that of ``params``."""
    from alkdsr.zoo.checkpoint import model_from_state_dict, read_checkpoint

    cwd, _, _ = reference
    checkpoint = experiment(cwd, 'run') / 'models' / 'net_g_12.pth'
    assert {'params', 'params_ema'} <= set(torch.load(checkpoint, weights_only=True))
    ema = y_psnr(model_from_state_dict(*read_checkpoint(checkpoint, 'params_ema')).eval(), pairs)
    raw = y_psnr(model_from_state_dict(*read_checkpoint(checkpoint, 'params')).eval(), pairs)
    logged = float(re.search(r'# psnr: ([\d.]+)', validations(train_logs(cwd, 'run')[0])[12 // VAL_FREQ - 1])[1])
    assert abs(ema - raw) > 0.01, (ema, raw)
    assert logged == pytest.approx(ema, abs=6e-5), (logged, ema, raw)
