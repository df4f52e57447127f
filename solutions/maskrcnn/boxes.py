"""Box utilities for Mask R-CNN, usable from numpy (data pipeline) and keras.ops (graph).

Boxes are ``(y1, x1, y2, x2)`` float32 in pixels of the padded network input, with
continuous coordinates (pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``), so the box of a
mask is ``[ymin, xmin, ymax + 1, xmax + 1]`` and its height is ``y2 - y1``.

Each public function dispatches on its first argument: a ``np.ndarray`` (or list/tuple)
gets the numpy implementation and returns numpy; anything else (a backend tensor of the
active Keras backend, a ``KerasTensor`` inside a layer) gets the ``keras.ops`` one, which
runs under every Keras 3 backend.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.ndimage as ndi
from keras import ops

DEFAULT_STD = (0.1, 0.1, 0.2, 0.2)
# Largest log-scale change allowed when decoding (torchvision's bbox_xform_clip).
BBOX_XFORM_CLIP = float(np.log(1000.0 / 16))


def _is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, list, tuple))


# ----------------------------------------------------------------------------- IoU
def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU in numpy.

    Args:
        a: [N,4] boxes.
        b: [M,4] boxes.

    Returns:
        float32 [N,M]; pairs where the union is zero get 0.
    """
    a = np.ascontiguousarray(np.asarray(a, np.float32).reshape(-1, 4).T)  # [4,N]
    b = np.ascontiguousarray(np.asarray(b, np.float32).reshape(-1, 4).T)  # [4,M]
    area_a = np.maximum(a[2] - a[0], 0) * np.maximum(a[3] - a[1], 0)
    area_b = np.maximum(b[2] - b[0], 0) * np.maximum(b[3] - b[1], 0)
    # In-place ops on [N,M] buffers: this is the hot loop of rpn_targets.
    inter = np.minimum.outer(a[2], b[2])
    inter -= np.maximum.outer(a[0], b[0])
    np.maximum(inter, 0, out=inter)
    iw = np.minimum.outer(a[3], b[3])
    iw -= np.maximum.outer(a[1], b[1])
    np.maximum(iw, 0, out=iw)
    inter *= iw
    union = np.add.outer(area_a, area_b)
    union -= inter
    np.maximum(union, 1e-12, out=union)  # union == 0 implies inter == 0
    inter /= union
    return inter


def box_iou_ops(a, b):
    """Pairwise IoU with ``keras.ops`` (any backend, graph friendly).

    Args:
        a: [N,4] boxes.
        b: [M,4] boxes.

    Returns:
        float32 [N,M]; pairs where the union is zero get 0.
    """
    a = ops.cast(ops.convert_to_tensor(a), "float32")
    b = ops.cast(ops.convert_to_tensor(b), "float32")
    ay1, ax1, ay2, ax2 = [a[:, None, i] for i in range(4)]
    by1, bx1, by2, bx2 = [b[None, :, i] for i in range(4)]
    area_a = ops.maximum(ay2 - ay1, 0.0) * ops.maximum(ax2 - ax1, 0.0)
    area_b = ops.maximum(by2 - by1, 0.0) * ops.maximum(bx2 - bx1, 0.0)
    ih = ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0)
    iw = ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0)
    inter = ih * iw
    union = area_a + area_b - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)


# Former name (the TF implementation); kept so existing imports keep working.
box_iou_tf = box_iou_ops


def box_iou(a, b):
    """Pairwise IoU ``[N,M]`` of ``a [N,4]`` and ``b [M,4]`` (numpy or backend tensor)."""
    return box_iou_np(a, b) if _is_numpy(a) else box_iou_ops(a, b)


# -------------------------------------------------------------------------- deltas
def encode_deltas(boxes, gt, std: Sequence[float] = DEFAULT_STD):
    """Regression targets that move ``boxes`` onto ``gt``.

    Args:
        boxes: [...,4] reference boxes (anchors or ROIs) with positive height and width.
        gt: [...,4] target boxes, same shape.
        std: divisor per component ``(dy, dx, dh, dw)``.

    Returns:
        [...,4] float32 ``(dy, dx, log dh, log dw) / std``.
    """
    xp_np = _is_numpy(boxes)
    if xp_np:
        boxes = np.asarray(boxes, np.float32)
        gt = np.asarray(gt, np.float32)
        log, stack = np.log, lambda t: np.stack(t, axis=-1)
    else:
        boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
        gt = ops.cast(ops.convert_to_tensor(gt), "float32")
        log, stack = ops.log, lambda t: ops.stack(t, axis=-1)
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    cy = boxes[..., 0] + 0.5 * h
    cx = boxes[..., 1] + 0.5 * w
    gh = gt[..., 2] - gt[..., 0]
    gw = gt[..., 3] - gt[..., 1]
    gcy = gt[..., 0] + 0.5 * gh
    gcx = gt[..., 1] + 0.5 * gw
    d = stack([(gcy - cy) / h, (gcx - cx) / w, log(gh / h), log(gw / w)])
    out = d / np.asarray(std, np.float32)
    return out.astype(np.float32) if xp_np else out


def decode_deltas(boxes, deltas, std: Sequence[float] = DEFAULT_STD,
                  clip: float = BBOX_XFORM_CLIP):
    """Apply regression deltas to boxes (inverse of :func:`encode_deltas`).

    Args:
        boxes: [...,4] reference boxes.
        deltas: [...,4] deltas as produced by :func:`encode_deltas` (divided by std).
        std: multiplier per component.
        clip: upper bound on ``dh, dw`` (after ``* std``) so ``exp`` cannot overflow.

    Returns:
        [...,4] float32 decoded boxes (not clipped to the image).
    """
    xp_np = _is_numpy(boxes)
    if xp_np:
        boxes = np.asarray(boxes, np.float32)
        deltas = np.asarray(deltas, np.float32)
        exp, minimum = np.exp, np.minimum
        stack = lambda t: np.stack(t, axis=-1)  # noqa: E731
    else:
        boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
        deltas = ops.cast(ops.convert_to_tensor(deltas), "float32")
        exp, minimum = ops.exp, ops.minimum
        stack = lambda t: ops.stack(t, axis=-1)  # noqa: E731
    d = deltas * np.asarray(std, np.float32)
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    cy = boxes[..., 0] + 0.5 * h + d[..., 0] * h
    cx = boxes[..., 1] + 0.5 * w + d[..., 1] * w
    h = h * exp(minimum(d[..., 2], clip))
    w = w * exp(minimum(d[..., 3], clip))
    out = stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w])
    return out.astype(np.float32) if xp_np else out


def clip_boxes(boxes, height, width):
    """Clip boxes to the image: ``y`` to ``[0, height]``, ``x`` to ``[0, width]``.

    Args:
        boxes: [...,4] boxes (numpy or backend tensor).
        height: image height (int, float or scalar tensor).
        width: image width.

    Returns:
        [...,4] clipped boxes, same type as ``boxes``.
    """
    if _is_numpy(boxes):
        boxes = np.asarray(boxes, np.float32)
        hi = np.array([height, width, height, width], np.float32)
        return np.clip(boxes, 0.0, hi).astype(np.float32)
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    height = ops.cast(ops.convert_to_tensor(height), "float32")
    width = ops.cast(ops.convert_to_tensor(width), "float32")
    hi = ops.stack([height, width, height, width])
    return ops.minimum(ops.maximum(boxes, 0.0), hi)


# ------------------------------------------------------------------- masks -> boxes
def masks_to_boxes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding boxes of every instance of a label image.

    Args:
        labels: int [H,W], 0 = background, instances 1..N (gaps allowed).

    Returns:
        boxes: float32 [G,4] ``[ymin, xmin, ymax+1, xmax+1]``.
        ids: int32 [G] the label value of each box, ascending.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be [H,W], got shape {labels.shape}")
    slices = ndi.find_objects(labels.astype(np.int32, copy=False))
    ids = np.array([i + 1 for i, s in enumerate(slices) if s is not None], np.int32)
    boxes = np.array([[s[0].start, s[1].start, s[0].stop, s[1].stop]
                      for s in slices if s is not None], np.float32).reshape(-1, 4)
    return boxes, ids


def box_cover(boxes: np.ndarray, hw: tuple[int, int]) -> float:
    """Fraction of an ``hw`` image that the union of ``boxes`` covers (numpy only).

    A box covers the pixels from ``floor(y1), floor(x1)`` up to ``ceil(y2), ceil(x2)``
    (exclusive), clipped to the image. One difference image and two cumulative sums, so
    the cost does not grow with the boxes' areas.

    Args:
        boxes: [N,4] ``(y1, x1, y2, x2)`` pixels.
        hw: The image's ``(height, width)``.

    Returns:
        The covered fraction, 0 for no boxes.
    """
    h, w = int(hw[0]), int(hw[1])
    b = clip_boxes(np.asarray(boxes, np.float32).reshape(-1, 4), h, w)
    if not len(b) or h <= 0 or w <= 0:
        return 0.0
    y1, x1 = np.floor(b[:, :2]).astype(np.int64).T
    y2, x2 = np.ceil(b[:, 2:]).astype(np.int64).T
    keep = (y2 > y1) & (x2 > x1)
    y1, x1, y2, x2 = y1[keep], x1[keep], y2[keep], x2[keep]
    diff = np.zeros((h + 1, w + 1), np.int32)
    np.add.at(diff, (y1, x1), 1)
    np.add.at(diff, (y1, x2), -1)
    np.add.at(diff, (y2, x1), -1)
    np.add.at(diff, (y2, x2), 1)
    return float((diff.cumsum(0).cumsum(1)[:h, :w] > 0).mean())
