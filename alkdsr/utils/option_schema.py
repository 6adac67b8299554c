"""The option tree BasicSR 1.4.2 and alkdsr read, checked as a whole before BasicSR parses it.

BasicSR reads its option file key by key while it runs: a misspelt key (``total_iters``) is silently
ignored or a ``KeyError`` once the experiment folder exists, ``lr: 1e-3`` (YAML reads it as text) a
``TypeError`` inside the optimizer, ``name: ../x`` a folder renamed outside ``experiments/``.
:func:`check_option_tree` walks the file once, with ``--force_yml`` applied, against :data:`TREE`
(what each level may hold, what it must hold, and of what type and range each value is) and
raises :class:`OptionError` naming the first problem by its key path (``train:total_iters``, the
syntax of ``--force_yml``), with a "did you mean" for near misses. Registry names (``type`` of
datasets, losses, metrics, optimizer, scheduler) and the arguments each ``type`` accepts are read
from BasicSR's registries and the classes' signatures, so the check follows what BasicSR would call.

Dataset options are checked key by key for the dataset types alkdsr documents
(:data:`KNOWN_DATASET_TYPES`); other registered types get their name checked only.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable

from alkdsr.errors import AlkdsrError


class OptionError(AlkdsrError):
    """An option that cannot work; the message names it by its key path."""


Check = Callable[[str, object], None]  # (key path, value) -> None, raising OptionError


def _fail(where: str, problem: str):
    raise OptionError(f'{where}: {problem}')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text_hint(value) -> str:
    if isinstance(value, str) and re.fullmatch(r'[-+]?\d*\.?\d+[eE][-+]?\d+', value.strip()):
        return f' (YAML reads {value} as text: write it as {float(value)!r} or !!float {value})'
    return ''


def integer(low: int | None = None, whole_float: bool = False) -> Check:
    """An integer >= ``low``; ``whole_float``: also a float with an integer value (``!!float 5e3``)."""

    def check(where, value):
        ok = _is_int(value) or (whole_float and isinstance(value, float) and value.is_integer())
        if not ok:
            _fail(where, f'must be an integer (got {value!r}){_number_text_hint(value)}')
        if low is not None and value < low:
            _fail(where, f'must be >= {low} (got {value!r})')

    return check


def number(low: float | None = None, above: float | None = None, below: float | None = None) -> Check:
    """A finite number, >= ``low``, > ``above``, < ``below``."""

    def check(where, value):
        if not _is_number(value) or not math.isfinite(value):
            _fail(where, f'must be a number (got {value!r}){_number_text_hint(value)}')
        if low is not None and value < low:
            _fail(where, f'must be >= {low:g} (got {value!r})')
        if above is not None and value <= above:
            _fail(where, f'must be > {above:g} (got {value!r})')
        if below is not None and value >= below:
            _fail(where, f'must be < {below:g} (got {value!r})')

    return check


def boolean(where, value):
    if not isinstance(value, bool):
        _fail(where, f'must be true or false (got {value!r})')


def text(where, value):
    if not isinstance(value, str) or not value:
        _fail(where, f'must be a non-empty string (got {value!r})')


def optional(check: Check) -> Check:
    """``check``, or null."""

    def check_or_null(where, value):
        if value is not None:
            check(where, value)

    return check_or_null


def one_of(*choices) -> Check:
    def check(where, value):
        if value not in choices:
            _fail(where, f'must be one of {", ".join(map(repr, choices))} (got {value!r}){suggestion(value, choices)}')

    return check


def anything(where, value):
    pass


def folder_name(where, value):
    """A name that becomes one folder (``experiments/<name>``, ``results/<name>``, ``visualization/<name>``)."""
    if not isinstance(value, str) or not value.strip():  # BasicSR joins it to paths: text only
        _fail(where, f'must be a non-empty name (got {value!r})')
    if '/' in value or '\\' in value or value in ('.', '..') or '\0' in value or value != value.strip():
        _fail(
            where,
            f'{value!r} is not a plain folder name: it becomes a folder under experiments/ or results/, '
            'so it must be a single name without path separators, "." or ".." and surrounding spaces',
        )


def num_gpu(where, value):
    if value == 'auto':
        return
    integer(0)(where, value)
    import torch

    if value and not torch.cuda.is_available():
        _fail(where, f'{value} but no CUDA device is available; set num_gpu: auto (or 0) to run on the CPU')
    if value > torch.cuda.device_count() and torch.cuda.is_available():
        _fail(where, f'{value} but only {torch.cuda.device_count()} CUDA device(s) are available')


def suggestion(word, known) -> str:
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f'; did you mean {close[0]}?' if close else ''


class Level:
    """One mapping of the tree: its keys and what each holds.

    ``keys`` maps a key to a :data:`Check` or a nested :class:`Level`; ``required`` (train, test) the keys
    a run needs; ``prefixes``: key prefixes accepted with the check of the given key (``pretrain_network_``).
    """

    def __init__(self, keys: dict, required=(), required_train=(), required_test=(), prefixes=None, open=False):
        self.keys, self.prefixes, self.open = keys, prefixes or {}, open
        self.required = {'train': (*required, *required_train), 'test': (*required, *required_test)}

    def check(self, where: str, value, mode: str) -> None:
        """Unknown keys first (a misspelt key is also a missing one: the typo is the better message),
        then the keys a run needs, then each value."""
        if not isinstance(value, dict):
            _fail(where, f'must be a mapping of options (got {value!r})')
        for key in value:
            if self._spec(key) is None and not self.open:
                _fail(f'{where}:{key}' if where else str(key), f'unknown option{suggestion(key, self.keys)}')
        for key in self.required[mode]:
            if value.get(key) is None:
                run = 'a training' if mode == 'train' else 'a test'
                raise OptionError(f'{f"{where}: " if where else "the option file "}lacks {key}, which {run} run needs')
        for key, item in value.items():
            spec, path = self._spec(key), f'{where}:{key}' if where else str(key)
            if isinstance(spec, Level):
                if item is not None:
                    spec.check(path, item, mode)
            elif getattr(spec, 'with_mode', False):
                spec(path, item, mode)
            elif spec is not None:
                spec(path, item)

    def _spec(self, key):
        if key in self.keys:
            return self.keys[key]
        for prefix, spec in self.prefixes.items():
            if str(key).startswith(prefix):
                return spec
        return None


def with_mode(check):
    check.with_mode = True
    return check


# ------------------------------------------------------------------ typed entries: {type: Name, **arguments}


def _signature_keys(factory, skip: int) -> tuple[set[str], bool]:
    """The keyword arguments ``factory`` takes after its first ``skip`` positional ones; and whether **kwargs."""
    params = list(inspect.signature(factory).parameters.values())[skip:]
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def _required_keys(factory, skip: int) -> set[str]:
    params = list(inspect.signature(factory).parameters.values())[skip:]
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty}


def typed(
    kinds: Callable[[], dict], what: str, skip: int = 0, extra=(), required=True, strict_kwargs=False, needs=()
) -> Check:
    """A ``{type: Name, **arguments}`` mapping: ``Name`` one of ``kinds()`` (name -> class or function)
    and the arguments ones it takes (after its first ``skip`` parameters); ``extra`` keys BasicSR reads itself.
    ``strict_kwargs``: check named parameters even when the callable also takes ``**kwargs``; ``needs``:
    arguments BasicSR passes on its own that must be given although the callable has a default."""

    def check(where, value):
        if not isinstance(value, dict):
            _fail(where, f'must be a mapping with a type (got {value!r})')
        known = kinds()
        kind = value.get('type')
        if kind is None:
            if required:
                _fail(where, f'needs a type ({", ".join(sorted(known))})')
            return
        if kind not in known:
            _fail(f'{where}:type', f'{kind!r} is not {what} BasicSR knows{suggestion(kind, known)}')
        names, var_kw = _signature_keys(known[kind], skip)
        args = {k: v for k, v in value.items() if k != 'type' and k not in extra}
        if not var_kw or strict_kwargs:
            for key in args:
                if key not in names:
                    _fail(
                        f'{where}:{key}', f'{kind} takes no option {key}{suggestion(key, sorted(names | set(extra)))}'
                    )
        for key in sorted((_required_keys(known[kind], skip) | set(needs)) - set(args)):
            _fail(where, f'{kind} needs {key}')
        for key, item in args.items():
            if key in NUMERIC_ARGUMENTS:
                NUMERIC_ARGUMENTS[key](f'{where}:{key}', item)

    return check


NUMERIC_ARGUMENTS = {
    'lr': number(above=0),
    'weight_decay': number(low=0),
    'eps': number(above=0),
    'loss_weight': number(low=0),
    'eta_min': number(low=0),
    'gamma': number(above=0),
    'crop_border': integer(0),
}


def _optimizers() -> dict:
    import torch

    return {'Adam': torch.optim.Adam}  # the only one BasicSR 1.4.2's get_optimizer builds


def _schedulers() -> dict:
    from basicsr.models import lr_scheduler

    return {
        'MultiStepLR': lr_scheduler.MultiStepRestartLR,
        'MultiStepRestartLR': lr_scheduler.MultiStepRestartLR,
        'CosineAnnealingRestartLR': lr_scheduler.CosineAnnealingRestartLR,
    }


def _registry(name: str) -> Callable[[], dict]:
    def kinds():
        from basicsr.utils import registry

        return dict(iter(getattr(registry, name)))  # the registry iterates over its (name, class) pairs

    return kinds


# ------------------------------------------------------------------ the tree

KNOWN_DATASET_TYPES = (
    'PairedImageDataset',
    'ALKDSRPairedImageDataset',
    'DevicePairedImageDataset',
    'SingleImageDataset',
)

IO_BACKEND = Level(
    {'type': one_of('disk', 'lmdb', 'memcached'), 'db_paths': anything, 'client_keys': anything,
     'server_list_cfg': anything, 'client_cfg': anything, 'sys_path': anything},
    required=('type',),
)  # fmt: skip

DATASET = Level(
    {
        'name': folder_name,
        'type': anything,  # checked by alkdsr.utils.option_checks (registered type)
        'dataroot_gt': text,
        'dataroot_lq': text,
        'meta_info_file': optional(text),
        'filename_tmpl': text,
        'io_backend': IO_BACKEND,
        'gt_size': integer(1),
        'use_hflip': boolean,
        'use_rot': boolean,
        'use_flip': boolean,
        'use_shuffle': boolean,
        'num_worker_per_gpu': integer(0),
        'batch_size_per_gpu': integer(1),
        'dataset_enlarge_ratio': integer(1),
        'prefetch_mode': optional(one_of('cpu', 'cuda')),
        'num_prefetch_queue': integer(1),
        'pin_memory': boolean,
        'persistent_workers': boolean,
        'color': optional(one_of('y')),
        'mean': anything,
        'std': anything,
        'check_pairs': boolean,  # alkdsr.data.paired_image_dataset
    },
    required=('name', 'type', 'io_backend'),
)


@with_mode
def datasets(where, value, mode):
    if not isinstance(value, dict) or not value:
        _fail(where, 'must map each phase (train, val, test_1, ...) to a dataset')
    phases = ('train', 'val') if mode == 'train' else ('test', 'val')
    for phase, dataset in value.items():
        path = f'{where}:{phase}'
        if str(phase).split('_')[0] not in phases:
            _fail(path, f'unknown phase: a {mode} run takes {" and ".join(f"{p} or {p}_<n>" for p in phases)}'
                  f'{suggestion(phase, phases)}')  # fmt: skip
        if not isinstance(dataset, dict):
            _fail(path, f'must be a mapping of dataset options (got {dataset!r})')
        if dataset.get('type') in KNOWN_DATASET_TYPES:
            DATASET.check(path, dataset, mode)
            needed = ('batch_size_per_gpu', 'num_worker_per_gpu') if phase == 'train' else ()
            for key in needed:
                if key not in dataset:
                    _fail(path, f'lacks {key}, which the training data loader needs')
        elif 'name' in dataset:
            folder_name(f'{path}:name', dataset['name'])
    if mode == 'train' and 'train' not in value:
        _fail(where, 'lacks train, the training dataset')


NETWORK = Level({}, required=('type',), open=True)  # its arguments are checked by building it (option_checks)

PATH = Level(
    {'resume_state': optional(text), 'experiments_root': text, 'root': text},
    required_test=('pretrain_network_g',),
    prefixes={'pretrain_network_': optional(text), 'strict_load_': boolean, 'param_key_': optional(text)},
)

TRAIN = Level(
    {
        'optim_g': typed(_optimizers, 'an optimizer', skip=1, needs=('lr',)),  # get_optimizer(type, params, lr)
        'optim_d': typed(_optimizers, 'an optimizer', skip=1, needs=('lr',)),
        'scheduler': typed(_schedulers, 'a learning-rate scheduler', skip=1),
        'total_iter': integer(1, whole_float=True),
        'warmup_iter': integer(-1, whole_float=True),
        'pixel_opt': optional(typed(_registry('LOSS_REGISTRY'), 'a loss')),
        'perceptual_opt': optional(typed(_registry('LOSS_REGISTRY'), 'a loss')),
        'gan_opt': optional(typed(_registry('LOSS_REGISTRY'), 'a loss')),
        'net_d_iters': integer(1),
        'net_d_init_iters': integer(0),
        'ema_decay': number(low=0, below=1),
        # alkdsr's model (alkdsr.models.alkdsr_model checks their values)
        'amp': anything,
        'compile': anything,
        'channels_last': anything,
        'nan_policy': anything,
        'fused_alkconv': anything,
        'deterministic': anything,
    },
    required_train=('optim_g', 'scheduler', 'total_iter'),
)

METRIC = typed(_registry('METRIC_REGISTRY'), 'a metric', skip=2, extra=('better',), strict_kwargs=True)

VAL = Level(
    {
        'val_freq': integer(1, whole_float=True),
        'save_img': boolean,
        'suffix': optional(folder_name),
        'pbar': boolean,
        'metrics': Level({}, open=True),  # each checked below
    },
    required=('save_img',),
    required_train=('val_freq',),
)

LOGGER = Level(
    {
        'print_freq': integer(1, whole_float=True),
        'save_checkpoint_freq': integer(1, whole_float=True),
        'use_tb_logger': boolean,
        'wandb': Level({'project': optional(text), 'resume_id': anything, 'entity': anything}),
    },
    required_train=('print_freq', 'save_checkpoint_freq', 'use_tb_logger'),
)

TREE = Level(
    {
        'name': folder_name,
        'model_type': text,  # registered: alkdsr.utils.option_checks
        'scale': integer(1),
        'num_gpu': num_gpu,
        'manual_seed': optional(integer()),
        'datasets': datasets,
        'network_g': NETWORK,
        'network_d': NETWORK,
        'path': PATH,
        'train': TRAIN,
        'val': VAL,
        'logger': LOGGER,
        'dist_params': Level({'backend': one_of('nccl', 'gloo'), 'port': integer(1)}),
        'find_unused_parameters': boolean,
        'suffix': anything,  # in the authors' test files; BasicSR 1.4.2 does not read it
        'crop_border': anything,  # likewise
    },
    required=('name', 'model_type', 'num_gpu', 'datasets', 'network_g', 'path'),
    required_train=('train', 'logger'),
    required_test=('val',),
)


def check_option_tree(opt: dict, is_train: bool) -> None:
    """Raise OptionError for the first option of ``opt`` that BasicSR would not read or could not use."""
    mode = 'train' if is_train else 'test'
    if not isinstance(opt, dict):
        raise OptionError('the option file must be a mapping of options')
    TREE.check('', opt, mode)
    if mode == 'train' and opt.get('logger', {}).get('wandb', {}) and (opt['logger']['wandb'] or {}).get('project'):
        if opt['logger'].get('use_tb_logger') is not True:
            _fail('logger:use_tb_logger', 'must be true when logger:wandb:project is set (wandb syncs tensorboard)')
    train = opt.get('train') or {}
    if mode == 'train' and not train.get('pixel_opt') and not train.get('perceptual_opt'):
        _fail('train', 'needs a loss: pixel_opt (e.g. {type: L1Loss, loss_weight: 1.0}) or perceptual_opt')
    metrics = (opt.get('val') or {}).get('metrics') or {}
    for name, metric in metrics.items():
        METRIC(f'val:metrics:{name}', metric)


# ------------------------------------------------------------------ --force_yml, as BasicSR applies it


def apply_force_yml(opt: dict, entries: list[str]) -> None:
    """Apply ``--force_yml a:b=value`` entries as BasicSR does, refusing entries it would fail on.

    BasicSR splits each entry at '=', walks the keys with ``exec`` and cannot create intermediate keys.
    """
    from basicsr.utils.options import _postprocess_yml_value

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
        node[path[-1]] = _postprocess_yml_value(value)
