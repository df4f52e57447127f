"""Multi-level ROI Align over an FPN (P2..P5).

Sampling convention (one bilinear sample per output bin, at the bin centre):

- Box ``(y1, x1, y2, x2)`` in input pixels, continuous coordinates (pixel ``i`` covers
  ``[i, i+1)``). Output cell ``i`` of ``pool`` samples input coordinate
  ``p_i = y1 + (i + 0.5) * (y2 - y1) / pool``.
- On a level with stride ``s`` feature cell ``j`` covers input ``[j*s, (j+1)*s)`` and is
  centred at ``(j + 0.5) * s``, so ``p`` is feature index ``f = p / s - 0.5``.
- ``f`` is clamped to ``[0, h - 1]`` (border replication, as in Detectron's ROIAlign for
  samples just outside the map).

``tf.image.crop_and_resize`` samples ``y1n * (H - 1) + i * (y2n - y1n) * (H - 1) / (pool -
1)``; we hand it the map padded by one replicated cell on each side (``H = h + 2``, index
``f + 1``) and ``y1n = (f_0 + 1) / (h + 1)``, ``y2n = (f_{pool-1} + 1) / (h + 1)``, which
reproduces the samples above exactly (boxes inside the image never reach beyond the pad).
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
import tensorflow as tf


def roi_align_numpy(feature: np.ndarray, box: np.ndarray, pool: int) -> np.ndarray:
    """Reference ROI Align of one box on one feature map (explicit bilinear).

    Args:
        feature: [h,w,C] feature map.
        box: [4] ``(y1, x1, y2, x2)`` in feature pixels (input-pixel box / stride), same
            pixel-edge convention as input boxes.
        pool: output side.

    Returns:
        float32 [pool,pool,C].
    """
    feature = np.asarray(feature, np.float64)
    h, w = feature.shape[:2]
    y1, x1, y2, x2 = [float(v) for v in box]
    centres = (np.arange(pool) + 0.5) / pool
    fy = np.clip(y1 + centres * (y2 - y1) - 0.5, 0, h - 1)
    fx = np.clip(x1 + centres * (x2 - x1) - 0.5, 0, w - 1)
    y0 = np.floor(fy).astype(int)
    x0 = np.floor(fx).astype(int)
    y1i = np.minimum(y0 + 1, h - 1)
    x1i = np.minimum(x0 + 1, w - 1)
    ly = (fy - y0)[:, None, None]
    lx = (fx - x0)[None, :, None]
    top = feature[y0][:, x0] * (1 - lx) + feature[y0][:, x1i] * lx
    bot = feature[y1i][:, x0] * (1 - lx) + feature[y1i][:, x1i] * lx
    return (top * (1 - ly) + bot * ly).astype(np.float32)


def box_levels(boxes: tf.Tensor, canonical_size: float = 224.0, canonical_level: int = 4,
               min_level: int = 2, max_level: int = 5) -> tf.Tensor:
    """FPN level of each box: ``clip(floor(k0 + log2(sqrt(h*w) / canonical)), min, max)``.

    Args:
        boxes: [...,4] boxes in input pixels.

    Returns:
        int32 [...] levels; zero-area boxes get ``min_level``.
    """
    boxes = tf.cast(boxes, tf.float32)
    area = tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * \
        tf.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
    size = tf.sqrt(tf.maximum(area, 1e-12))
    k = tf.floor(canonical_level + tf.math.log(size / canonical_size) / np.log(2.0))
    return tf.cast(tf.clip_by_value(k, min_level, max_level), tf.int32)


def crop_level(feature: tf.Tensor, boxes: tf.Tensor, box_indices: tf.Tensor, stride: float,
               pool: int) -> tf.Tensor:
    """ROI Align of boxes on one feature map with the module's sampling convention.

    Args:
        feature: [B,h,w,C] feature map of stride ``stride``.
        boxes: [n,4] boxes in input pixels.
        box_indices: int32 [n] batch index of each box.
        stride: input pixels per feature cell.
        pool: output side.

    Returns:
        float32 [n,pool,pool,C].
    """
    feature = tf.cast(feature, tf.float32)
    padded = tf.pad(feature, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    fh = tf.cast(tf.shape(feature)[1], tf.float32)
    fw = tf.cast(tf.shape(feature)[2], tf.float32)
    y1, x1, y2, x2 = tf.unstack(tf.cast(boxes, tf.float32), axis=-1)
    half_h = 0.5 * (y2 - y1) / pool
    half_w = 0.5 * (x2 - x1) / pool
    # +1 for the pad, -0.5 for cell centres -> +0.5.
    norm = tf.stack([((y1 + half_h) / stride + 0.5) / (fh + 1.0),
                     ((x1 + half_w) / stride + 0.5) / (fw + 1.0),
                     ((y2 - half_h) / stride + 0.5) / (fh + 1.0),
                     ((x2 - half_w) / stride + 0.5) / (fw + 1.0)], axis=-1)
    return tf.image.crop_and_resize(padded, norm, tf.cast(box_indices, tf.int32),
                                    [pool, pool], method="bilinear")


@keras.saving.register_keras_serializable(package="maskrcnn")
class PyramidROIAlign(keras.layers.Layer):
    """ROI Align on the FPN level chosen per box.

    Args:
        pool_size: output side.
        canonical_size: box side (pixels) that maps to ``canonical_level``.
        canonical_level: ``k0`` of the FPN paper.
        min_level: smallest level used (``P{min_level}`` must be in ``features``).
        max_level: largest level used.

    Call args:
        boxes: [B,R,4] boxes in input pixels (zero rows are pooled too and can be ignored).
        features: dict ``{"P2": [B,h2,w2,C], ..., "P5": ...}``; level ``l`` has stride 2**l.
        image_hw: unused, accepted for API symmetry with the other layers.

    Returns:
        float32 [B,R,pool,pool,C] in the order of ``boxes``.
    """

    def __init__(self, pool_size: int = 7, canonical_size: float = 224.0,
                 canonical_level: int = 4, min_level: int = 2, max_level: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.canonical_size = float(canonical_size)
        self.canonical_level = int(canonical_level)
        self.min_level = int(min_level)
        self.max_level = int(max_level)
        # image_hw may be a plain (H, W) tuple passed positionally.
        self._allow_non_tensor_positional_args = True

    def call(self, boxes, features: Mapping[str, tf.Tensor], image_hw=None):
        boxes = tf.cast(boxes, tf.float32)
        batch, rois = tf.shape(boxes)[0], tf.shape(boxes)[1]
        levels = box_levels(boxes, self.canonical_size, self.canonical_level,
                            self.min_level, self.max_level)  # [B,R]
        pooled, positions = [], []
        for level in range(self.min_level, self.max_level + 1):
            idx = tf.cast(tf.where(tf.equal(levels, level)), tf.int32)  # [n,2]
            crops = crop_level(features[f"P{level}"], tf.gather_nd(boxes, idx), idx[:, 0],
                               float(2 ** level), self.pool_size)
            pooled.append(crops)
            positions.append(idx[:, 0] * rois + idx[:, 1])
        out = tf.dynamic_stitch(positions, pooled)  # [B*R,pool,pool,C]
        channels = tf.shape(out)[-1]
        out = tf.reshape(out, [batch, rois, self.pool_size, self.pool_size, channels])
        static_c = features[f"P{self.min_level}"].shape[-1]
        return tf.ensure_shape(out, [None, boxes.shape[1], self.pool_size, self.pool_size,
                                     static_c])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=self.pool_size, canonical_size=self.canonical_size,
                      canonical_level=self.canonical_level, min_level=self.min_level,
                      max_level=self.max_level)
        return config
