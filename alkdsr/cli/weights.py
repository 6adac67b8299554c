"""Named pretrained weights: list them, fetch them into the cache, seed the cache from files.

  alkdsr weights list                        # names, scale, params, Set5 PSNR, cached or not
  alkdsr weights fetch alkdnet-x4 bsrn-x4    # or --all: download and verify by SHA256
  alkdsr weights import net_g_ALKDN_x4.pth   # a file you already have (an offline machine)
  alkdsr weights path alkdnet-x4             # where the cached file is (fetched first if needed)

Every command that takes --weights (upscale, benchmark, profile, export, compare), alkdsr.load_model
and option files (path: pretrain_network_g) accept these names. Files are kept in
$ALKDSR_HOME/weights (default ~/.cache/alkdsr/weights); ALKDSR_WEIGHTS_MIRROR=<base URL> fetches
<base URL>/<file name> instead of the public URL (file:// works too). A download becomes visible
in the cache only after its SHA256 matched the registry's; it never writes more than the registered
size. ALKDSR_CONNECT_TIMEOUT (seconds, default 30) limits the wait for a connection,
ALKDSR_STALL_TIMEOUT (default 60) how long a download may receive nothing, or less than 64 KiB.
`import` checks every file before it copies any.
"""

from __future__ import annotations

import argparse

from alkdsr.cli._options import path_text
from alkdsr.errors import WeightsError
from alkdsr.zoo import WEIGHTS, cache_dir, cache_state, cached_path, fetch, import_files, lookup

HELP = 'named pretrained weights: list, fetch, import a file, path'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    actions.add_parser('list', help='registered weights, with their scores and whether they are cached')
    fetch_parser = actions.add_parser('fetch', help='download and verify weights into the cache')
    fetch_parser.add_argument('names', nargs='*', metavar='NAME', help='registered names (alkdsr weights list)')
    fetch_parser.add_argument('--all', action='store_true', help='every registered name')
    import_parser = actions.add_parser('import', help='place local files that are registered weights in the cache')
    import_parser.add_argument(
        'files', nargs='+', type=path_text, metavar='FILE', help='checkpoint files, recognised by SHA256'
    )
    path_parser = actions.add_parser('path', help='print the cached file of a name (fetching it if needed)')
    path_parser.add_argument('name', metavar='NAME')


def run(args: argparse.Namespace) -> int:
    return {'list': _list, 'fetch': _fetch, 'import': _import, 'path': _path}[args.action](args)


def _list(args) -> int:
    """One row per name; 'cached' is yes, no, or what is wrong with the cached file (corrupt, unreadable,
    folder), so that the listing never fails on a damaged cache and shows what to repair."""
    print(f'{"name":<12} {"scale":>5} {"params":>9} {"Set5 PSNR":>10} {"Set14 PSNR":>11}  {"cached":<10} {"size":>8}')
    for entry in WEIGHTS.values():
        state = cache_state(entry.name)
        size = f'{cached_path(entry.name).stat().st_size / 2**20:.1f} MB' if state == 'yes' else '-'
        print(
            f'{entry.name:<12} {"x" + str(entry.scale):>5} {entry.params:>9,} {entry.metrics["Set5"][0]:>10.2f} '
            f'{entry.metrics["Set14"][0]:>11.2f}  {state:<10} {size:>8}'
        )
    print(f'cache: {cache_dir()}')
    return 0


def _fetch(args) -> int:
    if args.all == bool(args.names):
        raise WeightsError('give NAME... or --all (not both)' if args.all else 'give NAME... or --all')
    names = list(WEIGHTS) if args.all else list(dict.fromkeys(args.names))
    for name in names:
        lookup(name)  # every name checked before anything is downloaded
    for name in names:
        print(f'{name}: {fetch(name)}')
    return 0


def _import(args) -> int:
    for file, (name, path) in zip(args.files, import_files(args.files)):  # all checked before any is copied
        print(f'{file}: {name}, verified, cached at {path}')
    return 0


def _path(args) -> int:
    print(fetch(args.name, progress=False))
    return 0
