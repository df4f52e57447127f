"""TensorFlow fast path of :class:`roi_align.PyramidROIAlign` (the TF backend only).

Why a backend-specific path: on CPU the generic ``keras.ops`` ROI Align (four gathers over
the flattened pyramid) measured about 3x slower under TensorFlow than TF's native
``crop_and_resize`` kernel (``bench/results/maskrcnn_ops_cpu.md``: 3.5 s vs 1.2 s for
B=2, R=200, pool 14, C=256), and Mask R-CNN pools every sampled ROI twice per training
step. Under TensorFlow (graph mode, dynamic shapes allowed) each level's boxes are
gathered, cropped by the kernel and stitched back into ROI order; JAX and the other
backends use the generic path. Both sample exactly the convention of ``roi_align.py``
(``roi_align_numpy`` is the reference; ``tests/test_maskrcnn_ops.py`` compares them) for
boxes inside the image, which is what the model pools (proposals and detections are
clipped to it); a sample more than one feature cell outside the map reads 0 here where the
generic path repeats the border.
"""

from __future__ import annotations

from collections.abc import Sequence


def pyramid_roi_align_tf(boxes, levels, features: Sequence, strides: Sequence[float], pool: int):
    """ROI Align of each box on its own level, with TF's ``crop_and_resize`` kernel.

    Args:
        boxes: float32 [B,R,4] boxes in input pixels.
        levels: int32 [B,R] index into ``features`` of each box's level.
        features: per level [B,h,w,C] feature maps.
        strides: per level input pixels per feature cell.
        pool: output side.

    Returns:
        float32 [B,R,pool,pool,C] in the order of ``boxes``.
    """
    import tensorflow as tf

    boxes = tf.cast(boxes, tf.float32)
    batch, rois = tf.shape(boxes)[0], tf.shape(boxes)[1]
    pooled, positions = [], []
    for index, (feature, stride) in enumerate(zip(features, strides)):
        where = tf.cast(tf.where(tf.equal(levels, index)), tf.int32)  # [n,2]: (image, roi)
        level_boxes = tf.gather_nd(boxes, where)
        feature = tf.cast(feature, tf.float32)
        # one replicated cell of padding: crop_and_resize's sample i lands on feature index
        # f_i + 1 of the padded map, f_i = (y1 + (i + 0.5) * h / pool) / stride - 0.5
        padded = tf.pad(feature, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
        fh = tf.cast(tf.shape(feature)[1], tf.float32)
        fw = tf.cast(tf.shape(feature)[2], tf.float32)
        y1, x1, y2, x2 = tf.unstack(level_boxes, axis=-1)
        half_h, half_w = 0.5 * (y2 - y1) / pool, 0.5 * (x2 - x1) / pool
        norm = tf.stack([((y1 + half_h) / stride + 0.5) / (fh + 1.0),
                         ((x1 + half_w) / stride + 0.5) / (fw + 1.0),
                         ((y2 - half_h) / stride + 0.5) / (fh + 1.0),
                         ((x2 - half_w) / stride + 0.5) / (fw + 1.0)], axis=-1)
        pooled.append(tf.image.crop_and_resize(padded, norm, where[:, 0], [pool, pool]))
        positions.append(where[:, 0] * rois + where[:, 1])
    out = tf.dynamic_stitch(positions, pooled)  # [B*R,pool,pool,C]
    channels = features[0].shape[-1] or tf.shape(out)[-1]
    out = tf.reshape(out, [batch, rois, pool, pool, channels])
    return tf.ensure_shape(out, [None, boxes.shape[1], pool, pool, features[0].shape[-1]])
