"""Pack PNG images into an LMDB that BasicSR's ``io_backend: lmdb`` reads, atomically.

Layout (as ``basicsr.utils.lmdb_util`` writes it): ``<name>.lmdb/{data.mdb, lock.mdb, meta_info.txt}``,
the key is the image name without extension, the value the PNG bytes, and ``meta_info.txt`` has one line
``<key>.png (h,w,c) <png compression level>`` per image. ``paired_paths_from_lmdb`` takes a key to be
everything before the first '.' of its line, so keys must not contain '.'.

The LMDB is built in a hidden temporary directory beside the target and renamed into place when
complete (``alkdsr.files.fileio.atomic_path``), so a killed or failed run never leaves a half-written
``.lmdb``. BasicSR's ``LmdbMaker`` does not serve: its memory map has a fixed size (1 TB, a file that
size on Windows), it ends the process when the folder exists, and it writes in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import lmdb

from alkdsr.files.fileio import atomic_path

COMMIT_EVERY = 1000  # entries, or
COMMIT_BYTES = 64 << 20  # bytes of values per transaction
MIN_MAP_SIZE = 64 << 20


def check_key(key: str) -> str | None:
    """Why ``key`` cannot be an LMDB key for BasicSR, or None when it can."""
    if not key.isascii():
        return 'LMDB keys must be ASCII'
    if '.' in key:
        return "BasicSR's LMDB reader cuts keys at the first '.'"
    if any(c.isspace() for c in key):
        return 'LMDB keys must not contain white space'
    return None


def read_keys(lmdb_path: str | os.PathLike) -> list[str]:
    """Keys listed in an LMDB's ``meta_info.txt``, parsed the way BasicSR parses them."""
    with open(Path(lmdb_path) / 'meta_info.txt') as f:
        return [line.split('.')[0] for line in f if line.strip()]


LmdbError = lmdb.Error  # what lmdb raises for a full disk or map, besides OSError


def write_lmdb(
    target: str | os.PathLike,
    items: Iterable[tuple[str, bytes, tuple[int, int, int]]],
    compression: int,
    size_hint: int = 0,
) -> int:
    """Write ``(key, png_bytes, (h, w, c))`` items to the LMDB directory ``target``; returns the count.

    Replaces an existing ``target`` only once the new one is complete. ``size_hint`` (bytes) sizes the
    memory map; it grows when the data turn out larger.
    """
    target = Path(target)
    if target.suffix != '.lmdb':
        raise ValueError(f'an LMDB path must end with .lmdb: {target}')
    with atomic_path(target, folder=True) as tmp:
        return _fill(tmp, items, compression, max(MIN_MAP_SIZE, int(size_hint * 1.5)))


def _fill(path: Path, items, compression: int, map_size: int) -> int:
    env = lmdb.open(str(path), map_size=map_size)
    meta, pending, pending_bytes = [], [], 0
    try:
        for key, value, (h, w, c) in items:
            pending.append((key.encode('ascii'), value))
            pending_bytes += len(value)
            meta.append(f'{key}.png ({h},{w},{c}) {compression}\n')
            if len(pending) >= COMMIT_EVERY or pending_bytes >= COMMIT_BYTES:
                _commit(env, pending)
                pending, pending_bytes = [], 0
        _commit(env, pending)
        env.sync(True)
    finally:
        env.close()
    with open(path / 'meta_info.txt', 'w') as f:
        f.writelines(meta)
        f.flush()
        os.fsync(f.fileno())
    return len(meta)


def _commit(env: lmdb.Environment, pending: list[tuple[bytes, bytes]]) -> None:
    """Write ``pending`` in one transaction, doubling the memory map until it fits (put or commit may overflow)."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in pending:
                    txn.put(key, value)
            return
        except lmdb.MapFullError:
            env.set_mapsize(env.info()['map_size'] * 2 + sum(len(v) for _, v in pending))
