"""Crafted, corrupt and unusual checkpoints through every command and every load path of training.

Crafted safetensors files through each command that takes ``--weights``; crafted or truncated pickles as
``pretrain_network_g`` and as the training state ``--auto_resume`` continues, a text file as that state
too; and the checkpoints BasicSR's own code loads (``SRModel``), whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
says. Each is one line naming the file, a pickle's code never runs, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from corpus import CHECKPOINT_MISTAKES, UNDONE_MISTAKES, rgb_png
from safetensors.torch import save_file
from train_utils import SCALE, experiment, run_train, train_options, with_changes, write_options

from alkdsr.archs import ALKDNet
from alkdsr.zoo.checkpoint import save_checkpoint

from .helpers import eval_options, fingerprint, one_line, pair_dirs, run_cli, run_in_process


class WritesAFile:
    """A pickle that, if loaded unsafely, creates the file ``path`` (harmless proof that code ran)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), 'w'))


# ---------------------------------------------------------------- crafted checkpoints, every command


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


# ---------------------------------------------------------------- checkpoints on training's load paths


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _plain_state(path: Path, marker: Path) -> None:
    torch.save({'iter': 2, 'epoch': 0, 'optimizers': [], 'schedulers': []}, path)


CHECKPOINT_CASES = {
    'crafted pretrain_network_g': ('pretrain', lambda p, m: torch.save({'params': WritesAFile(m)}, p), 'refused'),
    'truncated pretrain_network_g': ('pretrain', lambda p, m: _truncate(p), 'truncated or corrupt checkpoint'),
    'x2 weights for an x4 network': ('pretrain_x2', None, 'checkpoint network differs from network_g'),
    'crafted training state': (
        'state',
        lambda p, m: torch.save({'iter': 2, 'epoch': 0, 'optimizers': [WritesAFile(m)], 'schedulers': []}, p),
        'refused, the training state holds objects other than tensors',
    ),
    'truncated training state': (
        'state',
        lambda p, m: (_plain_state(p, m), _truncate(p)),
        'truncated or corrupt training state',
    ),
}


@pytest.mark.parametrize('case', list(CHECKPOINT_CASES))
def test_bad_checkpoints_on_trainings_load_paths_are_one_line(case, pairs, tmp_path):
    where, corrupt, message = CHECKPOINT_CASES[case]
    marker = tmp_path / 'code_ran'
    opt = train_options('ckpt', *pair_dirs(pairs), total_iter=2, save_freq=2)
    opt['network_g']['num_block'] = 1
    flags, named = [], ''
    if where.startswith('pretrain'):
        weights = tmp_path / 'pretrained.pth'
        net = ALKDNet(upscale=2 if where == 'pretrain_x2' else SCALE, num_feat=16, num_block=1)
        torch.save({'params': net.state_dict()}, weights)  # a bare state dict: no stored config
        if corrupt:
            corrupt(weights, marker)
        opt = with_changes(opt, path={'pretrain_network_g': str(weights)})
        named = str(weights)
        if where == 'pretrain_x2':
            message += ' (checkpoint vs options: upscale 2 vs 4)'
    else:  # the newest state of an experiment that --auto_resume would continue
        state = experiment(tmp_path, 'ckpt') / 'training_states' / '2.state'
        state.parent.mkdir(parents=True)
        corrupt(state, marker)
        flags, named = ['--auto_resume'], str(state)
    proc = run_train(tmp_path, write_options(opt, tmp_path / 'ckpt.yml'), *flags)
    one_line(proc, f'{named}: {message}')
    assert not marker.exists()  # the pickle's code did not run


def test_a_text_file_as_the_newest_state_is_one_line_and_changes_nothing(
    pairs, tmp_path, monkeypatch, fresh_basicsr_logger
):
    opt = train_options('noted', *pair_dirs(pairs), total_iter=2, save_freq=1)
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
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and err == f'alkdsr-train: error: {state}: {UNDONE_MISTAKES["text file as .state"].expect}\n', err
    assert files() == before  # nothing archived, no option file copied, no log


# ---------------------------------------------------------------- BasicSR's own load paths


def test_srmodel_resume_loads_safely_whatever_the_environment_says(pairs, tmp_path, monkeypatch, fresh_basicsr_logger):
    """model_type: SRModel and --auto_resume: BasicSR's load_network with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    opt = train_options('unsafe', *pair_dirs(pairs), total_iter=4, save_freq=2)
    opt['model_type'] = 'SRModel'
    opt['network_g']['num_block'] = 1
    models, states = experiment(tmp_path, 'unsafe') / 'models', experiment(tmp_path, 'unsafe') / 'training_states'
    models.mkdir(parents=True), states.mkdir()
    marker = tmp_path / 'code_ran'
    torch.save({'params': {'fuse.weight': WritesAFile(marker)}}, models / 'net_g_2.pth')
    torch.save({'iter': 2, 'epoch': 0, 'optimizers': [], 'schedulers': []}, states / '2.state')
    option_file = write_options(opt, tmp_path / 'unsafe.yml')
    rc, err = run_in_process('train', tmp_path, option_file, monkeypatch, '--auto_resume')
    assert rc == 2 and not marker.exists(), err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f'alkdsr-train: error: {models / "net_g_2.pth"}: refused, the checkpoint holds objects')


@pytest.mark.parametrize('kind', ['test', 'train'])
def test_a_crafted_pretrain_network_of_an_srmodel_is_refused(kind, pairs, tiny_x4, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'code_ran'
    crafted = tmp_path / 'crafted.pth'
    torch.save({'params': {'fuse.weight': WritesAFile(marker)}}, crafted)
    opt = train_options('unsafe', *pair_dirs(pairs)) if kind == 'train' else eval_options(*pair_dirs(pairs), tiny_x4)
    opt['model_type'] = 'SRModel'
    opt['network_g']['num_block'] = 1
    opt['path']['pretrain_network_g'] = str(crafted)
    rc, err = run_in_process(kind, tmp_path, write_options(opt, tmp_path / 'opt.yml'), monkeypatch)
    assert rc == 2 and f'{crafted}: refused, the checkpoint holds objects' in err and not marker.exists(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['crafted.pth', 'opt.yml']
