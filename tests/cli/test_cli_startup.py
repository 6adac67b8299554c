"""Commands that only print answer without torch or BasicSR: ``alkdsr --help``, every ``alkdsr <cmd> --help``,
``--version`` and ``alkdsr weights list|path|import`` run with a ``torch`` and a ``basicsr`` on the path
that fail when imported. Their time is measured by benchmarks/bench_cli.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import official_weights, requires_shared

from alkdsr.cli.main import COMMANDS

REFUSING = "raise ImportError('{name} was imported by a command that must not need it')\n"


@pytest.fixture(scope='module')
def without_torch(tmp_path_factory):
    """An environment whose ``torch`` and ``basicsr`` raise when imported, and an empty weights cache."""
    import os

    root = tmp_path_factory.mktemp('refusing')
    for name in ('torch', 'basicsr'):
        (root / name).mkdir()
        (root / name / '__init__.py').write_text(REFUSING.format(name=name))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get('PYTHONPATH')])))
    env['ALKDSR_HOME'] = str(root / 'home')
    return env


def alkdsr(env, *args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, '-m', 'alkdsr.cli.main', *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_the_refusing_torch_refuses(without_torch):
    proc = subprocess.run([sys.executable, '-c', 'import torch'], env=without_torch, capture_output=True, text=True)
    assert proc.returncode == 1 and 'torch was imported by a command that must not need it' in proc.stderr


@pytest.mark.parametrize('args', [['--help'], ['--version'], *([c, '--help'] for c in COMMANDS)], ids=str)
def test_help_needs_neither_torch_nor_basicsr(without_torch, args):
    proc = alkdsr(without_torch, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'usage: alkdsr' in proc.stdout or proc.stdout.startswith('alkdsr ')


@requires_shared
def test_weights_list_import_and_path_need_neither_torch_nor_basicsr(without_torch):
    listed = alkdsr(without_torch, 'weights', 'list')
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert 'alkdnet-x4' in listed.stdout
    imported = alkdsr(without_torch, 'weights', 'import', str(official_weights(4)))
    assert imported.returncode == 0, imported.stderr[-2000:]
    path = alkdsr(without_torch, 'weights', 'path', 'alkdnet-x4')
    assert path.returncode == 0, path.stderr[-2000:]
    assert path.stdout.strip().endswith('.pth') and path.stdout.strip().startswith(without_torch['ALKDSR_HOME'])
