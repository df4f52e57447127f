"""Mask R-CNN losses as plain functions (called from ``MaskRCNN.compute_loss``).

Every loss is a masked mean that is 0 when nothing is selected, so a batch without
positives never produces NaN. All inputs are cast to float32.
"""

from __future__ import annotations

from typing import Any

from keras import ops


def _masked_mean(values: Any, weights: Any) -> Any:
    """``sum(values * weights) / max(sum(weights), 1)``."""
    weights = ops.cast(weights, "float32")
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


def smooth_l1(diff: Any, beta: float = 1.0) -> Any:
    """Elementwise smooth L1 (Huber with ``beta``) of a difference."""
    diff = ops.abs(diff)
    return ops.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


def rpn_class_loss(rpn_match: Any, rpn_logits: Any) -> Any:
    """Cross-entropy of the RPN objectness over the sampled (non-neutral) anchors.

    Args:
        rpn_match: [B,A] int, 1 positive, -1 negative, 0 neutral (ignored).
        rpn_logits: [B,A,2] logits (background, object).

    Returns:
        Scalar: mean CE over anchors with ``rpn_match != 0``.
    """
    rpn_match = ops.cast(rpn_match, "int32")
    target = ops.cast(ops.equal(rpn_match, 1), "int32")
    ce = ops.sparse_categorical_crossentropy(target, ops.cast(rpn_logits, "float32"),
                                             from_logits=True)
    return _masked_mean(ce, ops.not_equal(rpn_match, 0))


def rpn_bbox_loss(rpn_match: Any, target_deltas: Any, rpn_deltas: Any) -> Any:
    """Smooth L1 of the RPN deltas on positive anchors.

    Args:
        rpn_match: [B,A] int (1 positive).
        target_deltas: [B,A,4] normalised target deltas (zero where not positive).
        rpn_deltas: [B,A,4] predicted deltas.

    Returns:
        Scalar: mean over positive anchors and the 4 coordinates.
    """
    positive = ops.cast(ops.equal(ops.cast(rpn_match, "int32"), 1), "float32")
    loss = smooth_l1(ops.cast(target_deltas, "float32") - ops.cast(rpn_deltas, "float32"))
    return _masked_mean(loss, positive[..., None] * ops.ones_like(loss))


def valid_rois(rois: Any) -> Any:
    """[B,R] bool: the ROI row is not zero padding."""
    return ops.any(ops.not_equal(ops.cast(rois, "float32"), 0.0), axis=-1)


def head_class_loss(target_class_ids: Any, class_logits: Any, valid: Any) -> Any:
    """Cross-entropy of the head classifier over the sampled ROIs.

    Args:
        target_class_ids: [B,R] int, 0 background.
        class_logits: [B,R,C] logits.
        valid: [B,R] bool, False for zero-padding rows.

    Returns:
        Scalar: mean CE over valid ROIs.
    """
    ce = ops.sparse_categorical_crossentropy(ops.cast(target_class_ids, "int32"),
                                             ops.cast(class_logits, "float32"), from_logits=True)
    return _masked_mean(ce, valid)


def _true_class(values: Any, target_class_ids: Any, num_classes: int) -> Any:
    """Select class ``target_class_ids`` along axis 2 of [B,R,C,...] -> [B,R,...]."""
    onehot = ops.one_hot(ops.cast(target_class_ids, "int32"), num_classes, dtype="float32")
    for _ in range(len(values.shape) - 3):
        onehot = ops.expand_dims(onehot, -1)
    return ops.sum(values * onehot, axis=2)


def head_bbox_loss(target_class_ids: Any, target_deltas: Any, pred_deltas: Any) -> Any:
    """Smooth L1 of the head deltas of the true class on positive ROIs.

    Args:
        target_class_ids: [B,R] int (> 0 positive).
        target_deltas: [B,R,4] normalised target deltas.
        pred_deltas: [B,R,C,4] per-class predicted deltas.

    Returns:
        Scalar: mean over positive ROIs and the 4 coordinates.
    """
    num_classes = pred_deltas.shape[2]
    pred = _true_class(ops.cast(pred_deltas, "float32"), target_class_ids, num_classes)
    loss = smooth_l1(ops.cast(target_deltas, "float32") - pred)
    positive = ops.cast(ops.greater(ops.cast(target_class_ids, "int32"), 0), "float32")
    return _masked_mean(loss, positive[..., None] * ops.ones_like(loss))


def mask_loss(target_class_ids: Any, target_masks: Any, mask_logits: Any) -> Any:
    """Binary cross-entropy of the true-class mask on positive ROIs.

    Args:
        target_class_ids: [B,R] int (> 0 positive).
        target_masks: [B,R,m,m] in {0,1}.
        mask_logits: [B,R,m,m,C] per-class logits.

    Returns:
        Scalar: mean BCE over the pixels of positive ROIs.
    """
    num_classes = mask_logits.shape[-1]
    logits = ops.transpose(ops.cast(mask_logits, "float32"), (0, 1, 4, 2, 3))  # [B,R,C,m,m]
    logits = _true_class(logits, target_class_ids, num_classes)  # [B,R,m,m]
    bce = _bce_logits(ops.cast(target_masks, "float32"), logits)
    positive = ops.cast(ops.greater(ops.cast(target_class_ids, "int32"), 0), "float32")
    return _masked_mean(bce, positive[..., None, None] * ops.ones_like(bce))


def _bce_logits(target: Any, logits: Any) -> Any:
    """Elementwise, numerically stable BCE with logits."""
    return ops.maximum(logits, 0.0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))


LOSS_NAMES = ("rpn_class", "rpn_bbox", "class", "bbox", "mask")


def mask_rcnn_losses(batch: dict, outputs: dict) -> dict:
    """All five losses of one training step.

    Args:
        batch: ``rpn_match`` [B,A], ``rpn_deltas`` [B,A,4] (the data pipeline's targets).
        outputs: ``rpn_logits``, ``rpn_deltas``, ``rois``, ``target_class_ids``,
            ``target_deltas``, ``target_masks``, ``class_logits``, ``deltas``, ``mask_logits``
            and optionally ``mask_target_class_ids`` (the class ids of the ROIs the mask
            tensors cover, when the mask head ran on a subset of rows).

    Returns:
        dict name -> scalar loss (names from :data:`LOSS_NAMES`).
    """
    valid = valid_rois(outputs["rois"])
    tcls = outputs["target_class_ids"]
    return {
        "rpn_class": rpn_class_loss(batch["rpn_match"], outputs["rpn_logits"]),
        "rpn_bbox": rpn_bbox_loss(batch["rpn_match"], batch["rpn_deltas"], outputs["rpn_deltas"]),
        "class": head_class_loss(tcls, outputs["class_logits"], valid),
        "bbox": head_bbox_loss(tcls, outputs["target_deltas"], outputs["deltas"]),
        "mask": mask_loss(outputs.get("mask_target_class_ids", tcls), outputs["target_masks"],
                          outputs["mask_logits"]),
    }
