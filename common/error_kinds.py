"""How a prediction fails: each true nucleus and each unmatched prediction sorted into a kind.

The DSB score says how much is wrong, not what. ``error_kinds(true, pred)`` counts, for one
image (a match is IoU > 0.5, one-to-one as in the metric):

* ``true``, ``pred``: the numbers of true and predicted nuclei;
* ``matched``: true nuclei with a match;
* ``merged``: unmatched true nuclei that lie (>= half of them) inside a prediction which
  holds >= half of another true nucleus too: touching nuclei the prediction did not split
  (this comes first: a merged nucleus that is also cut is ``merged``);
* ``split``: the other unmatched true nuclei cut in pieces: >= ``piece`` (20 %) of it in
  each of two or more predictions;
* ``missed``: the rest that the predictions together cover less than half of;
* ``outline``: the rest: found, but outlined too loosely or tightly (or in many pieces
  each under ``piece``);
* ``fp_background``: unmatched predictions lying mostly (> half) on the background;
* ``fp_piece``: the other unmatched predictions (pieces of nuclei, or merged blobs).

``error_table`` sums them per image type. All vectorised over the sparse overlap table of
``common.metrics.overlap_table``; no per-pixel loops.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from common.metrics import overlap_table

__all__ = ["ERROR_KINDS", "error_kinds", "error_table", "sum_error_kinds"]

_SHARES = ("merged", "split", "missed", "outline")
ERROR_KINDS = ("true", "pred", "matched", "merged", "split", "missed", "outline", "fp_background",
               "fp_piece")


def error_kinds(true: np.ndarray, pred: np.ndarray, piece: float = 0.2) -> dict[str, int]:
    """Counts of each kind in ``ERROR_KINDS`` for one image.

    Args:
        true: int [H,W] true labels, 0 = background.
        pred: int [H,W] predicted labels, 0 = background.
        piece: The share of a true nucleus that counts as one piece of a split, in (0, 0.5].
    """
    if not 0 < piece <= 0.5:
        raise ValueError(f"piece must be in (0, 0.5], got {piece}")
    nt, n_p, ti, pi, inter, area_t, area_p = overlap_table(true, pred)
    union = area_t[ti] + area_p[pi] - inter
    hit = 2 * inter > union  # IoU > 0.5: at most one partner each way
    matched_t = np.bincount(ti[hit], minlength=nt) > 0
    matched_p = np.bincount(pi[hit], minlength=n_p) > 0
    share = inter / np.maximum(area_t[ti], 1)  # of the true nucleus, inside this prediction
    holds = share >= 0.5
    trues_held = np.bincount(pi[holds], minlength=n_p)  # true nuclei each prediction holds
    merged = ~matched_t & (np.bincount(ti[holds & (trues_held[pi] >= 2)], minlength=nt) > 0)
    split = ~matched_t & ~merged & (np.bincount(ti[share >= piece], minlength=nt) >= 2)
    covered = np.bincount(ti, weights=inter, minlength=nt) / np.maximum(area_t, 1)
    rest = ~matched_t & ~merged & ~split
    missed = rest & (covered < 0.5)
    on_nuclei = np.bincount(pi, weights=inter, minlength=n_p)
    fp_bg = ~matched_p & (2 * (area_p - on_nuclei) > area_p)
    return {"true": int(nt), "pred": int(n_p), "matched": int(matched_t.sum()),
            "merged": int(merged.sum()), "split": int(split.sum()), "missed": int(missed.sum()),
            "outline": int((rest & ~missed).sum()), "fp_background": int(fp_bg.sum()),
            "fp_piece": int((~matched_p & ~fp_bg).sum())}


def error_table(items: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Per image type, the summed ``error_kinds`` and the share of true nuclei lost to each.

    Args:
        items: ``(image_type, true, pred)`` per image.

    Returns:
        One row per type (and ``all`` when there are several), the columns ``images`` and
        ``ERROR_KINDS``, and ``merged_%``, ``split_%``, ``missed_%``, ``outline_%`` (of the
        true nuclei); an empty frame with those columns for no items.
    """
    return sum_error_kinds([(kind, error_kinds(t, p)) for kind, t, p in items])


def sum_error_kinds(rows: Iterable[tuple[str, dict]]) -> pd.DataFrame:
    """:func:`error_table` from each image's :func:`error_kinds` counts (e.g. cached ones):
    ``rows`` holds ``(image_type, counts)`` per image."""
    rows = [{"type": kind, **counts} for kind, counts in rows]
    if not rows:
        return pd.DataFrame(columns=["images", *ERROR_KINDS, *(f"{k}_%" for k in _SHARES)])
    df = pd.DataFrame(rows)
    table = df.groupby("type")[list(ERROR_KINDS)].sum()
    table.insert(0, "images", df.groupby("type").size())
    if len(table) > 1:
        table.loc["all"] = table.sum()
    for kind in _SHARES:
        table[f"{kind}_%"] = (100.0 * table[kind] / table["true"].clip(lower=1)).round(1)
    return table
