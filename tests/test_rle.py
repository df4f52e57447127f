"""Tests for common.rle: Kaggle RLE (1-indexed, column-major)."""

from __future__ import annotations

import numpy as np
import pytest

from common.paths import shared_train_dir
from common.rle import labels_to_rles, rle_decode, rle_encode, rle_to_runs, rles_to_labels


def _random_labels(rng: np.random.Generator, shape: tuple[int, int], n: int) -> np.ndarray:
    """Non-overlapping random rectangles with non-consecutive ids, int32 [H,W]."""
    labels = np.zeros(shape, dtype=np.int32)
    ids = np.sort(rng.choice(np.arange(1, 10 * n + 2), size=n, replace=False))
    for label in ids:
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(1, 12), rng.integers(1, 12)
        labels[y : y + h, x : x + w] = label  # later rectangles cover earlier ones
    return labels


# --------------------------------------------------------------------- hand-made


def test_encode_hand_made_column_major():
    mask = np.zeros((3, 4), dtype=bool)
    mask[0, 0] = True  # position 1
    mask[1:3, 0] = True  # positions 2-3: same run as the first pixel
    mask[2, 1] = True  # position 6
    mask[0, 2] = True  # position 7: joins the run 6-7 (column-major wraps)
    assert rle_encode(mask) == "1 3 6 2"
    np.testing.assert_array_equal(rle_decode("1 3 6 2", (3, 4)), mask)


@pytest.mark.parametrize(
    "fill, expected",
    [
        ("empty", ""),
        ("full", "1 12"),
        ("first", "1 1"),
        ("last", "12 1"),
        ("first_last", "1 1 12 1"),
    ],
)
def test_encode_edges(fill: str, expected: str):
    mask = np.zeros((3, 4), dtype=bool)
    if fill == "full":
        mask[:] = True
    if fill in ("first", "first_last"):
        mask[0, 0] = True
    if fill in ("last", "first_last"):
        mask[-1, -1] = True
    assert rle_encode(mask) == expected
    decoded = rle_decode(expected, mask.shape)
    assert decoded.dtype == bool and decoded.shape == mask.shape
    np.testing.assert_array_equal(decoded, mask)


@pytest.mark.parametrize("order", ["C", "F"])
def test_encode_sparse_large_mask_first_and_last_pixel(order: str):
    # few set pixels in a large C-ordered mask take the sparse (sort) path
    mask = np.zeros((50, 60), dtype=bool, order=order)
    mask[0, 0] = mask[-1, -1] = True
    mask[48:50, 3] = True  # end of column 3 ...
    mask[0:2, 4] = True  # ... continues at the top of column 4: one run
    assert rle_encode(mask) == "1 1 199 4 3000 1"
    np.testing.assert_array_equal(rle_decode("1 1 199 4 3000 1", mask.shape), mask)
    assert rle_encode(mask[:, ::2]) == rle_encode(np.ascontiguousarray(mask[:, ::2]))


def test_decode_accepts_empty_cells():
    for empty in ("", "  ", None, float("nan")):
        assert not rle_decode(empty, (2, 2)).any()


def test_adjacent_runs_decode():
    np.testing.assert_array_equal(rle_decode("1 2 3 2", (2, 2)), np.ones((2, 2), bool))


@pytest.mark.parametrize(
    "rle, match",
    [
        ("1 2 3", "odd number"),
        ("0 2", "1-indexed"),
        ("-3 2", "1-indexed"),
        ("1 0", "not positive"),
        ("5 1 1 1", "unsorted"),
        ("1 3 2 2", "overlapping"),
        ("11 3", "past the image end"),
        ("1 x", "non-integer"),
        ("1.0 2", "non-integer"),
    ],
)
def test_decode_rejects_bad_rle(rle: str, match: str):
    with pytest.raises(ValueError, match=match):
        rle_decode(rle, (3, 4))


def test_decode_rejects_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        rle_decode("1 1", (0, 4))


def test_encode_rejects_non_2d():
    with pytest.raises(ValueError, match="2-D"):
        rle_encode(np.zeros((2, 2, 2), bool))


def test_rle_to_runs():
    starts, lengths = rle_to_runs("3 2 10 1")
    np.testing.assert_array_equal(starts, [3, 10])
    np.testing.assert_array_equal(lengths, [2, 1])


# ------------------------------------------------------------------------ random


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_random_masks(seed: int):
    rng = np.random.default_rng(seed)
    for shape in [(1, 1), (1, 7), (7, 1), (13, 17), (64, 48)]:
        for density in (0.0, 0.05, 0.5, 0.95, 1.0):
            mask = rng.random(shape) < density
            rle = rle_encode(mask)
            np.testing.assert_array_equal(rle_decode(rle, shape), mask)
            # runs are maximal: re-encoding the decoded mask gives the same string
            assert rle_encode(rle_decode(rle, shape)) == rle


@pytest.mark.parametrize("seed", range(5))
def test_labels_to_rles_matches_per_label_encoding(seed: int):
    rng = np.random.default_rng(seed)
    labels = _random_labels(rng, (70, 90), n=60)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    rles = labels_to_rles(labels)
    assert rles == [rle_encode(labels == i) for i in ids]
    back = rles_to_labels(rles, labels.shape)
    assert back.dtype == np.int32
    # rles[i] -> label i+1: the same partition with ids renumbered 1..N
    expected = np.searchsorted(ids, labels) + 1
    expected[labels == 0] = 0
    np.testing.assert_array_equal(back, expected)


def test_labels_to_rles_edges():
    assert labels_to_rles(np.zeros((4, 5), np.int32)) == []
    assert labels_to_rles(np.full((2, 3), 7, np.uint16)) == ["1 6"]
    labels = np.array([[1, 2], [2, 1]])
    assert labels_to_rles(labels) == ["1 1 4 1", "2 2"]
    with pytest.raises(ValueError, match=">= 0"):
        labels_to_rles(np.array([[-1, 0]]))
    with pytest.raises(ValueError, match="integer"):
        labels_to_rles(np.zeros((2, 2), np.float32))


def test_labels_to_rles_many_labels_one_pass():
    # 400 small instances: must stay fast (no full-image mask per label)
    labels = np.arange(256 * 256, dtype=np.int32).reshape(256, 256) // 164 + 1
    rles = labels_to_rles(labels)
    assert len(rles) == labels.max()
    np.testing.assert_array_equal(rles_to_labels(rles, labels.shape), labels)


def test_rles_to_labels_errors_and_empty():
    assert not rles_to_labels([], (3, 3)).any()
    np.testing.assert_array_equal(rles_to_labels(["", "1 1"], (1, 2)), [[2, 0]])
    with pytest.raises(ValueError, match="RLE #0 and RLE #1 overlap"):
        rles_to_labels(["1 3", "3 1"], (2, 2))
    with pytest.raises(ValueError, match="RLE #1"):
        rles_to_labels(["1 1", "9 1"], (2, 2))


# --------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_round_trip_every_real_mask():
    """Encode -> decode every one of the stage-1 training masks exactly."""
    cv2 = pytest.importorskip("cv2")
    train = shared_train_dir()
    if train is None:
        pytest.skip("real DSB2018 stage1_train not found")
    n_masks = 0
    for image_dir in sorted(p for p in train.iterdir() if p.is_dir()):
        rles, labels, overlap = [], None, False
        for path in sorted((image_dir / "masks").glob("*.png")):
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert raw is not None, f"{path}: cannot read"
            mask = raw > 0 if raw.ndim == 2 else raw[..., 0] > 0
            rle = rle_encode(mask)
            decoded = rle_decode(rle, mask.shape)
            assert np.array_equal(decoded, mask), f"{path}: RLE round trip differs"
            rles.append(rle)
            labels = np.zeros(mask.shape, np.int32) if labels is None else labels
            overlap |= bool(labels[mask].any())
            labels[mask] = len(rles)
        n_masks += len(rles)
        # the one-pass encoder agrees with the per-mask one where masks don't overlap
        if not overlap:
            assert labels_to_rles(labels) == rles, image_dir.name
    assert n_masks == 28986
