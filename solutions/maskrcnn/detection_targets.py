"""Second-stage training targets: sample ROIs and give them classes, deltas and masks."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from .boxes import DEFAULT_STD, box_iou_tf, encode_deltas


def crop_mini_masks(mini_masks: tf.Tensor, gt_boxes: tf.Tensor, rois: tf.Tensor,
                    gt_index: tf.Tensor, mask_shape: Sequence[int]) -> tf.Tensor:
    """Cut each ROI out of its GT's mini-mask.

    The mini-mask ``[Mh,Mw]`` covers its GT box, mini pixel ``i`` centred at
    ``gy1 + (i + 0.5) * gh / Mh``; outside the box the mask is 0. Output cell ``j`` of the
    ROI samples ``ry1 + (j + 0.5) * rh / mh`` bilinearly (with zero padding of one mini
    pixel, so samples beyond the box edge fade to 0 as a continuous mask would).

    Args:
        mini_masks: float32 [G,Mh,Mw] mini-masks of one image.
        gt_boxes: float32 [n,4] GT box of each ROI.
        rois: float32 [n,4] ROIs in pixels.
        gt_index: int32 [n] index into ``mini_masks`` of each ROI's GT.
        mask_shape: ``(mh, mw)`` output size.

    Returns:
        float32 [n,mh,mw] soft masks in [0,1].
    """
    mh, mw = int(mask_shape[0]), int(mask_shape[1])
    big_h = tf.cast(tf.shape(mini_masks)[1], tf.float32)
    big_w = tf.cast(tf.shape(mini_masks)[2], tf.float32)
    padded = tf.pad(tf.cast(mini_masks, tf.float32)[..., None], [[0, 0], [1, 1], [1, 1], [0, 0]])
    gy1, gx1, gy2, gx2 = tf.unstack(gt_boxes, axis=-1)
    ry1, rx1, ry2, rx2 = tf.unstack(rois, axis=-1)
    gh = tf.maximum(gy2 - gy1, 1e-6)
    gw = tf.maximum(gx2 - gx1, 1e-6)

    def to_norm(p, g0, gsize, size):  # pixel -> normalised coordinate in the padded mask
        return ((p - g0) / gsize * size + 0.5) / (size + 1.0)

    half_h = 0.5 * (ry2 - ry1) / mh
    half_w = 0.5 * (rx2 - rx1) / mw
    norm = tf.stack([to_norm(ry1 + half_h, gy1, gh, big_h), to_norm(rx1 + half_w, gx1, gw, big_w),
                     to_norm(ry2 - half_h, gy1, gh, big_h), to_norm(rx2 - half_w, gx1, gw, big_w)],
                    axis=-1)
    crops = tf.image.crop_and_resize(padded, norm, tf.cast(gt_index, tf.int32), [mh, mw],
                                     method="bilinear")
    return crops[..., 0]


@keras.saving.register_keras_serializable(package="maskrcnn")
class DetectionTargetLayer(keras.layers.Layer):
    """Samples ROIs from proposals (+ GT boxes) and builds their training targets.

    Candidates are the proposals with positive area and the valid GT boxes. A candidate is positive
    when its highest IoU with a GT is >= ``positive_iou`` and negative when < ``negative_iou``.
    At most ``int(rois_per_image * positive_fraction)`` positives are kept at random, then
    random negatives fill up to ``rois_per_image``. Rows are ordered positives, negatives,
    zero padding.

    Args:
        rois_per_image: R, rows returned per image.
        positive_fraction: upper bound on the positive share.
        positive_iou: IoU at or above which a candidate is positive.
        negative_iou: IoU below which a candidate is negative.
        mask_shape: ``(mh, mw)`` of the mask targets.
        std: delta normalisation (see ``boxes.encode_deltas``).

    Call args:
        proposals: [B,P,4] pixels, zero rows are padding.
        gt_class_ids: int32 [B,G], 0 = padding.
        gt_boxes: [B,G,4] pixels.
        gt_masks: float32 [B,G,Mh,Mw] mini-masks (each GT mask cropped to its box and
            resized to ``Mh x Mw``).

    Returns:
        rois: float32 [B,R,4].
        target_class_ids: int32 [B,R] (0 for negatives and padding).
        target_deltas: float32 [B,R,4], divided by ``std``; zero except for positives.
        target_masks: float32 [B,R,mh,mw] in {0,1} (soft crop thresholded at 0.5).
        All outputs carry no gradient.
    """

    def __init__(self, rois_per_image: int = 200, positive_fraction: float = 0.33,
                 positive_iou: float = 0.5, negative_iou: float = 0.5,
                 mask_shape: Sequence[int] = (28, 28), std: Sequence[float] = DEFAULT_STD,
                 **kwargs):
        super().__init__(**kwargs)
        self.rois_per_image = int(rois_per_image)
        self.positive_fraction = float(positive_fraction)
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self.mask_shape = tuple(int(m) for m in mask_shape)
        self.std = tuple(float(s) for s in std)

    def _one_image(self, args):
        proposals, class_ids, gt_boxes, gt_masks = args
        r = self.rois_per_image
        valid_gt = class_ids > 0  # [G]
        cand = tf.concat([proposals, gt_boxes], axis=0)  # [P+G,4]
        prop_valid = (proposals[:, 2] > proposals[:, 0]) & (proposals[:, 3] > proposals[:, 1])
        cand_valid = tf.concat([prop_valid, valid_gt], axis=0)
        iou = tf.where(valid_gt[None, :], box_iou_tf(cand, gt_boxes), -1.0)  # [P+G,G]
        max_iou = tf.reduce_max(iou, axis=1)
        assign = tf.argmax(iou, axis=1, output_type=tf.int32)

        pos = tf.random.shuffle(tf.where(cand_valid & (max_iou >= self.positive_iou))[:, 0])
        pos = pos[:int(r * self.positive_fraction)]
        neg = tf.random.shuffle(tf.where(cand_valid & (max_iou < self.negative_iou))[:, 0])
        neg = neg[:r - tf.shape(pos)[0]]

        pos_rois = tf.gather(cand, pos)
        pos_gt = tf.gather(assign, pos)
        pos_gt_boxes = tf.gather(gt_boxes, pos_gt)
        rois = tf.concat([pos_rois, tf.gather(cand, neg)], axis=0)
        n_pos = tf.shape(pos)[0]
        n_pad = r - tf.shape(rois)[0]
        class_out = tf.pad(tf.gather(class_ids, pos_gt), [[0, r - n_pos]])
        deltas = encode_deltas(pos_rois, pos_gt_boxes, self.std)
        masks = crop_mini_masks(gt_masks, pos_gt_boxes, pos_rois, pos_gt, self.mask_shape)
        masks = tf.cast(masks >= 0.5, tf.float32)
        return (tf.pad(rois, [[0, n_pad], [0, 0]]),
                class_out,
                tf.pad(deltas, [[0, r - n_pos], [0, 0]]),
                tf.pad(masks, [[0, r - n_pos], [0, 0], [0, 0]]))

    def call(self, proposals, gt_class_ids, gt_boxes, gt_masks):
        r = self.rois_per_image
        mh, mw = self.mask_shape
        args = (tf.cast(proposals, tf.float32), tf.cast(gt_class_ids, tf.int32),
                tf.cast(gt_boxes, tf.float32), tf.cast(gt_masks, tf.float32))
        outs = tf.map_fn(self._one_image, args, fn_output_signature=(
            tf.TensorSpec([r, 4], tf.float32), tf.TensorSpec([r], tf.int32),
            tf.TensorSpec([r, 4], tf.float32), tf.TensorSpec([r, mh, mw], tf.float32)))
        return tuple(tf.stop_gradient(o) for o in outs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rois_per_image=self.rois_per_image,
                      positive_fraction=self.positive_fraction,
                      positive_iou=self.positive_iou, negative_iou=self.negative_iou,
                      mask_shape=list(self.mask_shape), std=list(self.std))
        return config
