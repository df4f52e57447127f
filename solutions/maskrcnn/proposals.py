"""RPN proposals: top-k anchors by score, decode, clip, NMS, zero-pad.

Backend-agnostic (``keras.ops``): every shape is static (``top_k`` of a fixed size, padded
NMS from ``nms.py``), so the layer compiles once per input size under XLA / ``jax.jit``.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
from keras import ops

from .boxes import DEFAULT_STD, box_iou_np, clip_boxes, decode_deltas
from .nms import nms_padded


def nms(boxes: Any, scores: Any, max_out: int, iou_threshold: float) -> Any:
    """Greedy NMS of one image, eager only (the result's length depends on the data).

    Args:
        boxes: [K,4] boxes.
        scores: [K] scores.
        max_out: maximum number of boxes kept.
        iou_threshold: a box is suppressed when its IoU with a kept box is > this.

    Returns:
        int32 [<=max_out] backend tensor of the kept indices, by decreasing score. Inside
        a traced graph use ``nms.nms_padded`` (fixed size + validity mask) instead.
    """
    idx, valid = nms_padded(ops.cast(boxes, "float32")[None], ops.cast(scores, "float32")[None],
                            int(max_out), float(iou_threshold))
    count = int(np.asarray(ops.convert_to_numpy(ops.sum(ops.cast(valid, "int32")))))
    return ops.cast(idx[0, :count], "int32")


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, max_out: int,
              iou_threshold: float) -> np.ndarray:
    """Reference greedy NMS with the same semantics as :func:`nms`.

    Args:
        boxes: [K,4] boxes.
        scores: [K] scores.
        max_out: maximum number of boxes kept.
        iou_threshold: suppress when IoU > threshold.

    Returns:
        int64 [<=max_out] indices of kept boxes, by decreasing score.
    """
    boxes = np.asarray(boxes, np.float32)
    order = np.argsort(-np.asarray(scores), kind="stable")
    iou = box_iou_np(boxes, boxes)
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), bool)
    for i in order:
        if len(keep) >= max_out:
            break
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, np.int64)


def image_hw_pair(image_hw: Any) -> tuple[Any, Any]:
    """``(height, width)`` of an ``image_hw`` argument: Python floats for a tuple, list or
    numpy array (a constant baked into the graph), float32 scalars for a tensor [2]."""
    if isinstance(image_hw, (tuple, list, np.ndarray)):
        h, w = np.asarray(image_hw, np.float64).reshape(2)
        return float(h), float(w)
    image_hw = ops.cast(image_hw, "float32")
    return image_hw[0], image_hw[1]


@keras.saving.register_keras_serializable(package="maskrcnn")
class ProposalLayer(keras.layers.Layer):
    """Turns RPN scores and deltas into a fixed number of proposals per image.

    Steps per image: keep the ``min(pre_nms_limit, A)`` best anchors by foreground
    probability, apply their deltas, clip to ``[0,H] x [0,W]``, greedy NMS, keep at most
    ``proposal_count`` (by decreasing score) and pad with all-zero boxes.

    Args:
        proposal_count: boxes returned per image (N).
        nms_threshold: NMS IoU threshold.
        pre_nms_limit: anchors kept before NMS.
        std: delta normalisation (see ``boxes.decode_deltas``).

    Call args:
        rpn_fg_probs: [B,A] foreground probability (or logit: only the order matters).
        rpn_deltas: [B,A,4] deltas, divided by ``std``.
        anchors: [A,4] anchors in pixels (numpy or tensor).
        image_hw: ``(H, W)`` ints, or a tensor of shape [2].

    Returns:
        float32 [B,N,4] proposals in pixels; rows after the kept ones are zero. No gradient
        flows through them (``stop_gradient``, as in matterport).
    """

    def __init__(self, proposal_count: int, nms_threshold: float = 0.7,
                 pre_nms_limit: int = 6000, std: Sequence[float] = DEFAULT_STD, **kwargs):
        super().__init__(**kwargs)
        self.proposal_count = int(proposal_count)
        self.nms_threshold = float(nms_threshold)
        self.pre_nms_limit = int(pre_nms_limit)
        self.std = tuple(float(s) for s in std)
        # image_hw may be a plain (H, W) tuple passed positionally.
        self._allow_non_tensor_positional_args = True
        self.built = True  # no weights: usable (e.g. in stateless_call) before a first call

    def call(self, rpn_fg_probs, rpn_deltas, anchors, image_hw):
        scores = ops.cast(rpn_fg_probs, "float32")
        deltas = ops.cast(rpn_deltas, "float32")
        anchors = ops.cast(ops.convert_to_tensor(anchors), "float32")
        height, width = image_hw_pair(image_hw)
        num_anchors = scores.shape[1] if scores.shape[1] is not None else anchors.shape[0]
        if num_anchors is None:
            raise ValueError("proposals.py: ProposalLayer needs a static number of anchors "
                             f"(got scores of shape {scores.shape})")
        k = min(self.pre_nms_limit, int(num_anchors))
        top_scores, top_idx = ops.top_k(scores, k=k, sorted=True)  # [B,k]
        top_deltas = ops.take_along_axis(deltas, top_idx[..., None], axis=1)  # [B,k,4]
        top_anchors = ops.take(anchors, top_idx, axis=0)  # [B,k,4]
        boxes = decode_deltas(top_anchors, top_deltas, self.std)
        boxes = clip_boxes(boxes, height, width)
        keep, valid = nms_padded(boxes, top_scores, self.proposal_count, self.nms_threshold)
        out = ops.take_along_axis(boxes, keep[..., None], axis=1)  # [B,N,4]
        out = ops.where(valid[..., None], out, 0.0)
        return ops.stop_gradient(out)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(proposal_count=self.proposal_count, nms_threshold=self.nms_threshold,
                      pre_nms_limit=self.pre_nms_limit, std=list(self.std))
        return config
