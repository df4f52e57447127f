"""A second look for faint nuclei: the image without what was found, stretched again.

A per-image percentile stretch maps an image's brightest nuclei to the top of the range. Where
some nuclei are a few times fainter than their neighbours (the ``fluorescence-512x640`` kind of
stage 1), a network trained mostly on evenly bright images leaves them at a body probability
of 0 (``bench/results/contrast_probe_cpu_20261206/``); raising the faint parts of the whole
image (CLAHE, gamma) lost there. This module builds the input of a second pass instead:

1. :func:`residual_image`: the normalised image with the first pass's nuclei (grown by a
   margin) painted over with the background level, then stretched again, so that the nuclei
   left are the brightest objects, as nuclei are in training. It returns ``None`` (no second
   pass) when painting removed little of the image's range (the ``gain`` of the new stretch
   under ``min_gain``: there is no brighter kind to take away) or when it would amplify the
   remainder more than ``max_gain`` times (only noise is left).
2. :func:`merge_second_look`: the second pass's maps are taken where its body map is higher,
   outside the first pass's nuclei, so nothing the first pass found changes.

Keras-free (numpy and OpenCV); ``solutions.unet.inference`` runs the passes
(``predict.faint_pass``).

Example::

    residual, gain = residual_image(x, first_labels)       # x: normalised uint8 [H,W,3]
    if residual is not None:
        prob = merge_second_look(prob, predict(residual), first_labels > 0)
"""

from __future__ import annotations

import cv2
import numpy as np

from common.normalise import PERCENTILES, percentile_stretch, to_gray

__all__ = ["found_region", "merge_second_look", "residual_image"]


def found_region(labels: np.ndarray, margin: float = 0.3) -> np.ndarray:
    """The pixels of ``labels``' instances grown by ``margin`` times their median equivalent
    radius (at least 1 pixel): bool [H,W]. The growth covers the halo a bright nucleus leaves
    around its mask, which a new stretch would otherwise turn into a bright ring."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    found = np.asarray(labels) > 0
    if not found.any():
        return found
    areas = np.bincount(np.asarray(labels).ravel())[1:]
    radius = float(np.sqrt(np.median(areas[areas > 0]) / np.pi))
    r = max(1, int(round(margin * radius)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(found.astype(np.uint8), disc).astype(bool)


def residual_image(x: np.ndarray, labels: np.ndarray, margin: float = 0.3, min_gain: float = 1.5,
                   max_gain: float = 8.0) -> tuple[np.ndarray | None, float]:
    """The second pass's input: ``x`` without the nuclei of ``labels``, stretched again.

    Args:
        x: The normalised image the first pass saw, uint8 [H,W,3] (or [H,W]).
        labels: int [H,W] instances of the first pass (0 = background).
        margin: Growth of the painted region (:func:`found_region`).
        min_gain: Least amplification of the new stretch for a second pass: the ratio of the
            gray range of ``x`` to that of the residual (both from the 1st percentile to the
            ``PERCENTILES[1]`` one).
        max_gain: Most amplification (beyond it the residual is taken for noise).

    Returns:
        ``(residual, gain)``: uint8 [H,W,3] gray (three equal channels) or ``None`` when the
        gain is outside ``[min_gain, max_gain]``, no instance was found, or nothing is left.
    """
    if not 1.0 <= min_gain <= max_gain:
        raise ValueError(f"need 1 <= min_gain <= max_gain, got {min_gain} and {max_gain}")
    gray = to_gray(x)
    if gray.shape != np.asarray(labels).shape:
        raise ValueError(f"labels {np.asarray(labels).shape} do not match the image {gray.shape}")
    found = found_region(labels, margin)
    if not found.any() or found.all():
        return None, 1.0
    background = float(np.median(gray[~found]))
    residual = gray.copy()
    residual[found] = np.uint8(round(background))
    low, high = PERCENTILES
    lo, hi = np.percentile(gray, [low, high])
    r_lo, r_hi = np.percentile(residual, [low, high])
    if r_hi <= r_lo:
        return None, float("inf")
    gain = float((hi - lo) / (r_hi - r_lo))
    if not min_gain <= gain <= max_gain:
        return None, gain
    stretched = percentile_stretch(residual, low, high)
    return np.repeat(stretched[:, :, None], 3, axis=2), gain


def merge_second_look(first: np.ndarray, second: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Maps of the two passes, per pixel: the second pass's whole channel vector where its
    body map (channel 0) is higher and the pixel lies outside ``found`` (bool [H,W]), else the
    first's. Float [H,W,C] (or [H,W]) in, same out."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.shape[:2] != np.asarray(found).shape:
        raise ValueError(f"maps {first.shape} and {second.shape} and region {np.asarray(found).shape} differ")
    b1 = first[..., 0] if first.ndim == 3 else first
    b2 = second[..., 0] if second.ndim == 3 else second
    take = (b2 > b1) & ~np.asarray(found, bool)
    if first.ndim == 3:
        take = take[..., None]
    return np.where(take, second, first).astype(first.dtype, copy=False)
