"""Named pretrained weights: where each file comes from and what it measures.

Data only. Each entry is a checkpoint published by its authors, pinned by SHA256 (a download
that does not hash to it is never used) and by size in bytes (a download never writes more, so a
server that announces or sends a huge body cannot fill the disk). ``metrics`` are Y-channel PSNR/SSIM on Set5 and
Set14 (MATLAB bicubic LR, crop border = scale) measured with the authors' code; ``alkdsr benchmark``
reproduces them to 0.002 dB (tests/cli/test_benchmark.py).
"""

from __future__ import annotations

from dataclasses import dataclass

ALKDNET_REPO = 'https://github.com/Qudaokuan/ALKDNet/raw/main/experiments/pretrained_models'
BSRN_REPO = 'https://github.com/xiaom233/BSRN/raw/main/experiments/pretrained_models'


@dataclass(frozen=True)
class PretrainedWeights:
    name: str  # what users type: alkdnet-x4
    file_name: str  # the file's name in its repository, in the cache and on a mirror
    url: str
    sha256: str
    size: int  # bytes: a download stops there (a server sending more, or announcing more, is refused)
    licence: str
    preset: str  # alkdsr.archs.presets name of the architecture
    scale: int
    params: int
    metrics: dict  # set -> (PSNR dB, SSIM)


def _entry(name, file_name, repo, sha256, size, preset, scale, params, set5, set14) -> PretrainedWeights:
    return PretrainedWeights(
        name,
        file_name,
        f'{repo}/{file_name}',
        sha256,
        size,
        'MIT',
        preset,
        scale,
        params,
        {'Set5': set5, 'Set14': set14},
    )


WEIGHTS: dict[str, PretrainedWeights] = {
    w.name: w
    for w in (
        # fmt: off
        _entry(
            'alkdnet-x2',
            'net_g_ALKDN_x2.pth',
            ALKDNET_REPO,
            'cbeed3e89476d04dc6c0c1a8b50bf711b7ce709df6cee116c13757d626354ac5',
            1_678_550,
            'alkdnet',
            2,
            372_716,
            (38.1433, 0.9610),
            (33.8089, 0.9193),
        ),
        _entry(
            'alkdnet-x3',
            'net_g_ALKDN_x3.pth',
            ALKDNET_REPO,
            '534c3ae8b08f0b20ddcc75e7b9a36a95b67651941250302be76f35e4f470da41',
            1_713_174,
            'alkdnet',
            3,
            381_371,
            (34.5608, 0.9284),
            (30.4942, 0.8457),
        ),
        _entry(
            'alkdnet-x4',
            'net_g_ALKDN_x4.pth',
            ALKDNET_REPO,
            'e69057c9a2697b2fd969484915279ffd82af79ef959c8580a6f3435a66dbd2ef',
            1_761_686,
            'alkdnet',
            4,
            393_488,
            (32.3667, 0.8976),
            (28.7962, 0.7860),
        ),
        _entry(
            'bsrn-x2',
            'net_g_BSRN_x2.pth',
            BSRN_REPO,
            '09bd1f85e017c7902e65a9c9770ee592efe3d013f6b5cf1fe7de8cabac4ba37d',
            1_441_677,
            'bsrn',
            2,
            331_628,
            (38.0830, 0.9608),
            (33.7301, 0.9193),
        ),
        _entry(
            'bsrn-x3',
            'net_g_BSRN_x3.pth',
            BSRN_REPO,
            '6eb73a300aaec5029bc0de7f5ae85c02b8dcd8fdaf438c77f90272939fecca7e',
            1_476_301,
            'bsrn',
            3,
            340_283,
            (34.4502, 0.9276),
            (30.4688, 0.8449),
        ),
        _entry(
            'bsrn-x4',
            'net_g_BSRN_x4.pth',
            BSRN_REPO,
            '47518e0f549f5696da0c84ca2d65bf50d789c7ac20e621909f5fd6c8c8d70bcb',
            1_524_813,
            'bsrn',
            4,
            352_400,
            (32.3488, 0.8965),
            (28.7354, 0.7847),
        ),
        # fmt: on
    )
}


def default_name(preset: str = 'alkdnet', scale: int = 4) -> str | None:
    """The registered weights of ``preset`` at ``scale`` (``alkdnet-x4``), or None if there are none."""
    name = f'{preset}-x{scale}'
    return name if name in WEIGHTS else None
