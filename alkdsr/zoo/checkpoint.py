"""Checkpoints and training states: safe loading, recognition of architecture and scale, atomic saving.

Reads BasicSR ``.pth`` files (``params_ema``, ``params``), bare state dicts and
``.safetensors``; every ``.pth`` is loaded with ``weights_only=True``, so a file that would
run code when unpickled is refused. Files saved by alkdsr carry the network's full config
(``'arch'`` beside ``'params'``, or safetensors metadata), which BasicSR ignores.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import torch
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from alkdsr.archs import stored_config
from alkdsr.archs.alkdnet_arch import ALKDNet
from alkdsr.archs.presets import (
    CONFIG_KEYS,
    HIDDEN_KEYS,
    PRESETS,
    SHAPE_KEYS,
    VARIANT_KEYS,
    preset_config,
    preset_of,
)
from alkdsr.errors import CheckpointError, OutputError
from alkdsr.files.fileio import atomic_path
from alkdsr.utils.devices import checked_device
from alkdsr.utils.modules import bare_module
from alkdsr.zoo.cache import resolve as resolve_weights

PARAM_KEYS = ('params_ema', 'params', 'state_dict', 'model', 'net_g')
ARCH_KEY = 'arch'
SAFETENSORS_META_KEY = 'alkdsr_arch'


def read_checkpoint(path: str | os.PathLike, param_key: str | None = None) -> tuple[dict, dict | None]:
    """Return ``(state_dict, arch_config_or_None)`` from a .pth or .safetensors file."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f'{path}: a folder, not a checkpoint file (give the .pth or .safetensors file in it)')
    if not path.is_file():
        raise CheckpointError(f'{path}: no such checkpoint file')
    if path.stat().st_size == 0:
        raise CheckpointError(f'{path}: empty file, not a checkpoint')
    with open(path, 'rb') as f:
        head = f.read(9)
    if _looks_like_safetensors(head) or path.suffix.lower() == '.safetensors':  # the contents decide, not the name
        return _checked(path, *_read_safetensors(path))
    if not (head.startswith(b'PK\x03\x04') or head[:1] == b'\x80'):
        raise CheckpointError(
            f'{path}: not a checkpoint (neither a PyTorch zip archive or pickle, nor a safetensors file)'
        )
    ckpt = torch_load_safely(path, 'checkpoint')
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: expected a dict of tensors, found {type(ckpt).__name__}')
    meta = ckpt.get(ARCH_KEY) if isinstance(ckpt.get(ARCH_KEY), dict) else None
    state = _select_params(ckpt, param_key, path)
    return _checked(path, state, meta)


def read_params(path: str | os.PathLike, param_key: str | None) -> tuple[dict, dict | None, str | None]:
    """``(state_dict, arch_or_None, key_used)`` as BasicSR's ``load_network`` picks the entry: ``param_key``
    (None: the first of :data:`PARAM_KEYS`), and ``params`` where ``params_ema`` is not there."""
    try:
        return (*read_checkpoint(path, param_key), param_key)
    except CheckpointError:
        if param_key != 'params_ema':
            raise
        return (*read_checkpoint(path, 'params'), 'params')


def _checked(path: Path, state: dict, meta) -> tuple[dict, dict | None]:
    """Everything a checkpoint holds is checked where it is read (:func:`check_weights`, and a stored config
    that is a mapping of the constructor's arguments with values of their types). The config carried among the
    weights (``alkdsr.archs.stored_config``) wins over the one beside them; the weights come back without it."""
    try:
        carried = stored_config.read(state)
        state, meta = stored_config.without(state), carried if carried is not None else meta
        check_weights(state)
        check_stored_config(meta)
    except (CheckpointError, ValueError) as e:
        raise CheckpointError(f'{path}: {e}') from None
    return state, meta


def check_weights(state: dict) -> None:
    """Tensors that can be weights: not empty, and finite (a NaN spreads to every output pixel)."""
    empty = [k for k, v in state.items() if v.numel() == 0]
    if empty:
        raise CheckpointError(f'tensor {empty[0]} is empty (shape {tuple(state[empty[0]].shape)})')
    broken = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if broken:
        raise CheckpointError(f'tensor {broken} holds NaN or infinite values')


def _looks_like_safetensors(head: bytes) -> bool:
    """A safetensors file starts with the length of its JSON header (8 bytes, little-endian), then '{'."""
    return len(head) == 9 and head[8:9] == b'{' and 2 <= int.from_bytes(head[:8], 'little') < 100_000_000


def torch_load_safely(path: str | os.PathLike, what: str, map_location='cpu', safe_globals=()):
    """``torch.load(weights_only=True)`` with one-line errors naming the file and ``what`` it should be.

    Only tensors, numbers and plain containers (and ``safe_globals``) are unpickled: a file that would
    run code is refused.
    """
    try:
        if not _looks_like_torch_file(path):  # text, an image: not even a pickle (torch's errors for it vary)
            raise CheckpointError(f'{path}: not a {what} (torch.save writes a zip archive or a pickle)')
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f'{path}: no such {what}') from None
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'{path}: refused, the {what} holds objects other than tensors and plain containers '
            f'(unpickling it could run code): {str(e).splitlines()[0]}'
        ) from None
    except (EOFError, zipfile.BadZipFile, RuntimeError, OSError) as e:
        raise CheckpointError(f'{path}: truncated or corrupt {what} ({type(e).__name__}: {e})') from None


def _looks_like_torch_file(path) -> bool:
    """``torch.save`` writes a zip archive, or (before torch 1.6) a pickle, whose first byte is PROTO (0x80)."""
    with open(path, 'rb') as f:
        head = f.read(4)
    return head.startswith((b'PK', b'\x80'))


def _read_safetensors(path: Path) -> tuple[dict, dict | None]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework='pt') as f:
            meta_str = (f.metadata() or {}).get(SAFETENSORS_META_KEY)
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f'{path}: truncated or corrupt safetensors file ({e})') from None
    try:
        meta = json.loads(meta_str) if meta_str else None
    except ValueError:
        raise CheckpointError(f'{path}: its {SAFETENSORS_META_KEY} metadata is not JSON') from None
    consume_prefix_in_state_dict_if_present(state, 'module.')  # saved from DataParallel/DDP
    return state, meta


def _select_params(ckpt: dict, param_key: str | None, path: Path) -> dict:
    if param_key is not None:
        if param_key not in ckpt:
            raise CheckpointError(f'{path}: no {param_key!r} entry (has {", ".join(map(str, ckpt))})')
        state = ckpt[param_key]
    else:
        key = next((k for k in PARAM_KEYS if isinstance(ckpt.get(k), dict)), None)
        state = ckpt[key] if key else ckpt
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f'{path}: no tensors found (keys: {", ".join(map(str, list(ckpt)[:8]))})')
    consume_prefix_in_state_dict_if_present(tensors, 'module.')  # saved from DataParallel/DDP
    return tensors


def detect_config(state_dict: dict, meta: dict | None = None) -> dict:
    """ALKDNet constructor arguments for a checkpoint: its stored config, else read off the weights.

    Weights of shapes no ALKDNet or BSRN has (a crafted file) are one line, not a traceback.
    """
    try:
        detected = ALKDNet.config_from_state_dict(state_dict)
    except (KeyError, IndexError, ValueError, ZeroDivisionError, TypeError) as e:  # shapes no network has
        problem = _first_line(e)
        message = problem if problem.startswith('not an') else f'not an ALKDNet/BSRN checkpoint ({problem})'
        raise CheckpointError(message) from None
    if meta:
        stored = {k: v for k, v in meta.items() if k in detected}
        clash = [k for k in SHAPE_KEYS if k in stored and stored[k] != detected[k]]
        if clash:
            raise CheckpointError(f'stored config disagrees with the weights on {", ".join(clash)}')
        detected.update(stored)
    return detected


# the types of a stored config's values (others: int); which keys it may hold: archs.presets.CONFIG_KEYS
CONFIG_TYPES = {'refine_conv': str, 'residual': str, 'pixel_norm': bool, 'preset': (str, type(None))}


def check_stored_config(meta) -> None:
    """The config stored beside the weights holds the constructor's arguments, each of its type."""
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise CheckpointError(f'the stored config is not a mapping (found {type(meta).__name__})')
    for key, value in meta.items():
        if key in CONFIG_KEYS or key in CONFIG_TYPES:
            kind = CONFIG_TYPES.get(key, int)
            valid = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if kind is int and valid and value < (0 if key == 'esa_padding' else 1):
                valid = False
            if not valid:
                raise CheckpointError(f'the stored config has {key} {value!r}, not a valid value')


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f'{type(error).__name__}: {text}' if isinstance(error, (KeyError, ZeroDivisionError, IndexError)) else text


def config_differences(config: dict, state: dict, meta: dict | None) -> list[str]:
    """How a checkpoint's network differs from the network ``config`` (``['upscale 2 vs 4']``); [] if alike.

    Uses the config stored beside the weights, else what the weights' shapes show (a bare state dict
    says nothing of the residual learning or ESA padding); [] for weights that are not an ALKDNet's.
    """
    if meta:
        fields = CONFIG_KEYS
    else:
        try:
            meta = ALKDNet.config_from_state_dict(state)
        except (ValueError, KeyError, IndexError):
            return []
        fields = SHAPE_KEYS
    return [f'{k} {meta[k]!r} vs {config[k]!r}' for k in fields if k in meta and k in config and meta[k] != config[k]]


def mismatch_message(path, differences: list[str]) -> str:
    return f'{path}: checkpoint network differs from network_g (checkpoint vs options: {"; ".join(differences)})'


def load_model(
    path: str | os.PathLike, device: str | torch.device = 'cpu', preset: str | None = None, **overrides
) -> ALKDNet:
    """Build the network a checkpoint holds and load it (strict). Returns it in eval mode.

    ``path`` is a checkpoint file or a registered weights name (``alkdnet-x4``, see
    ``alkdsr weights list``), which is downloaded and verified once, then read from the cache.
    The returned module has ``.upscale`` and ``.config``. ``preset`` (``alkdsr.archs.presets``) says which
    variant the weights are, where they cannot show it (residual learning, ESA padding): weights of another
    variant are refused. ``overrides`` (for example ``residual='abrl'``) replace recognised constructor arguments.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise CheckpointError(f'path must be a checkpoint file or a registered weights name, got {type(path).__name__}')
    device = checked_device(device)
    path = resolve_weights(path)
    try:
        state, meta = read_checkpoint(path)
        if preset is not None:
            overrides = {**_preset_settings(state, meta, preset), **overrides}
        return model_from_state_dict(state, meta, **overrides).to(device)
    except (CheckpointError, ValueError) as e:
        msg = str(e)
        raise CheckpointError(msg if msg.startswith(str(path)) else f'{path}: {msg}') from None


def _preset_settings(state: dict, meta: dict | None, preset: str) -> dict:
    """The arguments of ``preset`` that the weights cannot show, once the weights are seen to be that variant."""
    if preset not in PRESETS:
        raise CheckpointError(f'unknown preset {preset!r} (presets: {", ".join(PRESETS)})')
    found, wanted = detect_config(state, meta), preset_config(preset)
    shown = [k for k in VARIANT_KEYS if k not in HIDDEN_KEYS]  # what the weights show of the variant
    clash = [f'{k} {found[k]!r} ({preset}: {wanted[k]!r})' for k in shown if found[k] != wanted[k]]
    if clash:
        raise CheckpointError(f'the weights are {preset_of(found) or "custom"}, not {preset}: {", ".join(clash)}')
    stored_clash = [f'{k} {meta[k]!r}' for k in HIDDEN_KEYS if meta and k in meta and meta[k] != wanted[k]]
    if stored_clash:
        raise CheckpointError(f'the checkpoint stores {", ".join(stored_clash)}, which {preset} does not have')
    return {k: wanted[k] for k in HIDDEN_KEYS}


def model_from_state_dict(state: dict, meta: dict | None = None, **overrides) -> ALKDNet:
    """The network a state dict (and its stored config, if any) holds, loaded strictly, in eval mode.

    The part of ``load_model`` that needs no file, for loaders that read files themselves
    (spandrel, ``alkdsr.integrations.spandrel``). Raises ValueError (CheckpointError) on weights
    that are not an ALKDNet's, and on a stored config no network can be built from.
    """
    config = {**detect_config(state, meta), **overrides}
    try:
        net = ALKDNet(**{k: v for k, v in config.items() if k != 'preset'})
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f'no network can be built from it ({_first_line(e)})') from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = ' '.join(line.strip() for line in str(e).splitlines()[1:3]) or str(e)
        raise CheckpointError(f'weights do not match the recognised architecture ({detail[:300]})') from None
    return net.eval()


def arch_config(net: torch.nn.Module) -> dict:
    """The config stored with the weights when saving ``net``."""
    return {'type': 'ALKDNet', **getattr(bare_module(net), 'config', {})}


def weights_with_config(net: torch.nn.Module, config: dict | None = None) -> dict:
    """The state dict of ``net`` (a bare module) on the CPU, with its config as an entry when it is an ALKDNet."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if config is None and isinstance(net, ALKDNet):
        config = arch_config(net)
    if config is not None:
        state[stored_config.KEY] = stored_config.as_tensor(config)
    return state


def save_checkpoint(net: torch.nn.Module, path: str | os.PathLike, param_key: str = 'params') -> None:
    """Save ``net``'s weights with its config, atomically (.pth in BasicSR's layout, or .safetensors).

    The config goes among the weights (``alkdsr.archs.stored_config``, which tools that keep only the state dict
    keep too) and beside them (``'arch'``, safetensors metadata), where earlier versions read it."""
    bare = bare_module(net)
    config = arch_config(bare)
    state = weights_with_config(bare, config)
    with atomic_path(path) as tmp:
        if Path(path).suffix == '.safetensors':
            from safetensors.torch import save_file

            save_file(state, str(tmp), metadata={SAFETENSORS_META_KEY: json.dumps(config)})
        else:
            torch.save({param_key: state, ARCH_KEY: config}, tmp)


# how torch.save's zip writer words a write that failed (a full disk, a file-size limit)
_WRITE_FAILURES = ('inline_container', 'PytorchStreamWriter', 'iostream error', 'write failed', 'file write')


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, rename: a file that exists is complete
    (BasicSR writes checkpoints and training states in place, so a process killed while saving left a
    truncated file that ``--auto_resume`` then picked)."""
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch.save reports a failed write (a full disk) as a RuntimeError
            if not any(sign in str(e) for sign in _WRITE_FAILURES):
                raise
            raise OutputError(f'torch.save could not write {path}: {str(e).splitlines()[0]}') from e
