"""The local cache of named weights: download once, verify by SHA256, then work offline.

Files live in ``$ALKDSR_HOME/weights/`` (default ``~/.cache/alkdsr/weights/``) under their
published file names. A download goes to a hidden temporary file in that folder and becomes
visible under its final name only after its SHA256 matched (``os.replace``), so a cached file
is always a verified one, two processes fetching the same name at once both end with the same
verified file, and an interrupted or corrupt download leaves nothing behind.
``$ALKDSR_WEIGHTS_MIRROR`` replaces the public URLs by ``<mirror>/<file name>`` (a company
mirror, an air-gapped site, ``file://`` folders); the downloader is ``torch.hub``'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
from pathlib import Path

from alkdsr.errors import AlkdsrError, CheckpointError
from alkdsr.utils.fileio import atomic_path
from alkdsr.zoo.registry import WEIGHTS, PretrainedWeights

HOME_ENV = 'ALKDSR_HOME'
MIRROR_ENV = 'ALKDSR_WEIGHTS_MIRROR'


class WeightsError(AlkdsrError):
    """Named weights that cannot be had: unknown name, download failed, file does not verify."""


def cache_dir() -> Path:
    """Where named weights are kept: ``$ALKDSR_HOME/weights`` or ``~/.cache/alkdsr/weights``."""
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() / 'weights' if home else Path.home() / '.cache' / 'alkdsr' / 'weights'


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


def is_cached(name: str) -> bool:
    """Whether a verified file for ``name`` is in the cache."""
    path = cached_path(name)
    return path.is_file() and sha256_of(path) == lookup(name).sha256


def fetch(name: str, progress: bool = True) -> Path:
    """The cached file of ``name``, downloaded and verified first if it is not cached yet."""
    entry, path = lookup(name), cached_path(name)
    if path.is_file() and sha256_of(path) == entry.sha256:
        return path
    url = source_url(entry)
    with _into_cache(path) as tmp:
        try:
            _download(url, tmp, progress)
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise WeightsError(
                f'{name}: cannot download {url} ({_reason(e)}); to install it by hand, place the file at {path} '
                f'or run `alkdsr weights import FILE`'
            ) from None
        _verify(tmp, entry, url)
    return path


def import_file(source: str | os.PathLike) -> tuple[str, Path]:
    """Copy a local file that is one of the registered weights (by SHA256) into the cache.

    Returns ``(name, cached path)``. The way to seed a machine that cannot download.
    """
    source = Path(source)
    if not source.is_file():
        raise WeightsError(f'{source}: no such file')
    digest = sha256_of(source)
    entry = next((w for w in WEIGHTS.values() if w.sha256 == digest), None)
    if entry is None:
        raise WeightsError(f'{source}: not one of the registered weights (its SHA256 {digest[:16]}... matches none)')
    path = cached_path(entry.name)
    if path.is_file() and sha256_of(path) == digest:
        return entry.name, path
    with _into_cache(path) as tmp:
        shutil.copyfile(source, tmp)
        _verify(tmp, entry, str(source))  # the copy, not only the source, must be right
    return entry.name, path


def resolve(weights: str | os.PathLike) -> Path:
    """A checkpoint argument as a file: an existing path as it is, a registered name fetched to the cache.

    A file wins over a name. Anything else is a one-line error listing the registered names.
    """
    path = Path(weights)
    if path.exists():
        return path
    if str(weights) in WEIGHTS:
        return fetch(str(weights))
    raise CheckpointError(f'{weights}: no such checkpoint file, nor a registered weights name ({", ".join(WEIGHTS)})')


def _download(url: str, destination: Path, progress: bool) -> None:
    from torch.hub import download_url_to_file

    download_url_to_file(url, str(destination), hash_prefix=None, progress=progress)


def _verify(path: Path, entry: PretrainedWeights, origin: str) -> None:
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise WeightsError(
            f'{entry.name}: {origin} does not match its SHA256 (expected {entry.sha256[:16]}..., '
            f'got {digest[:16]}...); corrupt or truncated download, nothing was kept'
        )


@contextlib.contextmanager
def _into_cache(path: Path):
    """``atomic_path`` (renamed into place only when the body succeeds), a failed write being one line."""
    try:
        with atomic_path(path) as tmp:
            yield tmp
    except OSError as e:
        raise WeightsError(f'{path.parent}: cannot write to the weights cache ({e.strerror or e})') from None


def _reason(error: BaseException) -> str:
    reason = getattr(error, 'reason', None)
    return str(reason or error).strip() or type(error).__name__
