"""The DSB2018 metric: mean over images of the average precision over IoU thresholds.

For one image and a threshold ``t``, a true nucleus and a predicted one match when
their IoU is *strictly* greater than ``t``. Since ``t >= 0.5``, each true nucleus
matches at most one prediction and vice versa, so ``TP`` is the number of
(true, pred) pairs above the threshold, ``FP = n_pred - TP``, ``FN = n_true - TP``
and the image precision at ``t`` is ``TP / (TP + FP + FN)``. The image score is
the mean over :data:`THRESHOLDS`, the dataset score the mean over images.

The IoU test is exact: ``t`` is turned into a fraction ``p/q`` and a pair matches
iff ``q * intersection > p * union`` in int64, so an IoU of exactly 0.5 never
matches and there are no floating-point ties.

Overlaps come from one ``np.bincount`` over ``true_id * (n_pred + 1) + pred_id``
(a contingency table), never from dense ``N x M x H x W`` masks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

__all__ = [
    "THRESHOLDS",
    "iou_counts",
    "overlap_pairs",
    "overlap_table",
    "match_at",
    "match_counts",
    "image_score",
    "image_ap",
    "ScoreReport",
    "score_dataset",
]

THRESHOLDS: np.ndarray = np.round(np.arange(0.5, 1.0, 0.05), 2)
"""IoU thresholds 0.50, 0.55, ..., 0.95 (10 values)."""

# Above this many contingency cells (and 4x the pixel count) use a sparse table.
_DENSE_CELLS = 1 << 18


def _relabel(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map instance ids to 1..N (0 stays background).

    Args:
        labels: int [H,W], ids >= 0, not necessarily consecutive.

    Returns:
        ``(flat, n)``: int64 [H*W] consecutive ids and the instance count N.
    """
    flat = np.asarray(labels).ravel()
    if flat.size == 0:
        return flat.astype(np.int64), 0
    flat = flat.astype(np.int64, copy=False)
    lo, hi = int(flat.min()), int(flat.max())
    if lo < 0:
        raise ValueError(f"labels must be >= 0, found {lo}")
    if hi <= 4 * flat.size + 1024:  # lookup table: O(pixels + max id)
        present = np.bincount(flat, minlength=1) > 0
        if present[1:].all():  # already 1..N
            return flat, hi
        present[0] = False
        lut = np.cumsum(present, dtype=np.int64)
        return lut[flat], int(lut[-1])
    ids, inverse = np.unique(flat, return_inverse=True)
    inverse = inverse.astype(np.int64).ravel()
    if ids[0] != 0:
        inverse += 1
    return inverse, int(ids.size - (ids[0] == 0))


def _check_pair(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(true), np.asarray(pred)
    if true.ndim != 2 or pred.ndim != 2:
        raise ValueError(f"labels must be 2-D [H,W], got {true.shape} and {pred.shape}")
    if true.shape != pred.shape:
        raise ValueError(f"true and pred shapes differ: {true.shape} vs {pred.shape}")
    for name, arr in (("true", true), ("pred", pred)):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise ValueError(f"{name} labels must be integers, got dtype {arr.dtype}")
    return true, pred


def _overlap(true: np.ndarray, pred: np.ndarray) -> tuple:
    """``(n_true, n_pred, ti, pi, inter, area_true [Nt], area_pred [Np])``, int64."""
    t, nt = _relabel(true)
    p, n_p = _relabel(pred)
    cells = (nt + 1) * (n_p + 1)
    if cells <= max(_DENSE_CELLS, 4 * t.size):
        table = np.bincount(t * (n_p + 1) + p, minlength=cells).reshape(nt + 1, n_p + 1)
        area_t, area_p = table.sum(axis=1)[1:], table.sum(axis=0)[1:]
        ti, pi = np.nonzero(table[1:, 1:])
        inter = table[1:, 1:][ti, pi].astype(np.int64)
    else:
        area_t = np.bincount(t, minlength=nt + 1)[1:]
        area_p = np.bincount(p, minlength=n_p + 1)[1:]
        both = (t > 0) & (p > 0)
        keys, inter = np.unique(t[both] * (n_p + 1) + p[both], return_counts=True)
        ti, pi = keys // (n_p + 1) - 1, keys % (n_p + 1) - 1
        inter = inter.astype(np.int64)
    return (nt, n_p, ti.astype(np.int64), pi.astype(np.int64), inter,
            area_t.astype(np.int64), area_p.astype(np.int64))


def overlap_table(true: np.ndarray, pred: np.ndarray) -> tuple:
    """``overlap_pairs`` with the instance areas instead of the unions.

    Returns:
        ``(n_true, n_pred, ti, pi, inter, area_true, area_pred)``: ``ti``, ``pi``, ``inter``
        int64 [K] as in ``overlap_pairs``; ``area_true`` int64 [Nt], ``area_pred`` int64 [Np].
    """
    return _overlap(*_check_pair(true, pred))


def overlap_pairs(
    true: np.ndarray, pred: np.ndarray
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse overlap table of two label images.

    Args:
        true: int [H,W] ground-truth labels, 0 = background.
        pred: int [H,W] predicted labels, 0 = background.

    Returns:
        ``(n_true, n_pred, ti, pi, inter, union)`` where ``ti``, ``pi`` are int64 [K]
        0-based indices of overlapping instances (in ascending label-id order) and
        ``inter``, ``union`` int64 [K] their pixel counts.
    """
    nt, n_p, ti, pi, inter, area_t, area_p = _overlap(*_check_pair(true, pred))
    union = area_t[ti] + area_p[pi] - inter
    return nt, n_p, ti, pi, inter, union


def iou_counts(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense intersection and union pixel counts.

    Args:
        true: int [H,W] ground-truth labels (ids need not be consecutive).
        pred: int [H,W] predicted labels.

    Returns:
        ``(intersection, union)``: int64 [Nt,Np] each, rows/columns in ascending
        label-id order. Pairs that do not overlap have intersection 0 and union
        equal to the sum of the two areas.
    """
    nt, n_p, ti, pi, inter, area_t, area_p = _overlap(*_check_pair(true, pred))
    intersection = np.zeros((nt, n_p), dtype=np.int64)
    intersection[ti, pi] = inter
    union = area_t[:, None] + area_p[None, :] - intersection
    return intersection, union


def _as_fractions(thresholds: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds as exact fractions ``num/den`` (int64 [T] each).

    The float is read through its shortest decimal form and snapped to the nearest
    fraction with denominator <= 10**6, so ``0.55`` means exactly 11/20.
    """
    fr = [Fraction(str(float(t))).limit_denominator(10**6) for t in np.atleast_1d(thresholds)]
    for f in fr:
        if not 0 <= f < 1:
            raise ValueError(f"IoU thresholds must be in [0, 1), got {float(f)}")
    return (np.array([f.numerator for f in fr], dtype=np.int64),
            np.array([f.denominator for f in fr], dtype=np.int64))


def match_counts(
    true: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] | np.ndarray = THRESHOLDS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP and FN at each threshold.

    Args:
        true: int [H,W] ground-truth labels.
        pred: int [H,W] predicted labels.
        thresholds: float [T] IoU thresholds, each >= 0.5 (one-to-one matching).

    Returns:
        ``(tp, fp, fn)``: int64 [T] each.
    """
    num, den = _as_fractions(thresholds)
    if np.any(2 * num < den):
        raise ValueError("thresholds below 0.5 would need an assignment step; use t >= 0.5")
    nt, n_p, _, _, inter, union = overlap_pairs(true, pred)
    # exact: IoU > num/den  <=>  den * inter > num * union
    above = den[:, None] * inter[None, :] > num[:, None] * union[None, :]
    tp = above.sum(axis=1).astype(np.int64)
    return tp, n_p - tp, nt - tp


def match_at(true: np.ndarray, pred: np.ndarray, t: float) -> tuple[int, int, int]:
    """TP, FP, FN at one IoU threshold (match iff IoU > t, exactly).

    Args:
        true: int [H,W] ground-truth labels.
        pred: int [H,W] predicted labels.
        t: IoU threshold, >= 0.5.

    Returns:
        ``(tp, fp, fn)`` as Python ints.
    """
    tp, fp, fn = match_counts(true, pred, [t])
    return int(tp[0]), int(fp[0]), int(fn[0])


def _precision(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = tp + fp + fn
    # denom == 0 only when both images are empty: a perfect (empty) answer.
    return np.where(denom > 0, tp / np.maximum(denom, 1), 1.0)


def image_score(
    true: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] | np.ndarray = THRESHOLDS
) -> np.ndarray:
    """Per-threshold precision ``TP / (TP + FP + FN)`` of one image.

    Args:
        true: int [H,W] ground-truth labels, 0 = background.
        pred: int [H,W] predicted labels, 0 = background.
        thresholds: float [T] IoU thresholds (default :data:`THRESHOLDS`).

    Returns:
        float64 [T]; all ones when both images are empty.
    """
    return _precision(*match_counts(true, pred, thresholds))


def image_ap(true: np.ndarray, pred: np.ndarray) -> float:
    """The image's score: mean of :func:`image_score` over :data:`THRESHOLDS`."""
    return float(image_score(true, pred).mean())


@dataclass
class ScoreReport:
    """Result of :func:`score_dataset`.

    Attributes:
        score: Mean over images of the per-image average precision.
        per_threshold: float [T] mean precision per threshold, indexed by threshold.
        per_image: One row per image (index ``image_id``): a column per threshold
            (float column names, e.g. ``0.5``), ``"score"``, ``"n_true"``, ``"n_pred"``.
        counts: TP, FP, FN summed over images, indexed by threshold.
    """

    score: float
    per_threshold: pd.Series
    per_image: pd.DataFrame
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)


def score_dataset(
    true: Mapping[str, np.ndarray],
    pred: Mapping[str, np.ndarray],
    thresholds: Sequence[float] | np.ndarray = THRESHOLDS,
) -> ScoreReport:
    """Score predictions for a set of images.

    Args:
        true: image_id -> int [H,W] ground-truth labels; defines the scored images.
        pred: image_id -> int [H,W] predicted labels. A scored image absent here
            counts as an empty prediction (score 0 if it has nuclei, 1 if not).
        thresholds: float [T] IoU thresholds.

    Returns:
        A :class:`ScoreReport`.

    Raises:
        KeyError: if ``pred`` has ids that are not in ``true``.
        ValueError: if an image's true and predicted shapes differ (names the id).
    """
    unknown = sorted(set(pred) - set(true))
    if unknown:
        raise KeyError(f"{len(unknown)} predicted image id(s) not in the ground truth, "
                       f"e.g. {unknown[:3]}")
    thr = np.asarray(thresholds, dtype=float)
    ids = sorted(true)
    tps, fps, fns, n_true, n_pred = [], [], [], [], []
    for image_id in ids:
        t = np.asarray(true[image_id])
        p = pred.get(image_id)
        p = np.zeros(t.shape, dtype=np.int32) if p is None else np.asarray(p)
        try:
            tp, fp, fn = match_counts(t, p, thr)
        except ValueError as err:
            raise ValueError(f"image {image_id}: {err}") from None
        tps.append(tp), fps.append(fp), fns.append(fn)
        n_true.append(int(tp[0] + fn[0]))
        n_pred.append(int(tp[0] + fp[0]))
    shape = (len(ids), thr.size)
    tp = np.array(tps, dtype=np.int64).reshape(shape)
    fp = np.array(fps, dtype=np.int64).reshape(shape)
    fn = np.array(fns, dtype=np.int64).reshape(shape)
    prec = _precision(tp, fp, fn)
    per_image = pd.DataFrame(prec, index=pd.Index(ids, name="image_id"), columns=list(thr))
    per_image["score"] = prec.mean(axis=1) if ids else np.zeros(0)
    per_image["n_true"] = np.array(n_true, dtype=np.int64)
    per_image["n_pred"] = np.array(n_pred, dtype=np.int64)
    thr_index = pd.Index(thr, name="threshold")
    per_threshold = pd.Series(prec.mean(axis=0) if ids else np.full(thr.size, np.nan),
                              index=thr_index, name="precision")
    counts = pd.DataFrame({"tp": tp.sum(0), "fp": fp.sum(0), "fn": fn.sum(0)}, index=thr_index)
    score = float(per_image["score"].mean()) if ids else float("nan")
    return ScoreReport(score=score, per_threshold=per_threshold, per_image=per_image,
                       counts=counts)
