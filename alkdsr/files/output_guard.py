"""No command writes over one of its own inputs.

Every command that writes files calls :func:`refuse_outputs_that_are_inputs` once it knows its inputs
and outputs, before any work: an output that is the same file as an input (the same path, another
spelling of it, a symlink to it or a hard link) is one line naming both, and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Union

from alkdsr.errors import AlkdsrError

PathLike = Union[str, os.PathLike]  # a runtime alias: typing.Union, which Python 3.9 has


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: through symlinks and hard links when both exist, else by real path."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_outputs_that_are_inputs(
    outputs: Mapping[str, PathLike | Iterable[PathLike] | None],
    inputs: Mapping[str, PathLike | Iterable[PathLike] | None],
) -> None:
    """Raise AlkdsrError if an output is one of the inputs.

    ``outputs`` and ``inputs`` map the option that names them (``-o``, ``--json``, ``--weights``) to a path,
    a list of paths, or None (not given). Inputs that are not files (folders, registry names) cannot be
    overwritten by a file and are ignored.
    """
    named_inputs = [(option, Path(p)) for option, paths in inputs.items() for p in _paths(paths)]
    named_inputs = [(option, p) for option, p in named_inputs if p.is_file()]
    by_identity = {}
    for option, path in named_inputs:
        st = path.stat()
        by_identity.setdefault((st.st_dev, st.st_ino), (option, path))
    for out_option, paths in outputs.items():
        for output in _paths(paths):
            hit = _input_at(Path(output), by_identity, named_inputs)
            if hit is not None:
                in_option, in_path = hit
                raise AlkdsrError(
                    f'{out_option} {output}: is the input {in_option} {in_path}; writing it would destroy '
                    'the input: choose another output'
                )


def _input_at(output: Path, by_identity: dict, named_inputs: list) -> tuple[str, Path] | None:
    try:
        st = output.stat()  # follows symlinks: a link to an input is that input
    except OSError:
        real = os.path.realpath(output)
        return next(((o, p) for o, p in named_inputs if os.path.realpath(p) == real), None)
    return by_identity.get((st.st_dev, st.st_ino))


def _paths(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return [v for v in value if v is not None]
