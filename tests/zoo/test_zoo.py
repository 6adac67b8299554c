"""Named weights: download once from a (loopback) mirror, verify by SHA256, then work offline.

Files are served by Python's http.server on 127.0.0.1 from ../shared/weights; the expected hashes
are those of ../shared's SHA256SUMS files, not the registry's own. The failure cases (a server that
never answers, trickles, lies about the size, redirects in a loop; a cache that cannot be written or
holds a folder, an unreadable or corrupt file) each check: exit status 2, exactly one line on stderr
naming the file, URL or name, the inputs unchanged, and no temporary file left behind.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import SHARED, bsrn_weights, official_weights, requires_shared
from corpus import DOWNLOAD_MISTAKES

from alkdsr.cli.main import main
from alkdsr.errors import OptionError, WeightsError
from alkdsr.options.checks import resolve_weights_names
from alkdsr.zoo import WEIGHTS, cached_path, registered_scale, resolve

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

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hung up (as the downloader does on a bad response) is not news

        self.requests: list[str] = []
        handler = functools.partial(Handler, directory=str(folder))
        self.server = Server(('127.0.0.1', 0), handler)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def send(handler, data: bytes, length: int | None = None, pause: float = 0.0, step: int = 1 << 18):
    """Send ``data`` in ``step``-byte writes ``pause`` seconds apart; ``length`` False: no Content-Length."""
    handler.send_response(200)
    if length is not False:
        handler.send_header('Content-Length', str(len(data) if length is None else length))
    handler.end_headers()
    with contextlib.suppress(OSError):  # the client hung up
        for start in range(0, len(data), step):
            handler.wfile.write(data[start : start + step])
            time.sleep(pause)


def send_forever(handler, data: bytes, length: int | None = None):
    """The file, then zeros until the client hangs up; records the bytes sent in ``handler.server.sent``."""
    handler.send_response(200)
    if length is not None:
        handler.send_header('Content-Length', str(length))
    handler.end_headers()
    sent = 0
    with contextlib.suppress(OSError):
        handler.wfile.write(data)
        sent += len(data)
        while sent < 1 << 30:
            handler.wfile.write(bytes(1 << 16))
            sent += 1 << 16
    handler.server.sent = sent


def reset_midway(handler, data: bytes):
    """Half the file, then a TCP reset instead of a normal close."""
    send(handler, data[: len(data) // 2], length=len(data))
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))


def redirect_to_itself(handler, data: bytes):
    handler.send_response(302)
    handler.send_header('Location', handler.path)
    handler.send_header('Content-Length', '0')
    handler.end_headers()


class Silent:
    """A 127.0.0.1 server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.create_server(('127.0.0.1', 0))
        self.sock.settimeout(0.1)
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}'
        self.connections: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            with contextlib.suppress(TimeoutError, socket.timeout):
                self.connections.append(self.sock.accept()[0])

    def stop(self):
        self.running = False
        self.thread.join()
        for conn in [*self.connections, self.sock]:
            conn.close()


class Unreachable:
    """A 127.0.0.1 port where a connection is never made: its listening socket's queue is full and
    never accepted from, so Linux drops every new connection request (as a firewall that drops does)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(0)
        address = self.sock.getsockname()
        self.url = f'http://127.0.0.1:{address[1]}'
        self.fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
            self.fillers.append(filler)
        time.sleep(0.2)

    def stop(self):
        for sock in [*self.fillers, self.sock]:
            sock.close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv('ALKDSR_HOME', str(tmp_path / 'home'))
    return tmp_path / 'home'


def cache_files(home: Path) -> list[str]:
    folder = home / 'weights'
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def leftovers(home: Path) -> list[str]:
    """Every file (not folder) under ``home``: a failed download or import must leave none."""
    return sorted(str(p.relative_to(home)) for p in home.rglob('*') if not p.is_dir()) if home.exists() else []


def error_line(capsys) -> str:
    """The one line on stderr (nothing else: no traceback, no progress bar, no server noise)."""
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def snapshot(*paths: Path) -> dict[Path, bytes]:
    """Every file under ``paths`` with its bytes, to check that inputs are unchanged."""
    files = [q for p in paths for q in ([p] if p.is_file() else sorted(p.rglob('*'))) if q.is_file()]
    return {f: f.read_bytes() for f in files}


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


NOBODY = 65534


@contextlib.contextmanager
def without_root():
    """Run the block as a user that file modes apply to: 'nobody' when the tests run as root (root
    reads and writes whatever the mode says), unchanged otherwise."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_home(monkeypatch):
    """An ALKDSR_HOME that 'nobody' can reach (pytest's own temporary folders are private to their owner)."""
    base = Path(tempfile.mkdtemp(prefix='alkdsr-zoo-'))
    base.chmod(0o755)
    monkeypatch.setenv('ALKDSR_HOME', str(base / 'home'))
    with umask(0o022):
        yield base / 'home'
    for path in base.rglob('*'):
        with contextlib.suppress(OSError):
            path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mirror(monkeypatch):
    """Start mirrors of ../shared's official weights (``start(body=...)``) pointed at by ALKDSR_WEIGHTS_MIRROR."""
    started = []

    def start(body=None, folder: Path = SHARED / 'weights' / 'official', server=None):
        started.append(server or Mirror(folder, body=body))
        monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', started[-1].url)
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_registry_hashes_are_those_of_the_published_files():
    sums = shared_sums()
    assert {w.file_name: w.sha256 for w in WEIGHTS.values()} == sums
    sizes = {p.name: p.stat().st_size for name in sums for p in SHARED.glob(f'weights/*/{name}')}
    assert {w.file_name: w.size for w in WEIGHTS.values()} == sizes
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
    'body, case',
    [
        (lambda h, data: send(h, data[:100] + bytes([data[100] ^ 1]) + data[101:]), 'corrupt download'),
        (lambda h, data: send(h, data[: len(data) // 2]), 'short download'),
        (lambda h, data: send(h, data[: len(data) // 2], length=len(data)), 'truncated download'),
        (lambda h, data: send(h, data[: len(data) // 2], length=False), 'truncated download without a length'),
        (reset_midway, 'connection reset'),
    ],
    ids=['corrupt', 'short', 'cut', 'cut-without-length', 'reset'],
)
def test_a_bad_download_fails_in_one_line_and_leaves_nothing(home, mirror, capsys, body, case):
    reason = DOWNLOAD_MISTAKES[case].expect
    server = mirror(body=body)
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    line = error_line(capsys)
    assert line.startswith(f'alkdsr weights: error: alkdnet-x2: {server.url}/net_g_ALKDN_x2.pth does not match') or (
        line.startswith(f'alkdsr weights: error: alkdnet-x2: cannot download {server.url}/net_g_ALKDN_x2.pth (')
    )
    assert reason in line
    assert leftovers(home) == []


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
    err = error_line(capsys)
    assert f'{closed.url}/net_g_BSRN_x2.pth (Connection refused)' in err
    assert f'place the file at {home / "weights" / "net_g_BSRN_x2.pth"}' in err and 'alkdsr weights import' in err
    assert leftovers(home) == []


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


def trickle(pause: float):
    """A server that sends the headers, then the file one byte every ``pause`` seconds."""
    return lambda h, data: send(h, data, pause=pause, step=1)


@pytest.mark.parametrize(
    'server, case',
    [
        (lambda start: start(server=Silent()), 'server never answers'),
        (lambda start: start(body=trickle(2.0)), 'a byte every 2 s'),
        (lambda start: start(body=trickle(0.05)), 'trickling server'),
    ],
    ids=['never-answers', 'byte-every-2s', 'byte-every-50ms'],
)
def test_a_server_that_never_answers_or_trickles_gives_up(home, mirror, capsys, monkeypatch, server, case):
    reason = DOWNLOAD_MISTAKES[case].expect
    monkeypatch.setenv('ALKDSR_STALL_TIMEOUT', '1')
    url = f'{server(mirror).url}/net_g_ALKDN_x2.pth'
    start = time.monotonic()
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    assert time.monotonic() - start < 6  # the limit, plus one trickled byte's wait and a loaded machine's slack
    line = error_line(capsys)
    assert line.startswith(f'alkdsr weights: error: alkdnet-x2: cannot download {url} ({reason}; ')
    assert 'ALKDSR_STALL_TIMEOUT sets this limit' in line
    assert leftovers(home) == []


@pytest.mark.skipif(sys.platform != 'linux', reason='a full listening queue drops new connections on Linux')
def test_a_server_that_never_connects_gives_up_in_one_line(home, mirror, capsys, monkeypatch):
    monkeypatch.setenv('ALKDSR_CONNECT_TIMEOUT', '0.5')
    url = f'{mirror(server=Unreachable()).url}/net_g_ALKDN_x2.pth'
    start = time.monotonic()
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    assert time.monotonic() - start < 5
    line = error_line(capsys)
    assert f'alkdnet-x2: cannot download {url} ({DOWNLOAD_MISTAKES["server never connects"].expect})' in line
    assert leftovers(home) == []


@pytest.mark.parametrize(
    'setting, value',
    [('ALKDSR_STALL_TIMEOUT', 'soon'), ('ALKDSR_STALL_TIMEOUT', '0'), ('ALKDSR_CONNECT_TIMEOUT', '-1')],
)
def test_a_bad_timeout_setting_is_one_line_before_connecting(home, mirror, capsys, monkeypatch, setting, value):
    server = mirror()
    monkeypatch.setenv(setting, value)
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    expect = DOWNLOAD_MISTAKES['bad timeout setting'].expect
    assert error_line(capsys) == f'alkdsr weights: error: {setting}={value}: {expect}'
    assert server.requests == [] and leftovers(home) == []


@pytest.mark.parametrize(
    'source, case',
    [
        ('refused', 'mirror refusing connections'),
        ('404', 'bad mirror leaves a .partial'),
        ('500', 'mirror answering 500'),
        ('no-scheme', 'mirror without a scheme'),
        ('missing-folder', 'mirror a missing folder'),
    ],
)
def test_a_bad_mirror_leaves_nothing_in_the_cache(tmp_path, home, mirror, capsys, monkeypatch, source, case):
    reason = DOWNLOAD_MISTAKES[case].expect
    if source == 'refused':
        closed = Mirror(tmp_path)
        closed.stop()
        url = closed.url
    elif source == '404':
        url = mirror(folder=tmp_path).url  # an empty folder
    elif source == '500':
        url = mirror(body=lambda h, data: h.send_error(500)).url
    elif source == 'no-scheme':
        url = 'mirror'
    else:
        url = (tmp_path / 'no such folder').as_uri()
    monkeypatch.setenv('ALKDSR_WEIGHTS_MIRROR', url)
    for _ in range(2):  # a second run neither trips over nor adds to what the first left
        assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
        line = error_line(capsys)
        assert line.startswith(f'alkdsr weights: error: alkdnet-x2: cannot download {url}/net_g_ALKDN_x2.pth {reason};')
        assert f'place the file at {home / "weights" / "net_g_ALKDN_x2.pth"}' in line
        assert leftovers(home) == []


def test_a_redirect_loop_is_one_line(home, mirror, capsys):
    server = mirror(body=redirect_to_itself)
    assert main(['weights', 'fetch', 'alkdnet-x3']) == 2
    line = error_line(capsys)
    url = f'{server.url}/net_g_ALKDN_x3.pth'
    expect = DOWNLOAD_MISTAKES['redirect loop'].expect
    assert line.startswith(f'alkdsr weights: error: alkdnet-x3: cannot download {url} ({expect}')
    assert len(server.requests) > 1 and leftovers(home) == []


@pytest.mark.parametrize('announced', [10**12, None], ids=['announces-a-terabyte', 'sends-more-unannounced'])
def test_a_body_larger_than_the_registered_file_is_cut_off_in_one_line(home, mirror, capsys, announced):
    size = WEIGHTS['alkdnet-x2'].size
    server = mirror(body=lambda h, data: send_forever(h, data, length=announced))
    start = time.monotonic()
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    assert time.monotonic() - start < 30  # the server would send a gigabyte
    line = error_line(capsys)
    assert f'alkdnet-x2: cannot download {server.url}/net_g_ALKDN_x2.pth (' in line
    case = DOWNLOAD_MISTAKES['server announcing a huge size' if announced else 'more than the file']
    assert f'({case.expect})' in line  # the terabyte announced, or the file's size
    assert leftovers(home) == []
    server.stop()  # waits for the handler: it has stopped sending once the client hung up
    deadline = time.monotonic() + 10
    while not hasattr(server.server, 'sent') and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.server.sent < size + (64 << 20)  # what the socket buffers hold, not the gigabyte


def test_a_folder_at_the_cached_name_is_refused_before_downloading(home, mirror, capsys):
    server = mirror()
    folder = home / 'weights' / 'net_g_ALKDN_x2.pth'
    (folder / 'inside').mkdir(parents=True)
    (folder / 'inside' / 'notes.txt').write_text('mine')
    before = snapshot(home)
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    assert (
        error_line(capsys)
        == f'alkdsr weights: error: {folder}: {DOWNLOAD_MISTAKES["folder at the cached name"].expect}'
    )
    assert main(['weights', 'import', str(official_weights(2))]) == 2
    assert error_line(capsys).startswith(f'alkdsr weights: error: {folder}: is a folder, in the way')
    assert server.requests == [] and snapshot(home) == before
    assert main(['weights', 'list']) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[5] == 'folder'


@pytest.mark.parametrize('mask, mode', [(0o022, 0o644), (0o027, 0o640)])
def test_cached_files_get_the_mode_of_a_new_file(tmp_path, home, mirror, mask, mode):
    private = tmp_path / 'net_g_ALKDN_x2.pth'
    shutil.copyfile(official_weights(2), private)
    private.chmod(0o600)  # the cached copy's mode comes from the umask, not from the source
    mirror()
    with umask(mask):
        assert main(['weights', 'import', str(private)]) == 0
        assert main(['weights', 'fetch', 'alkdnet-x3']) == 0
    for name in ('alkdnet-x2', 'alkdnet-x3'):
        assert cached_path(name).stat().st_mode & 0o777 == mode
    assert private.stat().st_mode & 0o777 == 0o600 and private.read_bytes() == official_weights(2).read_bytes()


def test_an_unreadable_cached_file_is_one_line_and_import_replaces_it(open_home, mirror, capsys):
    server = mirror()
    assert main(['weights', 'import', str(official_weights(2))]) == 0
    cached = cached_path('alkdnet-x2')
    cached.chmod(0)
    cached.parent.chmod(0o777)  # the folder stays writable: the file alone is the problem
    capsys.readouterr()
    with without_root():
        assert main(['weights', 'path', 'alkdnet-x2']) == 2
        assert (
            error_line(capsys) == f'alkdsr weights: error: {cached}: {DOWNLOAD_MISTAKES["import writes 0600"].expect}'
        )
        assert main(['weights', 'list']) == 0
        assert capsys.readouterr().out.splitlines()[1].split()[5] == 'unreadable'
        assert server.requests == [] and cached.stat().st_mode & 0o777 == 0
        assert main(['weights', 'import', str(official_weights(2))]) == 0  # importing a verified file repairs it
    assert cached.stat().st_mode & 0o777 == 0o644 and cached.read_bytes() == official_weights(2).read_bytes()


@pytest.mark.parametrize('case', ['home-is-a-file', 'read-only-home'])
def test_a_cache_that_cannot_be_made_is_refused_before_downloading(open_home, mirror, capsys, monkeypatch, case):
    server = mirror()
    if case == 'home-is-a-file':
        open_home.parent.joinpath('settings').write_text('not a folder')
        monkeypatch.setenv('ALKDSR_HOME', str(open_home.parent / 'settings'))
        folder, problem = open_home.parent / 'settings' / 'weights', DOWNLOAD_MISTAKES['ALKDSR_HOME is a file'].expect
    else:
        open_home.mkdir()
        open_home.chmod(0o555)
        folder, problem = open_home / 'weights', DOWNLOAD_MISTAKES['read-only ALKDSR_HOME'].expect
    before = snapshot(open_home.parent)
    with without_root():
        assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
        line = error_line(capsys)
        assert main(['weights', 'import', str(official_weights(2))]) == 2
        assert error_line(capsys) == line
    assert line.startswith(f'alkdsr weights: error: {folder}: cannot ') and problem in line
    assert server.requests == [] and snapshot(open_home.parent) == before
    assert not folder.exists()


def test_a_corrupt_cached_file_is_named_when_the_download_fails_and_replaced_when_it_works(home, mirror, capsys):
    cached = home / 'weights' / 'net_g_ALKDN_x2.pth'
    cached.parent.mkdir(parents=True)
    data = official_weights(2).read_bytes()
    cached.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the right size, one bit wrong
    before = snapshot(home)
    closed = Mirror(SHARED / 'weights' / 'official')
    closed.stop()
    mirror(server=closed)
    assert main(['weights', 'path', 'alkdnet-x2']) == 2
    line = error_line(capsys)
    assert f'alkdnet-x2: cannot download {closed.url}/net_g_ALKDN_x2.pth (Connection refused); ' in line
    assert f'{cached} {DOWNLOAD_MISTAKES["offline with a corrupt cached file"].expect}' in line
    assert 'place the file at' not in line
    assert snapshot(home) == before  # the user's file is theirs to replace, not deleted
    mirror(body=lambda h, d: send(h, d[:100] + bytes([d[100] ^ 1]) + d[101:]))  # a server as corrupt as the file
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 2
    line = error_line(capsys)
    assert DOWNLOAD_MISTAKES['corrupt download'].expect in line
    assert f'{cached} {DOWNLOAD_MISTAKES["offline with a corrupt cached file"].expect}' in line
    assert snapshot(home) == before
    mirror()
    assert main(['weights', 'fetch', 'alkdnet-x2']) == 0
    assert cached.read_bytes() == data and leftovers(home) == ['weights/net_g_ALKDN_x2.pth']


@pytest.mark.parametrize('bad', ['bad.png', 'missing.pth', 'folder.pth'])
def test_import_checks_every_file_before_copying_any(tmp_path, home, capsys, bad):
    ok, ok2 = tmp_path / 'ok.pth', tmp_path / 'ok2.pth'
    shutil.copyfile(official_weights(2), ok)
    shutil.copyfile(bsrn_weights(3), ok2)
    if bad == 'bad.png':
        (tmp_path / bad).write_bytes(b'\x89PNG\r\n\x1a\n not weights')
        problem = 'not one of the registered weights (its SHA256 '
    elif bad == 'folder.pth':
        (tmp_path / bad).mkdir()
        problem = 'is a folder, not a weights file'
    else:
        problem = 'no such file'
    before = snapshot(tmp_path)
    assert main(['weights', 'import', str(ok), str(tmp_path / bad), str(ok2)]) == 2
    line = error_line(capsys)
    assert line.startswith(f'alkdsr weights: error: {tmp_path / bad}: {problem}')
    assert line.endswith(f'; {DOWNLOAD_MISTAKES["import checks every file first"].expect}')
    assert leftovers(home) == [] and snapshot(tmp_path) == before
    assert main(['weights', 'import', str(ok), str(ok2), str(ok)]) == 0
    assert cache_files(home) == ['net_g_ALKDN_x2.pth', 'net_g_BSRN_x3.pth']
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_a_registered_name_of_another_scale_is_refused_before_downloading(tmp_path, home, mirror, monkeypatch):
    server = mirror()
    assert registered_scale('alkdnet-x2') == 2 and registered_scale('bsrn-x4') == 4
    assert registered_scale('alkdnet-x9') is None and registered_scale(official_weights(2)) is None
    with pytest.raises(WeightsError) as refused:
        resolve('alkdnet-x2', scale=4)
    assert str(refused.value) == DOWNLOAD_MISTAKES['name of another scale'].expect
    assert server.requests == [] and leftovers(home) == []
    assert resolve('alkdnet-x3', scale=3) == cached_path('alkdnet-x3')  # the right scale is fetched
    assert server.requests == ['/net_g_ALKDN_x3.pth']
    monkeypatch.chdir(tmp_path)  # a file of that name wins over the name: its scale is the loader's to check
    Path('alkdnet-x2').write_bytes(official_weights(4).read_bytes())
    assert registered_scale('alkdnet-x2') is None and resolve('alkdnet-x2', scale=4) == Path('alkdnet-x2')


def test_upscale_with_a_name_of_another_scale_is_refused_before_downloading(tmp_path, home, mirror, capsys):
    server = mirror()
    out = tmp_path / 'out'
    assert main(['upscale', '-i', str(LR_X4), '-o', str(out), '--weights', 'alkdnet-x2', '--scale', '4']) == 2
    expect = DOWNLOAD_MISTAKES['upscale --weights of another scale'].expect
    assert error_line(capsys) == f'alkdsr upscale: error: {expect}'
    assert server.requests == [] and leftovers(home) == []
    assert not out.exists() or not any(out.iterdir())


def test_a_training_option_of_another_scale_is_refused_before_downloading(home, mirror):
    """The option check passes the file's scale: ``path: pretrain_network_g alkdnet-x2`` in an x4 file."""
    server = mirror()
    with pytest.raises(OptionError) as refused:
        resolve_weights_names({'pretrain_network_g': 'alkdnet-x2'}, scale=4)
    assert str(refused.value) == DOWNLOAD_MISTAKES['pretrain_network_g of another scale'].expect
    assert server.requests == [] and leftovers(home) == []
