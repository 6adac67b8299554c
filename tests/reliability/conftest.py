"""Fixtures the bad-input tests share: the image corpus written once a module, four training pairs, a
tiny x4 checkpoint, and a BasicSR logger of its own for a run in this process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_utils import SCALE, make_pairs

from alkdsr.archs import ALKDNet
from alkdsr.zoo.checkpoint import save_checkpoint


@pytest.fixture(scope='module')
def corpus_dir(tmp_path_factory) -> Path:
    from corpus import write_corpus

    folder = tmp_path_factory.mktemp('corpus')
    write_corpus(folder)
    return folder


@pytest.fixture(scope='module')
def pairs(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp('pairs'))


@pytest.fixture(scope='module')
def tiny_x4(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('x4') / 'tiny_x4.pth'
    save_checkpoint(ALKDNet(upscale=SCALE, num_feat=16, num_block=1).eval(), path)
    return path


@pytest.fixture
def fresh_basicsr_logger(monkeypatch):
    """BasicSR sets its logger up once per process: an in-process run gets its own (its log file too)."""
    import logging

    from basicsr.utils import logger as basicsr_logger

    monkeypatch.setattr(basicsr_logger, 'initialized_logger', {})
    log = logging.getLogger('basicsr')
    before = list(log.handlers)
    yield
    for handler in log.handlers:
        if handler not in before:
            handler.close()
    log.handlers = before
