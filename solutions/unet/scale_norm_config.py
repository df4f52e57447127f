"""The U-Net's ``predict.scale_norm`` config (test-time scale normalisation, ``common.scale``).

Kept apart from ``solutions.unet.config`` (which re-exports it) so each file holds one concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from common.config import ConfigError


@dataclass
class ScaleNormConfig:
    """Test-time scale normalisation (see ``common.scale``): predict once, estimate the
    median nucleus area, rescale the image so it matches the training one, predict again
    and map the maps back to the original size.

    Attributes:
        enabled: Do it (watershed U-Net only).
        target_area: Nucleus area in pixels to rescale to (0: the training median saved
            in the run's ``nucleus_size.json``).
        estimate: ``"instances"`` (median area of the first pass's post-processed
            instances) or ``"body"`` (of the connected components of the body map), then
            the factor that brings it to ``target_area``; or ``"multiscale"``: a first pass
            (no TTA) at each of ``candidates`` and the most certain one's scale is the
            factor (``common.scale.select_scale``; no target area needed).
        candidates: The scales ``multiscale`` tries (must hold 1.0 and lie within
            ``min_scale``-``max_scale``).
        probe: ``multiscale`` runs scale 1 and these candidates first, and the other
            candidates only when one of these wins (``common.scale.choose_scale``). Empty:
            every candidate.
        min_cover: ``multiscale`` passes over a candidate whose body map covers less than
            this fraction of what the pass at scale 1 covers.
        min_scale: Smallest factor.
        max_scale: Largest factor.
        tolerance: No rescale while ``target / area`` is within ``[1/(1+t), 1+t]``.
        max_pixels: Most pixels of the rescaled image (bounds memory).
        renormalise: Normalise the rescaled image as loaded (``data.normalise`` in the
            rescaled frame) instead of rescaling the normalised one. The same for the
            percentile modes; for ``gray_invert_percentile_tophat`` it puts the top-hat's
            fixed disc radius in pixels of the rescaled image, where nuclei have the training
            size.
        floors_follow_scale: The post-processing floors (``post.min_area``,
            ``post.min_seed_area``) are areas in the frame the network predicted in, not in
            the image as given: an image predicted at scale ``s`` gets them divided by ``s**2``
            (``common.instances.floors_at_scale``), so they keep their size relative to the
            nuclei the network saw. Each prediction file records its scale
            (``floor_scale``), so tuning, relabelling and the pixel ensemble apply it too.
        enlarge_below: ``multiscale`` only (the size rule, ``instances`` or ``body``, ignores
            it: it enlarges up to ``max_scale``): when the selection keeps scale 1 and the median
            nucleus area of its pass at scale 1 (post-processed instances) lies below this
            quantile of the training images' median areas (``nucleus_size.json``,
            ``common.scale.small_area``), the image is enlarged towards ``target_area``
            (``tolerance`` applies; at most ``enlarge_max``). 0: never. The certainty
            selection cannot tell when to enlarge: at native size it enlarges whole kinds
            that lose by it.
        enlarge_max: Largest enlarging factor of ``enlarge_below``.
        enlarge_over_shrink: ``enlarge_below`` also applies where the selection shrinks the
            image: nuclei smaller than nearly all of training are not shrunk further (the
            selection can be surer of a shrunk image that holds almost nothing).
    """

    enabled: bool = False
    target_area: float = 0.0
    estimate: Literal["instances", "body", "multiscale"] = "instances"
    candidates: tuple[float, ...] = (1.0, 0.67, 0.5, 0.33)
    probe: tuple[float, ...] = ()
    min_cover: float = 0.5
    min_scale: float = 0.25
    max_scale: float = 4.0
    tolerance: float = 0.2
    max_pixels: int = 1 << 24
    renormalise: bool = False
    floors_follow_scale: bool = False
    enlarge_below: float = 0.0
    enlarge_max: float = 2.0
    enlarge_over_shrink: bool = False

    def validate(self) -> None:
        if not 0 < self.min_scale <= 1.0 <= self.max_scale:
            raise ConfigError("predict.scale_norm needs 0 < min_scale <= 1 <= max_scale")
        if self.target_area < 0 or self.tolerance < 0 or self.max_pixels < 1:
            raise ConfigError("predict.scale_norm: target_area and tolerance must be >= 0, max_pixels >= 1")
        if 1.0 not in self.candidates or any(not self.min_scale <= c <= self.max_scale for c in self.candidates):
            raise ConfigError(f"predict.scale_norm.candidates {list(self.candidates)} must hold 1.0 and lie "
                              f"within min_scale {self.min_scale} and max_scale {self.max_scale}")
        if any(p == 1.0 or p not in self.candidates for p in self.probe):
            raise ConfigError(f"predict.scale_norm.probe {list(self.probe)} must be candidates "
                              f"{list(self.candidates)} other than 1.0")
        if not 0.0 <= self.enlarge_below < 1.0 or self.enlarge_max < 1.0:
            raise ConfigError(f"predict.scale_norm: enlarge_below must be within 0 and 1 (a quantile), got "
                              f"{self.enlarge_below}; enlarge_max at least 1, got {self.enlarge_max}")
        if not 0.0 <= self.min_cover <= 1.0:
            raise ConfigError(f"predict.scale_norm.min_cover must be within 0 and 1, got {self.min_cover}")
