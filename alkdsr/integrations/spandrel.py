"""ALKDNet and BSRN in spandrel, the checkpoint loader behind chaiNNer and ComfyUI.

``install()`` adds two architectures to spandrel's ``MAIN_REGISTRY``, the way
``spandrel_extra_arches.install()`` adds its own: ``BSRN`` (the official BSRN checkpoints and
any BSRN-preset network) and ``ALKDNet`` (every other ALKDNet-family network). Afterwards
``spandrel.ModelLoader().load_from_file(path)`` returns an ``ImageModelDescriptor`` for their
``.pth`` (bare, or with ``params``/``params_ema``, official or alkdsr key names) and
``.safetensors`` checkpoints. Nothing of spandrel is changed: an architecture is all spandrel asks for.

Detection and settings are ``alkdsr.zoo.checkpoint``'s (what ``alkdsr.load_model`` uses). Residual
learning and ESA padding have no weights, so several variants have the same keys and shapes
(``alkdnet_no_norm``, ``bsrn_alk9`` and the ``bsrn_alk9*abrl`` presets; ``bsrn`` and the ``bsrn*abrl``
ones): only the config alkdsr saves with the weights tells them apart. spandrel hands an architecture the
state dict alone, so that config is read from the state dict's own ``alkdsr_config`` entry
(``alkdsr.archs.stored_config``, in every checkpoint alkdsr writes); a config that does not fit the
weights is refused in one line. Without one (the official checkpoints, bare state dicts, checkpoints of
earlier alkdsr versions, which kept it beside the weights only) the settings are the ones
``ALKDNet.config_from_state_dict`` reads off the keys: exact for the official checkpoints and the presets
whose weights differ; the ``abrl`` presets and ``alkdnet_no_norm`` come out as ``bsrn`` or ``bsrn_alk9``.

The networks handed out check their input: anything but (N, 3, H, W) is a one-line ValueError
(``alkdsr.archs.inputs``).
"""

from __future__ import annotations

import torch

try:
    from spandrel import (
        MAIN_REGISTRY,
        Architecture,
        ArchSupport,
        ImageModelDescriptor,
        ModelTiling,
        SizeRequirements,
        StateDict,
    )
except ImportError:
    from alkdsr.utils.packages import require

    require('alkdsr.integrations.spandrel', 'spandrel')  # not installed: one line (an ImportError) naming pip install
    raise  # installed, but not a spandrel with these names

from alkdsr.archs import stored_config
from alkdsr.archs.alkdnet_arch import ALKDNet
from alkdsr.archs.inputs import checking_inputs
from alkdsr.archs.official_keys import to_alkdsr_names
from alkdsr.archs.presets import preset_of
from alkdsr.errors import CheckpointError
from alkdsr.zoo.checkpoint import check_stored_config, check_weights, detect_config, model_from_state_dict

__all__ = ['ALKDNetArch', 'BSRNArch', 'install']


def _recognised_config(state_dict: StateDict) -> dict | None:
    """The ALKDNet config of a state dict whose keys are exactly that network's, else None.

    Key-based, as spandrel's detection is: the config is read off the keys and shapes by
    ``alkdsr.zoo.checkpoint.detect_config``, and the network it describes (built on the meta device,
    no memory) must have the same parameter names, so another architecture that shares a few
    names is not taken for ALKDNet. The config carried among the weights then supplies what the keys
    cannot show, and must itself build a network (a config that does not is a CheckpointError).
    """
    weights = stored_config.without(state_dict)
    try:
        config = detect_config(weights)
        with torch.device('meta'):
            expected = ALKDNet(**{k: v for k, v in config.items() if k != 'preset'}).state_dict().keys()
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        return None
    if set(expected) != set(to_alkdsr_names(weights)):
        return None
    try:
        carried = stored_config.read(state_dict)
        check_stored_config(carried)
        if carried is None:
            return config
        full = detect_config(weights, carried)
        with torch.device('meta'):  # the settings must make a network (a residual of 'abc' does not)
            ALKDNet(**{k: v for k, v in full.items() if k != 'preset'})
    except CheckpointError as e:
        raise CheckpointError(f"the weights' {stored_config.KEY} entry: {e}") from None
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(
            f"the weights' {stored_config.KEY} entry: no network can be built from its stored config ({e})"
        ) from None
    return full


class _ALKDNetFamily(Architecture[ALKDNet]):
    """The ALKDNet family in spandrel; ``bsrn`` says which half of it this architecture takes."""

    def __init__(self, id: str, bsrn: bool):
        super().__init__(id=id, detect=self._detect)
        self._bsrn = bsrn

    def _detect(self, state_dict: StateDict) -> bool:
        config = _recognised_config(state_dict)
        return config is not None and (preset_of(config) == 'bsrn') == self._bsrn

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[ALKDNet]:
        weights, config = stored_config.without(state_dict), _recognised_config(state_dict)
        check_weights(weights)  # as alkdsr.load_model refuses them
        net = checking_inputs(model_from_state_dict(weights, config))
        config = net.config
        scale = config['upscale']
        return ImageModelDescriptor(
            net,
            state_dict,
            architecture=self,
            purpose='SR' if scale > 1 else 'Restoration',
            tags=[config['preset'] or 'custom', f'{config["num_feat"]}nf', f'{config["num_block"]}nb'],
            # measured, not assumed: both precisions run and stay close to float32 on the official
            # checkpoints (tests/integrations/test_spandrel.py, README "Use it from spandrel")
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
