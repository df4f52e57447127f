"""RPN training targets for one image (numpy, runs in the data pipeline).

IoU between all anchors and all GT boxes is computed in float32 chunks of anchors so a
65k x 400 problem never materialises as one big matrix.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .boxes import DEFAULT_STD, box_iou_np, encode_deltas

_CHUNK = 8192


def _match_anchors(anchors: np.ndarray, gt_boxes: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best GT per anchor and the best anchors of every GT, chunk by chunk.

    Args:
        anchors: float32 [A,4].
        gt_boxes: float32 [G,4], G >= 1.

    Returns:
        max_iou: float32 [A] highest IoU of each anchor with any GT.
        argmax: int64 [A] index of that GT.
        forced: int64 [K] anchors that are the best (ties included) for some GT whose best
            IoU is > 0.
    """
    n = len(anchors)
    max_iou = np.empty(n, np.float32)
    argmax = np.empty(n, np.int64)
    gt_best = np.zeros(len(gt_boxes), np.float32)
    cand_anchor, cand_gt, cand_val = [], [], []
    for start in range(0, n, _CHUNK):
        iou = box_iou_np(anchors[start:start + _CHUNK], gt_boxes)  # [c, G]
        argmax[start:start + _CHUNK] = iou.argmax(axis=1)
        max_iou[start:start + _CHUNK] = iou.max(axis=1)
        col = iou.max(axis=0)  # [G]
        rows, cols = np.nonzero((iou == col[None, :]) & (col[None, :] > 0))
        cand_anchor.append(rows + start)
        cand_gt.append(cols)
        cand_val.append(col[cols])
        np.maximum(gt_best, col, out=gt_best)
    a = np.concatenate(cand_anchor)
    g = np.concatenate(cand_gt)
    v = np.concatenate(cand_val)
    forced = np.unique(a[v == gt_best[g]])
    return max_iou, argmax, forced


def rpn_targets(anchors: np.ndarray, gt_boxes: np.ndarray, rng: np.random.Generator,
                positive_iou: float = 0.7, negative_iou: float = 0.3,
                samples_per_image: int = 256, positive_fraction: float = 0.5,
                std: Sequence[float] = DEFAULT_STD) -> tuple[np.ndarray, np.ndarray]:
    """Label and regress anchors against the GT boxes of one image.

    Positive: IoU >= ``positive_iou`` with some GT, or the best anchor of some GT (all
    anchors tied at that GT's highest IoU, provided it is > 0). Negative: highest IoU <
    ``negative_iou`` and not positive. Then at most ``int(samples_per_image *
    positive_fraction)`` positives are kept at random, and negatives are kept at random up
    to ``samples_per_image`` in total; the surplus becomes 0 (ignored).

    Args:
        anchors: float32 [A,4] pixels.
        gt_boxes: float32 [G,4] pixels (G may be 0).
        rng: numpy Generator for the sampling.
        positive_iou: IoU at or above which an anchor is positive.
        negative_iou: IoU below which an anchor is negative.
        samples_per_image: anchors sampled per image (positives + negatives).
        positive_fraction: upper bound on the positive share of the sample.
        std: delta normalisation, see :func:`boxes.encode_deltas`.

    Returns:
        match: int8 [A], 1 positive, -1 negative, 0 ignored.
        deltas: float32 [A,4], deltas towards the highest-IoU GT for kept positives,
            zero elsewhere.
    """
    anchors = np.asarray(anchors, np.float32)
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    n = len(anchors)
    match = np.zeros(n, np.int8)
    deltas = np.zeros((n, 4), np.float32)
    if len(gt_boxes) == 0:
        match[:] = -1
    else:
        max_iou, argmax, forced = _match_anchors(anchors, gt_boxes)
        match[max_iou < negative_iou] = -1
        match[max_iou >= positive_iou] = 1
        match[forced] = 1

    pos = np.flatnonzero(match == 1)
    max_pos = int(samples_per_image * positive_fraction)
    if len(pos) > max_pos:
        match[rng.choice(pos, len(pos) - max_pos, replace=False)] = 0
        pos = np.flatnonzero(match == 1)
    neg = np.flatnonzero(match == -1)
    max_neg = samples_per_image - len(pos)
    if len(neg) > max_neg:
        match[rng.choice(neg, len(neg) - max_neg, replace=False)] = 0

    if len(pos):
        deltas[pos] = encode_deltas(anchors[pos], gt_boxes[argmax[pos]], std)
    return match, deltas
