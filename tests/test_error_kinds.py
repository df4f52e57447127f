"""common.error_kinds: each true nucleus and each unmatched prediction gets one kind."""

from __future__ import annotations

import numpy as np
import pytest

from common.error_kinds import ERROR_KINDS, error_kinds, error_table


def _box(lab, k, y0, y1, x0, x1):
    lab[y0:y1, x0:x1] = k


@pytest.fixture
def scene():
    true = np.zeros((60, 90), np.int32)
    _box(true, 1, 2, 12, 2, 12)    # found well
    _box(true, 2, 2, 12, 12, 22)   # 2 and 3 touch: predicted as one blob
    _box(true, 3, 2, 12, 22, 32)
    _box(true, 4, 20, 40, 2, 22)   # cut in two halves
    _box(true, 5, 20, 30, 40, 50)  # not found
    _box(true, 6, 45, 55, 40, 50)  # outlined far too loosely
    pred = np.zeros_like(true)
    _box(pred, 7, 2, 12, 2, 12)
    _box(pred, 9, 2, 12, 12, 32)
    _box(pred, 11, 20, 40, 2, 12)
    _box(pred, 12, 20, 40, 12, 22)
    _box(pred, 20, 43, 60, 36, 56)  # (mostly background too: an fp_background)
    _box(pred, 30, 2, 12, 70, 80)  # on the background
    return true, pred


def test_each_nucleus_gets_its_kind(scene):
    counts = error_kinds(*scene)
    assert counts == {"true": 6, "pred": 6, "matched": 1, "merged": 2, "split": 1, "missed": 1,
                      "outline": 1, "fp_background": 2, "fp_piece": 3}
    assert set(counts) == set(ERROR_KINDS)
    # the kinds of the true nuclei add up to them
    assert sum(counts[k] for k in ("matched", "merged", "split", "missed", "outline")) == counts["true"]


def test_perfect_and_empty_predictions():
    true = np.zeros((20, 20), np.int32)
    _box(true, 3, 2, 8, 2, 8)
    _box(true, 8, 10, 18, 10, 18)
    assert error_kinds(true, true)["matched"] == 2
    none = error_kinds(true, np.zeros_like(true))
    assert none["missed"] == 2 and none["pred"] == 0
    assert error_kinds(np.zeros_like(true), true)["fp_background"] == 2
    with pytest.raises(ValueError, match="shapes differ"):
        error_kinds(true, true[:5])
    with pytest.raises(ValueError, match="piece"):
        error_kinds(true, true, piece=0.6)
    # ids need not be consecutive or small
    assert error_kinds(true.astype(np.int64) * 2**40, true)["matched"] == 2


def test_error_table_sums_per_type(scene):
    true, pred = scene
    table = error_table([("histology", true, pred), ("histology", true, true),
                         ("fluorescence", true, true)])
    assert table.loc["histology", "images"] == 2 and table.loc["histology", "merged"] == 2
    assert table.loc["all", "true"] == 18 and table.loc["all", "matched"] == 13
    assert table.loc["histology", "merged_%"] == pytest.approx(100 * 2 / 12, abs=0.05)
    assert error_table([]).empty and "merged_%" in error_table([]).columns
