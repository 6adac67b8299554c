"""Options that benchmark and profile share: ``--arch`` / ``--scale`` / ``--weights``, outputs, integers.

``--arch`` takes a preset name (``alkdnet``, ``bsrn``, ``bsrn_alk9``, ...) or one of the
registered class names: ``ALKDN`` (= ``alkdnet``), ``BSRN`` (= ``bsrn``) or ``ALKDNet`` (any
variant: with weights, whatever the checkpoint holds; without, the default preset). With weights,
the architecture is recognised from the checkpoint; ``--arch`` then settles what the weights
cannot show (residual learning and ESA padding have no parameters) and must agree with the rest.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from alkdsr.archs.presets import DEFAULT_PRESET, PRESETS, preset_config
from alkdsr.errors import AlkdsrError
from alkdsr.files.fileio import atomic_path
from alkdsr.zoo import WEIGHTS, default_name
from alkdsr.zoo import resolve as resolve_weights

if TYPE_CHECKING:  # the network modules load torch: only the commands that run them import them
    from alkdsr.archs import ALKDNet

CLASS_PRESETS = {'alkdn': 'alkdnet', 'bsrn': 'bsrn', 'alkdnet': None}


def arch_help() -> str:
    return f'preset ({", ".join(PRESETS)}) or class name (ALKDNet, ALKDN, BSRN)'


def preset_for_arch(arch: str | None) -> str | None:
    """The preset an ``--arch`` value names; None for 'ALKDNet' or no value (any variant)."""
    if arch is None:
        return None
    if arch in PRESETS:
        return arch
    key = arch.lower()
    if key in CLASS_PRESETS:
        return CLASS_PRESETS[key]
    if key in PRESETS:
        return key
    raise AlkdsrError(f'--arch {arch}: unknown architecture; use a {arch_help()}')


def weights_or_default(weights: str | None, arch: str | None = None, scale: int | None = None) -> str:
    """``--weights`` as given, else the registered weights of ``--arch`` (alkdnet) at ``--scale`` (4)."""
    if weights is not None:
        return weights
    preset, scale = preset_for_arch(arch) or DEFAULT_PRESET, scale or 4
    name = default_name(preset, scale)
    if name is None:
        names = ', '.join(WEIGHTS)
        raise AlkdsrError(f'no registered weights for {preset} x{scale} ({names}); give --weights FILE or NAME')
    return name


def load_checked(
    weights: str | os.PathLike, arch: str | None = None, scale: int | None = None, device='cpu'
) -> ALKDNet:
    """The network a checkpoint (file or registered name) holds, checked against ``--arch`` and ``--scale``."""
    from alkdsr.zoo.checkpoint import load_model

    weights = resolve_weights(weights, scale=scale)  # a name of another scale: refused before downloading
    net = load_model(weights, preset=preset_for_arch(arch))
    if scale is not None and scale != net.upscale:
        raise AlkdsrError(f'{weights}: the weights are for x{net.upscale}, not x{scale} (--scale)')
    return net.to(device)


def build_network(arch: str | None, scale: int) -> ALKDNet:
    """A freshly initialised network of ``--arch`` at ``scale`` (for profiling without weights)."""
    from alkdsr.archs import ALKDNet

    preset = preset_for_arch(arch) or DEFAULT_PRESET
    return ALKDNet(upscale=scale, preset=preset).eval()


def paper_network(net: ALKDNet) -> str | None:
    """The preset whose paper configuration ``net`` has exactly (width and depth too), else None."""
    preset = net.config.get('preset')
    if preset is None:
        return None
    wanted = preset_config(preset)
    return preset if all(net.config.get(k) == v for k, v in wanted.items() if k != 'upscale') else None


def display_name(net: ALKDNet) -> str:
    """The preset name, or 'custom' for a variant no preset describes."""
    return net.config.get('preset') or 'custom'


def path_text(text: str) -> str:
    """argparse type of a path: not empty (``Path('')`` is the current folder, where nothing was meant to go)."""
    if not text.strip():
        raise ValueError(text)
    return text


path_text.__name__ = 'path (an empty one names no file or folder)'


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = 'positive integer'


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


non_negative_int.__name__ = 'non-negative integer'


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` atomically; a problem writing is a one-line error naming the file."""
    text = json.dumps(data, indent=1, allow_nan=False) + '\n'
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding='utf-8')
