"""Option mistakes the declared tree (``alkdsr.options.schema``) cannot see, caught right after the
option file is parsed, before any folder, log or data.

Each needs something a declaration does not hold: the network built from its arguments (a misspelled
preset is a ``ValueError`` from its constructor), a checkpoint read from disk (one of another variant
or scale is a size mismatch once the experiment folder exists), the file system (a missing dataset
folder is a ``FileNotFoundError`` in the middle of building the datasets), a registered name resolved to
a downloaded file, or the model type's own check of the switches only it reads. BasicSR finds each
late and as a traceback; :func:`check_options` turns each into one line naming the option.
"""

from __future__ import annotations

import inspect
import re
from os import path as osp

import torch

from alkdsr.errors import AlkdsrError, CheckpointError, OptionError
from alkdsr.options.schema import EXCERPT, excerpt, suggestion

NETWORK_KEYS = ('network_g', 'network_d')


def check_options(opt: dict) -> None:
    """Raise OptionError for options that cannot work (cheap checks only: no image is read)."""
    from basicsr.utils.registry import MODEL_REGISTRY

    check_model = getattr(MODEL_REGISTRY.get(opt['model_type']), 'check_options', None)
    if check_model is not None:  # a model with checks of its own options (ALKDSRModel's)
        check_model(opt, opt.get('train') or {} if opt.get('is_train') else {})
    resolve_weights_names(opt['path'], opt.get('scale'))  # the option tree requires path, datasets and a network type
    for key in NETWORK_KEYS:
        if opt.get(key) is not None:
            net = check_network(key, opt[key], opt.get('scale'))
            if key == 'network_g':
                check_channels(net, opt['datasets'])
                check_pretrained(opt.get('path') or {}, net)
    missing = [problem for phase, dataset in opt['datasets'].items() for problem in missing_data(phase, dataset)]
    if missing:  # all of them at once: a run may have several folders to fix
        raise OptionError('; '.join(missing))
    wandb = (opt.get('logger') or {}).get('wandb') or {}
    if opt.get('is_train') and wandb.get('project') and 'debug' not in opt['name']:
        import importlib.util

        if importlib.util.find_spec('wandb') is None:  # BasicSR imports it once the experiment folder exists
            raise OptionError(
                f'logger:wandb:project {wandb["project"]}: the wandb package is not installed; pip install wandb, '
                'or set project: ~'
            )


def check_network(key: str, net_opt, scale: int | None) -> torch.nn.Module | None:
    """The architecture is registered, its arguments build it, and its upscale agrees with ``scale``.

    Returns the network, built on the meta device (no weights), or None if it cannot be built there.
    """
    from basicsr.utils.registry import ARCH_REGISTRY

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
        arguments = ', '.join(f'{k}={excerpt(v)}' for k, v in args.items())
        arguments = arguments if len(arguments) <= 4 * EXCERPT else arguments[: 4 * EXCERPT - 3] + '...'
        raise OptionError(f'{key}: {kind}({arguments}): {e}{hint}') from None
    except Exception:  # an architecture that cannot be built on the meta device: BasicSR builds it later
        return None
    upscale = getattr(net, 'upscale', None)
    if key == 'network_g' and isinstance(upscale, int) and scale is not None and upscale != scale:
        raise OptionError(f'{key}: upscale {upscale} but scale: {scale}; the network and the data must agree')
    return net


def check_channels(net: torch.nn.Module | None, datasets: dict) -> None:
    """BasicSR's datasets give 3-channel images, or 1 channel (Y) with ``color: y``: network_g must take and
    give as many (a mismatch is a shape error at the first image, once the experiment folder exists)."""
    config = getattr(net, 'config', None) or {}
    channels = 1 if all(d.get('color') == 'y' for d in datasets.values()) else 3
    for key in ('num_in_ch', 'num_out_ch'):
        if config.get(key, channels) != channels:
            source = 'color: y datasets give' if channels == 1 else "BasicSR's datasets give colour images of"
            raise OptionError(
                f'network_g: {key} {config[key]}, but {source} {channels} channels; set {key}: {channels}'
            )


def resolve_weights_names(path_opt: dict, scale: int | None = None) -> None:
    """Replace registered weights names in ``path: pretrain_network_*`` by their cached files (fetched once).

    BasicSR reads these options as file paths; a value that is neither a file nor a registered name
    is a one-line error listing the names.
    """
    from alkdsr.zoo import resolve

    for key, value in path_opt.items():
        if key.startswith('pretrain_network') and isinstance(value, str) and value:
            try:
                path_opt[key] = str(resolve(value, scale if key == 'pretrain_network_g' else None))
            except AlkdsrError as e:
                raise OptionError(f'path: {key} {e}') from None


def check_pretrained(path_opt: dict, net: torch.nn.Module | None) -> None:
    """Every ``pretrain_network_*`` exists and loads safely, and ``pretrain_network_g``, with ``strict_load_g``,
    holds network_g's variant.

    Read here with ``weights_only=True`` whatever network it is for: BasicSR's ``load_network`` reads it again
    with plain ``torch.load`` (safe by default since torch 2.6, unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
    is set), so a file that would run code must be refused before BasicSR sees it.
    """
    from alkdsr.archs.alkdnet_arch import ALKDNet
    from alkdsr.zoo.checkpoint import config_differences, mismatch_message, read_params

    for key, path in path_opt.items():
        if not key.startswith('pretrain_network') or not path:
            continue
        if not osp.isfile(str(path)):
            raise OptionError(f'path: {key} {path}: no such file')
        which = key[len('pretrain_network_'):]  # g or d
        param_key = path_opt.get(f'param_key_{which}', 'params')  # BasicSR's default
        try:  # a crafted or truncated file, or one without the entry param_key names, is one line here
            state, meta, _ = read_params(path, param_key)
        except CheckpointError as e:
            entry = f'no {param_key!r} entry' in str(e)
            raise CheckpointError(f'path: param_key_{which} {param_key}: {e}' if entry else str(e)) from None
        if key != 'pretrain_network_g' or not isinstance(net, ALKDNet) or path_opt.get('strict_load_g', True) is False:
            continue
        differences = config_differences(net.config, state, meta)
        if differences:
            raise CheckpointError(mismatch_message(path, differences))


def missing_data(phase: str, dataset: dict) -> list[str]:
    """What of a dataset's data roots and meta-info file does not exist, one line each."""
    where, missing = f'datasets: {phase}', []
    for key in ('dataroot_gt', 'dataroot_lq'):
        folder = dataset.get(key)
        if folder is not None and not osp.isdir(str(folder)):
            missing.append(f'{where}: {key} {folder}: no such folder')
    meta = dataset.get('meta_info_file')
    if meta is not None and not osp.isfile(str(meta)):
        missing.append(f'{where}: meta_info_file {meta}: no such file')
    return missing
