"""Option mistakes caught right after BasicSR parses the option file, before any folder, log or data.

BasicSR discovers them late and as tracebacks: an unknown architecture is a ``KeyError`` from its
registry once the datasets are built, a misspelled preset a ``ValueError`` from the network's
constructor, a pretrained checkpoint of another variant or scale a size mismatch once the
experiment folder exists, a missing dataset folder a ``FileNotFoundError`` in the middle of building the
datasets, a patch size that is not a multiple of the scale a tensor shape error in the first
iteration. :func:`check_options` turns each into one line naming the option.
"""

from __future__ import annotations

import inspect
import re
from os import path as osp

import torch

from alkdsr.errors import AlkdsrError
from alkdsr.utils.option_schema import OptionError, suggestion

NETWORK_KEYS = ('network_g', 'network_d')


def check_options(opt: dict) -> None:
    """Raise OptionError for options that cannot work (cheap checks only: no image is read)."""
    from basicsr.utils.registry import MODEL_REGISTRY

    model_type = opt.get('model_type')
    if model_type is not None and model_type not in MODEL_REGISTRY:
        raise OptionError(
            f'model_type: {model_type!r} is not a registered model (alkdsr: ALKDSRModel)'
            + suggestion(model_type, MODEL_REGISTRY.keys())
        )
    check_model = getattr(MODEL_REGISTRY.get(model_type), 'check_options', None) if model_type else None
    if check_model is not None:  # a model with checks of its own options (ALKDSRModel's)
        check_model(opt, opt.get('train') or {} if opt.get('is_train') else {})
    if isinstance(opt.get('path'), dict):
        resolve_weights_names(opt['path'])
    for key in NETWORK_KEYS:
        if opt.get(key) is not None:
            net = check_network(key, opt[key], opt.get('scale'))
            if key == 'network_g':
                check_pretrained(opt.get('path') or {}, net)
    for phase, dataset in (opt.get('datasets') or {}).items():
        check_dataset_options(phase, dataset, opt.get('scale'))
    if isinstance(opt.get('train'), dict):
        check_schedule(opt['train'])


def check_schedule(train_opt: dict) -> None:
    """BasicSR's ``CosineAnnealingRestartLR`` fails past the end of its periods: they must last ``total_iter``."""
    scheduler = train_opt.get('scheduler') or {}
    periods, total = scheduler.get('periods'), train_opt.get('total_iter')
    if scheduler.get('type') != 'CosineAnnealingRestartLR' or not isinstance(periods, list) or total is None:
        return
    if int(total) > sum(periods):
        raise OptionError(
            f'train: total_iter {total} is past the end of the cosine schedule (scheduler: periods {periods} '
            f'end at iteration {sum(periods)}); make the periods add up to at least total_iter'
        )


def check_network(key: str, net_opt, scale: int | None) -> torch.nn.Module | None:
    """The architecture is registered, its arguments build it, and its upscale agrees with ``scale``.

    Returns the network, built on the meta device (no weights), or None if it cannot be built there.
    """
    from basicsr.utils.registry import ARCH_REGISTRY

    if not isinstance(net_opt, dict) or 'type' not in net_opt:
        raise OptionError(f'{key}: needs a type (e.g. {key}: {{type: ALKDNet, upscale: 4}})')
    kind = net_opt['type']
    if kind not in ARCH_REGISTRY:
        raise OptionError(
            f'{key}: type {kind!r} is not a registered architecture (alkdsr registers ALKDNet, ALKDN and BSRN)'
            + suggestion(kind, ARCH_REGISTRY.keys())
        )
    args = {k: v for k, v in net_opt.items() if k != 'type'}
    try:
        with torch.device('meta'):  # built for its arguments' sake only: no memory for weights
            net = ARCH_REGISTRY.get(kind)(**args)
    except (TypeError, ValueError, KeyError, AssertionError) as e:
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        hint = suggestion(unexpected[1], inspect.signature(ARCH_REGISTRY.get(kind)).parameters) if unexpected else ''
        raise OptionError(f'{key}: {kind}({_arguments(args)}): {e}{hint}') from None
    except Exception:  # an architecture that cannot be built on the meta device: BasicSR builds it later
        return None
    upscale = getattr(net, 'upscale', None)
    if key == 'network_g' and isinstance(upscale, int) and scale is not None and upscale != scale:
        raise OptionError(f'{key}: upscale {upscale} but scale: {scale}; the network and the data must agree')
    return net


def resolve_weights_names(path_opt: dict) -> None:
    """Replace registered weights names in ``path: pretrain_network_*`` by their cached files (fetched once).

    BasicSR reads these options as file paths; a value that is neither a file nor a registered name
    is a one-line error listing the names.
    """
    from alkdsr.zoo import resolve

    for key, value in path_opt.items():
        if key.startswith('pretrain_network') and isinstance(value, str) and value:
            try:
                path_opt[key] = str(resolve(value))
            except AlkdsrError as e:
                raise OptionError(f'path: {key} {e}') from None


def check_pretrained(path_opt: dict, net: torch.nn.Module | None) -> None:
    """``pretrain_network_g`` exists, loads safely and, with ``strict_load_g``, holds network_g's variant."""
    from alkdsr.archs.alkdnet_arch import ALKDNet
    from alkdsr.utils.checkpoint import CheckpointError, config_differences, mismatch_message, read_checkpoint

    path = path_opt.get('pretrain_network_g')
    if not path:
        return
    if not osp.isfile(str(path)):
        raise OptionError(f'path: pretrain_network_g {path}: no such file')
    if not isinstance(net, ALKDNet) or path_opt.get('strict_load_g', True) is False:
        return
    state, meta = read_checkpoint(path)  # weights_only; a crafted or truncated file is one line here
    differences = config_differences(net.config, state, meta)
    if differences:
        raise CheckpointError(mismatch_message(path, differences))


def _arguments(args: dict) -> str:
    return ', '.join(f'{k}={v!r}' for k, v in args.items())


def check_dataset_options(phase: str, dataset: dict, scale: int | None) -> None:
    """Registered dataset type, existing data roots, a training patch size the scale divides."""
    from basicsr.utils.registry import DATASET_REGISTRY

    where = f'datasets: {phase}'
    if not isinstance(dataset, dict):
        raise OptionError(f'{where}: expected a mapping of dataset options')
    kind = dataset.get('type')
    if kind not in DATASET_REGISTRY:
        raise OptionError(
            f'{where}: type {kind!r} is not a registered dataset (e.g. ALKDSRPairedImageDataset)'
            + suggestion(kind, DATASET_REGISTRY.keys())
        )
    for key in ('dataroot_gt', 'dataroot_lq'):
        folder = dataset.get(key)
        if folder is not None and not osp.isdir(str(folder)):
            raise OptionError(f'{where}: {key} {folder}: no such folder')
    meta = dataset.get('meta_info_file')
    if meta is not None and not osp.isfile(str(meta)):
        raise OptionError(f'{where}: meta_info_file {meta}: no such file')
    if phase.split('_')[0] == 'train' and 'gt_size' in dataset:
        _check_patch_size(where, dataset['gt_size'], scale)


def _check_patch_size(where: str, gt_size, scale: int | None) -> None:
    if not isinstance(gt_size, int) or isinstance(gt_size, bool) or gt_size < 1:
        raise OptionError(f'{where}: gt_size must be a positive integer (got {gt_size!r})')
    if scale and gt_size % scale:
        lower, upper = gt_size // scale * scale, (gt_size // scale + 1) * scale
        raise OptionError(
            f'{where}: gt_size {gt_size} is not a multiple of scale {scale}: the LR patch would be '
            f'{gt_size / scale:g} pixels (use {lower or upper} or {upper})'
        )
