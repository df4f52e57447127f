"""RPN proposals: top-k anchors by score, decode, clip, NMS, zero-pad."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from .boxes import DEFAULT_STD, box_iou_np, clip_boxes, decode_deltas


def nms(boxes: tf.Tensor, scores: tf.Tensor, max_out: int, iou_threshold: float) -> tf.Tensor:
    """Greedy NMS (thin wrapper of ``tf.image.non_max_suppression``).

    Args:
        boxes: [K,4] boxes.
        scores: [K] scores.
        max_out: maximum number of boxes kept.
        iou_threshold: a box is suppressed when its IoU with a kept box is > this.

    Returns:
        int32 [<=max_out] indices of kept boxes, by decreasing score.
    """
    return tf.image.non_max_suppression(tf.cast(boxes, tf.float32),
                                        tf.cast(scores, tf.float32), max_out,
                                        iou_threshold=iou_threshold)


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

    def call(self, rpn_fg_probs, rpn_deltas, anchors, image_hw):
        scores = tf.cast(rpn_fg_probs, tf.float32)
        deltas = tf.cast(rpn_deltas, tf.float32)
        anchors = tf.cast(tf.convert_to_tensor(anchors), tf.float32)
        image_hw = tf.cast(tf.convert_to_tensor(image_hw), tf.float32)
        k = tf.minimum(self.pre_nms_limit, tf.shape(scores)[1])
        top_scores, top_idx = tf.math.top_k(scores, k=k, sorted=True)  # [B,k]
        top_deltas = tf.gather(deltas, top_idx, batch_dims=1)  # [B,k,4]
        top_anchors = tf.gather(anchors, top_idx)  # [B,k,4]
        boxes = decode_deltas(top_anchors, top_deltas, self.std)
        boxes = clip_boxes(boxes, image_hw[0], image_hw[1])
        n = self.proposal_count

        def one_image(args):
            b, s = args
            keep = nms(b, s, n, self.nms_threshold)
            kept = tf.gather(b, keep)
            return tf.pad(kept, [[0, n - tf.shape(kept)[0]], [0, 0]])

        out = tf.map_fn(one_image, (boxes, top_scores),
                        fn_output_signature=tf.TensorSpec([n, 4], tf.float32))
        return tf.stop_gradient(out)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(proposal_count=self.proposal_count, nms_threshold=self.nms_threshold,
                      pre_nms_limit=self.pre_nms_limit, std=list(self.std))
        return config
