"""README.md's Python, run as written: every ```python block and the `python -c` torch.hub example.

Each runs in a folder of its own holding only the files it names (``photo.png``; ``hubconf.py`` for the
hub example, whose ``'.'`` is the repository's folder), with an empty ``ALKDSR_HOME``: the named weights
it asks for are downloaded from a loopback mirror of ../shared's official weights, as a new user's are
from the authors' release. What a snippet prints is what the README says it prints, and it writes
nothing but its own outputs. On a machine without CUDA the speed example runs its CPU branch.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT, SHARED, requires_shared
from corpus import rgb_png
from PIL import Image

pytestmark = [pytest.mark.docs, requires_shared]

README = ROOT / 'README.md'
# what tells each snippet apart -> (the lines it prints, the files it writes)
EXPECTED = {
    "build_network({'type': 'BSRN'": (['4 alkdnet'], []),
    "write_image('photo_x4.png'": ([], ['photo_x4.png']),
    'spandrel.ModelLoader()': (
        ["ALKDNet 4 ['alkdnet', '64nf', '8nb'] SizeRequirements(minimum=13, multiple_of=1, square=False) True",
         '(1, 3, 256, 256)'],
        [],
    ),
    'torch.hub.load': (['alkdnet 4 393488', '381371'], []),
    'optimize(net': (['(1, 3, 256, 256)'], []),
}  # fmt: skip


def snippets() -> list[tuple[str, str, str]]:
    """(key of EXPECTED, 'python' or 'bash', the code) for each snippet of the README, in order."""
    text = README.read_text(encoding='utf-8')
    found = [('python', m[1]) for m in re.finditer(r'^```python\n(.*?)^```$', text, flags=re.M | re.S)]
    found += [('bash', m[1]) for m in re.finditer(r'^```bash\n(python -c ".*?^"\n)```$', text, flags=re.M | re.S)]
    out = []
    for kind, code in found:
        keys = [key for key in EXPECTED if key in code]
        assert len(keys) == 1, f'a README snippet this test does not know (or knows twice): {code[:200]}'
        out.append((keys[0], kind, code))
    return out


def test_the_snippets_are_the_ones_this_test_knows():
    keys = [key for key, _, _ in snippets()]
    assert sorted(keys) == sorted(EXPECTED), keys  # each one once; a new snippet needs its expectations here
    prose = ' '.join(README.read_text(encoding='utf-8').split())
    for printed, _ in EXPECTED.values():
        for line in printed:  # what the README says the snippet prints (in a comment or in the text after it)
            assert line in prose, line


@pytest.fixture
def mirror():
    """A loopback HTTP server of ../shared's official weights: ALKDSR_WEIGHTS_MIRROR for the snippets."""
    handler = functools.partial(QuietHandler, directory=str(SHARED / 'weights' / 'official'))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob('*'))
        if p.is_file() and '__pycache__' not in p.parts
    }


@pytest.mark.parametrize('key, kind, code', snippets(), ids=[key.split('(')[0].strip("'.") for key, _, _ in snippets()])
def test_a_readme_snippet_runs_as_written(key, kind, code, mirror, tmp_path):
    printed, written = EXPECTED[key]
    work, home, bin_dir = tmp_path / 'work', tmp_path / 'home', tmp_path / 'bin'
    work.mkdir()
    bin_dir.mkdir()
    (work / 'photo.png').write_bytes(rgb_png(40, 48, seed=7))
    if kind == 'bash':
        shutil.copy(ROOT / 'hubconf.py', work)  # '.': the repository's folder, as far as torch.hub reads it
    (bin_dir / 'python').write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # `python` in the bash example
    (bin_dir / 'python').chmod(0o755)
    before = files(work)
    env = {
        **os.environ,
        'ALKDSR_HOME': str(home),
        'ALKDSR_WEIGHTS_MIRROR': mirror,
        'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])),
        'PYTHONDONTWRITEBYTECODE': '1',
    }
    cmd = [sys.executable, '-c', code] if kind == 'python' else ['bash', '-c', code]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.splitlines() == printed, proc.stdout
    after = files(work)
    assert {name: after[name] for name in before} == before  # the snippet's inputs unchanged
    assert sorted(set(after) - set(before)) == written  # its outputs, nothing else (no temporary file)
    if written == ['photo_x4.png']:
        assert Image.open(work / 'photo_x4.png').size == (48 * 4, 40 * 4)
    cached = home / 'weights' / 'net_g_ALKDN_x4.pth'  # every snippet takes the authors' x4 weights by name
    assert cached.read_bytes() == (SHARED / 'weights' / 'official' / 'net_g_ALKDN_x4.pth').read_bytes()
