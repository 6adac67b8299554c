"""The option tree BasicSR 1.4.2 and alkdsr read, declared once as pydantic models and checked as a whole
before BasicSR parses it.

BasicSR reads its option file key by key while it runs: a misspelt key (``total_iters``) is silently
ignored or a ``KeyError`` once the experiment folder exists, ``lr: 1e-3`` (YAML reads it as text) a
``TypeError`` inside the optimizer, ``name: ../x`` a folder renamed outside ``experiments/``.
:func:`check_option_tree` validates the file once, with ``--force_yml`` applied, against :class:`Tree`
and raises :class:`OptionError` naming the first problem by its key path (``train:total_iters``, the
syntax of ``--force_yml``), with a "did you mean" for near misses. Registry names (``type`` of
datasets, losses, metrics, optimizer, scheduler) and the arguments each ``type`` accepts are read
from BasicSR's registries (their public API) and the classes' signatures, so the check follows what
BasicSR would call.

Why pydantic: the tree is nested mappings of typed, ranged values, which pydantic models declare
directly (strict types, ``Field`` bounds, ``Literal`` choices), and each error it reports carries the
key path and the broken constraint, from which :func:`_explain` writes one line. jsonschema would
serve for the static part, but the registry-dependent parts (which arguments a loss takes) are code
either way. What each level requires depends on the run (training or test): :class:`Level` checks
that, and unknown keys, before its values, so that a misspelt key is named as such rather than as a
missing one.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from alkdsr.errors import OptionError


def suggestion(word, known) -> str:
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f'; did you mean {close[0]}?' if close else ''


def _problem(text: str) -> PydanticCustomError:
    """An error whose message is ``text``, written after the key path."""
    return PydanticCustomError('option', '{problem}', {'problem': text})


def _number_text_hint(value) -> str:
    if isinstance(value, str) and re.fullmatch(r'[-+]?\d*\.?\d+[eE][-+]?\d+', value.strip()):
        return f' (YAML reads {value} as text: write it as {float(value)!r} or !!float {value})'
    return ''


# ------------------------------------------------------------------------------------------ values


def _whole(value):
    """``!!float 5e3`` for an iteration count: a float with an integer value is one."""
    if isinstance(value, float) and not value.is_integer():
        raise _problem(f'must be an integer (got {value!r})')
    return value


def Int(ge: int | None = None, whole_float: bool = False):  # noqa: N802  (a type)
    """An integer (>= ``ge``); ``whole_float``: also a float with an integer value (``!!float 5e3``)."""
    base = Annotated[int | float, AfterValidator(_whole)] if whole_float else int
    return Annotated[base, Field(ge=ge)]


def Num(ge: float | None = None, gt: float | None = None, lt: float | None = None):  # noqa: N802  (a type)
    """A finite number with bounds (strict pydantic takes an int for a float, never a bool or text)."""
    return Annotated[float, Field(ge=ge, gt=gt, lt=lt, allow_inf_nan=False)]


Text = Annotated[str, Field(min_length=1)]


def _folder_name(value):
    """A name that becomes one folder (``experiments/<name>``, ``results/<name>``, ``visualization/<name>``)."""
    if not isinstance(value, str) or not value.strip():  # BasicSR joins it to paths: text only
        raise _problem(f'must be a non-empty name (got {value!r})')
    if '/' in value or '\\' in value or value in ('.', '..') or '\0' in value or value != value.strip():
        raise _problem(
            f'{value!r} is not a plain folder name: it becomes a folder under experiments/ or results/, '
            'so it must be a single name without path separators, "." or ".." and surrounding spaces'
        )
    return value


FolderName = Annotated[Any, AfterValidator(_folder_name)]


def _num_gpu(value):
    if value == 'auto':
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise _problem(f'must be an integer (got {value!r}){_number_text_hint(value)}')
    if value < 0:
        raise _problem(f'must be >= 0 (got {value!r})')
    import torch

    if value and not torch.cuda.is_available():
        raise _problem(f'{value} but no CUDA device is available; set num_gpu: auto (or 0) to run on the CPU')
    if value > torch.cuda.device_count() and torch.cuda.is_available():
        raise _problem(f'{value} but only {torch.cuda.device_count()} CUDA device(s) are available')
    return value


NumGpu = Annotated[Any, AfterValidator(_num_gpu)]


# ----------------------------------------------------------------------------- typed entries {type: Name, **args}


def _parameters(factory, skip: int) -> tuple[set[str], set[str], bool]:
    """The keyword arguments ``factory`` takes after its first ``skip`` positional ones, those without a
    default, and whether it also takes ``**kwargs``."""
    params = list(inspect.signature(factory).parameters.values())[skip:]
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = {p.name for p in named if p.default is p.empty}
    return {p.name for p in named}, required, any(p.kind is p.VAR_KEYWORD for p in params)


NUMERIC_ARGUMENTS = {  # arguments of optimizers, schedulers, losses and metrics, wherever they appear
    'lr': Num(gt=0),
    'weight_decay': Num(ge=0),
    'eps': Num(gt=0),
    'loss_weight': Num(ge=0),
    'eta_min': Num(ge=0),
    'gamma': Num(gt=0),
    'crop_border': Int(ge=0),
}


def Typed(kinds: Callable[[], dict], what: str, skip: int = 0, extra=(), strict_kwargs=False, needs=()):  # noqa: N802
    """A ``{type: Name, **arguments}`` mapping: ``Name`` one of ``kinds()`` (name -> class or function)
    and the arguments ones it takes (after its first ``skip`` parameters); ``extra`` keys BasicSR reads itself.
    ``strict_kwargs``: check named parameters even when the callable also takes ``**kwargs``; ``needs``:
    arguments BasicSR passes on its own that must be given although the callable has a default."""

    def check(value, info: ValidationInfo):
        if not isinstance(value, dict):
            raise _problem(f'must be a mapping with a type (got {value!r})')
        known = kinds()
        kind = value.get('type')
        if kind is None:
            raise _problem(f'needs a type ({", ".join(sorted(known))})')
        if kind not in known:
            raise _Nested('type', f'{kind!r} is not {what} BasicSR knows{suggestion(kind, known)}')
        names, required, var_kw = _parameters(known[kind], skip)
        args = {k: v for k, v in value.items() if k != 'type' and k not in extra}
        if not var_kw or strict_kwargs:
            for key in args:
                if key not in names:
                    raise _Nested(key, f'{kind} takes no option {key}{suggestion(key, sorted(names | set(extra)))}')
        for key in sorted((required | set(needs)) - set(args)):
            raise _problem(f'{kind} needs {key}')
        for key, item in args.items():
            if key in NUMERIC_ARGUMENTS:
                _validate(NUMERIC_ARGUMENTS[key], item, key, info)
        return value

    return Annotated[Any, AfterValidator(check)]


class _Nested(PydanticCustomError):
    """A problem with one key inside the value being validated (``key`` joins the path)."""

    def __new__(cls, key: str, text: str):
        return super().__new__(cls, 'option_at', '{problem}', {'problem': text, 'key': key})


def _optimizers() -> dict:
    import torch

    return {'Adam': torch.optim.Adam}  # the only one BasicSR 1.4.2's get_optimizer builds


def _schedulers() -> dict:
    from basicsr.models import lr_scheduler

    restart, cosine = lr_scheduler.MultiStepRestartLR, lr_scheduler.CosineAnnealingRestartLR
    return {'MultiStepLR': restart, 'MultiStepRestartLR': restart, 'CosineAnnealingRestartLR': cosine}


def _registry(name: str) -> Callable[[], dict]:
    def kinds():
        from basicsr.utils import registry

        return dict(iter(getattr(registry, name)))  # the registry iterates over its (name, class) pairs

    return kinds


# ------------------------------------------------------------------------------------------ levels


class Level(BaseModel):
    """One mapping of the tree. Fields are its keys; ``REQUIRED`` the keys each run (train, test) needs;
    ``PREFIXES`` key prefixes accepted with the given type (``pretrain_network_``); ``OPEN``: any other key."""

    model_config = ConfigDict(strict=True, extra='allow', arbitrary_types_allowed=True)
    REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {}
    PREFIXES: ClassVar[dict[str, Any]] = {}
    OPEN: ClassVar[bool] = False

    @model_validator(mode='before')
    @classmethod
    def _keys(cls, value, info: ValidationInfo):
        """Unknown keys first (a misspelt key is also a missing one: the typo is the better message),
        then the keys a run needs; the values after."""
        if not isinstance(value, dict):
            raise _problem(f'must be a mapping of options (got {value!r})')
        for key in value:
            if key not in cls.model_fields and not cls.OPEN and not cls._prefixed(key):
                raise _Nested(str(key), f'unknown option{suggestion(key, cls.model_fields)}')
        mode = (info.context or {}).get('mode', 'train')
        for key in (*cls.REQUIRED.get('all', ()), *cls.REQUIRED.get(mode, ())):
            if value.get(key) is None:
                raise PydanticCustomError('lacks', '{key}', {'key': key, 'mode': mode})
        for key, item in value.items():
            kind = cls._prefixed(key)
            if kind is not None:
                _validate(kind, item, key, info)
        return value

    @classmethod
    def _prefixed(cls, key):
        return next((kind for prefix, kind in cls.PREFIXES.items() if str(key).startswith(prefix)), None)


def _validate(kind, value, key: str, info: ValidationInfo) -> None:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(kind).validate_python(value, strict=True, context=info.context)
    except ValidationError as e:
        path, problem = _explain(_first(e.errors()))
        raise _Nested(':'.join((key, *path)), problem) from None


class IoBackend(Level):
    REQUIRED = {'all': ('type',)}
    type: Literal['disk', 'lmdb', 'memcached'] = None
    db_paths: Any = None
    client_keys: Any = None
    server_list_cfg: Any = None
    client_cfg: Any = None
    sys_path: Any = None


class Dataset(Level):
    """The options of the dataset types alkdsr documents (:data:`KNOWN_DATASET_TYPES`)."""

    REQUIRED = {'all': ('name', 'type', 'io_backend')}
    name: FolderName = None
    type: Any = None  # checked by alkdsr.options.checks (registered type)
    dataroot_gt: Text = None
    dataroot_lq: Text = None
    meta_info_file: Optional[Text] = None
    filename_tmpl: Text = None
    io_backend: IoBackend = None
    gt_size: Int(ge=1) = None
    use_hflip: bool = None
    use_rot: bool = None
    use_flip: bool = None
    use_shuffle: bool = None
    num_worker_per_gpu: Int(ge=0) = None
    batch_size_per_gpu: Int(ge=1) = None
    dataset_enlarge_ratio: Int(ge=1) = None
    prefetch_mode: Optional[Literal['cpu', 'cuda']] = None
    num_prefetch_queue: Int(ge=1) = None
    pin_memory: bool = None
    persistent_workers: bool = None
    color: Optional[Literal['y']] = None
    mean: Any = None
    std: Any = None
    check_pairs: bool = None  # alkdsr.data.paired_image_dataset


KNOWN_DATASET_TYPES = (
    'PairedImageDataset',
    'ALKDSRPairedImageDataset',
    'DevicePairedImageDataset',
    'SingleImageDataset',
)


_READS = {  # (single images, training) -> the keys the dataset reads as opt[key]: a KeyError once the run has begun
    (False, False): ('dataroot_gt', 'dataroot_lq'),
    (False, True): ('dataroot_gt', 'dataroot_lq', 'gt_size', 'use_hflip', 'use_rot'),
    (True, False): ('dataroot_lq',),
    (True, True): ('dataroot_lq',),
}


def _datasets(value, info: ValidationInfo):
    mode = (info.context or {}).get('mode', 'train')
    if not isinstance(value, dict) or not value:
        raise _problem('must map each phase (train, val, test_1, ...) to a dataset')
    phases = ('train', 'val') if mode == 'train' else ('test', 'val')
    for phase, dataset in value.items():
        if str(phase).split('_')[0] not in phases:
            takes = ' and '.join(f'{p} or {p}_<n>' for p in phases)
            raise _Nested(str(phase), f'unknown phase: a {mode} run takes {takes}{suggestion(phase, phases)}')
        if not isinstance(dataset, dict):
            raise _Nested(str(phase), f'must be a mapping of dataset options (got {dataset!r})')
        registered = _registry('DATASET_REGISTRY')()
        if not isinstance(dataset.get('type'), str) or dataset['type'] not in registered:
            raise _Nested(
                f'{phase}:type',
                f'{dataset.get("type")!r} is not a registered dataset (e.g. ALKDSRPairedImageDataset)'
                + suggestion(dataset.get('type'), registered),
            )
        if dataset.get('type') in KNOWN_DATASET_TYPES:
            _validate(Dataset, dataset, str(phase), info)
            training = mode == 'train' and phase == 'train'
            for key in ('batch_size_per_gpu', 'num_worker_per_gpu') if training else ():
                if key not in dataset:
                    raise _Nested(str(phase), f'lacks {key}, which the training data loader needs')
            for key in _READS[dataset['type'] == 'SingleImageDataset', training]:
                if key not in dataset:
                    raise _Nested(str(phase), f'lacks {key}, which {dataset["type"]} reads')
        elif 'name' in dataset:
            _validate(FolderName, dataset['name'], f'{phase}:name', info)
    if mode == 'train' and 'train' not in value:
        raise _problem('lacks train, the training dataset')
    gt_size, scale = (value.get('train') or {}).get('gt_size'), info.data.get('scale')
    if mode == 'train' and isinstance(gt_size, int) and scale and gt_size % scale:
        lower, upper = gt_size // scale * scale, (gt_size // scale + 1) * scale
        raise _problem(
            f'train: gt_size {gt_size} is not a multiple of scale {scale}: the LR patch would be '
            f'{gt_size / scale:g} pixels (use {lower or upper} or {upper})'
        )
    return value


class Network(Level):
    REQUIRED = {'all': ('type',)}
    OPEN = True  # its arguments are checked by building it (alkdsr.options.checks)
    type: Any = None


class Paths(Level):
    REQUIRED = {'test': ('pretrain_network_g',)}
    PREFIXES = {'pretrain_network_': Optional[Text], 'strict_load_': bool, 'param_key_': Optional[Text]}
    resume_state: Optional[Text] = None
    experiments_root: Text = None
    root: Text = None


class Train(Level):
    REQUIRED = {'train': ('optim_g', 'scheduler', 'total_iter')}
    optim_g: Typed(_optimizers, 'an optimizer', skip=1, needs=('lr',)) = None  # get_optimizer(type, params, lr)
    optim_d: Typed(_optimizers, 'an optimizer', skip=1, needs=('lr',)) = None
    scheduler: Typed(_schedulers, 'a learning-rate scheduler', skip=1) = None
    total_iter: Int(ge=1, whole_float=True) = None
    warmup_iter: Int(ge=-1, whole_float=True) = None
    pixel_opt: Optional[Typed(_registry('LOSS_REGISTRY'), 'a loss')] = None
    perceptual_opt: Optional[Typed(_registry('LOSS_REGISTRY'), 'a loss')] = None
    gan_opt: Optional[Typed(_registry('LOSS_REGISTRY'), 'a loss')] = None
    net_d_iters: Int(ge=1) = None
    net_d_init_iters: Int(ge=0) = None
    ema_decay: Num(ge=0, lt=1) = None
    # alkdsr's model (alkdsr.models.alkdsr_model checks their values)
    amp: Any = None
    compile: Any = None
    channels_last: Any = None
    nan_policy: Any = None
    fused_alkconv: Any = None
    deterministic: Any = None

    @model_validator(mode='after')
    def _schedule_lasts(self):
        """BasicSR's ``CosineAnnealingRestartLR`` fails past the end of its periods: they must last ``total_iter``."""
        scheduler, total = self.scheduler or {}, self.total_iter
        periods = scheduler.get('periods')
        if scheduler.get('type') == 'CosineAnnealingRestartLR' and isinstance(periods, list) and total is not None:
            if int(total) > sum(periods):
                raise _problem(
                    f'total_iter {total} is past the end of the cosine schedule (scheduler: periods {periods} '
                    f'end at iteration {sum(periods)}); make the periods add up to at least total_iter'
                )
        return self


METRIC = Typed(_registry('METRIC_REGISTRY'), 'a metric', skip=2, extra=('better',), strict_kwargs=True)


class Val(Level):
    REQUIRED = {'all': ('save_img',), 'train': ('val_freq',)}
    val_freq: Int(ge=1, whole_float=True) = None
    save_img: bool = None
    suffix: Optional[FolderName] = None
    pbar: bool = None
    metrics: Optional[dict[str, METRIC]] = None

    @model_validator(mode='after')
    def _suffix_read(self, info: ValidationInfo):
        """``test.py`` names saved images with ``val: suffix``, read as ``opt['val']['suffix']``."""
        if (info.context or {}).get('mode') == 'test' and self.save_img and 'suffix' not in self.model_fields_set:
            raise _problem('lacks suffix, which a test run with save_img: true reads (suffix: ~ adds none)')
        return self


class Wandb(Level):
    project: Optional[Text] = None
    resume_id: Any = None
    entity: Any = None


class Logger(Level):
    REQUIRED = {'train': ('print_freq', 'save_checkpoint_freq', 'use_tb_logger')}
    print_freq: Int(ge=1, whole_float=True) = None
    save_checkpoint_freq: Int(ge=1, whole_float=True) = None
    use_tb_logger: bool = None
    wandb: Optional[Wandb] = None


class DistParams(Level):
    backend: Literal['nccl', 'gloo'] = None
    port: Int(ge=1) = None


def _registered_model(value):
    from basicsr.utils.registry import MODEL_REGISTRY

    if value not in MODEL_REGISTRY:
        known = [name for name, _ in MODEL_REGISTRY]
        raise _problem(f'{value!r} is not a registered model (alkdsr: ALKDSRModel){suggestion(value, known)}')
    return value


class Tree(Level):
    """The whole option file."""

    REQUIRED = {
        'all': ('name', 'model_type', 'num_gpu', 'datasets', 'network_g', 'path'),
        'train': ('train', 'logger'),
        'test': ('val',),
    }
    name: FolderName = None
    model_type: Annotated[Text, AfterValidator(_registered_model)] = None
    scale: Int(ge=1) = None
    num_gpu: NumGpu = None
    manual_seed: Optional[int] = None
    datasets: Annotated[Any, AfterValidator(_datasets)] = None
    network_g: Optional[Network] = None
    network_d: Optional[Network] = None
    path: Optional[Paths] = None
    train: Optional[Train] = None
    val: Optional[Val] = None
    logger: Optional[Logger] = None
    dist_params: Optional[DistParams] = None
    find_unused_parameters: bool = None
    suffix: Any = None  # in the authors' test files; BasicSR 1.4.2 does not read it
    crop_border: Any = None  # likewise

    @model_validator(mode='after')
    def _across(self, info: ValidationInfo):
        """What no one key shows: wandb needs tensorboard, training needs a loss."""
        datasets = self.datasets.values() if isinstance(self.datasets, dict) else ()
        if self.scale is None and any(d.get('type') in KNOWN_DATASET_TYPES[:3] for d in datasets):
            raise PydanticCustomError('lacks', '{key}', {'key': 'scale', 'mode': (info.context or {}).get('mode')})
        if (info.context or {}).get('mode') != 'train':
            return self
        if self.logger and self.logger.wandb and self.logger.wandb.project and self.logger.use_tb_logger is not True:
            must = 'must be true when logger:wandb:project is set (wandb syncs tensorboard)'
            raise _Nested('logger:use_tb_logger', must)
        if not self.train.pixel_opt and not self.train.perceptual_opt:
            raise _Nested('train', 'needs a loss: pixel_opt (e.g. {type: L1Loss, loss_weight: 1.0}) or perceptual_opt')
        return self


# ------------------------------------------------------------------------------------------ messages

_TYPES = {  # pydantic's error type -> what the value must be; True: a number written as text gets a hint
    'int_type': ('must be an integer', True),
    'int_from_float': ('must be an integer', True),
    'float_type': ('must be a number', True),
    'finite_number': ('must be a number', True),
    'bool_type': ('must be true or false', False),
    'string_type': ('must be a non-empty string', False),
    'string_too_short': ('must be a non-empty string', False),
    'dict_type': ('must be a mapping of options', False),
    'model_type': ('must be a mapping of options', False),
    'model_attributes_type': ('must be a mapping of options', False),
}
_BOUNDS = {'greater_than_equal': ('>=', 'ge'), 'greater_than': ('>', 'gt'), 'less_than': ('<', 'lt')}


def _first(errors: list[dict]) -> dict:
    """The error to report: one at a union's first member when the value fits none (``int | float``)."""
    errors = [e for e in errors if e['type'] != 'float_type' or not any(x['type'] == 'int_type' for x in errors)]
    return errors[0]


def _explain(error: dict) -> tuple[list[str], str]:
    """The key path and the problem of one of pydantic's errors, in the words the rest of alkdsr uses."""
    path = [str(part) for part in error['loc'] if not isinstance(part, str) or not _is_schema_step(part)]
    kind, value, ctx = error['type'], error.get('input'), error.get('ctx') or {}
    if kind == 'option_at':
        return [*path, *ctx['key'].split(':')], ctx['problem']
    if kind == 'option':
        return path, ctx['problem']
    if kind == 'lacks':
        run = 'a training' if ctx['mode'] == 'train' else 'a test'
        return path, f'lacks {ctx["key"]}, which {run} run needs'
    if kind in _BOUNDS:
        sign, bound = _BOUNDS[kind]
        return path, f'must be {sign} {ctx[bound]:g} (got {value!r})'
    if kind == 'literal_error':
        choices = re.findall(r"'([^']*)'", ctx.get('expected', ''))
        return path, f'must be one of {", ".join(map(repr, choices))} (got {value!r}){suggestion(value, choices)}'
    if kind in _TYPES:
        must, hint = _TYPES[kind]
        return path, f'{must} (got {value!r}){_number_text_hint(value) if hint else ""}'
    return path, f'{error["msg"]} (got {value!r})'


def _is_schema_step(part: str) -> bool:
    """A step pydantic adds to an error's location for a union member or a validator, not a key."""
    return part in ('int', 'float') or part.startswith(('function-', 'union[', 'nullable['))


def check_option_tree(opt: dict, is_train: bool) -> None:
    """Raise OptionError for the first option of ``opt`` that BasicSR would not read or could not use."""
    if not isinstance(opt, dict):
        raise OptionError('the option file must be a mapping of options')
    mode = 'train' if is_train else 'test'
    try:
        Tree.model_validate(opt, strict=True, context={'mode': mode})
    except ValidationError as e:
        path, problem = _explain(_first(e.errors()))
        if not path and problem.startswith('lacks '):
            raise OptionError(f'the option file {problem}') from None
        raise OptionError(f'{":".join(path)}: {problem}' if path else problem) from None
