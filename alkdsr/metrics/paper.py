"""The paper's Table 4 as data: what ``alkdsr benchmark`` compares its measurements with.

PSNR/SSIM on the Y channel (crop border = scale, bicubic degradation) on the five benchmark
sets, parameters (K) and Multi-Adds (G, for a 1280x720 output), for ALKDNet and the methods it
is compared with. ALKDNet's and BSRN's rows are the networks of the ``alkdnet`` and ``bsrn``
presets; the other methods are listed for reference only.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE4_SETS = ('Set5', 'Set14', 'BSD100', 'Urban100', 'Manga109')
SET_ALIASES = {'B100': 'BSD100', 'BSDS100': 'BSD100'}  # EDSR's benchmark archive calls BSD100 'B100'

# Table 4 rows of the presets that are the networks the paper reports
PRESET_ROWS = {'alkdnet': 'ALKDNet', 'bsrn': 'BSRN'}


@dataclass(frozen=True)
class PaperRow:
    params_k: int | None
    multi_adds_g: float | None
    psnr: tuple[float, ...]  # in TABLE4_SETS order
    ssim: tuple[float, ...]

    def result(self, set_name: str) -> tuple[float, float] | None:
        """(PSNR, SSIM) on ``set_name``, or None for a set outside Table 4."""
        set_name = SET_ALIASES.get(set_name, set_name)
        if set_name not in TABLE4_SETS:
            return None
        i = TABLE4_SETS.index(set_name)
        return self.psnr[i], self.ssim[i]


def _row(params_k, multi_adds_g, psnr, ssim) -> PaperRow:
    return PaperRow(params_k, multi_adds_g, psnr, ssim)


TABLE4: dict[int, dict[str, PaperRow]] = {
    2: {
        'Bicubic': _row(None, None, (33.66, 30.24, 29.56, 26.88, 30.80), (0.9299, 0.8688, 0.8431, 0.8403, 0.9339)),
        'IMDN': _row(694, 158.8, (38.00, 33.63, 32.19, 32.17, 38.88), (0.9605, 0.9177, 0.8996, 0.9283, 0.9774)),
        'RFDN': _row(534, 95.0, (38.05, 33.68, 32.16, 32.12, 38.88), (0.9606, 0.9184, 0.8994, 0.9278, 0.9773)),
        'BSRN': _row(332, 73.0, (38.10, 33.74, 32.24, 32.34, 39.14), (0.9610, 0.9193, 0.9006, 0.9303, 0.9782)),
        'SAFMN': _row(228, 52.0, (38.00, 33.54, 32.16, 31.84, 38.71), (0.9605, 0.9177, 0.8995, 0.9256, 0.9771)),
        'CFSR': _row(291, 62.6, (38.07, 33.74, 32.24, 32.28, 39.00), (0.9607, 0.9192, 0.9005, 0.9300, 0.9778)),
        'ALKDNet': _row(373, 83.7, (38.14, 33.81, 32.29, 32.71, 39.28), (0.9609, 0.9193, 0.9011, 0.9332, 0.9783)),
    },
    3: {
        'Bicubic': _row(None, None, (30.39, 27.55, 27.21, 24.46, 26.95), (0.8682, 0.7742, 0.7385, 0.7349, 0.8556)),
        'IMDN': _row(703, 71.5, (34.36, 30.32, 29.09, 28.17, 33.61), (0.9270, 0.8417, 0.8046, 0.8519, 0.9445)),
        'RFDN': _row(541, 42.2, (34.41, 30.34, 29.09, 28.21, 33.67), (0.9273, 0.8420, 0.8042, 0.8525, 0.9449)),
        'BSRN': _row(340, 33.3, (34.46, 30.47, 29.18, 28.39, 34.05), (0.9277, 0.8449, 0.8068, 0.8567, 0.9471)),
        'SAFMN': _row(233, 23.0, (34.34, 30.33, 29.08, 27.95, 33.52), (0.9267, 0.8418, 0.8048, 0.8474, 0.9437)),
        'CFSR': _row(298, 28.5, (34.50, 30.44, 29.16, 28.29, 33.86), (0.9279, 0.8437, 0.8088, 0.8553, 0.9462)),
        'ALKDNet': _row(381, 37.3, (34.56, 30.50, 29.22, 28.58, 34.18), (0.9284, 0.8457, 0.8079, 0.8608, 0.9478)),
    },
    4: {
        'Bicubic': _row(None, None, (28.42, 26.00, 25.96, 23.14, 24.89), (0.8104, 0.7027, 0.6675, 0.6577, 0.7866)),
        'IMDN': _row(715, 40.9, (32.21, 28.58, 27.56, 26.04, 30.45), (0.8948, 0.7811, 0.7353, 0.7838, 0.9075)),
        'RFDN': _row(550, 23.9, (32.24, 28.61, 27.57, 26.11, 30.58), (0.8952, 0.7819, 0.7360, 0.7858, 0.9089)),
        'BSRN': _row(352, 19.4, (32.35, 28.73, 27.65, 26.27, 30.84), (0.8966, 0.7847, 0.7387, 0.7908, 0.9123)),
        'SAFMN': _row(240, 14.0, (32.18, 28.60, 27.58, 25.97, 30.43), (0.8948, 0.7813, 0.7359, 0.7809, 0.9063)),
        'CFSR': _row(307, 17.5, (32.33, 28.73, 27.63, 26.21, 30.72), (0.8964, 0.7842, 0.7381, 0.7897, 0.9111)),
        'ALKDNet': _row(393, 21.6, (32.37, 28.80, 27.69, 26.46, 30.97), (0.8976, 0.7860, 0.7399, 0.7970, 0.9137)),
    },
}


def paper_row(method: str | None, scale: int) -> PaperRow | None:
    """Table 4's row for ``method`` (a Table 4 name or a preset name) at ``scale``, or None."""
    if method is None:
        return None
    method = PRESET_ROWS.get(method, method)
    return TABLE4.get(scale, {}).get(method)


def paper_result(method: str | None, scale: int, set_name: str) -> tuple[float, float] | None:
    """(PSNR, SSIM) the paper reports for ``method`` on ``set_name`` at ``scale``, or None."""
    row = paper_row(method, scale)
    return row.result(set_name) if row else None
