"""The U-Net's ``predict.faint_pass`` config (a second look for faint nuclei, ``common.faint``).

Kept apart from ``solutions.unet.config`` (which re-exports it) so each file holds one concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from common.config import ConfigError


@dataclass
class FaintPassConfig:
    """A second pass on the image without the nuclei the first pass found, stretched again
    (``common.faint``): nuclei several times fainter than their neighbours become the
    brightest objects of its input. Its maps are taken where its body map is higher, outside
    the first pass's nuclei. The second pass runs at the scale the first one chose.

    Attributes:
        enabled: Do it (watershed U-Net only).
        margin: The first pass's nuclei are grown by this times their median equivalent
            radius before they are painted over (their halo).
        min_gain: Least amplification of the new stretch for a second pass (below it, painting
            took away little of the image's range: no brighter nuclei hid fainter ones).
        max_gain: Most amplification (beyond it only noise is left).
        tta: The second pass's views (``predict.tta``'s names).
    """

    enabled: bool = False
    margin: float = 0.3
    min_gain: float = 1.5
    max_gain: float = 8.0
    tta: Literal["none", "hflip", "flip", "d4"] = "none"

    def validate(self) -> None:
        if self.margin < 0:
            raise ConfigError(f"predict.faint_pass.margin must be >= 0, got {self.margin}")
        if not 1.0 <= self.min_gain <= self.max_gain:
            raise ConfigError(f"predict.faint_pass needs 1 <= min_gain <= max_gain, got {self.min_gain} "
                              f"and {self.max_gain}")
