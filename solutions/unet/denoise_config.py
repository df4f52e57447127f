"""The U-Net's ``predict.denoise`` config (test-time smoothing of grainy images, ``common.denoise``).

Kept apart from ``solutions.unet.config`` (which re-exports it) so each file holds one concern.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import ConfigError


@dataclass
class DenoiseConfig:
    """Smooth an image as loaded by a Gaussian before it is normalised and predicted, when its
    pixel noise is above a threshold (``common.denoise``). Every pass of the image (scale
    selection, TTA views) sees the smoothed image.

    Attributes:
        sigma: Gaussian standard deviation in pixels of the image as loaded; 0: off.
        above: Smooth only images whose noise (``common.denoise.noise_level``: of the gray
            levels stretched to 0..255) is above this; 0: every image.
        larger_than: Smooth only images whose nuclei are at least this many times the
            training median area (the median instance area of a pass at scale 1 without
            TTA, run only for images over ``above``; the target area of
            ``predict.scale_norm``): a blur that keeps large nuclei whole joins small touching
            ones. 0: any size.
    """

    sigma: float = 0.0
    above: float = 0.0
    larger_than: float = 0.0

    def validate(self) -> None:
        if min(self.sigma, self.above, self.larger_than) < 0:
            raise ConfigError(f"predict.denoise: sigma, above and larger_than must be >= 0, got {self.sigma}, "
                              f"{self.above} and {self.larger_than}")
