"""The U-Net's ``predict.bn_adapt`` config (batch-norm statistics re-estimated on the images
predicted, ``solutions.unet.bn_adapt``).

Kept apart from ``solutions.unet.config`` (which re-exports it) so each file holds one concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from common.config import ConfigError


@dataclass
class BatchNormAdaptConfig:
    """Before a share of images is predicted, re-estimate the mean and variance that each
    batch-norm layer normalises with on those images, and blend them with the training's
    (AdaBN, Li et al. 2016; the blend as Schneider et al. 2020). No label is read and no weight
    but those statistics changes. Off by default: on new networks of group folds 1, 3 and 2 (356 held-out
    images) ``weight=1`` lost 0.036 ± 0.023 over the folds (held-out brightfield -0.075); 0.5 and 0.2 gave
    -0.005 ± 0.005 and -0.0006 ± 0.0015 (held-out brightfield lost at both); held-out histology moved by -0.006
    to +0.000 (``bench/results/bn_adapt_cpu_20261207/``).

    Attributes:
        weight: Share of the images' statistics in the blend: ``(1 - weight) * training +
            weight * images``, per layer and channel (0: off; 1: the images' own, AdaBN).
        at: What the statistics are measured on: ``native``, each image normalised
            (``data.normalise``; not smoothed by ``predict.denoise``) at its own size, or
            ``chosen``, the view at the scale ``predict.scale_norm`` chose for it (one more pass per
            image, without TTA; needs ``predict.scale_norm``).
        max_images: Most images measured (evenly spaced in the order predicted).
        max_pixels: A larger view is measured on its centre crop of about this many pixels.
    """

    weight: float = 0.0
    at: Literal["native", "chosen"] = "native"
    max_images: int = 256
    max_pixels: int = 1 << 20

    def validate(self) -> None:
        if not 0 <= self.weight <= 1:
            raise ConfigError(f"predict.bn_adapt.weight must be in [0, 1], got {self.weight}")
        if self.max_images < 1 or self.max_pixels < 1:
            raise ConfigError(f"predict.bn_adapt: max_images and max_pixels must be >= 1, got {self.max_images} "
                              f"and {self.max_pixels}")

    @property
    def enabled(self) -> bool:
        return self.weight > 0
