"""Named configurations of ALKDNet: the paper's final model, BSRN, and every ablation row.

Each preset is a dict of ALKDNet constructor arguments; explicit arguments override it.
``docs/architectures.md`` maps each row of the paper's Tables 1-3 to a preset name.
"""

from __future__ import annotations

ARCH_DEFAULTS = {
    'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 8, 'upscale': 4,
    'num_replicas': 4, 'upsampler': 'pixelshuffledirect', 'fusion_kernel_size': 3,
}  # fmt: skip

_BSRN = dict(refine_conv='bsconv', kernel_size=3, residual='fsrl', pixel_norm=False, esa_padding=0)


def _bsrn_with(**changes):
    return {**_BSRN, **changes}


PRESETS: dict[str, dict] = {
    # the paper's model (official checkpoints net_g_ALKDN_x{2,3,4}.pth)
    'alkdnet': dict(refine_conv='alkconv', kernel_size=9, residual='both', pixel_norm=True, esa_padding=1),
    # the baseline (official checkpoints net_g_BSRN_x{2,3,4}.pth); Table 2 "FSRL"
    'bsrn': dict(_BSRN),
    # Table 1: BSRN with its ESDB convs replaced by ALKConv of kernel k
    'bsrn_alk3': _bsrn_with(refine_conv='alkconv', kernel_size=3),
    'bsrn_alk5': _bsrn_with(refine_conv='alkconv', kernel_size=5),
    'bsrn_alk7': _bsrn_with(refine_conv='alkconv', kernel_size=7),
    'bsrn_alk9': _bsrn_with(refine_conv='alkconv', kernel_size=9),
    # Table 2: residual learning, without and with ALKConv
    'bsrn_abrl': _bsrn_with(residual='abrl'),
    'bsrn_fsrl_abrl': _bsrn_with(residual='both'),
    'bsrn_alk9_abrl': _bsrn_with(refine_conv='alkconv', kernel_size=9, residual='abrl'),
    'bsrn_alk9_fsrl_abrl': _bsrn_with(refine_conv='alkconv', kernel_size=9, residual='both'),
    # Table 3: ALKDNet without the block-level pixel normalisation
    'alkdnet_no_norm': dict(refine_conv='alkconv', kernel_size=9, residual='both', pixel_norm=False, esa_padding=1),
}

DEFAULT_PRESET = 'alkdnet'

# What a checkpoint says about its network, defined once for every reader of checkpoints:
# VARIANT_KEYS: the constructor arguments a preset fixes (what tells the variants apart);
# SHAPE_KEYS: those the weights' keys and shapes show (ALKDNet.config_from_state_dict);
# HIDDEN_KEYS: variant arguments without parameters of their own, which only a stored config tells;
# CONFIG_KEYS: everything a config stored beside the weights fixes.
VARIANT_KEYS = ('refine_conv', 'kernel_size', 'fusion_kernel_size', 'residual', 'pixel_norm', 'esa_padding')
HIDDEN_KEYS = ('residual', 'esa_padding')
SHAPE_KEYS = ('upscale', 'num_in_ch', 'num_feat', 'num_block', *(k for k in VARIANT_KEYS if k not in HIDDEN_KEYS))
CONFIG_KEYS = ('upscale', 'num_in_ch', 'num_out_ch', 'num_feat', 'num_block', 'num_replicas', *VARIANT_KEYS)


def preset_config(name: str) -> dict:
    """Full constructor arguments of a preset (architecture defaults included)."""
    if name not in PRESETS:
        raise ValueError(f'unknown ALKDNet preset {name!r}; choose one of: {", ".join(PRESETS)}')
    return {**ARCH_DEFAULTS, **PRESETS[name]}


def preset_of(config: dict) -> str | None:
    """The preset whose variant arguments a config has, or None for a custom variant."""
    for name in PRESETS:
        full = preset_config(name)
        if all(full[k] == config.get(k) for k in VARIANT_KEYS):
            return name
    return None
