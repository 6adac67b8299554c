"""The option tree of ``alkdsr/train.py`` and ``alkdsr/test.py``, declared once as pydantic models: checked as a
whole before any work, then read by the code as typed values.

BasicSR reads its option file key by key while it runs: a misspelt key (``total_iters``) is silently
ignored or a ``KeyError`` once the experiment folder exists, ``lr: 1e-3`` (YAML reads it as text) a
``TypeError`` inside the optimizer, ``name: ../x`` a folder renamed outside ``experiments/``.
:func:`parse_tree` validates the file once (with ``--force_yml`` applied, ``alkdsr.options.reader``)
against :class:`TrainOptions` or :class:`TestOptions` and returns the typed tree; the training loop
and ``ALKDSRModel`` read its values, and BasicSR's own parts get :meth:`Options.to_basicsr`, the same
values as the plain dict BasicSR reads. The first problem is an :class:`OptionError` naming the key by its
path (``train:total_iters``, the syntax of ``--force_yml``), with a "did you mean" for near misses.

Pydantic does the declaring: required fields are required (a run that lacks one is told which run needs
it), unknown keys are forbidden (``extra='forbid'``; the network's arguments and the datasets of types
alkdsr does not know are open, and checked by building them), values are strict (a number is never
text, a flag never ``'no'``). Registry names (``type`` of datasets, losses, metrics, optimizer, scheduler)
and the arguments each ``type`` takes are read from BasicSR's registries and the classes' signatures,
so the check follows what BasicSR would call. What needs the disk, a built network or a checkpoint is
checked apart (``alkdsr.options.checks``), and so is what depends on the machine (``fused_alkconv``).
"""

from __future__ import annotations

import difflib
import inspect
import re
import reprlib
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from alkdsr.errors import OptionError


def suggestion(word, known) -> str:
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f'; did you mean {close[0]}?' if close else ''


def _problem(text: str) -> PydanticCustomError:
    """An error whose message is ``text``, written after the key path."""
    return PydanticCustomError('option', '{problem}', {'problem': text})


class _Nested(PydanticCustomError):
    """A problem with one key inside the value being validated (``key`` joins the path)."""

    def __new__(cls, key: str, text: str):
        return super().__new__(cls, 'option_at', '{problem}', {'problem': text, 'key': key})


EXCERPT = 60  # characters of a value a message quotes


_SHORT = reprlib.Repr()  # (keyword arguments from Python 3.12 only)
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 3, 6, 6, EXCERPT, EXCERPT


def excerpt(value) -> str:
    """``repr(value)``, cut to :data:`EXCERPT` characters: a message names a value, it does not print it (an
    option written with YAML aliases can be megabytes long once expanded)."""
    text = _SHORT.repr(value)
    return text if len(text) <= EXCERPT else text[: EXCERPT - 3] + '...'


def _number_text_hint(value) -> str:
    if isinstance(value, str) and re.fullmatch(r'[-+]?\d*\.?\d+[eE][-+]?\d+', value.strip()):
        return f' (YAML reads {value} as text: write it as {float(value)!r} or !!float {value})'
    return ''


def _mode(info: ValidationInfo) -> str:
    return (info.context or {}).get('mode', 'train')


# ------------------------------------------------------------------------------------------ values


def _whole(value):
    """``!!float 5e3`` for an iteration count: a float with an integer value is that integer."""
    if isinstance(value, float):
        if not value.is_integer():
            raise _problem(f'must be an integer (got {excerpt(value)})')
        return int(value)
    return value


def Int(ge: int | None = None, whole_float: bool = False, lt: int | None = None):  # noqa: N802  (a type)
    """An integer (>= ``ge``); ``whole_float``: also a float with an integer value (``!!float 5e3``)."""
    base = Annotated[Union[int, float], AfterValidator(_whole)] if whole_float else int
    return Annotated[base, Field(ge=ge, lt=lt)]


def Num(ge: float | None = None, gt: float | None = None, lt: float | None = None):  # noqa: N802  (a type)
    """A finite number with bounds (strict pydantic takes an int for a float, never a bool or text)."""
    return Annotated[float, Field(ge=ge, gt=gt, lt=lt, allow_inf_nan=False)]


Text = Annotated[str, Field(min_length=1)]


def _folder_name(value):
    """A name that becomes one folder (``experiments/<name>``, ``results/<name>``, ``visualization/<name>``)."""
    if not isinstance(value, str) or not value.strip():  # BasicSR joins it to paths: text only
        raise _problem(f'must be a non-empty name (got {excerpt(value)})')
    if len(value.encode()) > MAX_NAME_BYTES:
        raise _problem(
            f'{excerpt(value)} is {len(value.encode())} bytes long: it becomes a folder (and, archived, '
            f'<name>_archived_<time>), so at most {MAX_NAME_BYTES} bytes'
        )
    control = any(ord(c) < 32 or ord(c) == 127 for c in value)  # a newline splits the log's lines, a NUL the path
    if '/' in value or '\\' in value or value in ('.', '..') or control or value != value.strip():
        raise _problem(
            f'{excerpt(value)} is not a plain folder name: it becomes a folder under experiments/ or results/, '
            'so it must be a single name without path separators, control characters, "." or ".." and '
            'surrounding spaces'
        )
    return value


FolderName = Annotated[Any, AfterValidator(_folder_name)]
MAX_NAME_BYTES = 200  # a file name holds 255 bytes; BasicSR archives a folder as <name>_archived_<time>


def _num_gpu(value):
    if value == 'auto':
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise _problem(f'must be an integer (got {excerpt(value)}){_number_text_hint(value)}')
    if value < 0:
        raise _problem(f'must be >= 0 (got {excerpt(value)})')
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


_Count = Annotated[int, Field(ge=1)]
ARGUMENT_TYPES = {  # arguments of optimizers, schedulers, losses and metrics, wherever they appear
    'lr': Num(gt=0),
    'weight_decay': Num(ge=0),
    'eps': Num(gt=0),
    'betas': Annotated[list[Num(ge=0, lt=1)], Field(min_length=2, max_length=2)],
    'amsgrad': bool,
    'maximize': bool,
    'capturable': bool,
    'differentiable': bool,
    'decoupled_weight_decay': bool,
    'fused': Optional[bool],
    'foreach': Optional[bool],
    'loss_weight': Num(ge=0),
    'reduction': Literal['none', 'mean', 'sum'],
    'eta_min': Num(ge=0),
    'gamma': Num(gt=0),
    'periods': Annotated[list[_Count], Field(min_length=1)],
    'restart_weights': Annotated[list[Num(gt=0)], Field(min_length=1)],
    'milestones': list[_Count],
    'restarts': list[Annotated[int, Field(ge=0)]],
    'crop_border': Int(ge=0),
    'test_y_channel': bool,
    'better': Literal['higher', 'lower'],
}


def Typed(kinds: Callable[[], dict], what: str, skip: int = 0, extra=(), strict_kwargs=False, needs=()):  # noqa: N802
    """A ``{type: Name, **arguments}`` mapping: ``Name`` one of ``kinds()`` (name -> class or function)
    and the arguments ones it takes (after its first ``skip`` parameters); ``extra`` keys BasicSR reads itself.
    ``strict_kwargs``: check named parameters even when the callable also takes ``**kwargs``; ``needs``:
    arguments BasicSR passes on its own that must be given although the callable has a default.

    Code, not a declaration: which arguments a loss takes is its signature's to say."""

    def check(value, info: ValidationInfo):
        if not isinstance(value, dict):
            raise _problem(f'must be a mapping with a type (got {excerpt(value)})')
        known = kinds()
        kind = value.get('type')
        if kind is None:
            raise _problem(f'needs a type ({", ".join(sorted(known))})')
        if kind not in known:
            raise _Nested('type', f'{excerpt(kind)} is not {what} BasicSR knows{suggestion(kind, known)}')
        names, required, var_kw = _parameters(known[kind], skip)
        args = {k: v for k, v in value.items() if k != 'type' and k not in extra}
        if not var_kw or strict_kwargs:
            for key in args:
                if key not in names:
                    raise _Nested(key, f'{kind} takes no option {key}{suggestion(key, sorted(names | set(extra)))}')
        for key in sorted((required | set(needs)) - set(args)):
            raise _problem(f'{kind} needs {key}')
        for key, item in value.items():
            if key in ARGUMENT_TYPES:
                _validate(ARGUMENT_TYPES[key], item, key, info)
        return value

    return Annotated[Any, AfterValidator(check)]


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


def _validate(kind, value, key: str, info: ValidationInfo):
    """``value`` validated as ``kind``, a problem in it reported at ``key`` (its path joining ours)."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(kind).validate_python(value, strict=True, context=info.context)
    except ValidationError as e:
        path, problem = _explain(_first(e.errors()), kind, _mode(info))
        raise _Nested(':'.join((key, *path)), problem) from None


# ------------------------------------------------------------------------------------------ sections


class Section(BaseModel):
    """One mapping of the tree: its fields are its keys, a field without a default is required, and any other
    key is refused. ``Field(description=...)`` names what needs a required key, when that is not the run."""

    model_config = ConfigDict(strict=True, extra='forbid', arbitrary_types_allowed=True)


class OpenSection(Section):
    """A mapping whose other keys are another's to check (a network's arguments, a dataset type of the user's)."""

    model_config = ConfigDict(extra='allow')


class IoBackend(Section):
    type: Literal['disk', 'lmdb', 'memcached']
    db_paths: Any = None
    client_keys: Any = None
    server_list_cfg: Any = None
    client_cfg: Any = None
    sys_path: Any = None


def _filename_template(value):
    """BasicSR names each LR file ``filename_tmpl.format(<HR stem>)``: one ``{}``, no other field."""
    import string

    try:
        fields = [
            (field, spec or None, conversion)
            for _, field, spec, conversion in string.Formatter().parse(value)
            if field is not None
        ]
    except ValueError as e:
        raise _problem(f'{excerpt(value)} is not a template ({e}); write the LR name with one {{}}: {{}}x4') from None
    if fields != [('', None, None)]:  # str.format(stem): one plain {}, no name, no format spec
        raise _problem(
            f'{excerpt(value)} must hold one {{}} (where the HR file\'s stem goes) and no other field, e.g. {{}}x4'
        )
    return value


FilenameTemplate = Annotated[Text, AfterValidator(_filename_template)]
ChannelValues = Annotated[list[Num()], Field(min_length=1, max_length=3)]  # a value per channel (mean, std)
Divisors = Annotated[list[Num(gt=0)], Field(min_length=1, max_length=3)]  # std: the images are divided by it


class Dataset(Section):
    """The options of the dataset types alkdsr documents (:data:`KNOWN_DATASET_TYPES`)."""

    name: FolderName
    type: Text  # a registered dataset: checked by the datasets' validator
    io_backend: IoBackend
    dataroot_gt: Text = None
    dataroot_lq: Text = None
    meta_info_file: Optional[Text] = None
    filename_tmpl: FilenameTemplate = None
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
    mean: Optional[ChannelValues] = None
    std: Optional[Divisors] = None
    check_pairs: bool = None  # alkdsr.data.paired_image_dataset

    @model_validator(mode='after')
    def _normalization(self):
        """torchvision's ``normalize`` takes one value for every channel or one per channel: another count
        failed on the first image, once the run folder existed (as a ``std`` of 0 did)."""
        channels = 1 if self.color == 'y' else 3
        for key in ('mean', 'std'):
            values = getattr(self, key)
            if values is not None and len(values) not in (1, channels):
                each = 'one value' if channels == 1 else f'one value or {channels}, one per channel'
                raise _Nested(key, f'holds {len(values)} values for {channels}-channel images; give {each}')
        return self


class TrainingDataset(Dataset):
    """The training set: its data loader reads the batch size and the workers."""

    num_worker_per_gpu: Annotated[Int(ge=0), Field(description='the training data loader')]
    batch_size_per_gpu: Annotated[Int(ge=1), Field(description='the training data loader')]


class OtherDataset(OpenSection):
    """A dataset of a type alkdsr does not document: its name becomes a folder, the rest is its own."""

    name: Optional[FolderName] = None
    type: Text


KNOWN_DATASET_TYPES = (
    'PairedImageDataset',
    'ALKDSRPairedImageDataset',
    'DevicePairedImageDataset',
    'SingleImageDataset',
)
PAIRED_TYPES = KNOWN_DATASET_TYPES[:3]  # they read opt['scale']

_READS = {  # (single images, training) -> the keys the dataset reads as opt[key]: a KeyError once the run has begun
    (False, False): ('dataroot_gt', 'dataroot_lq'),
    (False, True): ('dataroot_gt', 'dataroot_lq', 'gt_size', 'use_hflip', 'use_rot'),
    (True, False): ('dataroot_lq',),
    (True, True): ('dataroot_lq',),
}


def _datasets(value, info: ValidationInfo) -> dict:
    """Each phase's dataset, typed: :class:`TrainingDataset` for ``train``, :class:`Dataset` for the other
    phases of a documented type, :class:`OtherDataset` for the rest."""
    mode = _mode(info)
    if not isinstance(value, dict) or not value:
        raise _problem('must map each phase (train, val, test_1, ...) to a dataset')
    phases = ('train', 'val') if mode == 'train' else ('test', 'val')
    typed = {}
    for phase, dataset in value.items():
        if str(phase).split('_')[0] not in phases:
            takes = ' and '.join(f'{p} or {p}_<n>' for p in phases)
            raise _Nested(str(phase), f'unknown phase: a {mode} run takes {takes}{suggestion(phase, phases)}')
        if not isinstance(dataset, dict):
            raise _Nested(str(phase), f'must be a mapping of dataset options (got {excerpt(dataset)})')
        registered = _registry('DATASET_REGISTRY')()
        if not isinstance(dataset.get('type'), str) or dataset['type'] not in registered:
            raise _Nested(
                f'{phase}:type',
                f'{excerpt(dataset.get("type"))} is not a registered dataset (e.g. ALKDSRPairedImageDataset)'
                + suggestion(dataset.get('type'), registered),
            )
        training = mode == 'train' and phase == 'train'
        if dataset['type'] not in KNOWN_DATASET_TYPES:
            typed[phase] = _validate(OtherDataset, dataset, str(phase), info)
            continue
        typed[phase] = _validate(TrainingDataset if training else Dataset, dataset, str(phase), info)
        for key in _READS[dataset['type'] == 'SingleImageDataset', training]:
            if key not in dataset:
                raise _Nested(str(phase), f'lacks {key}, which {dataset["type"]} reads')
    if mode == 'train' and 'train' not in value:
        raise _problem('lacks train, the training dataset')
    gt_size, scale = (value.get('train') or {}).get('gt_size'), info.data.get('scale')
    if mode == 'train' and isinstance(gt_size, int) and scale and gt_size % scale:
        lower, upper = gt_size // scale * scale, (gt_size // scale + 1) * scale
        raise _problem(
            f'train: gt_size {gt_size} is not a multiple of scale {scale}: the LR patch would be '
            f'{gt_size / scale:g} pixels (use {lower or upper} or {upper})'
        )
    return typed


class Network(OpenSection):
    """``network_g`` / ``network_d``: the type, and its arguments (checked by building it, ``checks.py``)."""

    type: Text


_PATH_TEXT = Optional[Text]


class Paths(Section):
    pretrain_network_g: _PATH_TEXT = None
    pretrain_network_d: _PATH_TEXT = None
    strict_load_g: bool = None
    strict_load_d: bool = None
    param_key_g: _PATH_TEXT = None
    param_key_d: _PATH_TEXT = None
    resume_state: _PATH_TEXT = None
    experiments_root: Text = None
    root: Text = None


class TestPaths(Paths):
    pretrain_network_g: Text  # a test of a random network measures nothing


AMP_CHOICES = ('bf16', 'fp16')
NAN_POLICIES = ('stop', 'skip')
_SWITCH_WORDS = {  # switch -> (what it accepts, in the message's words)
    'amp': 'bf16, fp16 or null',
    'nan_policy': 'stop or skip',
    'compile': 'true, false or a dict of torch.compile arguments',
    'channels_last': 'true or false',
    'fused_alkconv': 'true or false',
    'deterministic': 'true or false',
}


class Switches(Section):
    """``ALKDSRModel``'s switches under ``train:``, each of its type (docs/training.md says what each does).

    The model reads them with :meth:`read`; the machine-dependent part (``fused_alkconv`` needs CUDA and
    Triton) is the model's own check.
    """

    amp: Optional[Literal['bf16', 'fp16']] = None
    compile: Union[bool, dict[str, Any]] = False
    channels_last: bool = False
    nan_policy: Literal['stop', 'skip'] = 'stop'
    fused_alkconv: bool = False
    deterministic: bool = False

    @model_validator(mode='before')
    @classmethod
    def _accepted(cls, value):
        """Each switch refused in the words of what it accepts (``train: amp must be bf16, fp16 or null``)."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if value.get('amp') is False:  # 'amp: false' reads as 'no autocast'
            value['amp'] = None
        if value.get('nan_policy', 'stop') is None:
            value['nan_policy'] = 'stop'
        accepts = {
            'amp': lambda v: v is None or v in AMP_CHOICES,
            'nan_policy': lambda v: v in NAN_POLICIES,
            'compile': lambda v: isinstance(v, (bool, dict)),
        }
        for key, words in _SWITCH_WORDS.items():
            if key not in value:
                continue
            ok = accepts.get(key, lambda v: isinstance(v, bool))(value[key])
            if not ok:
                got = '' if key == 'compile' else f' (got {excerpt(value[key])})'
                raise _problem(f'{key} must be {words}{got}')
        return value

    @classmethod
    def read(cls, train_opt: dict | None) -> Switches:
        """The switches of a ``train:`` section (its other keys are BasicSR's); OptionError for a wrong one."""
        section = {k: v for k, v in (train_opt or {}).items() if k in cls.model_fields}
        try:
            return cls.model_validate(section, strict=True)
        except ValidationError as e:
            path, problem = _explain(_first(e.errors()), cls, 'train')
            raise OptionError(f'train: {":".join(path) + ": " if path else ""}{problem}') from None


class Train(Switches):
    optim_g: Typed(_optimizers, 'an optimizer', skip=1, needs=('lr',))  # get_optimizer(type, params, lr)
    optim_d: Typed(_optimizers, 'an optimizer', skip=1, needs=('lr',)) = None
    scheduler: Typed(_schedulers, 'a learning-rate scheduler', skip=1)
    total_iter: Int(ge=1, whole_float=True)
    warmup_iter: Int(ge=-1, whole_float=True) = -1
    pixel_opt: Optional[Typed(_registry('LOSS_REGISTRY'), 'a loss')] = None
    perceptual_opt: Optional[Typed(_registry('LOSS_REGISTRY'), 'a loss')] = None
    gan_opt: Optional[Typed(_registry('LOSS_REGISTRY'), 'a loss')] = None
    net_d_iters: Int(ge=1) = None
    net_d_init_iters: Int(ge=0) = None
    ema_decay: Num(ge=0, lt=1) = None

    @model_validator(mode='after')
    def _schedule_lasts(self):
        """BasicSR's ``CosineAnnealingRestartLR`` fails past the end of its periods: they must last ``total_iter``."""
        scheduler, total = self.scheduler or {}, self.total_iter
        periods = scheduler.get('periods')
        lists = {
            'CosineAnnealingRestartLR': ('periods', 'restart_weights'),
            'MultiStepRestartLR': ('restarts', 'restart_weights'),
        }
        if scheduler.get('type') in lists:  # BasicSR asserts one weight per restart, after the run folder is made
            first, weights = lists[scheduler['type']]
            given = (scheduler.get(first, [0]), scheduler.get(weights, [1]))
            if len(given[0]) != len(given[1]):
                raise _Nested(
                    f'scheduler:{weights}',
                    f'{len(given[1])} weight(s) for {len(given[0])} {first}: give one weight for each of {first}',
                )
        if scheduler.get('type') == 'CosineAnnealingRestartLR' and isinstance(periods, list) and total is not None:
            if int(total) > sum(periods):
                raise _problem(
                    f'total_iter {total} is past the end of the cosine schedule (scheduler: periods {periods} '
                    f'end at iteration {sum(periods)}); make the periods add up to at least total_iter'
                )
        return self


METRIC = Typed(_registry('METRIC_REGISTRY'), 'a metric', skip=2, extra=('better',), strict_kwargs=True)


class Val(Section):
    save_img: bool
    val_freq: Int(ge=1, whole_float=True) = None
    suffix: Optional[FolderName] = None
    pbar: bool = None
    metrics: Optional[Annotated[dict[str, METRIC], Field(min_length=1)]] = None  # {}: scores nothing

    @model_validator(mode='after')
    def _suffix_read(self, info: ValidationInfo):
        """``test.py`` names saved images with ``val: suffix``, read as ``opt['val']['suffix']``."""
        if _mode(info) == 'test' and self.save_img and 'suffix' not in self.model_fields_set:
            raise _problem('lacks suffix, which a test run with save_img: true reads (suffix: ~ adds none)')
        return self


class TrainingVal(Val):
    val_freq: Int(ge=1, whole_float=True)


class Wandb(Section):
    project: Optional[Text] = None
    resume_id: Any = None
    entity: Any = None


class Logger(Section):
    print_freq: Int(ge=1, whole_float=True) = None
    save_checkpoint_freq: Int(ge=1, whole_float=True) = None
    use_tb_logger: bool = None
    wandb: Optional[Wandb] = None


class TrainingLogger(Logger):
    print_freq: Int(ge=1, whole_float=True)
    save_checkpoint_freq: Int(ge=1, whole_float=True)
    use_tb_logger: bool


class DistParams(Section):
    backend: Literal['nccl', 'gloo'] = None
    port: Int(ge=1) = None


def _registered_model(value):
    from basicsr.utils.registry import MODEL_REGISTRY

    if value not in MODEL_REGISTRY:
        known = [name for name, _ in MODEL_REGISTRY]
        raise _problem(f'{excerpt(value)} is not a registered model (alkdsr: ALKDSRModel){suggestion(value, known)}')
    return value


class Options(Section):
    """What training and test files share."""

    name: FolderName
    model_type: Annotated[Text, AfterValidator(_registered_model)]
    scale: Int(ge=1) = None
    num_gpu: NumGpu
    manual_seed: Optional[Int(ge=0, lt=2**32)] = None  # what NumPy's seed takes
    datasets: Annotated[Any, AfterValidator(_datasets)]
    network_g: Network
    network_d: Optional[Network] = None
    path: Paths
    dist_params: Optional[DistParams] = None
    find_unused_parameters: bool = None
    suffix: Any = None  # in the authors' test files; BasicSR 1.4.2 does not read it
    crop_border: Any = None  # likewise

    @model_validator(mode='after')
    def _scale_read(self, info: ValidationInfo):
        """The paired datasets read ``opt['scale']``."""
        if self.scale is None and any(d.type in PAIRED_TYPES for d in self.datasets.values()):
            raise _problem(_lacks(None, 'scale', _mode(info)))
        return self

    @model_validator(mode='after')
    def _scored_sets(self):
        """A metric compares with the HR images, which SingleImageDataset has none of: BasicSR called the metric
        without them (a TypeError) once the results folder existed."""
        val = getattr(self, 'val', None)
        if val is None or not val.metrics:
            return self
        for phase, dataset in self.datasets.items():
            if phase != 'train' and dataset.type == 'SingleImageDataset':
                raise _Nested(
                    f'datasets:{phase}',
                    'SingleImageDataset has no HR images for val:metrics to score; remove metrics (save_img: true '
                    'keeps the upscaled images) or use a paired dataset (PairedImageDataset)',
                )
        return self

    def to_basicsr(self) -> dict:
        """The plain dict BasicSR's parts read: the keys of the file (with ``--force_yml``), their values as
        validated here (whole-float iteration counts as integers, ``amp: false`` as null)."""
        return _plain(self)


def _plain(value):
    """Sections as dicts of the keys the file set (and the open sections' other keys), other values as they
    are: not copied, so that a value written with YAML aliases stays the one shared object it was read as
    (``model_dump`` would expand it, exponentially in the aliases' depth)."""
    if isinstance(value, BaseModel):
        plain = {key: _plain(getattr(value, key)) for key in type(value).model_fields if key in value.model_fields_set}
        return {**plain, **(value.__pydantic_extra__ or {})}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class TrainOptions(Options):
    train: Train
    logger: TrainingLogger
    val: Optional[TrainingVal] = None

    @model_validator(mode='after')
    def _across(self):
        """What no one key shows: wandb needs tensorboard, training needs a loss, validation a set."""
        if self.logger.wandb and self.logger.wandb.project and self.logger.use_tb_logger is not True:
            must = 'must be true when logger:wandb:project is set (wandb syncs tensorboard)'
            raise _Nested('logger:use_tb_logger', must)
        if not self.train.pixel_opt and not self.train.perceptual_opt:
            raise _Nested('train', 'needs a loss: pixel_opt (e.g. {type: L1Loss, loss_weight: 1.0}) or perceptual_opt')
        if self.val is not None and not any(str(phase).startswith('val') for phase in self.datasets):
            raise _Nested(
                'val', f'validates every {self.val.val_freq} iterations, but datasets has no val set to validate on; '
                'add one (datasets: val) or remove val'
            )
        return self


class TestOptions(Options):
    path: TestPaths
    val: Val
    train: Optional[dict[str, Any]] = None  # BasicSR's test pipeline does not read it
    logger: Optional[Logger] = None

    @model_validator(mode='after')
    def _does_something(self):
        """A test run scores the images or saves them: with neither, BasicSR runs the network and exits 0."""
        if not self.val.save_img and not self.val.metrics:
            raise _Nested('val', 'neither scores (no metrics) nor saves (save_img: false) the upscaled images, so '
                                 'the run would do nothing; add metrics (e.g. psnr: {type: calculate_psnr, '
                                 'crop_border: 4}) or set save_img: true')
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
    'list_type': ('must be a list', False),
}
_BOUNDS = {'greater_than_equal': ('>=', 'ge'), 'greater_than': ('>', 'gt'), 'less_than': ('<', 'lt')}


def _first(errors: list[dict]) -> dict:
    """The error to report: an unknown key before anything else (a misspelt key is also a missing one, and
    the typo is the better message); one at a union's first member when the value fits none (``int | float``)."""
    errors = [e for e in errors if e['type'] != 'float_type' or not any(x['type'] == 'int_type' for x in errors)]
    unknown = [e for e in errors if e['type'] == 'extra_forbidden']
    return (unknown or errors)[0]


def _keys(loc) -> list[str]:
    """The option keys of an error location, without the steps pydantic adds for unions and validators."""
    return [str(part) for part in loc if not isinstance(part, str) or not _is_schema_step(part)]


def _is_schema_step(part: str) -> bool:
    return part in ('int', 'float', 'bool', 'dict[str,any]') or part.startswith(
        ('function-', 'union[', 'nullable[', 'literal[')
    )


def _section_at(root, keys: list[str]):
    """The Section class that holds the mapping at ``keys`` below ``root``, or None where the tree is open."""
    node = root
    for key in keys:
        if not (isinstance(node, type) and issubclass(node, BaseModel)) or key not in node.model_fields:
            return None
        node = _section_in(node.model_fields[key].annotation)
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _section_in(annotation):
    """The Section class a field holds, itself or inside ``Optional[...]``; None for other values."""
    for candidate in (annotation, *getattr(annotation, '__args__', ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _lacks(section, key: str, mode: str) -> str:
    field = section.model_fields.get(key) if section is not None else None
    needs = (field.description if field is not None else None) or f'a {"training" if mode == "train" else "test"} run'
    return f'lacks {key}, which {needs} needs'


def _explain(error: dict, root, mode: str) -> tuple[list[str], str]:
    """The key path and the problem of one of pydantic's errors, in the words the rest of alkdsr uses."""
    path = _keys(error['loc'])
    kind, value, ctx = error['type'], error.get('input'), error.get('ctx') or {}
    if kind == 'option_at':
        return [*path, *ctx['key'].split(':')], ctx['problem']
    if kind == 'option':
        return path, ctx['problem']
    if kind == 'extra_forbidden':
        section = _section_at(root, path[:-1])
        return path, f'unknown option{suggestion(path[-1], section.model_fields if section else ())}'
    if kind == 'missing':
        return path[:-1], _lacks(_section_at(root, path[:-1]), path[-1], mode)
    if value is None and path:  # a required option written as ~ is not there
        section = _section_at(root, path[:-1])
        field = section.model_fields.get(path[-1]) if section is not None else None
        if field is not None and field.is_required():
            return path[:-1], _lacks(section, path[-1], mode)
    if kind == 'too_short':
        return path, f'must hold at least {ctx.get("min_length")} item(s) (got {excerpt(value)})'
    if kind == 'too_long':
        return path, f'must hold at most {ctx.get("max_length")} item(s) (got {excerpt(value)})'
    if kind in _BOUNDS:
        sign, bound = _BOUNDS[kind]
        limit = ctx[bound]
        limit = int(limit) if float(limit).is_integer() else f'{limit:g}'
        return path, f'must be {sign} {limit} (got {excerpt(value)})'
    if kind == 'literal_error':
        choices = re.findall(r"'([^']*)'", ctx.get('expected', ''))
        listed = ', '.join(map(repr, choices))
        return path, f'must be one of {listed} (got {excerpt(value)}){suggestion(value, choices)}'
    if kind in _TYPES:
        must, hint = _TYPES[kind]
        return path, f'{must} (got {excerpt(value)}){_number_text_hint(value) if hint else ""}'
    return path, f'{error["msg"]} (got {excerpt(value)})'


def parse_tree(opt: dict, is_train: bool) -> TrainOptions | TestOptions:
    """The typed tree of ``opt``; OptionError for the first option BasicSR would not read or could not use."""
    if not isinstance(opt, dict):
        raise OptionError('the option file must be a mapping of options')
    mode, root = ('train', TrainOptions) if is_train else ('test', TestOptions)
    try:
        return root.model_validate(opt, strict=True, context={'mode': mode})
    except ValidationError as e:
        path, problem = _explain(_first(e.errors()), root, mode)
        if not path and problem.startswith('lacks '):
            raise OptionError(f'the option file {problem}') from None
        raise OptionError(f'{":".join(path)}: {problem}' if path else problem) from None
