"""Final detections (graph) and their conversion into instance label images (numpy).

``DetectionLayer`` refines the proposals with the head's per-class deltas, clips them to
the input, and keeps up to ``max_instances`` boxes per image after a score threshold
and per-class NMS (``nms.per_class_nms_padded``: the kept set of TensorFlow's
``combined_non_max_suppression``), zero-padded, in ``keras.ops`` with static shapes.

``detections_to_instances`` pastes the 28x28 mask probabilities back at the ORIGINAL
image size (undoing padding and resizing), thresholds them and resolves overlaps by
score (a pixel belongs to the highest-scoring mask that covers it), returning the
contract's non-overlapping int32 label image plus the overlapping candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import keras
import numpy as np
from keras import ops

from common.predictions import relabel_sequential
from solutions.maskrcnn.boxes import DEFAULT_STD, clip_boxes, decode_deltas
from solutions.maskrcnn.nms import per_class_nms_padded
from solutions.maskrcnn.proposals import image_hw_pair, nms_numpy


@keras.saving.register_keras_serializable(package="maskrcnn")
class DetectionLayer(keras.layers.Layer):
    """Refine, clip, score-threshold and per-class NMS the head outputs.

    Args:
        min_confidence: Drop detections whose class probability is below this.
        nms_threshold: Per-class NMS IoU threshold.
        max_instances: Detections per image (N).
        std: Delta normalisation.

    Call:
        rois: [B,R,4] proposals in input pixels (zero rows are padding).
        class_logits: [B,R,C] classifier logits (class 0 background).
        deltas: [B,R,C,4] per-class normalised deltas.
        image_hw: ``(H, W)`` ints or an int/float tensor [2] of the padded input.

    Returns:
        dict ``boxes`` [B,N,4] float32, ``class_ids`` [B,N] int32 (0 = padding),
        ``scores`` [B,N] float32 (0 = padding), sorted by decreasing score.
    """

    def __init__(self, min_confidence: float = 0.7, nms_threshold: float = 0.3,
                 max_instances: int = 400, std: Sequence[float] = DEFAULT_STD,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_confidence = float(min_confidence)
        self.nms_threshold = float(nms_threshold)
        self.max_instances = int(max_instances)
        self.std = tuple(float(s) for s in std)
        # image_hw may be a plain (H, W) tuple passed positionally.
        self._allow_non_tensor_positional_args = True
        self.built = True  # no weights: usable (e.g. in stateless_call) before a first call

    def call(self, rois: Any, class_logits: Any, deltas: Any, image_hw: Any) -> dict:
        rois = ops.cast(rois, "float32")
        probs = ops.softmax(ops.cast(class_logits, "float32"), axis=-1)  # [B,R,C]
        height, width = image_hw_pair(image_hw)
        boxes = decode_deltas(rois[:, :, None, :], deltas, self.std)  # [B,R,C,4]
        boxes = clip_boxes(boxes, height, width)
        valid = ops.any(ops.not_equal(rois, 0.0), axis=-1)  # [B,R]
        scores = probs[:, :, 1:] * ops.cast(valid, "float32")[..., None]
        out = per_class_nms_padded(boxes[:, :, 1:, :], scores, self.max_instances,
                                   self.nms_threshold, self.min_confidence)
        keep = out["valid"] & (out["scores"] > 0)
        class_ids = ops.where(keep, ops.cast(out["classes"], "int32") + 1, 0)
        return {"boxes": ops.where(keep[..., None], ops.cast(out["boxes"], "float32"), 0.0),
                "class_ids": ops.cast(class_ids, "int32"),
                "scores": ops.where(keep, ops.cast(out["scores"], "float32"), 0.0)}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "min_confidence": self.min_confidence,
                "nms_threshold": self.nms_threshold, "max_instances": self.max_instances,
                "std": list(self.std)}


# --------------------------------------------------------------------------- numpy side


@dataclass
class Instances:
    """One image's instances at the original size.

    Attributes:
        labels: int32 [H,W], 0 background, 1..N without overlaps.
        scores: float32 [N], score of label ``i + 1``.
        cand_masks: bool [K,H,W] overlapping candidates (or None).
        cand_scores: float32 [K] (or None).
    """

    labels: np.ndarray
    scores: np.ndarray
    cand_masks: np.ndarray | None = None
    cand_scores: np.ndarray | None = None


def paste_mask(box: np.ndarray, mask: np.ndarray, image_hw: tuple[int, int],
               threshold: float = 0.5) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Resample one mask into its (sub-pixel) box and threshold it.

    Mask cell ``k`` of ``m`` is centred at ``y1 + (k + 0.5) * (y2 - y1) / m`` (the
    convention of the mask targets); every image pixel centre inside the box is sampled
    bilinearly from the mask (0 outside it), so no rounding of the box shifts the mask.

    Args:
        box: [4] ``(y1, x1, y2, x2)`` in original-image pixels (continuous).
        mask: float [m,m] probabilities.
        image_hw: ``(H, W)`` of the original image.
        threshold: Probability threshold.

    Returns:
        ``((row slice, col slice), bool [h,w])`` inside the image, or None when the box
        covers no pixel centre of the image.
    """
    h_img, w_img = image_hw
    y1, x1, y2, x2 = (float(v) for v in box)
    if y2 - y1 <= 0 or x2 - x1 <= 0:
        return None
    r0, c0 = max(int(np.floor(y1)), 0), max(int(np.floor(x1)), 0)
    r1, c1 = min(int(np.ceil(y2)), h_img), min(int(np.ceil(x2)), w_img)
    if r1 <= r0 or c1 <= c0:
        return None
    mh, mw = mask.shape
    sy, sx = mh / (y2 - y1), mw / (x2 - x1)
    # destination pixel (c, r) of the local window -> source mask coordinate (cell units)
    warp = np.array([[sx, 0.0, (c0 + 0.5 - x1) * sx - 0.5],
                     [0.0, sy, (r0 + 0.5 - y1) * sy - 0.5]], np.float64)
    local = cv2.warpAffine(mask.astype(np.float32), warp, (c1 - c0, r1 - r0),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    local = local.reshape(r1 - r0, c1 - c0) >= threshold
    return (slice(r0, r1), slice(c0, c1)), local


def detections_to_instances(boxes: np.ndarray, scores: np.ndarray, masks: np.ndarray,
                            image_hw: tuple[int, int],
                            scale: float | tuple[float, float] = 1.0,
                            mask_threshold: float = 0.5, min_pixels: int = 1,
                            with_candidates: bool = False, max_candidates: int = 64) -> Instances:
    """Paste detections back at the original size and resolve overlaps by score.

    Args:
        boxes: float [N,4] boxes in network-input pixels (the input was the original image
            resized by ``scale`` and zero-padded at the bottom/right).
        scores: float [N]; rows with score <= 0 are padding and ignored.
        masks: float [N,m,m] mask probabilities of each detection's class.
        image_hw: ``(H, W)`` of the original image.
        scale: Resize factor applied before the network: ``(sy, sx)`` per axis
            (``ImageMeta.scale_yx``), or one number for both; each axis is undone separately.
        mask_threshold: Threshold of the pasted probabilities.
        min_pixels: Instances with fewer pixels after overlap resolution are dropped.
        with_candidates: Also return the candidate masks that overlap another candidate
            (before overlap resolution); the others equal their label and are not repeated.
        max_candidates: Keep at most this many candidates (highest scores first): each is a
            dense bool [H,W] at the original size.

    Returns:
        :class:`Instances`; ``labels`` are ordered by decreasing score.
    """
    h_img, w_img = int(image_hw[0]), int(image_hw[1])
    keep = np.asarray(scores) > 0
    sy, sx = (scale, scale) if np.isscalar(scale) else (float(scale[0]), float(scale[1]))
    boxes = np.asarray(boxes, np.float32)[keep] / np.array([sy, sx, sy, sx], np.float32)
    scores = np.asarray(scores, np.float32)[keep]
    masks = np.asarray(masks, np.float32)[keep]
    order = np.argsort(-scores, kind="stable")
    labels = np.zeros((h_img, w_img), np.int32)
    pasted, kept_scores = [], []
    for i in order:
        item = paste_mask(boxes[i], masks[i], (h_img, w_img), mask_threshold)
        if item is None or not item[1].any():
            continue
        pasted.append(item)
        kept_scores.append(scores[i])
    # Paint from the lowest score up, so the highest score wins every shared pixel.
    for idx in range(len(pasted) - 1, -1, -1):
        (rows, cols), local = pasted[idx]
        region = labels[rows, cols]
        region[local] = idx + 1
    kept_scores = np.asarray(kept_scores, np.float32)
    if min_pixels > 1 and kept_scores.size:
        counts = np.bincount(labels.ravel(), minlength=kept_scores.size + 1)
        small = np.flatnonzero(counts[1:] < min_pixels) + 1
        labels[np.isin(labels, small)] = 0
    labels, out_scores = relabel_sequential(labels, kept_scores if kept_scores.size else None)
    if labels.max(initial=0) == 0:
        out_scores = np.zeros(0, np.float32)
    cand_masks = cand_scores = None
    if with_candidates:
        cand_masks, cand_scores = _overlapping_candidates(pasted, kept_scores, (h_img, w_img),
                                                          max_candidates)
    return Instances(labels, out_scores, cand_masks, cand_scores)


def _overlapping_candidates(pasted: list, scores: np.ndarray, image_hw: tuple[int, int],
                            max_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense bool [K,H,W] masks (and float32 [K] scores) of the pasted masks that share a
    pixel with another one, in the given (decreasing score) order, K <= ``max_candidates``."""
    cover = np.zeros(image_hw, np.uint16)
    for (rows, cols), local in pasted:
        cover[rows, cols] += local
    picked = [k for k, ((rows, cols), local) in enumerate(pasted)
              if (cover[rows, cols][local] > 1).any()][:max(0, int(max_candidates))]
    masks = np.zeros((len(picked), *image_hw), bool)
    for out, k in enumerate(picked):
        (rows, cols), local = pasted[k]
        masks[out, rows, cols] = local
    return masks, np.asarray(scores, np.float32)[picked].reshape(-1)


def flip_detections(boxes: np.ndarray, masks: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Map detections made on a horizontally flipped input back to the unflipped one.

    Args:
        boxes: [N,4] boxes on the flipped input.
        masks: [N,m,m] their masks.
        width: Width of the flipped region (the resized image before padding).
    """
    out = boxes.copy()
    out[:, 1] = width - boxes[:, 3]
    out[:, 3] = width - boxes[:, 1]
    return out, masks[:, :, ::-1]


def merge_detections(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     nms_threshold: float, max_instances: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of several detection sets (e.g. TTA passes) reduced by NMS.

    Args:
        parts: ``(boxes [N_i,4], scores [N_i], masks [N_i,m,m])`` per pass.
        nms_threshold: IoU above which the lower-scoring box is suppressed.
        max_instances: Upper bound on the result.

    Returns:
        ``(boxes [K,4], scores [K], masks [K,m,m])`` sorted by decreasing score.
    """
    boxes = np.concatenate([p[0][p[1] > 0] for p in parts]).astype(np.float32)
    scores = np.concatenate([p[1][p[1] > 0] for p in parts]).astype(np.float32)
    masks = np.concatenate([p[2][p[1] > 0] for p in parts]).astype(np.float32)
    if scores.size == 0:
        return boxes, scores, masks
    keep = np.asarray(nms_numpy(boxes, scores, max_instances, nms_threshold), np.int64)
    return boxes[keep], scores[keep], masks[keep]
