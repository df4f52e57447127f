"""keras.ops NMS, per-class NMS, crop_and_resize and ROI Align against TensorFlow / numpy.

The generic ops run on the active Keras backend (run this file under both
``KERAS_BACKEND=tensorflow`` and ``KERAS_BACKEND=jax``); TensorFlow is only the reference.
Tolerances: NMS indices, classes and kept boxes/scores must be identical; bilinear values
(``crop_and_resize``, ROI Align) within ``atol=1e-4`` (float32 re-association only).
"""

import keras
import numpy as np
import pytest
from keras import ops

from solutions.maskrcnn.nms import crop_and_resize, nms_padded, per_class_nms_padded
from solutions.maskrcnn.proposals import nms_numpy
from solutions.maskrcnn.roi_align import PyramidROIAlign, box_levels, roi_align_numpy

tf = pytest.importorskip("tensorflow")

BACKEND = keras.backend.backend()
T = ops.convert_to_tensor
N = ops.convert_to_numpy
ATOL = 1e-4


def compiled(fn):
    """``jax.jit(fn)`` under JAX (one XLA compile instead of one per eager op), else ``fn``."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return fn


def nms_case(seed: int, batch: int, k: int):
    """Random boxes with duplicates, zero-area boxes and tied scores."""
    rng = np.random.default_rng(seed)
    yx = rng.uniform(0, 60, (batch, k, 2))
    hw = rng.uniform(1, 25, (batch, k, 2))
    boxes = np.concatenate([yx, yx + hw], axis=-1).astype(np.float32)
    scores = rng.uniform(size=(batch, k)).astype(np.float32)
    boxes[:, 3] = boxes[:, 2]  # identical boxes (IoU 1)
    boxes[:, 4, 2] = boxes[:, 4, 0]  # zero height
    boxes[:, 5, 3] = boxes[:, 5, 1]  # zero width
    boxes[:, 6] = 0.0  # all-zero padding box
    scores[:, 7:12] = scores[:, :1]  # ties (with box 0)
    scores[:, 12:20] = np.round(scores[:, 12:20], 1)  # more ties
    return boxes, scores


def run_nms(boxes, scores, max_output, thr, score_threshold=float("-inf"), tile=512):
    idx, valid = nms_padded(T(boxes), T(scores), max_output, thr, score_threshold,
                            tile_size=tile, impl="generic")
    idx, valid = N(idx), N(valid)
    assert idx.shape == (boxes.shape[0], max_output) and idx.dtype == np.int32
    assert valid.dtype == bool
    return idx, valid


@pytest.mark.parametrize("tile", [7, 64, 512])  # 10 tiles, 2 tiles (padded), 1 tile
@pytest.mark.parametrize("max_output", [9, 100])  # stops early / more slots than boxes
def test_nms_padded_matches_tf_and_numpy(tile, max_output):
    boxes, scores = nms_case(0, 3, 70)
    for thr in (0.0, 0.3, 0.7, 1.0):
        idx, valid = run_nms(boxes, scores, max_output, thr, tile=tile)
        for b in range(len(boxes)):
            ref = tf.image.non_max_suppression(boxes[b], scores[b], max_output, thr).numpy()
            n = len(ref)
            np.testing.assert_array_equal(idx[b, :n], ref, err_msg=f"row {b}, thr {thr}")
            np.testing.assert_array_equal(idx[b, :n], nms_numpy(boxes[b], scores[b],
                                                                max_output, thr))
            assert valid[b, :n].all() and not valid[b, n:].any()
            assert (idx[b, n:] == 0).all()


@pytest.mark.parametrize("score_threshold", [0.2, 0.5])
def test_nms_padded_score_threshold_is_strict(score_threshold):
    boxes, scores = nms_case(1, 2, 40)
    scores[:, 20:25] = score_threshold  # exactly at the threshold: dropped (as TF)
    idx, valid = run_nms(boxes, scores, 40, 0.5, score_threshold, tile=16)
    assert valid.sum() < 80
    for b in range(2):
        ref = tf.image.non_max_suppression(boxes[b], scores[b], 40, 0.5,
                                           score_threshold=score_threshold).numpy()
        np.testing.assert_array_equal(idx[b][valid[b]], ref)
        assert np.all(scores[b, idx[b][valid[b]]] > score_threshold)
    idx, valid = run_nms(boxes, scores, 40, 0.5, 2.0, tile=16)  # no candidate at all
    assert not valid.any() and not idx.any()


def test_nms_padded_flipped_corners_like_tf():
    boxes, scores = nms_case(2, 1, 30)
    boxes[0, ::3] = boxes[0, ::3][:, [2, 3, 0, 1]]  # (y2, x2, y1, x1): TF orders them
    idx, valid = run_nms(boxes, scores, 30, 0.4, tile=8)
    ref = tf.image.non_max_suppression(boxes[0], scores[0], 30, 0.4).numpy()
    np.testing.assert_array_equal(idx[0][valid[0]], ref)


def test_nms_padded_tf_fast_path_identical():
    if BACKEND != "tensorflow":
        pytest.skip("impl='tf' is the TensorFlow backend's fast path")
    boxes, scores = nms_case(3, 2, 60)
    gen = run_nms(boxes, scores, 25, 0.5, 0.1, tile=16)
    fast = nms_padded(T(boxes), T(scores), 25, 0.5, 0.1, impl="tf")
    np.testing.assert_array_equal(N(fast[0]), gen[0])
    np.testing.assert_array_equal(N(fast[1]), gen[1])


def test_nms_padded_in_tf_graph_with_dynamic_batch():
    if BACKEND != "tensorflow":
        pytest.skip("tf.function with a None batch dimension is TensorFlow-only")
    boxes, scores = nms_case(4, 2, 50)
    fn = tf.function(lambda b, s: nms_padded(b, s, 20, 0.5, impl="generic", tile_size=16),
                     input_signature=[tf.TensorSpec([None, 50, 4]), tf.TensorSpec([None, 50])])
    idx, _ = fn(boxes, scores)
    for b in range(2):
        ref = tf.image.non_max_suppression(boxes[b], scores[b], 20, 0.5).numpy()
        np.testing.assert_array_equal(idx.numpy()[b, :len(ref)], ref)


def test_nms_padded_bad_input():
    with pytest.raises(ValueError, match="nms.py: max_output"):
        nms_padded(T(np.zeros((1, 4, 4), np.float32)), T(np.zeros((1, 4), np.float32)), 0, 0.5)
    with pytest.raises(ValueError, match="nms.py: impl"):
        nms_padded(T(np.zeros((1, 4, 4), np.float32)), T(np.zeros((1, 4), np.float32)), 2, 0.5,
                   impl="fast")


# ------------------------------------------------------------------- per-class NMS
@pytest.mark.parametrize("max_total,thr,score_thr", [(10, 0.3, 0.2), (200, 0.5, 0.0),
                                                     (200, 0.7, 0.5)])
def test_per_class_nms_matches_combined_nms(max_total, thr, score_thr):
    rng = np.random.default_rng(5)
    b, r, c = 2, 40, 3
    yx = rng.uniform(0, 40, (b, r, 1, 2))
    # Boxes of one ROI overlap across classes: only same-class boxes may suppress.
    boxes = np.concatenate([yx + rng.uniform(0, 3, (b, r, c, 2)),
                            yx + rng.uniform(8, 20, (b, r, c, 2))], axis=-1).astype(np.float32)
    boxes[:, 0, :, 2] = boxes[:, 0, :, 0]  # zero-area boxes
    scores = rng.uniform(size=(b, r, c)).astype(np.float32)  # distinct: TF's merge order
    scores[:, 1:4, 0] = score_thr  # at the threshold: dropped
    out = per_class_nms_padded(T(boxes), T(scores), max_total, thr, score_thr, tile_size=32)
    out = {k: N(v) for k, v in out.items()}
    assert out["valid"][:, -1].sum() == 0 or max_total == 10
    ref = tf.image.combined_non_max_suppression(
        boxes, scores, max_output_size_per_class=max_total, max_total_size=max_total,
        iou_threshold=thr, score_threshold=score_thr, pad_per_class=False, clip_boxes=False)
    n_ref = ref.valid_detections.numpy()
    np.testing.assert_array_equal(out["valid"].sum(axis=1), n_ref)
    np.testing.assert_array_equal(out["boxes"], ref.nmsed_boxes.numpy())
    np.testing.assert_array_equal(out["scores"], ref.nmsed_scores.numpy())
    np.testing.assert_array_equal(out["classes"], ref.nmsed_classes.numpy().astype(np.int32))
    assert out["classes"].dtype == np.int32 and out["valid"].dtype == bool
    for row in range(b):
        assert out["valid"][row, :n_ref[row]].all() and not out["valid"][row, n_ref[row]:].any()


# ----------------------------------------------------------------- crop_and_resize
@pytest.mark.parametrize("crop", [(1, 1), (5, 4), (7, 7)])
def test_crop_and_resize_matches_tf(crop):
    rng = np.random.default_rng(6)
    image = rng.normal(size=(3, 9, 13, 4)).astype(np.float32)
    boxes = rng.uniform(-0.4, 1.4, (25, 4)).astype(np.float32)  # partly outside the image
    boxes[:5] = np.sort(rng.uniform(0, 1, (5, 4)), axis=1)[:, [0, 1, 2, 3]]  # inside
    boxes[5] = [0.2, 0.3, 0.2, 0.3]  # zero-size box
    boxes[6] = [0.9, 0.8, 0.1, 0.2]  # flipped box (TF samples backwards)
    indices = rng.integers(0, 3, 25).astype(np.int32)
    fn = compiled(lambda im, bx, ix: (crop_and_resize(im, bx, ix, crop),
                                      crop_and_resize(im, bx, ix, crop, extrapolation_value=-3.0)))
    got, got_extra = (N(x) for x in fn(T(image), T(boxes), T(indices)))
    ref = tf.image.crop_and_resize(image, boxes, indices, crop, method="bilinear").numpy()
    assert got.shape == (25, *crop, 4)
    np.testing.assert_allclose(got, ref, atol=ATOL)
    ref = tf.image.crop_and_resize(image, boxes, indices, crop, extrapolation_value=-3.0).numpy()
    np.testing.assert_allclose(got_extra, ref, atol=ATOL)
    assert (got_extra == -3.0).any()  # some samples fall outside the image


# --------------------------------------------------------------------- ROI Align
@pytest.mark.parametrize("fast_path", [True, False])  # TF: crop_and_resize kernel / keras.ops
def test_pyramid_roi_align_matches_numpy_random_boxes(fast_path):
    rng = np.random.default_rng(7)
    size, pool = 128, 4
    feats = {f"P{l}": rng.normal(size=(2, size >> l, (size // 2) >> l, 3)).astype(np.float32)
             for l in range(2, 6)}
    yx = rng.uniform(-10, 100, (2, 30, 2))
    boxes = np.concatenate([yx, yx + rng.uniform(0, 90, (2, 30, 2))], -1).astype(np.float32)
    boxes[:, :3] = 0.0  # padding rows
    if fast_path:  # the kernel path's precondition: boxes inside the image (the model clips them)
        boxes = np.clip(boxes, 0.0, [size, size // 2, size, size // 2]).astype(np.float32)
    layer = PyramidROIAlign(pool_size=pool, canonical_size=32, canonical_level=4)
    layer.fast_path = fast_path
    out = N(compiled(layer)(T(boxes), {k: T(v) for k, v in feats.items()}))
    assert out.shape == (2, 30, pool, pool, 3)
    levels = N(box_levels(T(boxes), 32, 4))
    assert set(levels.ravel()) == {2, 3, 4, 5}
    for b in range(2):
        for r in range(30):
            lv = levels[b, r]
            ref = roi_align_numpy(feats[f"P{lv}"][b], boxes[b, r] / 2 ** lv, pool)
            np.testing.assert_allclose(out[b, r], ref, atol=ATOL, err_msg=f"box {b},{r}")


# --------------------------------------------------------------------------- JAX
def test_jax_jit_compiles_once():
    if BACKEND != "jax":
        pytest.skip("jax.jit test runs under KERAS_BACKEND=jax")
    import jax

    traces = []

    def nms_fn(b, s):
        traces.append("nms")
        return nms_padded(b, s, 15, 0.5, tile_size=16)

    layer = PyramidROIAlign(pool_size=3, canonical_size=32)

    def roi_fn(b, feats):
        traces.append("roi")
        return layer(b, feats)

    nms_jit, roi_jit = jax.jit(nms_fn), jax.jit(roi_fn)
    rng = np.random.default_rng(8)
    for seed in (0, 1, 2):
        boxes, scores = nms_case(seed, 2, 40)
        idx, valid = nms_jit(T(boxes), T(scores))
        for b in range(2):
            ref = nms_numpy(boxes[b], scores[b], 15, 0.5)
            np.testing.assert_array_equal(N(idx)[b][N(valid)[b]], ref)
        feats = {f"P{l}": T(rng.normal(size=(2, 64 >> l, 64 >> l, 2)).astype(np.float32))
                 for l in range(2, 6)}
        pooled = roi_jit(T(boxes[:, :6] * 0.8), feats)
        assert tuple(pooled.shape) == (2, 6, 3, 3, 2)
    assert traces.count("nms") == 1 and traces.count("roi") == 1
