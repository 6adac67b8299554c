"""The packages alkdsr needs and the ones a feature needs on top (the extras of setup.py), and one line for
each one that is missing.

``require(purpose, *modules)`` is called before any work by every command and function that needs an
extra: ``export`` (onnx to write ONNX, onnxruntime for ``--verify``; pnnx and ncnn for ``--format
ncnn``), ``upscale --backend onnxruntime`` (onnx and onnxruntime), ``compare`` and
``scripts/plot_validation.py`` (matplotlib), ``scripts/demo.py`` (scikit-image) and
``alkdsr.integrations.spandrel`` (spandrel). A missing one is a :class:`~alkdsr.errors.MissingPackageError`
naming every missing module of the call and the ``pip install`` that brings them, with setup.py's pins.

:func:`missing_dependency` turns a ``ModuleNotFoundError`` of a package alkdsr itself needs (torch,
BasicSR, ...) into one line naming the Python that lacks it: ``python alkdsr/train.py`` run by another
Python than the one alkdsr was installed in.
"""

from __future__ import annotations

import importlib.util
import re
import sys

from alkdsr.errors import MissingPackageError

# module -> what `pip install` takes for it, as setup.py's extras_require pins it
EXTRAS = {
    'onnx': 'onnx',
    'onnxruntime': 'onnxruntime',
    'pnnx': 'pnnx==20261020',
    'ncnn': 'ncnn==1.0.20261020',
    'matplotlib': 'matplotlib',
    'skimage': 'scikit-image',
    'spandrel': 'spandrel>=0.4',
}
# module -> requirement, setup.py's install_requires (setuptools aside: nothing imports it by name)
REQUIRED = {
    'torch': 'torch>=2.5',
    'torchvision': 'torchvision>=0.20',
    'basicsr': 'basicsr==1.4.2',
    'numpy': 'numpy',
    'numba': 'numba>=0.59',
    'cv2': 'opencv-python',
    'PIL': 'pillow',
    'yaml': 'pyyaml',
    'tqdm': 'tqdm',
    'lmdb': 'lmdb',
    'safetensors': 'safetensors',
    'torchdata': 'torchdata>=0.11',
    'pydantic': 'pydantic>=2.7',
    'filelock': 'filelock>=3.12',
    'platformdirs': 'platformdirs>=3',
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found, not hidden by a ``None`` in ``sys.modules``), without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or a module without a spec
        return False


def require(purpose: str, *modules: str) -> None:
    """Raise a one-line :class:`MissingPackageError` if any of ``modules`` is not installed.

    ``purpose`` says what needs them (``'export to ONNX'``, ``'--verify'``); the line names every missing
    one and the ``pip install`` command with the requirements setup.py gives them.
    """
    missing = [m for m in modules if not installed(m)]
    if not missing:
        return
    names = ' and '.join(_distribution(EXTRAS.get(m, m)) for m in missing)
    noun = 'package' if len(missing) == 1 else 'packages'
    verb = 'is' if len(missing) == 1 else 'are'
    command = ' '.join(_quoted(EXTRAS.get(m, m)) for m in missing)
    raise MissingPackageError(f'{purpose} needs the {names} {noun}, which {verb} not installed: pip install {command}')


def _distribution(requirement: str) -> str:
    return re.split(r'[<>=!~]', requirement)[0]


def _quoted(requirement: str) -> str:
    return f'"{requirement}"' if '>' in requirement or '<' in requirement else requirement


def missing_dependency(error: ModuleNotFoundError, script: str) -> str | None:
    """The one line for ``error`` when it is a package alkdsr needs (``REQUIRED``), else None (a bug of ours,
    or of the caller's code, keeps its traceback). ``script`` is what was run (``alkdsr/train.py``)."""
    name = (error.name or '').split('.')[0]
    if name not in REQUIRED:
        return None
    return (
        f'this Python ({sys.executable}) has no {name}, which alkdsr needs: run {script} with the Python alkdsr '
        f'is installed in (.venv/bin/python after make env), or pip install {_quoted(REQUIRED[name])}'
    )
