"""Where to cut aligned sub-images, with the semantics of BasicSR's ``extract_subimages.py``.

Windows of ``crop_size`` start every ``step`` pixels; when more than ``thresh_size`` pixels are left
after the last one, one more window is added flush with the far edge. Unlike BasicSR, which cuts the HR
and the LR folders separately, every start here is a multiple of every scale (the last window is moved
back to the nearest such start), so the LR sub-image of scale s is exactly the LR crop at (y/s, x/s)
of size crop_size/s and the HR sub-image is s times it pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alkdsr.errors import AlkdsrError


@dataclass(frozen=True)
class SubimageGrid:
    crop_size: int = 192
    step: int = 96
    thresh_size: int = 0

    def check(self, scales: list[int]) -> None:
        """Raise ``AlkdsrError`` unless crop size and step are positive multiples of every scale."""
        if self.crop_size <= 0 or self.step <= 0 or self.thresh_size < 0:
            raise AlkdsrError(
                f'--crop-size and --step must be positive and --thresh-size >= 0 '
                f'(got {self.crop_size}, {self.step}, {self.thresh_size})'
            )
        for name, value in (('--crop-size', self.crop_size), ('--step', self.step)):
            bad = [s for s in scales if value % s]
            if bad:
                raise AlkdsrError(
                    f'{name} {value} is not a multiple of scale {bad[0]}: HR and LR sub-images could not align '
                    f'(use a multiple of {math.lcm(*scales)} for scales {" ".join(map(str, scales))})'
                )

    def starts(self, length: int, align: int) -> list[int]:
        """Window starts along one dimension of ``length`` pixels; ``align`` is the lcm of the scales."""
        if length < self.crop_size:
            return []
        starts = list(range(0, length - self.crop_size + 1, self.step))
        if length - (starts[-1] + self.crop_size) > self.thresh_size:
            last = (length - self.crop_size) // align * align
            if last > starts[-1]:
                starts.append(last)
        return starts

    def boxes(self, height: int, width: int, align: int) -> list[tuple[int, int]]:
        """(y, x) of every window, row by row as BasicSR numbers them (window i is named ``_s{i+1:03d}``).

        With ``align`` a multiple of every scale s, start and end of each window are multiples of s, so a window
        inside the image also lies inside the image cropped to a multiple of s, from which the LR image is made.
        """
        return [(y, x) for y in self.starts(height, align) for x in self.starts(width, align)]


def subimage_name(name: str, index: int) -> str:
    """BasicSR's sub-image name: ``<name>_s001`` for the first (index 0)."""
    return f'{name}_s{index + 1:03d}'
