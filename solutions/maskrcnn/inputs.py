"""Training-sample builder for Mask R-CNN (numpy, per image, in the data pipeline).

Mini-masks: each GT mask is cropped to its box ``[ymin, xmin, ymax+1, xmax+1]`` and resized
bilinearly (OpenCV ``INTER_LINEAR``, half-pixel centres) to ``Mh x Mw``; values stay soft
in [0,1] (``DetectionTargetLayer`` thresholds its crops at 0.5).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import cv2
import numpy as np

from .boxes import DEFAULT_STD, masks_to_boxes
from .rpn_targets import rpn_targets


def minimize_masks(labels: np.ndarray, boxes: np.ndarray, ids: np.ndarray,
                   shape: Sequence[int] = (56, 56)) -> np.ndarray:
    """Crop every instance to its box and resize it to ``shape``.

    Args:
        labels: int [H,W] instance labels.
        boxes: [G,4] integer-valued boxes ``[ymin, xmin, ymax+1, xmax+1]``.
        ids: [G] label value of each box.
        shape: ``(Mh, Mw)``.

    Returns:
        float32 [G,Mh,Mw] in [0,1].
    """
    mh, mw = int(shape[0]), int(shape[1])
    out = np.zeros((len(boxes), mh, mw), np.float32)
    for g, (box, i) in enumerate(zip(np.round(boxes).astype(int), ids)):
        y1, x1, y2, x2 = box
        crop = (labels[y1:y2, x1:x2] == i).astype(np.float32)
        if crop.size:
            out[g] = cv2.resize(crop, (mw, mh), interpolation=cv2.INTER_LINEAR)
    return out


def expand_mask(mini: np.ndarray, box: Sequence[float], image_hw: Sequence[int]) -> np.ndarray:
    """Paste a mini-mask (or a mask-head output) back into the image.

    Args:
        mini: [Mh,Mw] soft mask covering ``box``.
        box: ``(y1, x1, y2, x2)`` pixels, rounded to integers; may leave the image.
        image_hw: ``(H, W)`` of the output.

    Returns:
        bool [H,W], True where the resized mask is >= 0.5.
    """
    h_img, w_img = int(image_hw[0]), int(image_hw[1])
    y1, x1, y2, x2 = (int(v) for v in np.round(np.asarray(box, np.float64)))
    out = np.zeros((h_img, w_img), bool)
    bh, bw = y2 - y1, x2 - x1
    if bh < 1 or bw < 1:
        return out
    full = cv2.resize(np.asarray(mini, np.float32), (bw, bh), interpolation=cv2.INTER_LINEAR)
    full = full.reshape(bh, bw) >= 0.5
    cy1, cx1, cy2, cx2 = max(y1, 0), max(x1, 0), min(y2, h_img), min(x2, w_img)
    if cy2 > cy1 and cx2 > cx1:
        out[cy1:cy2, cx1:cx2] = full[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    return out


def pad_to_multiple(image: np.ndarray, multiple: int = 64) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-pad the bottom and right so both sides are multiples of ``multiple``.

    Args:
        image: [H,W,...] array.
        multiple: side multiple.

    Returns:
        padded [H',W',...] (same dtype) and the original ``(H, W)``.
    """
    h, w = image.shape[:2]
    hp, wp = math.ceil(h / multiple) * multiple, math.ceil(w / multiple) * multiple
    pad = [(0, hp - h), (0, wp - w)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad), (h, w)


def build_sample(image: np.ndarray, labels: np.ndarray, anchors: np.ndarray,
                 rng: np.random.Generator, max_gt: int = 400,
                 mini_mask_shape: Sequence[int] = (56, 56), rpn_positive_iou: float = 0.7,
                 rpn_negative_iou: float = 0.3, rpn_samples_per_image: int = 256,
                 rpn_positive_fraction: float = 0.5, std: Sequence[float] = DEFAULT_STD,
                 multiple: int = 64) -> dict[str, np.ndarray]:
    """Everything the training model needs for one (cropped) image, with fixed shapes.

    Args:
        image: uint8 [H,W,3].
        labels: int32 [H,W] instances, 0 = background.
        anchors: [A,4] anchors of the *padded* input (``generate_anchors((H',W'), ...)``).
        rng: numpy Generator (RPN anchor sampling).
        max_gt: GT slots; with more nuclei the ``max_gt`` largest are kept (warning).
        mini_mask_shape: ``(Mh, Mw)`` of the GT mini-masks.
        rpn_positive_iou, rpn_negative_iou, rpn_samples_per_image, rpn_positive_fraction:
            see :func:`rpn_targets.rpn_targets`.
        std: delta normalisation.
        multiple: the image is zero-padded (bottom/right) to a multiple of this.

    Returns:
        dict with ``image`` float32 [H',W',3] (0..255), ``gt_class_ids`` int32 [max_gt]
        (1 nucleus, 0 pad), ``gt_boxes`` float32 [max_gt,4], ``gt_masks`` float32
        [max_gt,Mh,Mw], ``rpn_match`` int8 [A], ``rpn_deltas`` float32 [A,4].
    """
    image = np.asarray(image)
    labels = np.asarray(labels)
    if image.ndim != 3 or image.shape[2] != 3 or labels.shape != image.shape[:2]:
        raise ValueError(f"need image [H,W,3] and labels [H,W], got {image.shape} and "
                         f"{labels.shape}")
    padded, _ = pad_to_multiple(image.astype(np.float32), multiple)
    boxes, ids = masks_to_boxes(labels)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    boxes, ids = boxes[keep], ids[keep]
    if len(ids) > max_gt:
        warnings.warn(f"{len(ids)} nuclei > max_gt={max_gt}: keeping the {max_gt} largest",
                      stacklevel=2)
        areas = np.bincount(labels.ravel().astype(np.int64), minlength=int(ids.max()) + 1)[ids]
        largest = np.sort(np.argsort(-areas, kind="stable")[:max_gt])
        boxes, ids = boxes[largest], ids[largest]
    match, deltas = rpn_targets(anchors, boxes, rng, positive_iou=rpn_positive_iou,
                                negative_iou=rpn_negative_iou,
                                samples_per_image=rpn_samples_per_image,
                                positive_fraction=rpn_positive_fraction, std=std)
    g = len(ids)
    gt_class_ids = np.zeros(max_gt, np.int32)
    gt_class_ids[:g] = 1
    gt_boxes = np.zeros((max_gt, 4), np.float32)
    gt_boxes[:g] = boxes
    gt_masks = np.zeros((max_gt, *mini_mask_shape), np.float32)
    gt_masks[:g] = minimize_masks(labels, boxes, ids, mini_mask_shape)
    return {"image": padded, "gt_class_ids": gt_class_ids, "gt_boxes": gt_boxes,
            "gt_masks": gt_masks, "rpn_match": match, "rpn_deltas": deltas}
