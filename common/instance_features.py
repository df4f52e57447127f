"""Per-instance features of a predicted label image, for a second-level instance filter.

One row per predicted instance (label ids ascending), columns :data:`FEATURES` (fixed
names and order, so a saved filter can check them). Groups:

* **shape** (``skimage.measure.regionprops_table``): ``area``, ``solidity``,
  ``eccentricity``, ``extent``, ``perimeter_ratio`` (perimeter over a circle's of the
  same area: 1 for a disc, larger for ragged or elongated shapes), ``area_rel`` (area over
  the image's median predicted area).
* **network** (from the prediction's ``prob`` [H,W,C], maps found by name: ``channels``,
  default ``body, border, centre`` in that order): ``prob_mean``, ``prob_max``,
  ``prob_min`` of the body map inside the mask, ``prob_border`` (its mean on the
  instance's inner 1-px border), ``prob_c1_mean``/``prob_c2_mean`` (mean of the maps named
  ``border`` and ``centre`` inside; the names keep saved filters readable), and ``score``
  (the prediction's own instance score). NaN where the map is absent, so a filter fitted
  on one channel layout reads the same maps in a reordered one.
* **neighbours**: ``n_near`` (instances within ``near`` px, touching included) and
  ``near_area_rel`` (their mean area over this instance's; NaN without neighbours).
* **image** (constant within an image): ``img_mean`` (mean gray level / 255),
  ``img_bright`` (1.0 for a bright background, :func:`common.normalise.bright_background`),
  ``img_height``, ``img_width``, and per instance
  ``contrast`` (mean gray inside minus the image median, / 255, sign flipped on bright
  backgrounds so nuclei are positive). NaN without the image. ``img_n_inst`` (predicted
  instances in the image) is always set.

Everything is vectorised (bincount, ``ufunc.reduceat`` over label-sorted pixels, array shifts);
the only Python loops run over the ``(2 near + 1)^2 / 2`` neighbour shifts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from skimage.measure import regionprops_table
from skimage.segmentation import find_boundaries

from common.instances import channel_names
from common.normalise import bright_background, to_gray

__all__ = ["FEATURES", "FEATURE_SETS", "IMAGE_FEATURES", "NETWORK_FEATURES", "instance_features",
           "near_pairs"]


FEATURES: tuple[str, ...] = (
    "area", "solidity", "eccentricity", "extent", "perimeter_ratio", "area_rel",
    "prob_mean", "prob_max", "prob_min", "prob_border", "prob_c1_mean", "prob_c2_mean", "score",
    "n_near", "near_area_rel",
    "img_mean", "img_bright", "img_height", "img_width", "img_n_inst", "contrast",
)
IMAGE_FEATURES: tuple[str, ...] = ("img_mean", "img_bright", "img_height", "img_width", "contrast")
"""The features that need the input image."""
NETWORK_FEATURES: tuple[str, ...] = ("prob_mean", "prob_max", "prob_min", "prob_border",
                                     "prob_c1_mean", "prob_c2_mean", "score")
"""The features that come from the network's maps and scores."""
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "all": FEATURES,
    "no_image": tuple(f for f in FEATURES if f not in IMAGE_FEATURES),
    "shape_only": tuple(f for f in FEATURES if f not in IMAGE_FEATURES + NETWORK_FEATURES),
}
"""Named feature subsets (``bench/bench_instance_filter.py`` compares them)."""


def near_pairs(labels: np.ndarray, near: int = 2) -> np.ndarray:
    """Pairs of distinct instances that come within ``near`` pixels (chessboard distance).

    Args:
        labels: int [H,W], 0 = background.
        near: Distance in pixels (>= 1; 1 = touching, 8-connected).

    Returns:
        int64 [P,2] unique pairs ``(a, b)`` of label ids with ``a < b``.
    """
    lab = np.asarray(labels, np.int64)
    h, w = lab.shape
    n = int(lab.max(initial=0))
    keys = []
    for dy in range(0, near + 1):
        for dx in range(-near, near + 1):
            if dy == 0 and dx <= 0:
                continue  # each unordered shift once
            a = lab[0:h - dy, max(0, -dx):w - max(0, dx)]
            b = lab[dy:h, max(0, dx):w - max(0, -dx)]
            hit = (a > 0) & (b > 0) & (a != b)
            if hit.any():
                lo, hi = np.minimum(a[hit], b[hit]), np.maximum(a[hit], b[hit])
                keys.append(np.unique(lo * (n + 1) + hi))
    if not keys:
        return np.zeros((0, 2), np.int64)
    k = np.unique(np.concatenate(keys))
    return np.stack([k // (n + 1), k % (n + 1)], axis=1)


class _Groups:
    """The foreground pixels of a label image sorted by label, for per-label reductions.

    Args:
        lab: int [H,W] labels, 0 = background.
        ids: int [N] the label ids present (ascending, > 0).
    """

    def __init__(self, lab: np.ndarray, ids: np.ndarray):
        flat = lab.ravel()
        self.pix = np.flatnonzero(flat)
        order = np.argsort(flat[self.pix], kind="stable")
        self.pix = self.pix[order]
        self.starts = np.searchsorted(flat[self.pix], ids)
        self.count = np.diff(np.append(self.starts, self.pix.size)).astype(np.float64)

    def take(self, values: np.ndarray) -> np.ndarray:
        """float64 [P] ``values`` [H,W] at the sorted foreground pixels."""
        return np.asarray(values, np.float64).ravel()[self.pix]

    def mean(self, v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v, self.starts) / self.count

    def max(self, v: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(v, self.starts)

    def min(self, v: np.ndarray) -> np.ndarray:
        return np.minimum.reduceat(v, self.starts)


def _eccentricity(g: _Groups, width: int) -> np.ndarray:
    """Eccentricity of the ellipse with the same second moments (as skimage defines it)."""
    y, x = np.divmod(g.pix, width)
    y, x = y.astype(np.float64), x.astype(np.float64)
    my, mx = g.mean(y), g.mean(x)
    vyy = g.mean(y * y) - my ** 2
    vxx = g.mean(x * x) - mx ** 2
    vxy = g.mean(x * y) - mx * my
    half = np.sqrt(np.maximum(((vyy - vxx) / 2) ** 2 + vxy ** 2, 0.0))
    l1, l2 = (vyy + vxx) / 2 + half, np.maximum((vyy + vxx) / 2 - half, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(l1 > 0, np.sqrt(np.clip(1.0 - l2 / l1, 0.0, 1.0)), 0.0)


def instance_features(labels: np.ndarray, prob: np.ndarray | None = None,
                      image: np.ndarray | None = None, scores: np.ndarray | None = None,
                      near: int = 2, channels: Sequence[str] | None = None) -> pd.DataFrame:
    """Features of every instance of ``labels``.

    Args:
        labels: int [H,W] predicted labels, 0 = background (ids need not be consecutive).
        prob: float [H,W,C] (or [H,W]) per-pixel maps of the same prediction, channel 0 the
            foreground probability; ``None``: the network features are NaN.
        image: uint8 [H,W,3] (or [H,W]) input image; ``None``: the image features are NaN.
        scores: float [N] the prediction's instance scores, ``scores[i]`` for label ``i + 1``
            (the prediction contract); ``None``: ``score`` is NaN.
        near: Neighbour distance in pixels.
        channels: The names of ``prob``'s maps (``Prediction.channels``); None: ``body,
            border, centre`` in that order, as many as there are.

    Returns:
        DataFrame [N, len(FEATURES)] indexed by label id (``label``), columns :data:`FEATURES`.

    Raises:
        ValueError: when the shapes of ``labels``, ``prob``, ``image`` or ``scores`` disagree.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an integer [H,W] array, got {lab.dtype} {lab.shape}")
    lab = lab.astype(np.int32, copy=False)
    ids = np.unique(lab)
    ids = ids[ids > 0]
    out = pd.DataFrame(np.nan, index=pd.Index(ids, name="label"), columns=list(FEATURES))
    if ids.size == 0:
        return out
    props = regionprops_table(lab, properties=("label", "area", "solidity", "bbox", "perimeter"))
    area = np.asarray(props["area"], np.float64)
    g = _Groups(lab, ids)
    out["area"] = area
    out["solidity"] = props["solidity"]
    out["eccentricity"] = _eccentricity(g, lab.shape[1])
    out["extent"] = area / ((props["bbox-2"] - props["bbox-0"]) * (props["bbox-3"] - props["bbox-1"]))
    out["perimeter_ratio"] = np.asarray(props["perimeter"]) / (2.0 * np.sqrt(np.pi * area))
    out["area_rel"] = area / float(np.median(area))

    pairs = near_pairs(lab, near)
    n_max = int(ids.max())
    if len(pairs):
        ends = np.concatenate([pairs[:, 0], pairs[:, 1]])
        other = np.concatenate([pairs[:, 1], pairs[:, 0]])
        full_area = np.zeros(n_max + 1)
        full_area[ids] = area
        count = np.bincount(ends, minlength=n_max + 1)[ids]
        summed = np.bincount(ends, weights=full_area[other], minlength=n_max + 1)[ids]
    else:
        count, summed = np.zeros(ids.size), np.zeros(ids.size)
    out["n_near"] = count
    with np.errstate(invalid="ignore", divide="ignore"):
        out["near_area_rel"] = np.where(count > 0, summed / np.maximum(count, 1) / area, np.nan)

    if prob is not None:
        p = np.asarray(prob, np.float32)
        p = p[..., None] if p.ndim == 2 else p
        if p.shape[:2] != lab.shape:
            raise ValueError(f"prob {p.shape} does not match labels {lab.shape}")
        names = list(channel_names(p.shape[2], channels))
        if len(names) != p.shape[2]:
            raise ValueError(f"{len(names)} channel names {names} for prob {p.shape}")
        for column, name in (("prob_c1_mean", "border"), ("prob_c2_mean", "centre")):
            if name in names:
                out[column] = g.mean(g.take(p[..., names.index(name)]))
        if "body" in names:  # else the body features stay NaN
            body_map = p[..., names.index("body")]
            body = g.take(body_map)
            out["prob_mean"], out["prob_max"], out["prob_min"] = g.mean(body), g.max(body), g.min(body)
            edge = find_boundaries(lab, mode="inner") & (lab > 0)
            sums = np.bincount(lab[edge], weights=body_map[edge], minlength=n_max + 1)[ids]
            cnt = np.bincount(lab[edge], minlength=n_max + 1)[ids]
            out["prob_border"] = np.where(cnt > 0, sums / np.maximum(cnt, 1), out["prob_mean"])
    if scores is not None:
        s = np.asarray(scores, np.float64).reshape(-1)
        if s.size < n_max:
            raise ValueError(f"{s.size} scores for labels up to {n_max}")
        out["score"] = s[ids - 1]
    if image is not None:
        img = np.asarray(image)
        if img.shape[:2] != lab.shape:
            raise ValueError(f"image {img.shape} does not match labels {lab.shape}")
        gray = to_gray(img).astype(np.float32)
        bright = bright_background(gray)
        out["img_mean"] = float(gray.mean()) / 255.0
        out["img_bright"] = float(bright)
        out["img_height"], out["img_width"] = float(lab.shape[0]), float(lab.shape[1])
        inside = g.mean(g.take(gray))
        sign = -1.0 if bright else 1.0
        out["contrast"] = sign * (inside - float(np.median(gray))) / 255.0
    out["img_n_inst"] = float(ids.size)
    return out
