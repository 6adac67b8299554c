"""The local cache of named weights: download once, verify by SHA256, then work offline.

Files live in ``$ALKDSR_HOME/weights/`` (default: the user's cache folder, ``~/.cache/alkdsr/weights/`` on
Linux; :func:`home_dir`) under their
published file names. A download goes to a hidden temporary file in that folder and becomes
visible under its final name only after its SHA256 matched (``os.replace``), so a cached file
is always a verified one, two processes fetching the same name at once both end with the same
verified file, and an interrupted or corrupt download leaves nothing behind. The connection is
opened, and its announced size checked, before that temporary file exists: a refused connection,
an HTTP error or a wrong size does not even touch the cache.

``$ALKDSR_WEIGHTS_MIRROR`` replaces the public URLs by ``<mirror>/<file name>`` (a company
mirror, an air-gapped site, ``file://`` folders).

The downloader is urllib's: requests has no ``file://`` (the mirrors of air-gapped sites), and neither its
read timeout nor torch.hub's downloader (no timeout at all) stops a server that trickles a byte every few
seconds. urllib runs with two limits so that a dead or hostile server cannot hang a command (an unset
limit would wait forever on a server that accepts the connection and never answers):

- ``$ALKDSR_CONNECT_TIMEOUT`` (seconds, default 30): the longest wait for the connection (and the TLS
  handshake) to be made.
- ``$ALKDSR_STALL_TIMEOUT`` (seconds, default 60): the download is abandoned when it receives nothing
  for that long, or less than 64 KiB in that long (a server that trickles a byte every few seconds
  never trips a plain read timeout).

A download also stops at the registered size: a server that announces (``Content-Length``) another
size is refused before anything is written, and one that sends more than the file is cut off there.
Every failure is one line (:class:`WeightsError`) naming the name, the URL and what happened.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from alkdsr.errors import AlkdsrError, CheckpointError, HomeError, WeightsError
from alkdsr.files.fileio import atomic_path, where_writing_fails
from alkdsr.version import __version__
from alkdsr.zoo.registry import WEIGHTS, PretrainedWeights

HOME_ENV = 'ALKDSR_HOME'
MIRROR_ENV = 'ALKDSR_WEIGHTS_MIRROR'
CONNECT_TIMEOUT_ENV = 'ALKDSR_CONNECT_TIMEOUT'
STALL_TIMEOUT_ENV = 'ALKDSR_STALL_TIMEOUT'
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_STALL_TIMEOUT = 60.0
MIN_PROGRESS = 64 * 1024  # bytes per stall timeout: slower than this (about 1 KiB/s by default) is a stall
CHUNK = 64 * 1024
_TIMEOUTS = (TimeoutError, socket.timeout)  # one class from Python 3.10, two before


class _DownloadFailed(Exception):
    """Why a download failed, in a few words; becomes a :class:`WeightsError` naming the URL.

    Deliberately not an OSError: ``atomic_path`` reports OSErrors as failed writes to the cache.
    """


class _ConnectTimeout(TimeoutError):
    """The connection (not a read) timed out; urllib wraps it in a URLError."""


def home_dir() -> Path:
    """alkdsr's own files: ``$ALKDSR_HOME``, or the user's cache folder for alkdsr (``platformdirs``:
    ``~/.cache/alkdsr`` on Linux, ``$XDG_CACHE_HOME/alkdsr`` where that is set, ``~/Library/Caches/alkdsr`` on
    macOS, ``%LOCALAPPDATA%\\alkdsr\\Cache`` on Windows)."""
    home = os.environ.get(HOME_ENV)
    if home:
        try:
            return Path(home).expanduser()
        except RuntimeError:  # ~name of no user: pathlib cannot expand it
            tilde = home.replace(os.sep, '/').split('/', 1)[0]
            raise HomeError(f'{HOME_ENV} {home}: no user named {tilde[1:]} (for {tilde})') from None
    from platformdirs import user_cache_path

    return user_cache_path('alkdsr', appauthor=False)


def cache_dir() -> Path:
    """Where named weights are kept: ``weights/`` in :func:`home_dir`."""
    return home_dir() / 'weights'


def lookup(name: str) -> PretrainedWeights:
    """The registry entry called ``name``; a one-line error listing the names otherwise."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise WeightsError(f'{name}: not a registered weights name (names: {", ".join(WEIGHTS)})') from None


def cached_path(name: str) -> Path:
    """Where the weights called ``name`` are (or will be) in the cache."""
    return cache_dir() / lookup(name).file_name


def source_url(entry: PretrainedWeights) -> str:
    """The URL to fetch ``entry`` from: the mirror's when ``$ALKDSR_WEIGHTS_MIRROR`` is set."""
    mirror = os.environ.get(MIRROR_ENV)
    return f'{mirror.rstrip("/")}/{entry.file_name}' if mirror else entry.url


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def cache_state(name: str) -> str:
    """What the cache holds for ``name``: 'yes' (a verified file), 'no', 'corrupt' (a file that fails its
    SHA256), 'unreadable' (no permission to read it) or 'folder' (a folder in the way); never raises for
    these, so that ``alkdsr weights list`` can show every name's state."""
    return _state(cached_path(name), lookup(name))


def is_cached(name: str) -> bool:
    """Whether a verified file for ``name`` is in the cache."""
    return cache_state(name) == 'yes'


def registered_scale(weights: str | os.PathLike) -> int | None:
    """The scale of the registered weights ``weights`` names, or None for a file or anything else.

    Read from the registry, without downloading: a command can refuse ``--weights alkdnet-x2 --scale 4``
    before fetching a file it cannot use. An existing file of that name wins over the name, as in
    :func:`resolve`.
    """
    if Path(weights).exists() or str(weights) not in WEIGHTS:
        return None
    return WEIGHTS[str(weights)].scale


def fetch(name: str, progress: bool = True) -> Path:
    """The cached file of ``name``, downloaded and verified first if it is not cached yet.

    A folder at the cached file's name, an unreadable cached file or a cache folder that cannot be
    written is refused before anything is downloaded.
    """
    entry, path = lookup(name), cached_path(name)
    state = _state(path, entry)
    if state == 'yes':
        return path
    _refuse_unusable(path, entry, state)
    _check_writable(path.parent)
    url = source_url(entry)
    connect, stall = (
        _seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT),
        _seconds(STALL_TIMEOUT_ENV, DEFAULT_STALL_TIMEOUT),
    )
    try:
        with _open(url, connect, stall) as response:
            _check_announced_size(response, entry)
            with _into_cache(path) as tmp:
                _copy_body(response, tmp, entry, stall, progress)
                digest = sha256_of(tmp)
                if digest != entry.sha256:
                    raise WeightsError(
                        f'{name}: {url} does not match its SHA256 (expected {entry.sha256[:16]}..., '
                        f'got {digest[:16]}...); corrupt or truncated download, nothing was kept'
                        + (f'; {_corrupt_note(path)}' if state == 'corrupt' else '')
                    )
    except _DownloadFailed as e:
        raise WeightsError(f'{name}: cannot download {url} ({e}); {_by_hand(path, state)}') from None
    return path


def import_files(sources: Iterable[str | os.PathLike]) -> list[tuple[str, Path]]:
    """Copy local files that are registered weights (recognised by SHA256) into the cache, checking all first.

    Every file is checked (exists, readable, one of the registered weights, nothing in the way in the
    cache) before any is copied, so that a typo in the third of three names does not leave a half-done
    import to sort out. Returns ``(name, cached path)`` for each source. The way to seed a machine
    that cannot download.
    """
    checked = []
    for source in map(Path, sources):
        entry = _registered_entry_of(source)
        path = cached_path(entry.name)
        state = _state(path, entry)
        if state == 'folder':
            _refuse_unusable(path, entry, state)
        checked.append((source, entry, path, state))
    if any(state != 'yes' for *_, state in checked):
        _check_writable(cache_dir())
    imported = []
    for source, entry, path, state in checked:
        # an unreadable or corrupt cached file is replaced: importing a verified file is how to repair it
        if state != 'yes' and _state(path, entry) != 'yes':  # a duplicate source may have cached it already
            with _into_cache(path) as tmp:
                _copy(source, tmp)
                _verify(tmp, entry, str(source))  # the copy, not only the source, must be right
        imported.append((entry.name, path))
    return imported


def import_file(source: str | os.PathLike) -> tuple[str, Path]:
    """:func:`import_files` for one file: ``(name, cached path)``."""
    return import_files([source])[0]


def resolve(weights: str | os.PathLike, scale: int | None = None) -> Path:
    """A checkpoint argument as a file: an existing path as it is, a registered name fetched to the cache.

    A file wins over a name. Anything else (an empty name too) is a one-line error listing the registered names.
    ``scale``: the scale the caller needs; a registered name of another scale is refused from the
    registry, before it is downloaded (a file's scale is only known once it is read: the caller checks it).
    """
    if os.fspath(weights) == '':  # Path('') is '.', the current folder, which exists
        names = ', '.join(WEIGHTS)
        raise CheckpointError(f'an empty name is not a checkpoint file nor a registered weights name ({names})')
    path = Path(weights)
    if path.exists():
        return path
    if str(weights) in WEIGHTS:
        entry = WEIGHTS[str(weights)]
        if scale is not None and entry.scale != scale:
            other = f'{entry.preset}-x{scale}'
            hint = f' ({other} is the x{scale} one)' if other in WEIGHTS else ''
            raise WeightsError(f'{weights}: the weights are for x{entry.scale}, not x{scale}{hint}')
        return fetch(str(weights))
    named = [entry.name for entry in WEIGHTS.values() if entry.file_name == path.name]
    if named:  # a registered file's name (README's examples): the name is what fetches it
        raise CheckpointError(f'{weights}: no such checkpoint file; {path.name} is the file of the registered weights '
                              f'{named[0]}: use the name {named[0]} instead (downloaded once and verified; '
                              f'`alkdsr weights path {named[0]}` prints where the file is kept)')  # fmt: skip
    raise CheckpointError(f'{weights}: no such checkpoint file, nor a registered weights name ({", ".join(WEIGHTS)})')


# --- the cache's files -------------------------------------------------------------------------------


def _state(path: Path, entry: PretrainedWeights) -> str:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return 'no'
    except OSError:  # a cache folder we may not look into
        return 'unreadable'
    if stat.S_ISDIR(info.st_mode):
        return 'folder'
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device: never read (it could block), replaced by a download
        return 'no'
    if info.st_size != entry.size:  # no need to hash it
        return 'corrupt'
    try:
        return 'yes' if sha256_of(path) == entry.sha256 else 'corrupt'
    except OSError:
        return 'unreadable'


def _refuse_unusable(path: Path, entry: PretrainedWeights, state: str) -> None:
    """A cached file we cannot check or replace is the user's to sort out: one line, before any download."""
    if state == 'folder':
        raise WeightsError(f'{path}: is a folder, in the way of the cached file of {entry.name}; remove or rename it')
    if state == 'unreadable':
        try:
            open(path, 'rb').close()
        except OSError as e:
            detail = e.strerror or str(e)
        else:
            detail = 'it could not be read'
        raise WeightsError(
            f'{path}: cannot read the cached file of {entry.name} ({detail}); fix its permissions or delete it'
        )


def _check_writable(folder: Path) -> None:
    """Refuse, before downloading, a cache folder that cannot be made or written (checked without making it)."""
    existing, why = where_writing_fails(folder) or (None, None)
    if why == 'file':
        raise WeightsError(f'{folder}: cannot make the weights cache, {existing} is a file; set {HOME_ENV} to a folder')
    if why == 'unwritable':
        raise WeightsError(
            f'{folder}: cannot write the weights cache in {existing} (permission denied or a read-only file system); '
            f'set {HOME_ENV} to a folder you can write'
        )


def _registered_entry_of(source: Path) -> PretrainedWeights:
    if source.is_dir():
        raise WeightsError(f'{source}: is a folder, not a weights file; nothing was imported')
    if not source.is_file():
        raise WeightsError(f'{source}: no such file; nothing was imported')
    try:
        digest = sha256_of(source)
    except OSError as e:
        raise WeightsError(f'{source}: cannot read ({e.strerror or e}); nothing was imported') from None
    entry = next((w for w in WEIGHTS.values() if w.sha256 == digest), None)
    if entry is None:
        raise WeightsError(
            f'{source}: not one of the registered weights (its SHA256 {digest[:16]}... matches none); '
            'nothing was imported'
        )
    return entry


def _copy(source: Path, destination: Path) -> None:
    """Copy the bytes only: the destination keeps the mode ``atomic_path`` gave it (0666 less the umask),
    not the source's (a read-only or private source would make a cache file others cannot replace or read)."""
    with open(source, 'rb') as src, open(destination, 'wb') as dst:
        for block in iter(lambda: src.read(1 << 20), b''):
            dst.write(block)


def _verify(path: Path, entry: PretrainedWeights, origin: str) -> None:
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise WeightsError(
            f'{entry.name}: {origin} does not match its SHA256 (expected {entry.sha256[:16]}..., '
            f'got {digest[:16]}...); corrupt or truncated copy, nothing was kept'
        )


class _into_cache:
    """``atomic_path`` (renamed into place only when the body succeeds), a failed write being one line.

    A class rather than a generator so that exceptions of the body that are not about writing
    (a failed download, a checksum) pass through unchanged.
    """

    def __init__(self, path: Path):
        self.path, self.context = path, atomic_path(path)

    def __enter__(self) -> Path:
        try:
            return self.context.__enter__()
        except AlkdsrError:
            raise
        except OSError as e:
            raise self._error(e) from None

    def __exit__(self, kind, error, traceback):
        try:
            suppressed = self.context.__exit__(kind, error, traceback)
        except AlkdsrError:
            raise  # atomic_path's own one line, or the body's
        except OSError as e:  # the rename into place
            raise self._error(e) from None
        if isinstance(error, OSError):  # writing (or reading a source) in the body: a disk, not a bug
            raise self._error(error) from None
        return suppressed

    def _error(self, error: OSError) -> WeightsError:
        return WeightsError(f'{self.path.parent}: cannot write to the weights cache ({error.strerror or error})')


def _by_hand(path: Path, state: str) -> str:
    """What to do when the download fails; a corrupt cached file is named, as 'place the file at' would mislead."""
    return (
        _corrupt_note(path)
        if state == 'corrupt'
        else f'to install it by hand, place the file at {path} or run {_IMPORT}'
    )


def _corrupt_note(path: Path) -> str:
    return f'{path} exists but fails its SHA256 check: replace it with the right file ({_IMPORT}) or delete it'


_IMPORT = '`alkdsr weights import FILE`'


# --- the download ------------------------------------------------------------------------------------


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise WeightsError(f'{variable}={text}: not a number of seconds greater than 0')
    return value


class _TimedConnections:
    """Connections that connect within the connect timeout, then read with the stall timeout.

    urllib has one timeout for both; a connect timeout long enough for a slow network would
    otherwise also be how long a silent server may keep us waiting for each byte.
    """

    stall: float

    def do_open(self, http_class, req, **kwargs):
        stall = self.stall

        def connection(*args, **kw):
            conn = http_class(*args, **kw)
            plain_connect = conn.connect

            def connect():
                try:
                    plain_connect()
                except _TIMEOUTS:
                    raise _ConnectTimeout() from None
                conn.sock.settimeout(stall)

            conn.connect = connect
            return conn

        return super().do_open(connection, req, **kwargs)


class _HTTPHandler(_TimedConnections, urllib.request.HTTPHandler):
    def __init__(self, stall: float):
        super().__init__()
        self.stall = stall


class _HTTPSHandler(_TimedConnections, urllib.request.HTTPSHandler):
    def __init__(self, stall: float):
        super().__init__()
        self.stall = stall


def _open(url: str, connect: float, stall: float):
    """The response for ``url``, headers read; every failure a :class:`_DownloadFailed`."""
    opener = urllib.request.build_opener(_HTTPHandler(stall), _HTTPSHandler(stall))
    try:
        request = urllib.request.Request(url, headers={'User-Agent': f'alkdsr/{__version__}'})
        return opener.open(request, timeout=connect)
    except urllib.error.HTTPError as e:
        e.close()
        if 300 <= e.code < 400:  # urllib's own message on a loop is three lines quoting the last response
            raise _DownloadFailed(f'HTTP {e.code}: too many redirects, a redirect loop') from None
        raise _DownloadFailed(f'HTTP {e.code} {_one_line(e.reason)}') from None
    except urllib.error.URLError as e:
        raise _DownloadFailed(_timeout_reason(e.reason, connect, stall) or _reason(e)) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise _DownloadFailed(_timeout_reason(e, connect, stall) or _reason(e)) from None


def _check_announced_size(response, entry: PretrainedWeights) -> None:
    announced = response.headers.get('Content-Length')
    if announced is not None and announced.strip().isdigit() and int(announced) != entry.size:
        raise _DownloadFailed(f'the server announces {int(announced)} bytes, the file has {entry.size}; refused')


def _copy_body(response, destination: Path, entry: PretrainedWeights, stall: float, progress: bool) -> None:
    """Write the body to ``destination``: at most ``entry.size`` bytes, abandoned when it stalls."""
    read = getattr(response, 'read1', response.read)  # read1: return what has come, do not wait for a full block
    received, window_start, window_bytes = 0, time.monotonic(), 0
    bar = _progress_bar(entry, progress)
    try:
        with open(destination, 'wb') as out:
            while True:
                try:
                    chunk = read(CHUNK)
                except _TIMEOUTS:
                    raise _DownloadFailed(_stalled(stall, nothing=True)) from None
                except (OSError, http.client.HTTPException) as e:
                    raise _DownloadFailed(
                        f'the connection failed after {received} of {entry.size} bytes: {_reason(e)}'
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > entry.size:
                    raise _DownloadFailed(f'the server sends more than the {entry.size} bytes of the file; refused')
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                window_bytes += len(chunk)
                now = time.monotonic()
                if window_bytes >= MIN_PROGRESS:
                    window_start, window_bytes = now, 0
                elif now - window_start > stall:
                    raise _DownloadFailed(_stalled(stall, nothing=False))
    finally:
        if bar is not None:
            bar.close()
    if received < entry.size:
        raise _DownloadFailed(f'the connection closed after {received} of {entry.size} bytes')


def _progress_bar(entry: PretrainedWeights, progress: bool):
    """A progress bar on a terminal only: in a log or a pipe it would be lines of carriage returns."""
    if not progress or not (hasattr(sys.stderr, 'isatty') and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=entry.size, unit='B', unit_scale=True, unit_divisor=1024, desc=entry.name, file=sys.stderr)


def _stalled(stall: float, nothing: bool) -> str:
    received = 'nothing received' if nothing else f'less than {MIN_PROGRESS // 1024} KiB received'
    return f'stalled: {received} in {stall:g} s; {STALL_TIMEOUT_ENV} sets this limit'


def _timeout_reason(error, connect: float, stall: float) -> str | None:
    if isinstance(error, _ConnectTimeout):
        return f'no connection within {connect:g} s; {CONNECT_TIMEOUT_ENV} sets this limit'
    if isinstance(error, _TIMEOUTS):  # the request was sent, the answer did not come
        return _stalled(stall, nothing=True)
    return None


def _reason(error: BaseException) -> str:
    reason = getattr(error, 'reason', None)
    if isinstance(reason, OSError) and reason.strerror:
        reason = reason.strerror
    elif isinstance(error, OSError) and error.strerror and not reason:
        reason = error.strerror
    return _one_line(reason or error) or type(error).__name__


def _one_line(text) -> str:
    return ' '.join(str(text).split())
