"""docs/robustness.md's tables held to tests/corpus.py.

The handled/rejected counts of each command over the image corpus, and the "Mistakes, by class" table
(class, case, what, reported or new, the one line), are what the corpus says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT
from corpus import (
    API_MISTAKES,
    CASES,
    CHECKPOINT_MISTAKES,
    DOWNLOAD_MISTAKES,
    KERNEL_CACHE_MISTAKES,
    OPTION_FILE_MISTAKES,
    OPTION_MISTAKES,
    OUTPUT_IS_INPUT,
    OUTPUT_PLACES,
    README_PATHS,
    RUN_FOLDER_MISTAKES,
    SHORT_WIDE_IMAGES,
    STREAM_MISTAKES,
    THIN_IMAGES,
    UNDONE_MISTAKES,
)

from .helpers import cases_expecting


@pytest.mark.docs
def test_the_documented_counts_are_the_corpus_counts():
    """docs/robustness.md's handled/rejected table says what the corpus expects of each command."""
    import re

    text = (Path(__file__).resolve().parents[2] / 'docs' / 'robustness.md').read_text()
    rows = dict(re.findall(r'^\| (.+?) \| (\d+ \| \d+) \|$', text, flags=re.M))
    pair_cases = 2  # the benchmark's HR set also holds a mismatched pair and an HR image without LR
    documented = {
        '`upscale`': ('upscale', 0),
        '`prepare`': ('prepare', 0),
        '`benchmark`, corpus as HR (+ 2 pair cases)': ('bench_hr', pair_cases),
        '`benchmark`, corpus as LR': ('bench_lr', 0),
        '`benchmark --hr-only`': ('bench_hr_only', 0),
        'training dataset': ('train', 0),
    }
    for label, (command, extra_rejected) in documented.items():
        rejected = len(cases_expecting(command)) + extra_rejected
        assert rows[label] == f'{len(CASES) - len(cases_expecting(command))} | {rejected}', label


@pytest.mark.docs
def test_the_mistakes_table_is_the_corpus():
    text = (ROOT / 'docs' / 'robustness.md').read_text()
    section = text[text.index('## Mistakes, by class') :]
    rows = re.findall(r'^\| (\d+) \| `([^`]+)` \| (.+?) \| (yes|new) \| `(.+?)` \|$', section, flags=re.M)
    documented = {name: (int(klass), what, listed == 'yes', expect) for klass, name, what, listed, expect in rows}
    mistakes = [m for m, _ in OUTPUT_IS_INPUT.values()] + [entry[0] for entry in OPTION_MISTAKES.values()]
    mistakes += [entry[0] for entry in (*OUTPUT_PLACES.values(), *OPTION_FILE_MISTAKES.values())]
    mistakes += [*CHECKPOINT_MISTAKES.values(), *RUN_FOLDER_MISTAKES.values(), *(m for m, _ in THIN_IMAGES.values())]
    mistakes += [m for m, _ in SHORT_WIDE_IMAGES.values()]
    mistakes += [entry[0] for entry in KERNEL_CACHE_MISTAKES.values()]
    mistakes += [*STREAM_MISTAKES.values(), *API_MISTAKES.values(), *README_PATHS.values()]
    corpus = {m.name: m for m in mistakes + [*DOWNLOAD_MISTAKES.values(), *UNDONE_MISTAKES.values()]}
    assert set(documented) == set(corpus)
    for name, m in corpus.items():
        assert documented[name] == (m.klass, m.what, m.listed, m.expect), name
    for klass in (*range(1, 6), *range(8, 23)):
        new = [m for m in corpus.values() if m.klass == klass and not m.listed]
        assert len(new) >= 2, klass  # at least two cases of each class beyond the reported ones
