"""Reading an option file as people write it, and applying ``--force_yml``.

The file is YAML, read once: UTF-8 (a BOM allowed), ``<<`` merge keys merged, a key written twice in one
mapping refused (BasicSR's loader lets the second silently win), a mapping at the top. Each problem is one
line naming the file (:class:`alkdsr.errors.AlkdsrError`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path

import yaml

from alkdsr.errors import AlkdsrError, OptionError
from alkdsr.options.schema import EXCERPT, suggestion

MAX_OPTION_FILE_BYTES = 16 * 2**20  # option files are kilobytes: more is not one (and is not read whole)


def excerpt_text(text: str) -> str:
    """At most a few lines' worth of ``text``, for a one-line message."""
    return text if len(text) <= 4 * EXCERPT else text[: 4 * EXCERPT - 3] + '...'


def read_option_file(path) -> dict:
    """The option file as a dict: UTF-8 (a BOM allowed), valid YAML, a mapping; one line naming the file if not."""
    if Path(path).exists() and not Path(path).is_file():  # a FIFO would block the read forever, a folder fail it
        raise AlkdsrError(f'{path}: not a regular file (an option file is a YAML file)')
    try:
        with open(path, 'rb') as f:
            data = f.read(MAX_OPTION_FILE_BYTES + 1)
    except OSError as e:
        raise AlkdsrError(f'{path}: cannot read the option file ({e.strerror})') from None
    if len(data) > MAX_OPTION_FILE_BYTES:
        raise AlkdsrError(f'{path}: more than {MAX_OPTION_FILE_BYTES // 2**20} MiB, not an option file')
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise AlkdsrError(f'{path}: not UTF-8 text (byte {e.start}); save the option file as UTF-8') from None
    try:
        content = yaml.load(text, Loader=_OptionLoader)
    except _DuplicateKey as e:
        raise AlkdsrError(f'{path}: {e}; keep one') from None
    except yaml.YAMLError as e:
        raise AlkdsrError(f'{path}: not valid YAML ({excerpt_text(" ".join(str(e).split()))})') from None
    except RecursionError:
        raise AlkdsrError(f'{path}: nested too deeply to be an option file') from None
    if not isinstance(content, dict):
        raise AlkdsrError(f'{path}: not an option file (expected a YAML mapping of options)')
    return content


def apply_force_yml(opt: dict, entries: list[str]) -> None:
    """Apply ``--force_yml a:b=value`` entries as BasicSR does, refusing entries it would fail on.

    BasicSR splits each entry at '=', walks the keys with ``exec`` and cannot create intermediate keys; it
    reads the value with ``eval`` (``[1/0]`` is a ZeroDivisionError, and any expression runs). Here the value
    is read as YAML, as the option file is (``[4]`` a list, ``1e-3`` text, ``~`` null), and ``None`` is null
    as it is for BasicSR.
    """

    for entry in entries:
        if entry.count('=') != 1:
            raise OptionError(f'--force_yml {entry}: expected KEY:SUBKEY=VALUE (one "=")')
        keys, value = (part.strip() for part in entry.split('='))
        path = keys.split(':')
        if not all(re.fullmatch(r'[A-Za-z0-9_.\-]+', key) for key in path):
            raise OptionError(f'--force_yml {entry}: {keys!r} is not a key path such as train:total_iter')
        node = opt
        for depth, key in enumerate(path[:-1]):
            if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                where = ':'.join(path[: depth + 1])
                known = node.keys() if isinstance(node, dict) else ()
                raise OptionError(
                    f'--force_yml {entry}: the option file has no mapping {where}{suggestion(key, known)}'
                )
            node = node[key]
        try:
            node[path[-1]] = None if value == 'None' else yaml.load(value, Loader=_OptionLoader)
        except yaml.YAMLError as e:
            reason = ' '.join(str(e).split())
            raise OptionError(f'--force_yml {entry}: cannot read the value {value!r} ({reason})') from None


class _OptionLoader(yaml.SafeLoader):
    """YAML as people write option files: ``<<`` merge keys merged, a key written twice in one mapping refused."""

    def flatten_mapping(self, node):
        """(Merging rewrites a merged mapping's pairs in place: keep each mapping's own, for the check.)"""
        self._own_pairs = getattr(self, '_own_pairs', {})
        self._own_pairs.setdefault(id(node), list(node.value))
        super().flatten_mapping(node)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in getattr(self, '_own_pairs', {}).get(id(node), node.value):
            if key_node.tag == 'tag:yaml.org,2002:merge':
                continue  # merged by SafeLoader; the mapping's own keys override the merged ones
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, Hashable):  # a list or a mapping as a key: no option has such a name
                problem = 'a key that is a list or a mapping'
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            if key in seen:
                raise _DuplicateKey(f'the key {key!r} is written twice in one mapping (lines {seen[key]} and {line})')
            seen[key] = line
        return super().construct_mapping(node, deep)


class _DuplicateKey(yaml.YAMLError):
    pass


def load_options(path, force_yml: list[str], is_train: bool, debug: bool = False):
    """``(typed tree, BasicSR's dict)`` of an option file with ``--force_yml`` and ``--debug`` applied;
    OptionError naming the file."""
    from alkdsr.options.schema import Switches, parse_tree

    opt = read_option_file(path)
    try:
        apply_force_yml(opt, force_yml)
    except OptionError as e:
        raise OptionError(f'{path}: {e}') from None
    _apply_debug(opt, debug, is_train)
    if is_train and isinstance(opt.get('train'), dict):
        Switches.read(opt['train'])  # alkdsr's switches, refused in the words the model has always used
    try:
        tree = parse_tree(opt, is_train)
    except OptionError as e:
        raise OptionError(f'{path}: {e}') from None
    except RecursionError:
        raise OptionError(f'{path}: nested too deeply to be an option file') from None
    return tree, tree.to_basicsr()


def _apply_debug(opt: dict, debug: bool, is_train: bool) -> None:
    """BasicSR's ``--debug``: the name gets a ``debug_`` prefix; a training run whose name holds ``debug`` logs
    every iteration and saves and validates every 8 (BasicSR's short debug run)."""
    name = opt.get('name')
    if not isinstance(name, str):
        return  # the tree names the problem
    if debug and not name.startswith('debug'):
        opt['name'] = name = f'debug_{name}'
    if is_train and 'debug' in name:
        if isinstance(opt.get('val'), dict):
            opt['val']['val_freq'] = 8
        if isinstance(opt.get('logger'), dict):
            opt['logger'].update(print_freq=1, save_checkpoint_freq=8)
