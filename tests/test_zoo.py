"""Named weights: download once from a (loopback) mirror, verify by SHA256, then work offline.

Files are served by Python's http.server on 127.0.0.1 from ../shared/weights; the expected hashes
are those of ../shared's SHA256SUMS files, not the registry's own.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import SHARED, official_weights, requires_shared

from alkdsr.cli.main import main
from alkdsr.utils.option_checks import OptionError, resolve_weights_names
from alkdsr.zoo import WEIGHTS, cached_path

pytestmark = requires_shared
BENCHMARK = SHARED / 'datasets' / 'benchmark'
LR_X4 = BENCHMARK / 'Set5' / 'LR_bicubic' / 'X4' / 'babyx4.png'


def shared_sums() -> dict[str, str]:
    sums = {}
    for folder in ('official', 'bsrn_official'):
        for line in (SHARED / 'weights' / folder / 'SHA256SUMS').read_text().splitlines():
            digest, name = line.split()
            sums[name] = digest
    return sums


class Mirror:
    """A loopback HTTP server for a folder; ``body`` may alter what is sent (corrupt, truncated, slow)."""

    def __init__(self, folder: Path, body=None):
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                mirror.requests.append(self.path)
                if body is None:
                    return super().do_GET()
                data = (folder / self.path.lstrip('/')).read_bytes()
                body(self, data)

        self.requests: list[str] = []
        handler = functools.partial(Handler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def send(handler, data: bytes, length: int | None = None, pause: float = 0.0):
    handler.send_response(200)
    handler.send_header('Content-Length', str(len(data) if length is None else length))
    handler.end_headers()
    for start in range(0, len(data), 1 << 18):
        handler.wfile.write(data[start : start + (1 << 18)])
        time.sleep(pause)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv('ALKDSR_HOME', str(tmp_path / 'home'))
    return tmp_path / 'home'


def cache_files(home: Path) -> list[str]:
    folder = home / 'weights'
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_registry_hashes_are_those_of_the_published_files():
    sums = shared_sums()
    assert {w.file_name: w.sha256 for w in WEIGHTS.values()} == sums
    assert {w.name for w in WEIGHTS.values()} == {f'{a}-x{s}' for a in ('alkdnet', 'bsrn') for s in (2, 3, 4)}


def test_fetch_then_upscale_offline_equals_the_file(tmp_path, home, monkeypatch, capsys):
    mirror = Mirror(SHARED / 'weights' / 'official')
    monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', mirror.url)
    try:
        assert main(['weights', 'fetch', 'alkdnet-x4']) == 0
    finally:
        mirror.stop()
    assert mirror.requests == ['/net_g_ALKDN_x4.pth']
    cached = cached_path('alkdnet-x4')
    assert cache_files(home) == ['net_g_ALKDN_x4.pth']
    assert cached.read_bytes() == official_weights(4).read_bytes()
    assert main(['weights', 'fetch', 'alkdnet-x4']) == 0  # cached and verified: no second download
    assert main(['upscale', '-i', str(LR_X4), '-o', str(tmp_path / 'named')]) == 0  # server stopped
    weights = str(official_weights(4))
    assert main(['upscale', '-i', str(LR_X4), '-o', str(tmp_path / 'file'), '--weights', weights]) == 0
    named, by_file = (tmp_path / d / 'babyx4.png' for d in ('named', 'file'))
    assert named.read_bytes() == by_file.read_bytes()
    capsys.readouterr()
    assert main(['weights', 'path', 'alkdnet-x4']) == 0
    assert capsys.readouterr().out.strip() == str(cached)


@pytest.mark.parametrize(
    'body',
    [
        lambda h, data: send(h, data[:100] + bytes([data[100] ^ 1]) + data[101:]),  # one bit flipped
        lambda h, data: send(h, data[: len(data) // 2]),  # a complete response of half the file
        lambda h, data: send(h, data[: len(data) // 2], length=len(data)),  # connection closed early
    ],
    ids=['corrupt', 'short', 'cut'],
)
def test_a_bad_download_fails_in_one_line_and_leaves_nothing(home, monkeypatch, capsys, body):
    mirror = Mirror(SHARED / 'weights' / 'official', body=body)
    monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', mirror.url)
    try:
        assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    finally:
        mirror.stop()
    line = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert line.startswith('alkdsr weights: error: alkdnet-x2: ')
    assert 'does not match its SHA256' in line or 'cannot download' in line
    assert cache_files(home) == []


def test_two_processes_fetching_at_once_both_succeed(tmp_path, home):
    mirror = Mirror(SHARED / 'weights' / 'official', body=lambda h, data: send(h, data, pause=0.1))
    env = {**os.environ, 'ALKDSR_HOME': str(home), 'ALKDSR_WEIGHTS_MIRROR': mirror.url}
    cmd = [sys.executable, '-m', 'alkdsr.cli.main', 'weights', 'fetch', 'alkdnet-x3']
    try:
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
        while not mirror.requests:  # the second starts while the first is downloading
            time.sleep(0.05)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [(p.wait(timeout=120), p.communicate()) for p in procs]
    finally:
        mirror.stop()
    assert [rc for rc, _ in results] == [0, 0], results
    assert cache_files(home) == ['net_g_ALKDN_x3.pth']
    assert cached_path('alkdnet-x3').read_bytes() == official_weights(3).read_bytes()


def test_offline_and_not_cached_says_where_to_put_the_file(home, monkeypatch, capsys):
    closed = Mirror(SHARED / 'weights' / 'official')
    closed.stop()  # nothing listens on this port any more
    monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', closed.url)
    assert main(['weights', 'path', 'bsrn-x2']) == 2
    err = capsys.readouterr().err.strip()
    assert f'{closed.url}/net_g_BSRN_x2.pth' in err and str(home / 'weights' / 'net_g_BSRN_x2.pth') in err
    assert 'alkdsr weights import' in err and '\n' not in err
    assert cache_files(home) == []


def test_import_seeds_the_cache_and_refuses_other_files(tmp_path, home, capsys):
    assert main(['weights', 'import', str(official_weights(2))]) == 0
    assert cache_files(home) == ['net_g_ALKDN_x2.pth']
    other = tmp_path / 'other.pth'
    data = official_weights(2).read_bytes()
    other.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert main(['weights', 'import', str(other)]) == 2
    assert 'other.pth: not one of the registered weights' in capsys.readouterr().err
    assert cache_files(home) == ['net_g_ALKDN_x2.pth']
    assert main(['weights', 'list']) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert rows['alkdnet-x2'][5] == 'yes' and rows['alkdnet-x4'][5] == 'no'
    assert rows['alkdnet-x2'][2] == '372,716'  # the parameter count README and the tests state


def test_a_reader_that_closes_the_pipe_early_ends_the_listing_quietly(home, monkeypatch):
    """`alkdsr weights list | head -1`: exit status 141 as after SIGPIPE, no traceback, nothing left to flush."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, 'w') as closed_pipe:  # block-buffered, as stdout is into a pipe
        monkeypatch.setattr(sys, 'stdout', closed_pipe)
        assert main(['weights', 'list']) == 141
        closed_pipe.write('more')
        closed_pipe.flush()  # now os.devnull: Python's flush at exit does not fail either


def test_unknown_names_are_one_line_listing_the_names(tmp_path, home, capsys):
    assert main(['benchmark', '--weights', 'alkdnet-x9', '--data-root', str(BENCHMARK), '--sets', 'Set5']) == 2
    err = capsys.readouterr().err.strip()
    assert 'alkdnet-x9: no such checkpoint file, nor a registered weights name' in err and 'bsrn-x4' in err
    with pytest.raises(OptionError, match=r'path: pretrain_network_g alkdnet-x9: .*alkdnet-x2, alkdnet-x3'):
        resolve_weights_names({'pretrain_network_g': 'alkdnet-x9'})
    assert cache_files(home) == []


def test_benchmark_without_weights_gives_the_official_numbers(home, capsys, tmp_path):
    assert main(['weights', 'import', str(official_weights(4))]) == 0
    out = tmp_path / 'set5.json'
    args = ['benchmark', '--sets', 'Set5', '--data-root', str(BENCHMARK), '--device', 'cpu', '--json', str(out)]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    official = json.loads((SHARED / 'golden' / 'official_benchmark_psnr_ssim.json').read_text())['Set5_x4']
    result = json.loads(out.read_text())
    assert result['arch'] == 'alkdnet' and result['scale'] == 4 and result['weights'] == 'alkdnet-x4'
    assert result['sets']['Set5']['psnr'] == pytest.approx(official['psnr'], abs=0.002)
    assert '32.37' in stdout  # the paper's value, printed beside ours
