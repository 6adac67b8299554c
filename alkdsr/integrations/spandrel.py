"""ALKDNet and BSRN in spandrel, the checkpoint loader behind chaiNNer and ComfyUI.

``install()`` adds two architectures to spandrel's ``MAIN_REGISTRY``, the way
``spandrel_extra_arches.install()`` adds its own: ``BSRN`` (the official BSRN checkpoints and
any BSRN-preset network) and ``ALKDNet`` (every other ALKDNet-family network). Afterwards
``spandrel.ModelLoader().load_from_file(path)`` returns an ``ImageModelDescriptor`` for their
``.pth`` (bare, or with ``params``/``params_ema``, official or alkdsr key names) and
``.safetensors`` checkpoints.

Detection and settings are ``alkdsr.zoo.checkpoint``' (what ``alkdsr.load_model`` uses). Residual
learning and ESA padding have no weights, so several variants have the same keys and shapes
(``alkdnet_no_norm``, ``bsrn_alk9`` and the ``bsrn_alk9*abrl`` presets; ``bsrn`` and the ``bsrn*abrl``
ones): only the config alkdsr stores beside the weights tells them apart. spandrel keeps the weights
of a file and drops the rest, so ``ModelLoader`` is taught to keep that config too (see
:class:`StateDictWithConfig`); a config that does not fit the weights is refused in one line. Without
a stored config (the official checkpoints, bare state dicts, a ``.safetensors`` file read by a tool
that drops its metadata) the settings are the ones ``ALKDNet.config_from_state_dict`` reads off the
keys: exact for the official checkpoints and the presets whose weights differ, the ``abrl`` presets
and ``alkdnet_no_norm`` come out as ``bsrn`` or ``bsrn_alk9`` there.

The networks handed out check their input: anything but (N, 3, H, W) is a one-line ValueError
(``alkdsr.integrations.inputs``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

try:
    from spandrel import (
        MAIN_REGISTRY,
        Architecture,
        ArchSupport,
        ImageModelDescriptor,
        ModelLoader,
        ModelTiling,
        SizeRequirements,
        StateDict,
        canonicalize_state_dict,
    )
except ImportError as e:  # say which extra brings it
    raise ImportError(f'alkdsr.integrations.spandrel needs spandrel: pip install "alkdsr[spandrel]" ({e})') from e

from alkdsr.archs.alkdnet_arch import ALKDNet
from alkdsr.archs.official_keys import to_alkdsr_names
from alkdsr.archs.presets import preset_of
from alkdsr.errors import CheckpointError
from alkdsr.integrations.inputs import checking_inputs
from alkdsr.zoo.checkpoint import (
    ARCH_KEY,
    SAFETENSORS_META_KEY,
    check_stored_config,
    detect_config,
    model_from_state_dict,
    torch_load_safely,
)

__all__ = ['ALKDNetArch', 'BSRNArch', 'StateDictWithConfig', 'install']


class StateDictWithConfig(dict):
    """A state dict that carries the network config alkdsr stored beside it (``.alkdsr_config``).

    spandrel hands an architecture the weights only: it unwraps ``params`` and leaves the ``arch``
    entry beside it behind, and never reads safetensors metadata. The file reader of ``ModelLoader``
    (patched by :func:`_keep_stored_configs`) returns this dict instead, and spandrel passes the very
    same object on to detection and loading. To everything else it is the plain state dict, so the
    detection of other architectures is unchanged.
    """

    def __init__(self, state_dict: StateDict, config: dict):
        super().__init__(state_dict)
        self.alkdsr_config = config


def _stored_config(state_dict: StateDict) -> dict | None:
    return getattr(state_dict, 'alkdsr_config', None)


def _recognised_config(state_dict: StateDict) -> dict | None:
    """The ALKDNet config of a state dict whose keys are exactly that network's, else None.

    Key-based, as spandrel's detection is: the config is read off the keys and shapes by
    ``alkdsr.zoo.checkpoint.detect_config``, and the network it describes (built on the meta device,
    no memory) must have the same parameter names, so another architecture that shares a few
    names is not taken for ALKDNet. A stored config then supplies what the keys cannot show.
    """
    try:
        config = detect_config(state_dict)
        with torch.device('meta'):
            expected = ALKDNet(**{k: v for k, v in config.items() if k != 'preset'}).state_dict().keys()
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        return None
    if set(expected) != set(to_alkdsr_names(state_dict)):
        return None
    stored = _stored_config(state_dict)
    return detect_config(state_dict, stored) if stored else config


def _with_stored_config(state_dict: StateDict, config, source: str) -> StateDict:
    """An ALKDNet's ``state_dict`` carrying ``config``, if that is a stored config (a dict), else itself.

    The config is checked here, where the file is still known: one that is not a valid config, or
    disagrees with the weights, is a CheckpointError (a ValueError) naming ``source``.
    """
    if not isinstance(config, dict):
        return state_dict
    try:
        check_stored_config(config)
        full = detect_config(state_dict, config)
        with torch.device('meta'):  # the settings must make a network (a residual of 'abc' does not)
            ALKDNet(**{k: v for k, v in full.items() if k != 'preset'})
    except CheckpointError as e:
        raise CheckpointError(f'{source}: {e}') from None
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f'{source}: no network can be built from its stored config ({e})') from None
    return StateDictWithConfig(state_dict, config)


def _config_in_file(path: Path) -> dict | None:
    """The config alkdsr stored in a checkpoint file (``arch`` entry, safetensors metadata), or None.

    Read only for files whose weights are an ALKDNet's (a few MB): the safetensors header alone, or
    the ``.pth`` again with ``weights_only``. A file spandrel read but torch cannot (TorchScript) holds
    no config of alkdsr's.
    """
    if path.suffix.lower() == '.safetensors':
        import json

        from safetensors import safe_open

        with safe_open(str(path), framework='pt') as f:
            text = (f.metadata() or {}).get(SAFETENSORS_META_KEY)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise CheckpointError(f'{path}: its {SAFETENSORS_META_KEY} metadata is not JSON') from None
    try:
        contents = torch_load_safely(path, 'checkpoint')
    except CheckpointError:
        return None
    return contents.get(ARCH_KEY) if isinstance(contents, dict) else None


def _reading_stored_config(read):
    """``ModelLoader.load_state_dict_from_file`` that keeps the config stored in an alkdsr checkpoint."""

    @functools.wraps(read)
    def load_state_dict_from_file(self, path):
        state_dict = read(self, path)
        if _recognised_config(state_dict) is None:  # not an ALKDNet: the file is not read again
            return state_dict
        return _with_stored_config(state_dict, _config_in_file(Path(path)), str(path))

    load_state_dict_from_file.keeps_alkdsr_config = True
    return load_state_dict_from_file


def _keeping_stored_config(load):
    """``ModelLoader.load_from_state_dict`` that keeps the ``arch`` entry of a whole checkpoint's contents.

    ComfyUI reads a file itself and hands spandrel everything in it (``{'params': ..., 'arch': ...}``).
    """

    @functools.wraps(load)
    def load_from_state_dict(self, state_dict):
        if not isinstance(state_dict, StateDictWithConfig) and isinstance(state_dict, dict):
            stored = state_dict.get(ARCH_KEY)
            weights = canonicalize_state_dict(state_dict) if isinstance(stored, dict) else None
            if weights is not None and _recognised_config(weights) is not None:
                state_dict = _with_stored_config(weights, stored, f'the {ARCH_KEY!r} entry beside the weights')
        return load(self, state_dict)

    load_from_state_dict.keeps_alkdsr_config = True
    return load_from_state_dict


def _keep_stored_configs() -> None:
    """Teach ``spandrel.ModelLoader`` to pass on the config alkdsr stores beside the weights (once).

    spandrel has no hook for this: the two methods that read a checkpoint's contents are wrapped.
    Files and dicts that are not an ALKDNet's pass through them as before.
    """
    for name, wrap in (
        ('load_state_dict_from_file', _reading_stored_config),
        ('load_from_state_dict', _keeping_stored_config),
    ):
        method = getattr(ModelLoader, name)
        if not getattr(method, 'keeps_alkdsr_config', False):
            setattr(ModelLoader, name, wrap(method))


class _ALKDNetFamily(Architecture[ALKDNet]):
    """The ALKDNet family in spandrel; ``bsrn`` says which half of it this architecture takes."""

    def __init__(self, id: str, bsrn: bool):
        super().__init__(id=id, detect=self._detect)
        self._bsrn = bsrn
        _keep_stored_configs()  # also when the architecture is put in a registry of its own, not by install()

    def _detect(self, state_dict: StateDict) -> bool:
        config = _recognised_config(state_dict)
        return config is not None and (preset_of(config) == 'bsrn') == self._bsrn

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[ALKDNet]:
        net = checking_inputs(model_from_state_dict(state_dict, _stored_config(state_dict)))
        config = net.config
        scale = config['upscale']
        return ImageModelDescriptor(
            net,
            state_dict,
            architecture=self,
            purpose='SR' if scale > 1 else 'Restoration',
            tags=[config['preset'] or 'custom', f'{config["num_feat"]}nf', f'{config["num_block"]}nb'],
            # measured, not assumed: both precisions run and stay close to float32 on the official
            # checkpoints (tests/test_spandrel.py, README "Use it from spandrel")
            supports_half=True,
            supports_bfloat16=True,
            scale=scale,
            input_channels=config['num_in_ch'],
            output_channels=config['num_out_ch'],
            # ESA's stride-2 conv and 7x7/3 max-pool need this many pixels per side; the network
            # pads smaller inputs itself, spandrel's call API does the same
            size_requirements=SizeRequirements(minimum=net.min_size),
            # CCA uses whole-image channel statistics and ESA a coarse grid: plain tiles differ
            # from the untiled result (docs/inference.md, "Tiling")
            tiling=ModelTiling.DISCOURAGED,
        )


class ALKDNetArch(_ALKDNetFamily):
    """ALKDNet (the paper's model and its ablation variants) except the BSRN preset."""

    def __init__(self):
        super().__init__('ALKDNet', bsrn=False)


class BSRNArch(_ALKDNetFamily):
    """BSRN (Li et al., 2022), ALKDNet's baseline, as alkdsr builds it."""

    def __init__(self):
        super().__init__('BSRN', bsrn=True)


def install() -> list[ArchSupport]:
    """Add ALKDNet and BSRN to spandrel's main registry; returns what was added ([] the second time).

    Call it once before loading (a ComfyUI custom node's ``__init__.py`` is the place, see
    docs/inference.md); calling it again changes nothing. The architectures are tried after
    spandrel's own and after any installed before them, and their detection accepts only state
    dicts with exactly an ALKDNet's parameter names.
    """
    return MAIN_REGISTRY.add(
        ArchSupport.from_architecture(ALKDNetArch()),
        ArchSupport.from_architecture(BSRNArch()),
        ignore_duplicates=True,
    )
