"""Tests for common.metrics: the DSB2018 mean average precision over IoU thresholds."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from common.metrics import (
    THRESHOLDS,
    ScoreReport,
    image_ap,
    image_score,
    iou_counts,
    match_at,
    score_dataset,
)
from common.paths import SHARED_DSB_DIR, shared_train_dir

# ----------------------------------------------------------------------- helpers


def _pair_two_px_in_four() -> tuple[np.ndarray, np.ndarray]:
    """true: 2 px; pred: a 2x2 square containing them -> IoU exactly 2/4 = 0.5."""
    true = np.zeros((6, 6), np.int32)
    true[1, 1:3] = 1
    pred = np.zeros((6, 6), np.int32)
    pred[1:3, 1:3] = 5
    return true, pred


def _dense_reference(true: np.ndarray, pred: np.ndarray, thresholds) -> np.ndarray:
    """Independent per-threshold precision: dense masks, exact IoU, optimal assignment."""
    t_ids = [i for i in np.unique(true) if i != 0]
    p_ids = [i for i in np.unique(pred) if i != 0]
    if not t_ids and not p_ids:
        return np.ones(len(thresholds))
    t_masks = np.stack([true == i for i in t_ids]) if t_ids else np.zeros((0,) + true.shape, bool)
    p_masks = np.stack([pred == i for i in p_ids]) if p_ids else np.zeros((0,) + true.shape, bool)
    inter = (t_masks[:, None] & p_masks[None]).sum(axis=(2, 3))
    union = (t_masks[:, None] | p_masks[None]).sum(axis=(2, 3))
    out = []
    for t in thresholds:
        frac = Fraction(str(float(t)))
        ok = np.array([[Fraction(int(a), int(b)) > frac if b else False for a, b in zip(ra, rb)]
                       for ra, rb in zip(inter, union)], dtype=bool).reshape(inter.shape)
        tp = 0
        if ok.size:
            rows, cols = linear_sum_assignment(ok.astype(int), maximize=True)
            tp = int(ok[rows, cols].sum())
        out.append(tp / (len(t_ids) + len(p_ids) - tp))
    return np.array(out)


def _random_scene(rng: np.random.Generator, shape=(48, 56), n=12) -> tuple[np.ndarray, np.ndarray]:
    """Random true labels (rectangles) and a perturbed prediction with odd ids."""
    true = np.zeros(shape, np.int32)
    for label in range(1, n + 1):
        y, x = rng.integers(0, shape[0] - 2), rng.integers(0, shape[1] - 2)
        true[y : y + rng.integers(2, 12), x : x + rng.integers(2, 12)] = label
    pred = np.zeros(shape, np.int32)
    for label in np.unique(true)[1:]:
        if rng.random() < 0.15:
            continue  # missed nucleus
        ys, xs = np.nonzero(true == label)
        dy, dx = rng.integers(-2, 3, size=2)
        grow = rng.integers(0, 2)
        y0, y1 = max(ys.min() + dy - grow, 0), ys.max() + dy + grow + 1
        x0, x1 = max(xs.min() + dx - grow, 0), xs.max() + dx + grow + 1
        pred[y0:y1, x0:x1] = 1000 + 7 * int(label)  # non-consecutive ids
    for _ in range(rng.integers(0, 3)):  # false positives
        y, x = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
        pred[y : y + 3, x : x + 3] = rng.integers(5000, 6000)
    return true, pred


# --------------------------------------------------------------------- hand-made


def test_thresholds():
    assert THRESHOLDS.shape == (10,)
    np.testing.assert_allclose(THRESHOLDS, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])


def test_iou_exactly_half_is_not_a_match():
    true, pred = _pair_two_px_in_four()
    inter, union = iou_counts(true, pred)
    assert inter.tolist() == [[2]] and union.tolist() == [[4]]
    assert match_at(true, pred, 0.5) == (0, 1, 1)
    np.testing.assert_array_equal(image_score(true, pred), np.zeros(10))
    assert image_ap(true, pred) == 0.0


def test_iou_just_above_half_matches():
    true, pred = _pair_two_px_in_four()
    pred[2, 2] = 0  # IoU = 2/3
    assert match_at(true, pred, 0.5) == (1, 0, 0)
    assert match_at(true, pred, 0.65) == (1, 0, 0)  # 0.666.. > 0.65
    assert match_at(true, pred, 0.7) == (0, 1, 1)
    expected = (THRESHOLDS < 2 / 3).astype(float)
    np.testing.assert_array_equal(image_score(true, pred), expected)

    true = np.zeros((1, 201), np.int32)
    true[0, :101] = 1
    pred = np.zeros((1, 201), np.int32)
    pred[0, :] = 1  # IoU = 101/201 = 0.50248... > 0.5
    assert match_at(true, pred, 0.5) == (1, 0, 0)


def test_exact_thresholds_at_every_step():
    # IoU exactly t for t in THRESHOLDS (20 px true inside 20/t px pred): never a match
    for t in THRESHOLDS:
        n_pred = round(20 / t)
        if abs(20 / n_pred - t) > 1e-12:
            continue
        true = np.zeros((1, 40), np.int32)
        true[0, :20] = 1
        pred = np.zeros((1, 40), np.int32)
        pred[0, :n_pred] = 2
        assert match_at(true, pred, t)[0] == 0, t


def test_empty_vs_empty_is_one():
    empty = np.zeros((8, 8), np.int32)
    np.testing.assert_array_equal(image_score(empty, empty), np.ones(10))
    assert image_ap(empty, empty) == 1.0


def test_empty_vs_something_is_zero():
    empty = np.zeros((8, 8), np.int32)
    full = np.ones((8, 8), np.int32)
    np.testing.assert_array_equal(image_score(empty, full), np.zeros(10))
    np.testing.assert_array_equal(image_score(full, empty), np.zeros(10))
    assert match_at(full, empty, 0.5) == (0, 0, 1)
    assert match_at(empty, full, 0.5) == (0, 1, 0)


def test_perfect_prediction_with_relabelled_ids_is_one():
    rng = np.random.default_rng(3)
    true, _ = _random_scene(rng)
    pred = np.where(true > 0, true * 13 + 1000, 0)
    np.testing.assert_array_equal(image_score(true, pred), np.ones(10))


def test_partial_counts():
    true = np.zeros((10, 10), np.int32)
    true[0:2, 0:2] = 1
    true[5:7, 5:7] = 2
    pred = np.zeros((10, 10), np.int32)
    pred[0:2, 0:2] = 3  # perfect
    pred[8:10, 8:10] = 4  # false positive
    assert match_at(true, pred, 0.95) == (1, 1, 1)
    np.testing.assert_allclose(image_score(true, pred), np.full(10, 1 / 3))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        image_score(np.zeros((3, 3), int), np.zeros((3, 4), int))


def test_iou_counts_dense_layout():
    true = np.array([[1, 1, 0], [0, 9, 9]])
    pred = np.array([[4, 0, 0], [0, 4, 2]])
    inter, union = iou_counts(true, pred)
    assert inter.dtype == np.int64 and inter.shape == (2, 2)
    # rows: true 1, 9; columns: pred 2, 4
    assert inter.tolist() == [[0, 1], [1, 1]]
    assert union.tolist() == [[3, 3], [2, 3]]


# ------------------------------------------------------------------ cross-check


@pytest.mark.parametrize("seed", range(40))
def test_image_score_matches_dense_reference(seed: int):
    rng = np.random.default_rng(seed)
    true, pred = _random_scene(rng)
    if seed % 10 == 0:
        pred[:] = 0
    if seed % 10 == 1:
        true[:] = 0
    thresholds = np.concatenate([THRESHOLDS, [0.62, 0.999]])
    np.testing.assert_allclose(image_score(true, pred, thresholds),
                               _dense_reference(true, pred, thresholds))


def test_many_labels_sparse_path():
    # more label pairs than the dense contingency limit: sparse branch
    true = (np.arange(600 * 600).reshape(600, 600) // 90 + 1).astype(np.int64)
    pred = true.copy()
    pred[:, ::3] = 0  # every instance loses a third of its pixels: IoU = 2/3
    score = image_score(true, pred)
    np.testing.assert_array_equal(score, (THRESHOLDS < 2 / 3).astype(float))


# --------------------------------------------------------------------- datasets


def test_score_dataset_report():
    rng = np.random.default_rng(7)
    true, pred = {}, {}
    for k in range(6):
        t, p = _random_scene(rng)
        true[f"img{k}"], pred[f"img{k}"] = t, p
    true["blank"] = np.zeros((20, 20), np.int32)
    pred["blank"] = np.zeros((20, 20), np.int32)
    true["missing"] = np.ones((20, 20), np.int32)  # no prediction -> 0
    true["missing_blank"] = np.zeros((9, 9), np.int32)  # no prediction, no nuclei -> 1
    report = score_dataset(true, pred)
    assert isinstance(report, ScoreReport)
    assert isinstance(report.per_threshold, pd.Series) and len(report.per_threshold) == 10
    per_image = report.per_image
    assert per_image.index.name == "image_id" and sorted(per_image.index) == sorted(true)
    assert list(per_image.columns[:10]) == list(THRESHOLDS)
    assert {"score", "n_true", "n_pred"} <= set(per_image.columns)
    assert per_image.loc["missing", "score"] == 0.0
    assert per_image.loc["missing", "n_true"] == 1 and per_image.loc["missing", "n_pred"] == 0
    assert per_image.loc["missing_blank", "score"] == 1.0
    assert per_image.loc["blank", "score"] == 1.0
    for k in range(6):
        assert per_image.loc[f"img{k}", "score"] == pytest.approx(
            image_ap(true[f"img{k}"], pred[f"img{k}"]))
    assert report.score == pytest.approx(per_image["score"].mean())
    assert report.score == pytest.approx(report.per_threshold.mean())
    assert list(report.counts.columns) == ["tp", "fp", "fn"]


def test_score_dataset_perfect_and_unknown_ids():
    true = {"a": np.eye(5, dtype=np.int32), "b": np.zeros((4, 4), np.int32)}
    assert score_dataset(true, dict(true)).score == 1.0
    assert score_dataset(true, {}).score == 0.5  # "a" missing -> 0, "b" empty -> 1
    with pytest.raises(KeyError, match="not in the ground truth"):
        score_dataset(true, {"zzz": np.zeros((4, 4), np.int32)})
    with pytest.raises(ValueError, match="image a"):
        score_dataset(true, {"a": np.zeros((4, 4), np.int32)})


# --------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_real_labels_score_one_against_themselves():
    if shared_train_dir() is None:
        pytest.skip("real DSB2018 stage1_train not found")
    data = pytest.importorskip("common.data")
    ds = data.DSBDataset(SHARED_DSB_DIR, "stage1_train")
    assert len(ds.ids) == 664
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlapping-mask notices from the loader
        for image_id in ds.ids:
            labels = ds.load_labels(image_id)
            assert labels.max() > 0, image_id
            shuffled = np.where(labels > 0, labels.max() + 1 - labels, 0)
            np.testing.assert_array_equal(image_score(labels, shuffled), np.ones(10),
                                          err_msg=image_id)
