"""A bug of alkdsr's own is not a user error.

User errors are one line and exit 2; an exception that is not an ``AlkdsrError`` (a bug) propagates with
its traceback, from the CLI and from alkdsr/train.py alike.
"""

from __future__ import annotations

import pytest
from train_utils import train_options, write_options

from .helpers import pair_dirs, run_cli, run_in_process


def test_a_bug_in_alkdsr_keeps_its_traceback(tiny_weights, pairs, tmp_path, monkeypatch):
    """User errors are one line; an exception that is not an AlkdsrError (a bug) propagates with its traceback."""
    import alkdsr.cli.profile
    import alkdsr.metrics.complexity
    import alkdsr.options.schema

    class BrokenTree:
        model_validate = staticmethod(lambda *args, **kwargs: 1 / 0)

    def broken(*args, **kwargs):
        return 1 / 0

    rc, _, err = run_cli('profile', '--weights', tmp_path / 'missing.pth')
    assert rc == 2 and err.count('\n') == 1  # the user's mistake
    monkeypatch.setattr(alkdsr.metrics.complexity, 'count_params', broken)  # profile loads it when it runs
    with pytest.raises(ZeroDivisionError):
        run_cli('profile', '--weights', tiny_weights, '--size', '8x8', '--runs', 1, '--warmup', 0)
    monkeypatch.setattr(alkdsr.options.schema, 'TrainOptions', BrokenTree())
    option_file = write_options(train_options('bug', *pair_dirs(pairs)), tmp_path / 'bug.yml')
    with pytest.raises(ZeroDivisionError):
        run_in_process('train', tmp_path, option_file, monkeypatch)
