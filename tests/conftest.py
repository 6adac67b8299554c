"""Shared fixtures. ``../shared`` (weights, golden outputs, benchmark images) sits beside the
repository in development and CI; tests that need it skip where it is absent, except under ``CI=true``,
where a missing ``../shared`` or optional package fails the run (:func:`missing_under_ci`)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# No test reaches the network or a user's cache: named weights resolve in a private, empty cache
# whose mirror is a local folder that does not exist (a test that needs files serves its own).
_HOME = tempfile.mkdtemp(prefix='alkdsr-test-home-')
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ['ALKDSR_HOME'] = _HOME
os.environ['ALKDSR_WEIGHTS_MIRROR'] = (Path(_HOME) / 'no-mirror').as_uri()
if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs a pytest worker per CPU: one torch thread each (read when torch is imported, just
    # below, and in the subprocesses they start unless a test sets its own), as two workers with a thread
    # per CPU each spent a third of the CPU time waiting for each other's threads
    os.environ['OMP_NUM_THREADS'] = '1'

import alkdsr  # noqa: E402, F401  (registers architectures before basicsr is used)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('ALKDSR_SHARED', ROOT.parent / 'shared'))

requires_shared = pytest.mark.skipif(
    not (SHARED / 'weights').is_dir(),
    reason=f"reference data not found at {SHARED} (the project's ../shared folder)",
)


def official_weights(scale: int) -> Path:
    return SHARED / 'weights' / 'official' / f'net_g_ALKDN_x{scale}.pth'


def bsrn_weights(scale: int) -> Path:
    return SHARED / 'weights' / 'bsrn_official' / f'net_g_BSRN_x{scale}.pth'


@pytest.fixture
def shared() -> Path:
    if not (SHARED / 'weights').is_dir():
        pytest.skip(f'reference data not found at {SHARED}')
    return SHARED


@pytest.fixture(scope='session')
def tiny_weights(tmp_path_factory) -> Path:
    """A small random x2 ALKDNet checkpoint: fast enough to run many images through the whole CLI."""
    import torch

    from alkdsr.archs import ALKDNet
    from alkdsr.zoo.checkpoint import save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('weights') / 'tiny_x2.pth'
    save_checkpoint(ALKDNet(upscale=2, num_feat=16, num_block=2).eval(), path)
    return path


@pytest.fixture
def no_grad():
    """Autograd off for one test: inference tests that call networks directly opt in with
    ``pytestmark = pytest.mark.usefixtures('no_grad')``, and the training tests keep gradients
    (a module-level ``torch.set_grad_enabled(False)`` would turn them off for the whole session)."""
    import torch

    with torch.no_grad():
        yield


def missing_under_ci() -> list[str]:
    """What the suite needs that is not there: ../shared's parts, spandrel, onnxruntime, pnnx and ncnn, Triton's
    interpreter.

    Where any is missing, the tests that need it skip; under ``CI=true`` (``.ci/run`` sets it) the run fails
    instead (:func:`pytest_sessionstart`), so CI cannot go green by skipping. Only the CUDA tests skip there.
    """
    import importlib.util

    needed = {
        f'{SHARED}/{part}': (SHARED / part).is_dir()
        for part in ('weights/official', 'weights/bsrn_official', 'golden', 'datasets/benchmark', 'paper')
    }
    for module in ('spandrel', 'spandrel_extra_arches', 'onnxruntime', 'pnnx', 'ncnn', 'triton'):
        needed[f'the Python package {module}'] = importlib.util.find_spec(module) is not None
    if needed['the Python package triton']:
        needed["Triton's CPU interpreter"] = importlib.util.find_spec('triton.runtime.interpreter') is not None
    return [what for what, present in needed.items() if not present]


def pytest_sessionstart(session):
    if os.environ.get('CI') == 'true' and (missing := missing_under_ci()):
        raise pytest.UsageError(f'CI=true but the tests that need these would skip: {", ".join(missing)}')


def pytest_collection_finish(session):
    """Autograd is on when the tests start: a test module that turns it off at import turns it off for every
    test of the session (the training tests in this process included), in an order that depends on the run."""
    import torch

    if not torch.is_grad_enabled():
        raise pytest.UsageError('a test module turned autograd off at import; use the no_grad fixture instead')
