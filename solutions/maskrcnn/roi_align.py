"""Multi-level ROI Align over an FPN (P2..P5).

Sampling convention (one bilinear sample per output bin, at the bin centre):

- Box ``(y1, x1, y2, x2)`` in input pixels, continuous coordinates (pixel ``i`` covers
  ``[i, i+1)``). Output cell ``i`` of ``pool`` samples input coordinate
  ``p_i = y1 + (i + 0.5) * (y2 - y1) / pool``.
- On a level with stride ``s`` feature cell ``j`` covers input ``[j*s, (j+1)*s)`` and is
  centred at ``(j + 0.5) * s``, so ``p`` is feature index ``f = p / s - 0.5``.
- ``f`` is clamped to ``[0, h - 1]`` (border replication, as in Detectron's ROIAlign for
  samples just outside the map).

Implementation (``keras.ops`` only, any backend, static output shape): every level is
flattened to ``[B,h_l*w_l,C]`` and the levels are concatenated into one ``[B*S,C]`` table;
each box computes its bilinear sample positions with its own level's stride, size and
offset in the table, then the four corners of all samples are gathered at once. Each box
is pooled from its own level only (no work on the other levels).
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
from keras import ops


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


def box_levels(boxes, canonical_size: float = 224.0, canonical_level: int = 4,
               min_level: int = 2, max_level: int = 5):
    """FPN level of each box: ``clip(floor(k0 + log2(sqrt(h*w) / canonical)), min, max)``.

    Args:
        boxes: [...,4] boxes in input pixels (backend tensor).

    Returns:
        int32 [...] levels; zero-area boxes get ``min_level``.
    """
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    area = ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * \
        ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
    size = ops.sqrt(ops.maximum(area, 1e-12))
    # log2 is exact on powers of two, so boxes of side canonical * 2**k sit on level k0 + k.
    k = ops.floor(canonical_level + ops.log2(size / canonical_size))
    return ops.cast(ops.clip(k, min_level, max_level), "int32")


def _axis_samples(lo, hi, stride, size, pool: int):
    """Bilinear sample cells along one axis (module convention).

    Args:
        lo, hi: [...] box edges in input pixels.
        stride: [...] float stride of each box's level.
        size: [...] float map size of each box's level (``h`` or ``w``).
        pool: samples per box.

    Returns:
        (first cell int32 [...,pool], second cell int32 [...,pool], weight of the second
        float32 [...,pool]).
    """
    centres = (ops.arange(pool, dtype="float32") + 0.5) / float(pool)
    p = lo[..., None] + centres * (hi - lo)[..., None]
    f = ops.clip(p / stride[..., None] - 0.5, 0.0, (size - 1.0)[..., None])
    f0 = ops.floor(f)
    i0 = ops.cast(f0, "int32")
    i1 = ops.minimum(i0 + 1, ops.cast(size, "int32")[..., None] - 1)
    return i0, i1, f - f0


def roi_align_levels(boxes, levels, features, strides, pool: int, batch_index=None):
    """ROI Align of every box on the map of its own level (module convention).

    Args:
        boxes: float32 [B,R,4] boxes in input pixels.
        levels: int32 [B,R] index into ``features`` of each box's map.
        features: list of [B,h_l,w_l,C] maps (same C).
        strides: input pixels per cell of each map.
        pool: output side.
        batch_index: int32 [B,R] image of each box in ``features``; default: row ``b``.

    Returns:
        float32 [B,R,pool,pool,C].
    """
    channels = features[0].shape[-1]
    # Table [sum_l B*h_l*w_l, C]: level-major, then image, then row-major cells.
    flats, hs, ws, offsets, total = [], [], [], [], 0
    for feat in features:
        shape = ops.shape(feat)
        hs.append(shape[1])
        ws.append(shape[2])
        offsets.append(total)
        total = total + shape[0] * shape[1] * shape[2]
        flats.append(ops.reshape(ops.cast(feat, "float32"), (-1, channels)))
    table = ops.concatenate(flats, axis=0)

    def per_level(values, dtype):
        return ops.take(ops.cast(ops.stack([ops.convert_to_tensor(v) for v in values]), dtype),
                        levels, axis=0)  # [B,R]

    h = per_level(hs, "float32")
    w = per_level(ws, "float32")
    stride = per_level([float(s) for s in strides], "float32")
    cells = per_level([hh * ww for hh, ww in zip(hs, ws)], "int32")
    if batch_index is None:
        batch_index = ops.arange(ops.shape(boxes)[0], dtype="int32")[:, None]
    row0 = per_level(offsets, "int32") + batch_index * cells  # [B,R]
    wi = ops.cast(w, "int32")
    y0, y1, ly = _axis_samples(boxes[..., 0], boxes[..., 2], stride, h, pool)  # [B,R,p]
    x0, x1, lx = _axis_samples(boxes[..., 1], boxes[..., 3], stride, w, pool)

    def corner(yi, xi):
        idx = (row0[..., None] + yi * wi[..., None])[..., :, None] + xi[..., None, :]
        return ops.take(table, idx, axis=0)  # [B,R,p,p,C]

    # Corner weights on the small [B,R,p,p,1] grid: 4 products and 3 sums of the big
    # [B,R,p,p,C] gathers (instead of 9 passes for the nested lerps).
    ly = ly[..., :, None, None]
    lx = lx[..., None, :, None]
    out = corner(y0, x0) * ((1.0 - ly) * (1.0 - lx))
    out = out + corner(y0, x1) * ((1.0 - ly) * lx)
    out = out + corner(y1, x0) * (ly * (1.0 - lx))
    return out + corner(y1, x1) * (ly * lx)


def crop_level(feature, boxes, box_indices, stride: float, pool: int):
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
    feature = ops.cast(ops.convert_to_tensor(feature), "float32")
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    box_indices = ops.cast(ops.convert_to_tensor(box_indices), "int32")
    levels = ops.zeros_like(box_indices)[None, :]
    return roi_align_levels(boxes[None], levels, [feature], [stride], pool,
                            batch_index=box_indices[None, :])[0]


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
        #: under TensorFlow, pool with its crop_and_resize kernel (roi_align_tf.py; the same
        #: samples, ~3x faster on CPU); False forces the generic keras.ops path.
        self.fast_path = True

    def call(self, boxes, features: Mapping, image_hw=None):
        boxes = ops.cast(boxes, "float32")
        levels = box_levels(boxes, self.canonical_size, self.canonical_level,
                            self.min_level, self.max_level)  # [B,R]
        names = range(self.min_level, self.max_level + 1)
        maps = [features[f"P{level}"] for level in names]
        strides = [float(2 ** level) for level in names]
        if keras.backend.backend() == "tensorflow" and self.fast_path:  # TF's crop_and_resize
            from solutions.maskrcnn.roi_align_tf import pyramid_roi_align_tf  # kernel: ~3x

            return pyramid_roi_align_tf(boxes, levels - self.min_level, maps, strides, self.pool_size)
        return roi_align_levels(boxes, levels - self.min_level, maps, strides, self.pool_size)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=self.pool_size, canonical_size=self.canonical_size,
                      canonical_level=self.canonical_level, min_level=self.min_level,
                      max_level=self.max_level)
        return config
