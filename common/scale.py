"""Nucleus size: estimate it, and rescale an image so its nuclei have the training size.

Test-time scale normalisation (U-Net ``predict.scale_norm``):

1. predict the image once and take the median nucleus area of that first pass
   (:func:`estimate_nucleus_size`);
2. the factor ``sqrt(target_area / area)``, clamped, and 1 (skip) when the area is
   already within a tolerance of the target (:func:`scale_factor`);
3. predict the :func:`rescale`-d image and map its probability maps back to the
   original size (:func:`resize_to`) before post-processing.

``target_area`` is the median over the training images of each image's median nucleus
area, measured on the fold's training labels (:func:`nucleus_area_stats`) and saved in
the run folder at training time (:func:`save_nucleus_size`, ``nucleus_size.json``).

With ``predict.scale_norm.estimate: multiscale`` the factor is not computed from a size
but chosen among candidate scales: the image is predicted once at each (no TTA) and the
scale whose body map the network is most certain of wins (:func:`map_certainty`,
:func:`select_scale`): a network that sees nuclei larger than it was trained on cuts them
into uncertain pieces. The Mask R-CNN's ``predict.scale_select`` uses :func:`select_scale`
with its instances' mean score as the certainty. Both run their candidate passes through
:func:`choose_scale`, which can try a few probe scales first and the rest only when a probe wins.
The U-Net's multiscale selection can also enlarge an image it keeps at scale 1 whose nuclei
are smaller than in nearly every training image (:func:`small_area`), towards ``target_area``.

All vectorised (``np.bincount``, OpenCV); Keras-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from common.io import write_json

__all__ = ["NUCLEUS_SIZE_FILE", "choose_scale", "equivalent_diameter", "estimate_nucleus_size",
           "instance_areas", "map_certainty", "nucleus_area_stats", "rescale", "resize_to",
           "save_nucleus_size", "scale_factor", "select_scale", "small_area"]

#: File in a run folder holding :func:`nucleus_area_stats` of its training labels.
NUCLEUS_SIZE_FILE = "nucleus_size.json"


def instance_areas(labels: np.ndarray, min_area: int = 1) -> np.ndarray:
    """Pixel areas of the instances of an int label image.

    Args:
        labels: int [H,W], 0 = background.
        min_area: Ignore instances smaller than this.

    Returns:
        int64 [N] areas of the present ids (any order).
    """
    lab = np.asarray(labels)
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got {lab.dtype}")
    if lab.size == 0 or lab.max(initial=0) <= 0:
        return np.zeros(0, np.int64)
    counts = np.bincount(lab[lab > 0].ravel())[1:]
    return counts[counts >= max(1, min_area)]


def estimate_nucleus_size(prob_or_labels: np.ndarray, threshold: float = 0.5, min_area: int = 4) -> float:
    """Typical nucleus area (pixels) of an image: the median instance area.

    Args:
        prob_or_labels: Either an int instance map [H,W] (e.g. a first pass's labels),
            or float probability maps [H,W] / [H,W,C] whose channel 0 is the nucleus
            body: its connected components above ``threshold`` (8-connected) are the
            instances.
        threshold: Body threshold for float maps.
        min_area: Ignore instances smaller than this (noise).

    Returns:
        The median area in pixels, or ``nan`` when there is no instance.
        :func:`equivalent_diameter` turns it into a diameter.
    """
    x = np.asarray(prob_or_labels)
    if np.issubdtype(x.dtype, np.floating):
        body = x[..., 0] if x.ndim == 3 else x
        if body.ndim != 2:
            raise ValueError(f"probability maps must be [H,W] or [H,W,C], got shape {x.shape}")
        n, cc = cv2.connectedComponents((body > threshold).astype(np.uint8), connectivity=8,
                                        ltype=cv2.CV_32S)
        areas = instance_areas(cc, min_area) if n > 1 else np.zeros(0, np.int64)
    else:
        if x.ndim != 2:
            raise ValueError(f"labels must be [H,W], got shape {x.shape}")
        areas = instance_areas(x, min_area)
    return float(np.median(areas)) if areas.size else float("nan")


def equivalent_diameter(area: float) -> float:
    """Diameter of the disc of ``area`` pixels."""
    return math.sqrt(4.0 * area / math.pi)


def nucleus_area_stats(labels: Iterable[np.ndarray], min_area: int = 1) -> dict:
    """Nucleus size statistics of a set of training label images.

    Args:
        labels: int [H,W] instance maps.
        min_area: Ignore instances smaller than this.

    Returns:
        ``{"target_area", "median_area", "n_images", "n_nuclei", "image_areas"}``:
        ``target_area`` is the median over images of each image's median area (every image
        counts once, however many nuclei it has); ``median_area`` the median over all
        nuclei; ``image_areas`` every image's median area, sorted (:func:`small_area`).
        Areas in pixels.
    """
    per_image, every = [], []
    for lab in labels:
        areas = instance_areas(lab, min_area)
        if areas.size:
            per_image.append(float(np.median(areas)))
            every.append(areas)
    if not per_image:
        raise ValueError("no nucleus in the training labels: cannot measure a nucleus size")
    every_areas = np.concatenate(every)
    return {"target_area": float(np.median(per_image)), "median_area": float(np.median(every_areas)),
            "n_images": len(per_image), "n_nuclei": int(every_areas.size), "image_areas": sorted(per_image)}


def small_area(stats: dict, quantile: float) -> float | None:
    """The ``quantile`` of the training images' median nucleus areas (``stats`` of
    :func:`nucleus_area_stats`): nuclei below it are smaller than in all but that fraction of
    the training images. ``None`` when ``stats`` predates ``image_areas``."""
    areas = stats.get("image_areas")
    return None if not areas else float(np.quantile(np.asarray(areas, np.float64), quantile))


def save_nucleus_size(run_dir: str | Path, labels: Iterable[np.ndarray]) -> dict:
    """Measure :func:`nucleus_area_stats` and write it to ``run_dir/nucleus_size.json``."""
    stats = nucleus_area_stats(labels)
    write_json(Path(run_dir) / NUCLEUS_SIZE_FILE, stats)
    return stats


def scale_factor(area: float, target_area: float, min_scale: float = 0.25, max_scale: float = 4.0,
                 tolerance: float = 0.2, shape: tuple[int, int] | None = None, max_pixels: int = 0) -> float:
    """Linear factor that brings nuclei of ``area`` to ``target_area``.

    Args:
        area: Estimated nucleus area of the image (pixels); ``nan`` or <= 0: no estimate.
        target_area: The training nucleus area (pixels).
        min_scale: Smallest factor (shrinking).
        max_scale: Largest factor (enlarging).
        tolerance: No rescale (factor 1) while ``target/area`` lies within
            ``[1 / (1 + tolerance), 1 + tolerance]``.
        shape: ``(H, W)`` of the image, for ``max_pixels``.
        max_pixels: Cap the factor so that the rescaled image has at most this many
            pixels (0: no cap); bounds memory.

    Returns:
        The factor ``sqrt(target_area / area)`` clamped, or exactly 1.0 for "do not rescale".
    """
    if not (area > 0 and math.isfinite(area)) or target_area <= 0:
        return 1.0
    ratio = target_area / area
    if 1.0 / (1.0 + tolerance) <= ratio <= 1.0 + tolerance:
        return 1.0
    factor = min(max(math.sqrt(ratio), min_scale), max_scale)
    if shape is not None and max_pixels > 0:
        factor = min(factor, math.sqrt(max_pixels / max(1, shape[0] * shape[1])))
    return factor if abs(factor - 1.0) > 1e-6 else 1.0


def map_certainty(prob: np.ndarray) -> tuple[float, float]:
    """How sure a prediction is of its body map, and how much of the image it calls nucleus.

    Args:
        prob: float [H,W] body map or [H,W,C] maps whose channel 0 is the body, in 0..1.

    Returns:
        ``(certainty, cover)``: the mean of ``|2 body - 1|`` over the image (1 where every
        pixel is 0 or 1, 0 where every pixel is 0.5), and the fraction of pixels with
        ``body > 0.5``. Both are fractions of the image, so they compare across scales.
    """
    x = np.asarray(prob, np.float32)
    body = x[..., 0] if x.ndim == 3 else x
    if body.ndim != 2 or body.size == 0:
        raise ValueError(f"probability maps must be non-empty [H,W] or [H,W,C], got shape {x.shape}")
    return float(np.abs(2.0 * body - 1.0).mean()), float((body > 0.5).mean())


def select_scale(measures: dict[float, tuple[float, float]], min_cover: float = 0.5,
                 margin: float = 0.0) -> float:
    """The candidate scale whose first pass is most certain (e.g. :func:`map_certainty`).

    A scale whose pass calls much less of the image nucleus than the pass at scale 1 is not
    a candidate: shrinking until small nuclei vanish makes a map "certain" of background.

    Args:
        measures: ``{scale: (certainty, cover)}``; must hold scale 1.0.
        min_cover: A candidate needs ``cover >= min_cover * cover at scale 1``.
        margin: A candidate needs a certainty above scale 1's by more than this.

    Returns:
        The chosen scale (1.0 on ties, and when no other candidate qualifies).
    """
    if 1.0 not in measures:
        raise ValueError(f"select_scale needs the pass at scale 1.0, got scales {sorted(measures)}")
    base_certainty, base_cover = measures[1.0]
    best, best_certainty = 1.0, base_certainty
    for scale in sorted(measures, reverse=True):
        certainty, cover = measures[scale]
        if (cover >= min_cover * base_cover and certainty > best_certainty
                and certainty > base_certainty + margin):
            best, best_certainty = scale, certainty
    return best


def choose_scale(measure: Callable[[float], tuple[float, float]], candidates: Sequence[float],
                 probe: Sequence[float] = (), min_cover: float = 0.5, margin: float = 0.0
                 ) -> tuple[float, dict[float, tuple[float, float]]]:
    """:func:`select_scale` over passes run on demand, each candidate at most once.

    Args:
        measure: ``factor -> (certainty, cover)``: runs the pass at that scale (the caller
            keeps what it needs of the pass, e.g. to reuse the chosen one).
        candidates: The scales (must hold 1.0).
        probe: Candidates measured first, beside 1.0; the other candidates only when
            :func:`select_scale` over those picks a probe. Empty: every candidate.
        min_cover, margin: As :func:`select_scale`.

    Returns:
        ``(chosen scale, {scale: measure} of the passes that ran)``.
    """
    if 1.0 not in candidates or any(p == 1.0 or p not in candidates for p in probe):
        raise ValueError(f"choose_scale: candidates {list(candidates)} must hold 1.0 and the probes "
                         f"{list(probe)} be other candidates")
    measures: dict[float, tuple[float, float]] = {}

    def over(scales: Iterable[float]) -> float:
        for scale in scales:
            if scale not in measures:
                measures[scale] = measure(scale)
        return select_scale(measures, min_cover, margin)

    if probe and over((1.0, *probe)) == 1.0:
        return 1.0, measures
    return over(candidates), measures


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize [H,W] or [H,W,C] by ``factor`` (area interpolation down, linear up).

    Returns:
        Same dtype, ``[round(H f), round(W f)(, C)]`` (each side >= 1).
    """
    h, w = image.shape[:2]
    return resize_to(image, (max(1, round(h * factor)), max(1, round(w * factor))))


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize [H,W] or [H,W,C] (any C) to ``shape = (h, w)``; e.g. maps back to the original size.

    Area interpolation when shrinking both sides, linear otherwise.
    """
    x = np.asarray(image)
    h, w = int(shape[0]), int(shape[1])
    if x.shape[:2] == (h, w):
        return x
    interp = cv2.INTER_AREA if h <= x.shape[0] and w <= x.shape[1] else cv2.INTER_LINEAR
    channels = x.shape[2] if x.ndim == 3 else 0
    if channels > 4:  # cv2.resize is fastest (and safest) up to 4 channels
        return np.stack([resize_to(x[..., c], (h, w)) for c in range(channels)], axis=-1)
    out = cv2.resize(np.ascontiguousarray(x), (w, h), interpolation=interp)
    return out.reshape(h, w, channels) if channels else out
