"""The paper's Table 4 as data: what ``alkdsr benchmark`` compares its measurements with.

PSNR/SSIM on the Y channel (crop border = scale, bicubic degradation) on the five benchmark
sets, parameters (K) and Multi-Adds (G, for a 1280x720 output), for ALKDNet and the methods it
is compared with. ALKDNet's and BSRN's rows are the networks of the ``alkdnet`` and ``bsrn``
presets; the other methods are listed for reference only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

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


# Table 4 as printed, one row per scale and method: parameters (K), Multi-Adds (G), then PSNR/SSIM on
# TABLE4_SETS ('-': not reported)
TABLE4_FILE = Path(__file__).with_name('paper_table4.csv')


def _read_table(path: Path) -> dict[int, dict[str, PaperRow]]:
    table: dict[int, dict[str, PaperRow]] = {}
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        if tuple(next(reader)[4:]) != TABLE4_SETS:
            raise ValueError(f'{path}: the columns are not the sets {TABLE4_SETS}')
        rows = list(reader)
    for scale, method, params_k, multi_adds_g, *results in rows:
        psnr, ssim = zip(*(map(float, result.split('/')) for result in results))
        table.setdefault(int(scale), {})[method] = PaperRow(
            None if params_k == '-' else int(params_k), None if multi_adds_g == '-' else float(multi_adds_g), psnr, ssim
        )
    return table


TABLE4: dict[int, dict[str, PaperRow]] = _read_table(TABLE4_FILE)


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
