"""Mask R-CNN training targets: RPN targets, detection targets, sample builder (tiny, CPU)."""

import keras
import numpy as np
import pytest
from keras import ops

from solutions.maskrcnn.anchors import generate_anchors
from solutions.maskrcnn.boxes import box_iou_np, decode_deltas, masks_to_boxes
from solutions.maskrcnn.detection_targets import DetectionTargetLayer
from solutions.maskrcnn.inputs import (build_sample, expand_mask, minimize_masks,
                                       pad_to_multiple)
from solutions.maskrcnn.rpn_targets import rpn_targets


def compiled(layer):
    """``layer``'s call inside the backend's compiler: ``jax.jit`` of ``stateless_call``
    (the seed state goes in and out) or ``tf.function``. Backend-specific on purpose: the
    point is that the layer traces with static shapes and draws fresh samples when jitted."""
    if keras.backend.backend() == "jax":
        import jax

        step = jax.jit(lambda state, *args: layer.stateless_call([], state, *args))

        def run(*args):
            out, state = step([v.value for v in layer.non_trainable_variables], *args)
            for var, value in zip(layer.non_trainable_variables, state):
                var.assign(value)
            return out

        return run
    import tensorflow as tf

    return tf.function(layer)


def disk(size, cy, cx, r):
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


# ------------------------------------------------------------------------ RPN targets
def test_rpn_targets_exact_anchor_far_anchors_and_counts():
    anchors = generate_anchors((64, 64))
    i = 100
    gt = anchors[i:i + 1].copy()
    rng = np.random.default_rng(0)
    match, deltas = rpn_targets(anchors, gt, rng, samples_per_image=100000)
    assert match.dtype == np.int8 and deltas.dtype == np.float32
    assert deltas.shape == (len(anchors), 4)
    assert match[i] == 1
    np.testing.assert_allclose(deltas[i], 0, atol=1e-6)
    iou = box_iou_np(anchors, gt)[:, 0]
    assert np.all(match[iou == 0] == -1)
    assert np.all(match[(iou >= 0.3) & (iou < 0.7)] == 0)
    assert np.all(deltas[match != 1] == 0)

    match, _ = rpn_targets(anchors, gt, rng, samples_per_image=32)
    assert (match != 0).sum() == 32 and (match == 1).sum() <= 16


def test_rpn_targets_forced_best_anchor_and_deltas_decode():
    anchors = generate_anchors((64, 64))
    gt = np.array([[20, 20, 26, 31], [40, 3, 47, 9]], np.float32)  # match no anchor well
    iou = box_iou_np(anchors, gt)
    assert iou.max() < 0.7
    match, deltas = rpn_targets(anchors, gt, np.random.default_rng(1))
    for g in range(2):
        best = np.flatnonzero(iou[:, g] == iou[:, g].max())
        assert np.all(match[best] == 1)
    pos = np.flatnonzero(match == 1)
    assigned = gt[iou[pos].argmax(axis=1)]
    np.testing.assert_allclose(decode_deltas(anchors[pos], deltas[pos]), assigned, atol=1e-3)


def test_rpn_targets_many_positives_are_capped_and_no_gt():
    anchors = generate_anchors((128, 128))
    rng = np.random.default_rng(2)
    match, _ = rpn_targets(anchors, anchors[::40], rng, samples_per_image=64)
    assert (match == 1).sum() == 32 and (match == -1).sum() == 32
    match, deltas = rpn_targets(anchors, np.zeros((0, 4), np.float32), rng)
    assert (match == -1).sum() == 256 and (match == 1).sum() == 0 and not deltas.any()


# ------------------------------------------------------------------ detection targets
def _toy_batch():
    small = disk(28, 13.5, 13.5, 10).astype(np.float32)  # 28x28 circle
    mini = np.kron(small, np.ones((2, 2), np.float32))  # 56x56, 2x2 blocks -> exact 28 crop
    gt_boxes = np.zeros((2, 3, 4), np.float32)
    gt_boxes[0, 0] = [16, 16, 44, 44]
    gt_class = np.zeros((2, 3), np.int32)
    gt_class[0, 0] = 1
    gt_masks = np.zeros((2, 3, 56, 56), np.float32)
    gt_masks[0, 0] = mini
    proposals = np.zeros((2, 4, 4), np.float32)
    proposals[0, 0] = gt_boxes[0, 0]
    proposals[0, 1] = [0, 0, 8, 8]  # far: negative
    proposals[1, :2] = [[0, 0, 10, 10], [30, 30, 50, 40]]  # image without GT
    return small, proposals, gt_class, gt_boxes, gt_masks


def test_detection_targets_toy_batch():
    small, proposals, gt_class, gt_boxes, gt_masks = _toy_batch()
    layer = DetectionTargetLayer(rois_per_image=8, positive_fraction=0.5)
    rois, cls, deltas, masks = (ops.convert_to_numpy(o) for o in
                                compiled(layer)(proposals, gt_class, gt_boxes, gt_masks))
    assert rois.shape == (2, 8, 4) and cls.shape == (2, 8) and cls.dtype == np.int32
    assert deltas.shape == (2, 8, 4) and masks.shape == (2, 8, 28, 28)
    # image 0: the proposal equal to the GT and the GT itself are positive, then 1 negative
    np.testing.assert_array_equal(cls[0], [1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(rois[0, :2], gt_boxes[0, [0, 0]])
    np.testing.assert_allclose(rois[0, 2], [0, 0, 8, 8])
    np.testing.assert_array_equal(rois[0, 3:], 0)
    np.testing.assert_allclose(deltas[0], 0, atol=1e-6)
    np.testing.assert_array_equal(masks[0, 0], small)
    np.testing.assert_array_equal(masks[0, 1], small)
    assert set(np.unique(masks)) <= {0.0, 1.0} and not masks[0, 2:].any()
    # image 1: no GT -> both proposals negative
    np.testing.assert_array_equal(cls[1], 0)
    assert sorted(map(tuple, rois[1, :2])) == [(0, 0, 10, 10), (30, 30, 50, 40)]
    np.testing.assert_array_equal(rois[1, 2:], 0)


def test_detection_targets_shifted_roi_mask_and_deltas():
    small, _, gt_class, gt_boxes, gt_masks = _toy_batch()
    proposals = np.zeros((2, 4, 4), np.float32)
    proposals[0, 0] = [16, 16, 44, 30]  # left half of the GT: IoU 0.5
    layer = DetectionTargetLayer(rois_per_image=4, positive_fraction=0.5)
    rois, cls, deltas, masks = (ops.convert_to_numpy(o) for o in
                                compiled(layer)(proposals, gt_class, gt_boxes, gt_masks))
    pos = np.flatnonzero(np.all(rois[0] == proposals[0, 0], axis=1))
    assert len(pos) == 1 and cls[0, pos[0]] == 1
    # ROI cell (i, j) samples mini pixel (2i+0.5, j) -> circle pixel (i, j // 2)
    np.testing.assert_array_equal(masks[0, pos[0]], small[:, np.arange(28) // 2])
    np.testing.assert_allclose(decode_deltas(proposals[0, :1], deltas[0, pos]),
                               gt_boxes[0, :1], atol=1e-4)
    assert DetectionTargetLayer.from_config(layer.get_config()).mask_shape == (28, 28)


def test_detection_targets_sampling_is_random_inside_jit_and_seeded():
    _, _, gt_class, gt_boxes, gt_masks = _toy_batch()
    proposals = np.zeros((2, 24, 4), np.float32)
    proposals[0, :20] = gt_boxes[0, 0] + np.arange(20, dtype=np.float32)[:, None] * [0, 0, 0, 0.05]
    proposals[0, 20:] = [[0, 0, 8, 8], [50, 50, 60, 60], [2, 40, 9, 50], [40, 2, 50, 9]]

    def draws(seed, calls=3):
        run = compiled(DetectionTargetLayer(rois_per_image=6, positive_fraction=0.5, seed=seed))
        out = []
        for _ in range(calls):
            rois, cls, _, _ = (ops.convert_to_numpy(o) for o in
                               run(proposals, gt_class, gt_boxes, gt_masks))
            assert cls[0, :3].tolist() == [1, 1, 1] and not cls[0, 3:].any()
            out.append(rois[0].round(3).tolist())
        return out

    first = draws(7)
    assert first[0] != first[1] or first[1] != first[2]  # the seed state advances in jit
    assert draws(7) == first  # and a seeded layer repeats


# --------------------------------------------------------------------- sample builder
def _toy_image(size=100):
    labels = np.zeros((size, size), np.int32)
    labels[disk(size, 30, 30, 12)] = 1
    labels[disk(size, 70, 60, 8)] = 2
    labels[5:7, 80:95] = 3
    image = np.stack([labels * 60] * 3, axis=-1).astype(np.uint8)
    return image, labels


def test_pad_and_masks_round_trip():
    image, labels = _toy_image()
    padded, hw = pad_to_multiple(image, 64)
    assert padded.shape == (128, 128, 3) and hw == (100, 100) and padded.dtype == np.uint8
    assert not padded[100:].any()
    boxes, ids = masks_to_boxes(labels)
    minis = minimize_masks(labels, boxes, ids, (56, 56))
    assert minis.shape == (3, 56, 56) and minis.dtype == np.float32
    for mini, box, i in zip(minis, boxes, ids):
        back = expand_mask(mini, box, labels.shape)
        true = labels == i
        iou = (back & true).sum() / (back | true).sum()
        assert iou > 0.9, (i, iou)
        np.testing.assert_array_equal(masks_to_boxes(back.astype(np.int32))[0][0], box)


def test_build_sample_shapes_and_max_gt():
    image, labels = _toy_image()
    anchors = generate_anchors((128, 128))
    s = build_sample(image, labels, anchors, np.random.default_rng(0), max_gt=5)
    want = {"image": ((128, 128, 3), np.float32), "gt_class_ids": ((5,), np.int32),
            "gt_boxes": ((5, 4), np.float32), "gt_masks": ((5, 56, 56), np.float32),
            "rpn_match": ((len(anchors),), np.int8), "rpn_deltas": ((len(anchors), 4), np.float32)}
    for key, (shape, dtype) in want.items():
        assert s[key].shape == shape and s[key].dtype == dtype, key
    np.testing.assert_array_equal(s["gt_class_ids"], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(s["gt_boxes"][:3], masks_to_boxes(labels)[0])
    assert (s["rpn_match"] == 1).sum() >= 3 and (s["rpn_match"] != 0).sum() == 256
    with pytest.warns(UserWarning, match="largest"):
        s2 = build_sample(image, labels, anchors, np.random.default_rng(0), max_gt=2)
    np.testing.assert_array_equal(s2["gt_boxes"], masks_to_boxes(labels)[0][:2])  # 3 smallest
