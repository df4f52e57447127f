"""Mask R-CNN geometry: boxes, anchors, ROI Align, proposals (tiny, CPU, any backend).

Backend tensors are made with ``keras.ops.convert_to_tensor`` (``T``) and read back with
``keras.ops.convert_to_numpy`` (``N``); ``compiled`` is ``tf.function`` under TensorFlow and
``jax.jit`` under JAX. NMS equivalence tests live in ``tests/test_maskrcnn_ops.py``.
"""

import keras
import numpy as np
import pytest
from keras import ops

from solutions.maskrcnn.anchors import (anchors_per_location, generate_anchors,
                                        level_shapes)
from solutions.maskrcnn.boxes import (box_cover, box_iou, box_iou_np, box_iou_ops, clip_boxes,
                                      decode_deltas, encode_deltas, masks_to_boxes)
from solutions.maskrcnn.proposals import ProposalLayer
from solutions.maskrcnn.roi_align import PyramidROIAlign, box_levels, roi_align_numpy

BACKEND = keras.backend.backend()
T = ops.convert_to_tensor
N = ops.convert_to_numpy


def compiled(fn):
    """``fn`` traced into a graph by the active backend."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def random_boxes(rng, n, size=64.0, min_side=2.0):
    yx = rng.uniform(0, size - 20, (n, 2))
    hw = rng.uniform(min_side, 20, (n, 2))
    return np.concatenate([yx, yx + hw], axis=1).astype(np.float32)


# ---------------------------------------------------------------------------- boxes
def test_iou_hand_cases():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 9]], np.float32)
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 5, 10, 15]], np.float32)
    expected = np.array([[1, 0, 1 / 3]] * 3 + [[0, 0, 0]], np.float32)
    np.testing.assert_allclose(box_iou_np(a, b), expected, atol=1e-6)
    np.testing.assert_allclose(N(box_iou_ops(T(a), T(b))), expected, atol=1e-6)
    np.testing.assert_allclose(N(compiled(box_iou_ops)(T(a), T(b))), expected, atol=1e-6)
    assert isinstance(box_iou(a, b), np.ndarray)
    assert ops.is_tensor(box_iou(T(a), T(b)))


def test_deltas_round_trip_numpy_and_backend():
    rng = np.random.default_rng(0)
    boxes, gt = random_boxes(rng, 50), random_boxes(rng, 50)
    d = encode_deltas(boxes, gt)
    assert d.dtype == np.float32 and d.shape == (50, 4)
    np.testing.assert_allclose(decode_deltas(boxes, d), gt, atol=1e-3)
    d_ops = encode_deltas(T(boxes), T(gt))
    assert ops.is_tensor(d_ops)
    np.testing.assert_allclose(N(d_ops), d, atol=1e-5)
    back = compiled(lambda b, x: decode_deltas(b, x))(T(boxes), d_ops)
    np.testing.assert_allclose(N(back), gt, atol=1e-3)
    # identical boxes -> zero deltas; std divides
    np.testing.assert_allclose(encode_deltas(boxes, boxes), 0, atol=1e-6)
    one = encode_deltas(np.array([[0, 0, 10, 10]]), np.array([[1, 0, 11, 20]]))
    np.testing.assert_allclose(one, [[1.0, 5.0, 0.0, np.log(2) / 0.2]], atol=1e-5)


def test_clip_boxes():
    b = np.array([[-3, 5, 70, 20], [10, -1, 20, 99]], np.float32)
    want = np.array([[0, 5, 64, 20], [10, 0, 20, 48]], np.float32)
    np.testing.assert_array_equal(clip_boxes(b, 64, 48), want)
    np.testing.assert_array_equal(N(clip_boxes(T(b), T(64), 48)), want)


def test_masks_to_boxes():
    labels = np.zeros((20, 30), np.int32)
    labels[2:5, 3:9] = 1
    labels[10:20, 25:30] = 4  # ids may have gaps
    boxes, ids = masks_to_boxes(labels)
    np.testing.assert_array_equal(ids, [1, 4])
    np.testing.assert_array_equal(boxes, [[2, 3, 5, 9], [10, 25, 20, 30]])
    assert boxes.dtype == np.float32
    empty_boxes, empty_ids = masks_to_boxes(np.zeros((5, 5), np.int32))
    assert empty_boxes.shape == (0, 4) and empty_ids.shape == (0,)


def test_box_cover_is_the_union_of_the_boxes_pixels():
    rng = np.random.default_rng(3)
    boxes = np.concatenate([random_boxes(rng, 30, size=80.0),
                            [[-5.0, 70.2, 12.0, 95.0],  # clipped at the top and the right
                             [10.0, 10.0, 10.0, 30.0]]]).astype(np.float32)  # empty
    hw = (60, 90)
    covered = np.zeros(hw, bool)
    for y1, x1, y2, x2 in boxes:
        covered[max(0, int(np.floor(y1))):max(0, int(np.ceil(y2))),
                max(0, int(np.floor(x1))):max(0, int(np.ceil(x2)))] = True
    assert box_cover(boxes, hw) == pytest.approx(covered.mean())
    assert 0 < box_cover(boxes, hw) < 1
    assert box_cover(np.array([[2.0, 3.0, 4.0, 5.5]]), (10, 10)) == pytest.approx(2 * 3 / 100)
    assert box_cover(np.zeros((0, 4)), hw) == 0.0
    assert box_cover(np.array([[-3.0, -3.0, 200.0, 200.0]]), hw) == 1.0


# -------------------------------------------------------------------------- anchors
def test_anchors_hand_computed():
    # 64x64 image, one level of stride 32 -> 2x2 grid, centres at 16 and 48.
    a = generate_anchors((64, 64), scales=(8,), ratios=(0.5, 1, 2), strides=(32,))
    assert a.shape == (12, 4) and a.dtype == np.float32
    s = 2.828427  # 8 * sqrt(0.5) / 2 : half of the short side for ratio 0.5 / 2
    t = 5.656854  # 8 / sqrt(0.5) / 2 : half of the long side
    expected_first_cell = [[16 - t, 16 - s, 16 + t, 16 + s],  # ratio 0.5 = w/h: tall
                           [12, 12, 20, 20],
                           [16 - s, 16 - t, 16 + s, 16 + t]]  # ratio 2: wide
    np.testing.assert_allclose(a[:3], expected_first_cell, atol=1e-4)
    # ratio-1 anchors of the 4 cells, row-major (y, x)
    np.testing.assert_allclose(a[1::3], [[12, 12, 20, 20], [12, 44, 20, 52],
                                         [44, 12, 52, 20], [44, 44, 52, 52]], atol=1e-5)


def test_anchor_count_and_order_match_rpn_reshape():
    shape, strides, scales, ratios = (64, 128), (4, 8, 16, 32, 64), (8, 16, 32, 64, 128), (0.5, 1, 2)
    a = generate_anchors(shape, scales, ratios, strides)
    grids = level_shapes(shape, strides)
    assert grids == [(16, 32), (8, 16), (4, 8), (2, 4), (1, 2)]
    assert len(a) == sum(h * w for h, w in grids) * anchors_per_location(ratios)
    # Reference: per level a [1,h,w,K*4] "RPN output" holding the anchor, reshaped [1,-1,4].
    parts = []
    for (h, w), s, sc in zip(grids, strides, scales):
        out = np.zeros((1, h, w, len(ratios) * 4), np.float32)
        for y in range(h):
            for x in range(w):
                for k, r in enumerate(ratios):
                    cy, cx, hh, ww = (y + .5) * s, (x + .5) * s, sc / np.sqrt(r), sc * np.sqrt(r)
                    out[0, y, x, 4 * k:4 * k + 4] = [cy - hh / 2, cx - ww / 2,
                                                     cy + hh / 2, cx + ww / 2]
        parts.append(out.reshape(1, -1, 4))
    np.testing.assert_allclose(np.concatenate(parts, axis=1)[0], a, atol=1e-4)


def test_anchor_stride():
    assert level_shapes((64, 64), (4, 64), anchor_stride=2) == [(8, 8), (1, 1)]
    a = generate_anchors((64, 64), scales=(8,), ratios=(1,), strides=(4,), anchor_stride=2)
    assert a.shape == (64, 4)
    np.testing.assert_allclose(a[:2], [[-2, -2, 6, 6], [-2, 6, 6, 14]])


# ------------------------------------------------------------------------ ROI Align
def _features(rng, size=128, channels=3, batch=2):
    return {f"P{l}": T(rng.normal(size=(batch, size >> l, size >> l, channels)).astype(np.float32))
            for l in range(2, 6)}


def test_box_levels():
    boxes = T(np.array([[0, 0, 8, 8], [0, 0, 16, 16], [0, 0, 32, 32], [0, 0, 64, 64],
                        [0, 0, 200, 200], [0, 0, 2, 2], [0, 0, 0, 0], [0, 0, 40, 10]], np.float32))
    lv = N(box_levels(boxes, canonical_size=32, canonical_level=4))
    np.testing.assert_array_equal(lv, [2, 3, 4, 5, 5, 2, 2, 3])


def test_pyramid_roi_align_matches_numpy():
    rng = np.random.default_rng(1)
    feats = _features(rng)
    boxes = np.array([[[10, 12, 18, 20], [20, 30, 36, 46], [40, 8, 72, 40], [0, 0, 64, 64]],
                      [[60, 60, 128, 128], [5, 5, 45, 15], [0, 0, 0, 0], [1.5, 2.5, 9, 7.25]]],
                     np.float32)
    layer = PyramidROIAlign(pool_size=5, canonical_size=32, canonical_level=4)
    out = N(compiled(lambda b, f: layer(b, f))(T(boxes), feats))
    assert out.shape == (2, 4, 5, 5, 3)
    levels = N(box_levels(T(boxes), 32, 4))
    assert set(levels.ravel()) == {2, 3, 4, 5}
    for b in range(2):
        for r in range(4):
            lv = levels[b, r]
            ref = roi_align_numpy(N(feats[f"P{lv}"])[b], boxes[b, r] / 2 ** lv, 5)
            np.testing.assert_allclose(out[b, r], ref, atol=1e-4, err_msg=f"box {b},{r}")


def test_roi_align_numpy_constant_and_identity():
    feat = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    # A box covering exactly cell (1,2) with pool 1 samples that cell's centre.
    np.testing.assert_allclose(roi_align_numpy(feat, [1, 2, 2, 3], 1)[..., 0], [[6]])
    # Whole map with pool = map size returns the map itself.
    np.testing.assert_allclose(roi_align_numpy(feat, [0, 0, 4, 4], 4), feat)


def test_pyramid_roi_align_in_functional_model_with_gradient():
    rng = np.random.default_rng(2)
    feats = _features(rng, size=64, channels=2, batch=1)
    box_in = keras.Input((3, 4))
    feat_in = {k: keras.Input((None, None, 2), name=k) for k in feats}
    pooled = PyramidROIAlign(pool_size=3)(box_in, feat_in)
    model = keras.Model([box_in, feat_in], pooled)
    boxes = T(np.array([[[0, 0, 10, 10], [5, 5, 60, 60], [0, 0, 0, 0]]], np.float32))
    y = model([boxes, feats])
    assert tuple(y.shape) == (1, 3, 3, 3, 2)
    # d(sum of outputs)/d(P2): boxes 0 and 2 pool from P2, so the gradient is nonzero.
    if BACKEND == "jax":
        import jax

        grad = jax.grad(lambda p2: ops.sum(model([boxes, {**feats, "P2": p2}])))(feats["P2"])
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(feats["P2"])
            total = ops.sum(model([boxes, feats]))
        grad = tape.gradient(total, feats["P2"])
    else:
        pytest.skip(f"no gradient helper for backend {BACKEND}")
    # All three boxes pool from P2 (level 2 at canonical 224) and the bilinear weights of
    # every output value sum to 1: the gradient sums to the number of outputs, 54.
    assert float(np.abs(N(grad)).sum()) > 0
    np.testing.assert_allclose(float(N(grad).sum()), 54.0, rtol=1e-5)
    cfg = PyramidROIAlign(pool_size=14).get_config()
    assert PyramidROIAlign.from_config(cfg).pool_size == 14


# ------------------------------------------------------------------ proposals / NMS
def test_proposal_layer_nms_clip_pad():
    anchors = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [30, 30, 40, 40], [-5, 50, 5, 70],
                        [50, 50, 60, 60]], np.float32)
    scores = T(np.array([[0.9, 0.8, 0.7, 0.6, 0.1]], np.float32))
    deltas = np.zeros((1, 5, 4), np.float32)
    deltas[0, 2] = [1.0, 0, 0, 0]  # moves box 2 down by 0.1 * 10 px
    layer = ProposalLayer(proposal_count=6, nms_threshold=0.5, pre_nms_limit=4)
    run = compiled(lambda s, d: layer(s, d, anchors, (64, 64)))
    out = N(run(scores, T(deltas)))
    assert out.shape == (1, 6, 4)
    np.testing.assert_allclose(out[0, :3], [[0, 0, 10, 10], [31, 30, 41, 40], [0, 50, 5, 64]],
                               atol=1e-5)  # box 1 suppressed, box 3 clipped, box 4 cut by top-k
    np.testing.assert_array_equal(out[0, 3:], 0)
    cfg = layer.get_config()
    assert ProposalLayer.from_config(cfg).pre_nms_limit == 4


def test_proposal_layer_batch_and_tensor_image_hw():
    rng = np.random.default_rng(4)
    anchors = generate_anchors((64, 64))
    a = len(anchors)
    layer = ProposalLayer(proposal_count=50, nms_threshold=0.7, pre_nms_limit=300)
    out = N(compiled(lambda s, d, hw: layer(s, d, T(anchors), hw))(
        T(rng.uniform(size=(2, a)).astype(np.float32)),
        T((rng.normal(size=(2, a, 4)) * 0.1).astype(np.float32)), T(np.array([64, 64]))))
    assert out.shape == (2, 50, 4)
    assert np.all(out >= 0) and np.all(out <= 64)


def test_image_hw_tuple_or_tensor_in_eager_mode():
    rng = np.random.default_rng(5)
    anchors = generate_anchors((64, 64))
    scores = T(rng.uniform(size=(1, len(anchors))).astype(np.float32))
    deltas = T(np.zeros((1, len(anchors), 4), np.float32))
    layer = ProposalLayer(proposal_count=8, pre_nms_limit=100)
    ref = N(layer(scores, deltas, anchors, T(np.array([64, 64]))))
    for hw in ((64, 64), [64, 64], np.array([64, 64])):
        np.testing.assert_array_equal(N(layer(scores, deltas, anchors, hw)), ref)
        np.testing.assert_array_equal(N(layer(scores, deltas, anchors, image_hw=hw)), ref)
    feats = {f"P{l}": ops.ones((1, 64 // 2**l, 64 // 2**l, 2)) for l in range(2, 6)}
    boxes = T(np.array([[[0, 0, 10, 10]]], np.float32))
    pooled = PyramidROIAlign(pool_size=3)
    np.testing.assert_array_equal(N(pooled(boxes, feats, (64, 64))), N(pooled(boxes, feats)))


def test_geometry_layers_are_registered_and_serialize():
    from solutions.maskrcnn.detection_targets import DetectionTargetLayer

    for layer in (ProposalLayer(proposal_count=7, nms_threshold=0.6, pre_nms_limit=50),
                  DetectionTargetLayer(rois_per_image=16, positive_fraction=0.25),
                  PyramidROIAlign(pool_size=5, canonical_size=32)):
        cls = type(layer)
        assert keras.saving.get_registered_name(cls) == f"maskrcnn>{cls.__name__}"
        assert keras.saving.get_registered_object(f"maskrcnn>{cls.__name__}") is cls
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is cls and clone.get_config() == layer.get_config()
