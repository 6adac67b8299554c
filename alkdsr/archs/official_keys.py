"""Parameter names of the official ALKDNet (``ALKDN``) and BSRN checkpoints, mapped to ours.

Our modules have descriptive names (``blocks.0.refine.1.vertical``) where the official code
has positional ones (``B1.c2_r.LoRA1``); loading an official state dict renames its keys.
"""

from __future__ import annotations

import re

_RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(p), r)
    for p, r in [
        (r'^fea_conv\.', 'shallow.'),
        (r'^B(\d+)\.', lambda m: f'blocks.{int(m[1]) - 1}.'),
        (r'\.c([123])_d\.', lambda m: f'.distill.{int(m[1]) - 1}.'),
        (r'\.c([123])_r\.', lambda m: f'.refine.{int(m[1]) - 1}.'),
        (r'^(blocks\.\d+)\.c4\.', r'\1.refine_last.'),
        (r'^(blocks\.\d+)\.c5\.', r'\1.condense.'),
        (r'\.esa\.conv1\.', '.esa.reduce.'),
        (r'\.esa\.conv_f\.', '.esa.skip.'),
        (r'\.esa\.conv2\.', '.esa.down.'),
        (r'\.esa\.conv_max\.', '.esa.pool_conv1.'),
        (r'\.esa\.conv3\.', '.esa.pool_conv2.'),
        (r'\.esa\.conv3_\.', '.esa.pool_conv3.'),
        (r'\.esa\.conv4\.', '.esa.expand.'),
        (r'\.cca\.conv_du\.0\.', '.cca.squeeze.'),
        (r'\.cca\.conv_du\.2\.', '.cca.excite.'),
        (r'\.pixel_norm\.', '.norm.'),
        (r'\.LoRA1\.', '.vertical.'),
        (r'\.LoRA2\.', '.horizontal.'),
        (r'\.small_conv\.', '.square.'),
        (r'^c1\.', 'fuse.'),
        (r'^c2\.', 'smooth.'),
        (r'^c_up\.', 'upsample.'),
        (r'^upsampler\.upsampleOneStep\.0\.', 'upsample.'),
    ]
]


def is_official(keys) -> bool:
    """True if the keys use the official implementation's names."""
    return any(k.startswith('fea_conv.') for k in keys)


def to_alkdsr_key(key: str) -> str:
    for pattern, repl in _RULES:
        key = pattern.sub(repl, key)
    return key


def to_alkdsr_names(state_dict: dict) -> dict:
    """A copy of ``state_dict`` with official names translated (other keys unchanged)."""
    if not is_official(state_dict):
        return dict(state_dict)
    return {to_alkdsr_key(k): v for k, v in state_dict.items()}
