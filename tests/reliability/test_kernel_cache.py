"""The CPU kernels' cache never stops a command: one that cannot be made, locked, written or trusted is one line
on stderr, and the kernels are compiled for the process only; the output is the same.

Each case is an ``alkdsr upscale`` of a 256 x 256 image (enough work for the kernels) in a process of its own:
numba reads its cache folder once, when it is first imported. The full disk is simulated (a sitecustomize makes
writes under ALKDSR_HOME fail with ENOSPC once a number of files have been written there); the file-size limit
is a real one (``ulimit -f``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus import KERNEL_CACHE_MISTAKES, smooth
from PIL import Image
from train_utils import env

from alkdsr.files.images import read_image
from alkdsr.inference.image import load_upscaler, upscale_image

from .helpers import fingerprint, run_cli

CLI = 'import sys; from alkdsr.cli import main; sys.exit(main())'
LINE_END = '; compiling them for this process only'

# A sitecustomize that makes writes under $FULL_DISK_UNDER fail with ENOSPC once $FULL_DISK_FILES files have been
# opened for writing there (Python's open, which numba's cache and pathlib use): a disk that fills up.
_FULL_DISK = """
import builtins
import errno
import importlib.machinery
import importlib.util
import io
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_UNDER = os.environ.get('FULL_DISK_UNDER')
_ROOM = int(os.environ.get('FULL_DISK_FILES', '0'))
_written = []


class _Full:
    def __init__(self, file):
        self._file = file

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def _open(file, mode='r', *args, _real=io.open, **kwargs):
    opened = _real(file, mode, *args, **kwargs)
    if _UNDER and isinstance(file, (str, os.PathLike)) and set(mode) & set('wax+'):
        if os.path.abspath(os.fspath(file)).startswith(_UNDER):
            _written.append(file)
            if len(_written) > _ROOM:
                return _Full(opened)
    return opened


builtins.open = io.open = _open
_other = importlib.machinery.PathFinder.find_spec(
    'sitecustomize', [p for p in sys.path if os.path.abspath(p or '.') != _HERE]
)
if _other is not None:
    _other.loader.exec_module(importlib.util.module_from_spec(_other))
"""


def _key(home: Path, monkeypatch) -> Path:
    """Where the kernels' cache of ``home`` is, as the command computes it."""
    from alkdsr.inference.cpu_fast import kernel_cache_dir

    with monkeypatch.context() as m:
        m.setenv('ALKDSR_HOME', str(home))
        return kernel_cache_dir()


# a process that takes the cache's lock as a compiling one does, then stops (as Ctrl-Z stops it), holding it
_STOPPED_HOLDER = """
import os, signal, sys
from filelock import FileLock
lock = FileLock(sys.argv[1])  # kept: a lock that is collected is released
lock.acquire()
print('held', flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def _arrange(arranged: str, key: Path, tmp: Path, request) -> tuple[dict, dict]:
    """Make what the case has at the cache; returns (environment changes, subprocess.run options)."""
    extra, options = {}, {}
    kind, _, number = arranged.partition(' ')
    if kind in ('lock', 'symlink', 'dangling'):
        key.parent.mkdir(parents=True)
    if arranged == 'lock folder':
        key.with_name(key.name + '.lock').mkdir()
    elif arranged == 'lock fifo':
        os.mkfifo(key.with_name(key.name + '.lock'))
    elif arranged == 'lock held':
        holder = subprocess.Popen([sys.executable, '-c', _STOPPED_HOLDER, key.with_name(key.name + '.lock')],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        request.addfinalizer(lambda: (holder.kill(), holder.wait()))
        assert holder.stdout.readline() == 'held\n'
    elif arranged == 'symlink':
        (tmp / 'elsewhere').mkdir()
        (tmp / 'elsewhere' / 'kept.txt').write_text('not the cache')
        key.symlink_to(tmp / 'elsewhere')
    elif arranged == 'dangling symlink':
        key.symlink_to(tmp / 'nothing')
    elif arranged == 'lock symlink':
        (tmp / 'notes.txt').write_text("the user's notes")
        key.with_name(key.name + '.lock').symlink_to(tmp / 'notes.txt')
    elif kind == 'fsize':
        import resource

        limit = int(number)
        options['preexec_fn'] = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    elif kind == 'full':
        site = tmp / 'site'
        site.mkdir()
        (site / 'sitecustomize.py').write_text(_FULL_DISK)
        pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get('PYTHONPATH')]))
        extra = {'PYTHONPATH': pythonpath, 'FULL_DISK_UNDER': str(key.parents[1]), 'FULL_DISK_FILES': number}
    return extra, options


@pytest.fixture(scope='module')
def low_contrast(tmp_path_factory) -> Path:
    """A 256 x 256 grey image (the kernels' least work) whose x2 output compresses below the file-size limit."""
    path = tmp_path_factory.mktemp('image') / 'in.png'
    buf = io.BytesIO()
    Image.fromarray(smooth(256, 256, 1, peak=8, seed=1)[..., 0]).save(buf, 'PNG')
    path.write_bytes(buf.getvalue())
    return path


UPSCALE_CASES = [name for name, (_, _, arranged) in KERNEL_CACHE_MISTAKES.items() if arranged != 'two checkouts']
WHILE_NUMBA_WRITES = ('full', 'fsize')  # the cases met as numba writes its files, after it has compiled a kernel


def _upscale(argv: list, home, extra: dict, options: dict, arranged: str, monkeypatch) -> tuple[int, str]:
    """``alkdsr ARGV`` as a fresh process runs it with ALKDSR_HOME ``home``: its status and stderr.

    The cases met as numba writes run in a process of their own: numba reads its cache folder once, as it is
    first imported, and the kernels are then compiled in memory. The others are refused before numba is
    imported, here as in a process of its own (numba, imported by this one before, is hidden from the check);
    the kernels compiled in memory are then this process's own, already compiled: the first cases show
    the compilation in memory itself.
    """
    if arranged.split(' ')[0] in WHILE_NUMBA_WRITES:
        done = subprocess.run(
            [sys.executable, '-c', CLI, *map(str, argv)], cwd=argv[2].parents[1], capture_output=True, text=True,
            timeout=300, env={**env(), 'ALKDSR_HOME': str(home), **extra}, **options,
        )  # fmt: skip
        return done.returncode, done.stderr
    from alkdsr.inference import cpu_fast

    compiled = cpu_fast.load_kernels()
    in_memory = []
    if arranged == 'lock held':
        monkeypatch.setattr(cpu_fast, 'LOCK_WAIT_S', 2.0)  # not the minute a user's command waits
    monkeypatch.setenv('ALKDSR_HOME', str(home))
    monkeypatch.setattr(cpu_fast, '_loaded', None)
    monkeypatch.delitem(sys.modules, 'numba')  # as in a process that has not imported it yet
    monkeypatch.setattr(cpu_fast, '_kernels_in_memory', lambda: in_memory.append(True) or compiled)
    rc, _, err = run_cli(*argv)
    assert in_memory == [True], err  # the kernels were compiled for the process only
    return rc, err


@pytest.mark.parametrize('case', UPSCALE_CASES)
def test_a_cache_that_cannot_be_used_is_one_line_and_the_output_is_the_same(
    case, tiny_weights, low_contrast, tmp_path, monkeypatch, request
):
    mistake, home_template, arranged = KERNEL_CACHE_MISTAKES[case]
    home = Path(home_template.format(tmp=tmp_path)) if home_template.startswith('{tmp}') else home_template
    key = _key(home, monkeypatch) if isinstance(home, Path) else None
    extra, options = _arrange(arranged, key, tmp_path, request) if key else ({}, {})
    (tmp_path / 'in').mkdir()
    shutil.copy(low_contrast, tmp_path / 'in' / 'in.png')
    before, weights = fingerprint(tmp_path / 'in'), tiny_weights.read_bytes()
    home_before = fingerprint(Path(home)) if os.path.exists(home) else {}  # (a name too long does not exist)
    beside_the_source = _numba_files_beside_the_kernels()
    argv = ['upscale', '-i', tmp_path / 'in' / 'in.png', '-o', tmp_path / 'out', '--weights', tiny_weights]
    rc, err = _upscale([*argv, '--tile', '0'], home, extra, options, arranged, monkeypatch)

    assert rc == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('alkdsr: ') and lines[0].endswith(LINE_END), err
    assert mistake.expect.format(key=key) in lines[0], lines[0]
    # the output: the eager network's, to within the one grey level the kernels may differ by
    expected = upscale_image(load_upscaler(tiny_weights), read_image(low_contrast).pixels, backend=None)
    written = read_image(tmp_path / 'out' / 'in.png').pixels
    assert written.shape == expected.shape and np.abs(written.astype(int) - expected).max() <= 1
    # nothing changed or left: the inputs, what was at the cache, no half-written cache, no temporary file
    assert fingerprint(tmp_path / 'in') == before and tiny_weights.read_bytes() == weights
    if os.path.exists(home):
        after = fingerprint(Path(home))
        made = set(after) - set(home_before)
        assert made <= {'numba', f'numba/{key.name}.lock'}, made  # the lock file stays, as after any run
        assert {name: after.get(name) for name in home_before} == home_before
    assert not [p for p in tmp_path.rglob('*') if '.tmp' in p.name]
    if arranged == 'symlink':  # the folder it points to is not the cache's to empty or fill
        assert key.readlink() == tmp_path / 'elsewhere' and os.listdir(tmp_path / 'elsewhere') == ['kept.txt']
        assert (tmp_path / 'elsewhere' / 'kept.txt').read_text() == 'not the cache'
    if arranged == 'lock symlink':
        assert (tmp_path / 'notes.txt').read_text() == "the user's notes"  # taking the lock would have emptied it
    assert _numba_files_beside_the_kernels() == beside_the_source  # nor cached beside the kernels' source instead


def _numba_files_beside_the_kernels() -> set[Path]:
    """What numba cached in alkdsr/ops/__pycache__, where it goes when the folder it was given fails."""
    import alkdsr.ops

    return set(Path(alkdsr.ops.__file__).parent.rglob('*.nb[ic]'))


LOAD = (
    'import alkdsr, torch\n'
    'from alkdsr.archs import ALKDNet\n'
    'from alkdsr.inference.cpu_fast import CpuFastNet, kernel_cache_dir\n'
    'net = ALKDNet(upscale=2, num_feat=16, num_block=1).eval()\n'
    'with torch.no_grad():\n'
    '    assert (CpuFastNet(net)(torch.rand(1, 3, 16, 16)) - net(torch.rand(1, 3, 16, 16))).abs().max() < 10\n'
    'print("alkdsr at", alkdsr.__file__)\n'
)


def test_two_checkouts_of_the_same_source_keep_a_cache_each(tmp_path):
    """Both checkouts' files went into one folder under one manifest: each run found the other's unlisted,
    removed the folder and compiled again. Four runs in turns: the first of each compiles, the second loads."""
    import alkdsr

    mistake = KERNEL_CACHE_MISTAKES['two checkouts'][0]
    here = Path(alkdsr.__file__).parents[1]
    shutil.copytree(here / 'alkdsr', tmp_path / 'checkout' / 'alkdsr', ignore=shutil.ignore_patterns('__pycache__'))
    home = tmp_path / 'home'
    saved = []
    for checkout in (here, tmp_path / 'checkout') * 2:
        environment = {**env(), 'ALKDSR_HOME': str(home), 'NUMBA_DEBUG_CACHE': '1', 'PYTHONPATH': str(checkout)}
        done = subprocess.run([sys.executable, '-c', LOAD], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0 and f'alkdsr at {checkout / "alkdsr"}' in done.stdout, done.stderr[-3000:]
        assert done.stderr == '', done.stderr
        saved.append(len(re.findall(r'^\[cache\] data saved', done.stdout, flags=re.M)))  # numba's own account
    assert 'compiled in runs ' + ' and '.join(str(i) for i, n in enumerate(saved, 1) if n) == mistake.expect, saved
    assert len([p for p in (home / 'numba').iterdir() if p.is_dir()]) == 2
