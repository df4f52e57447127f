"""Second-stage training targets: sample ROIs and give them classes, deltas and masks.

Backend-agnostic (``keras.ops``) and static-shape: the whole batch is handled at once with
masks, ``top_k`` over random keys and fixed-size gathers (no per-image loop), and the random
draws come from a ``keras.random.SeedGenerator`` owned by the layer, so the layer runs
inside ``jax.jit`` / XLA and compiles once.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from .boxes import DEFAULT_STD, encode_deltas
from .nms import crop_and_resize


def batched_iou(a: Any, b: Any) -> Any:
    """Pairwise IoU within each batch item.

    Args:
        a: [B,N,4] boxes.
        b: [B,M,4] boxes.

    Returns:
        float32 [B,N,M]; pairs whose union is zero get 0.
    """
    a = ops.cast(a, "float32")[:, :, None, :]
    b = ops.cast(b, "float32")[:, None, :, :]
    area_a = ops.maximum(a[..., 2] - a[..., 0], 0.0) * ops.maximum(a[..., 3] - a[..., 1], 0.0)
    area_b = ops.maximum(b[..., 2] - b[..., 0], 0.0) * ops.maximum(b[..., 3] - b[..., 1], 0.0)
    ih = ops.maximum(ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0)
    iw = ops.maximum(ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0)
    inter = ih * iw
    union = area_a + area_b - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)


def crop_mini_masks(mini_masks: Any, gt_boxes: Any, rois: Any, gt_index: Any,
                    mask_shape: Sequence[int]) -> Any:
    """Cut each ROI out of its GT's mini-mask.

    The mini-mask ``[Mh,Mw]`` covers its GT box, mini pixel ``i`` centred at
    ``gy1 + (i + 0.5) * gh / Mh``; outside the box the mask is 0. Output cell ``j`` of the
    ROI samples ``ry1 + (j + 0.5) * rh / mh`` bilinearly (with zero padding of one mini
    pixel, so samples beyond the box edge fade to 0 as a continuous mask would).

    Args:
        mini_masks: float32 [G,Mh,Mw] mini-masks (of one image, or of a flattened batch).
        gt_boxes: float32 [n,4] GT box of each ROI.
        rois: float32 [n,4] ROIs in pixels.
        gt_index: int32 [n] index into ``mini_masks`` of each ROI's GT.
        mask_shape: ``(mh, mw)`` output size.

    Returns:
        float32 [n,mh,mw] soft masks in [0,1].
    """
    mh, mw = int(mask_shape[0]), int(mask_shape[1])
    big_h, big_w = float(mini_masks.shape[1]), float(mini_masks.shape[2])
    padded = ops.pad(ops.cast(mini_masks, "float32")[..., None], [[0, 0], [1, 1], [1, 1], [0, 0]])
    gt_boxes = ops.cast(gt_boxes, "float32")
    rois = ops.cast(rois, "float32")
    gy1, gx1, gy2, gx2 = (gt_boxes[:, i] for i in range(4))
    ry1, rx1, ry2, rx2 = (rois[:, i] for i in range(4))
    gh = ops.maximum(gy2 - gy1, 1e-6)
    gw = ops.maximum(gx2 - gx1, 1e-6)

    def to_norm(p, g0, gsize, size):  # pixel -> normalised coordinate in the padded mask
        return ((p - g0) / gsize * size + 0.5) / (size + 1.0)

    half_h = 0.5 * (ry2 - ry1) / mh
    half_w = 0.5 * (rx2 - rx1) / mw
    norm = ops.stack([to_norm(ry1 + half_h, gy1, gh, big_h), to_norm(rx1 + half_w, gx1, gw, big_w),
                      to_norm(ry2 - half_h, gy1, gh, big_h), to_norm(rx2 - half_w, gx1, gw, big_w)],
                     axis=-1)
    crops = crop_and_resize(padded, norm, ops.cast(gt_index, "int32"), (mh, mw))
    return crops[..., 0]


def _take_rows(values: Any, index: Any) -> Any:
    """``values`` [B,N,...] gathered along axis 1 by ``index`` int [B,R] -> [B,R,...]."""
    index = ops.cast(index, "int32")
    for _ in range(len(values.shape) - 2):
        index = index[..., None]
    return ops.take_along_axis(values, index, axis=1)


@keras.saving.register_keras_serializable(package="maskrcnn")
class DetectionTargetLayer(keras.layers.Layer):
    """Samples ROIs from proposals (+ GT boxes) and builds their training targets.

    Candidates are the proposals with positive area and the valid GT boxes. A candidate is positive
    when its highest IoU with a GT is >= ``positive_iou`` and negative when < ``negative_iou``.
    At most ``int(rois_per_image * positive_fraction)`` positives are kept at random, then
    random negatives fill up to ``rois_per_image``. Rows are ordered positives, negatives,
    zero padding (so every positive lies in the first ``int(R * positive_fraction)`` rows).

    Sampling: each candidate draws a uniform key from the layer's ``SeedGenerator``; the
    positives (negatives) with the largest keys are kept (``top_k``), which is a uniform
    random subset without replacement.

    Args:
        rois_per_image: R, rows returned per image.
        positive_fraction: upper bound on the positive share.
        positive_iou: IoU at or above which a candidate is positive.
        negative_iou: IoU below which a candidate is negative.
        mask_shape: ``(mh, mw)`` of the mask targets.
        std: delta normalisation (see ``boxes.encode_deltas``).
        seed: seed of the layer's ``keras.random.SeedGenerator`` (None: drawn from the
            global Keras seed, ``keras.utils.set_random_seed``).

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
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rois_per_image = int(rois_per_image)
        self.positive_fraction = float(positive_fraction)
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self.mask_shape = tuple(int(m) for m in mask_shape)
        self.std = tuple(float(s) for s in std)
        self.seed = None if seed is None else int(seed)
        # State variable of the draws (not saved in .weights.h5 files).
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="roi_sampling_seed")
        self.built = True  # no weights: usable (e.g. in stateless_call) before a first call

    @property
    def max_positives(self) -> int:
        """``int(rois_per_image * positive_fraction)``: the rows that may hold a positive."""
        return int(self.rois_per_image * self.positive_fraction)

    def call(self, proposals, gt_class_ids, gt_boxes, gt_masks):
        r = self.rois_per_image
        proposals = ops.cast(proposals, "float32")
        class_ids = ops.cast(gt_class_ids, "int32")
        gt_boxes = ops.cast(gt_boxes, "float32")
        gt_masks = ops.cast(gt_masks, "float32")
        batch, num_gt = ops.shape(gt_boxes)[0], gt_boxes.shape[1]
        valid_gt = class_ids > 0  # [B,G]
        cand = ops.concatenate([proposals, gt_boxes], axis=1)  # [B,C,4], C = P + G
        prop_valid = (proposals[..., 2] > proposals[..., 0]) & (proposals[..., 3] > proposals[..., 1])
        cand_valid = ops.concatenate([prop_valid, valid_gt], axis=1)  # [B,C]
        iou = ops.where(valid_gt[:, None, :], batched_iou(cand, gt_boxes), -1.0)  # [B,C,G]
        max_iou = ops.max(iou, axis=2)
        assign = ops.cast(ops.argmax(iou, axis=2), "int32")  # [B,C]
        positive = cand_valid & (max_iou >= self.positive_iou)
        negative = cand_valid & (max_iou < self.negative_iou) & ops.logical_not(positive)

        # Random subsets: the largest uniform keys among the positives / negatives.
        num_cand = cand.shape[1]
        keys = keras.random.uniform(ops.shape(positive), minval=1.0, maxval=2.0,
                                    seed=self.seed_generator)
        k_pos = max(1, min(self.max_positives, num_cand))
        pos_key, pos_idx = ops.top_k(ops.where(positive, keys, 0.0), k=k_pos)  # [B,k_pos]
        neg_key, neg_idx = ops.top_k(ops.where(negative, keys, 0.0), k=min(r, num_cand))
        n_pos = ops.minimum(ops.sum(ops.cast(pos_key > 0, "int32"), axis=1), self.max_positives)
        n_neg = ops.minimum(ops.sum(ops.cast(neg_key > 0, "int32"), axis=1), r - n_pos)  # [B]

        rows = ops.arange(r, dtype="int32")[None, :]  # [1,R]
        n_pos, n_neg = n_pos[:, None], n_neg[:, None]
        is_pos = rows < n_pos  # [B,R]
        is_neg = (rows >= n_pos) & (rows < n_pos + n_neg)
        pos_slot = ops.minimum(rows, k_pos - 1) + ops.zeros_like(n_pos)
        neg_slot = ops.clip(rows - n_pos, 0, neg_idx.shape[1] - 1)
        pick = ops.where(is_pos, _take_rows(pos_idx, pos_slot), _take_rows(neg_idx, neg_slot))
        rois = ops.where((is_pos | is_neg)[..., None], _take_rows(cand, pick), 0.0)  # [B,R,4]
        gt_of_row = _take_rows(assign, pick)  # [B,R]
        row_gt_boxes = _take_rows(gt_boxes, gt_of_row)  # [B,R,4]
        target_class = ops.where(is_pos, _take_rows(class_ids, gt_of_row), 0)

        # Deltas of positives (unit boxes elsewhere keep log() finite).
        unit = ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0], "float32")
        safe_rois = ops.where(is_pos[..., None], rois, unit)
        safe_gt = ops.where(is_pos[..., None], row_gt_boxes, unit)
        deltas = ops.where(is_pos[..., None], encode_deltas(safe_rois, safe_gt, self.std), 0.0)

        # Masks: positives only occupy rows [0, max_positives).
        mh, mw = self.mask_shape
        m = min(max(self.max_positives, 1), r)
        flat_index = gt_of_row[:, :m] + ops.arange(batch, dtype="int32")[:, None] * num_gt
        masks = crop_mini_masks(ops.reshape(gt_masks, (-1,) + tuple(gt_masks.shape[2:])),
                                ops.reshape(safe_gt[:, :m], (-1, 4)),
                                ops.reshape(safe_rois[:, :m], (-1, 4)),
                                ops.reshape(flat_index, (-1,)), self.mask_shape)
        masks = ops.reshape(ops.cast(masks >= 0.5, "float32"), (batch, m, mh, mw))
        masks = ops.where(is_pos[:, :m, None, None], masks, 0.0)
        if m < r:
            masks = ops.pad(masks, [[0, 0], [0, r - m], [0, 0], [0, 0]])
        outs = (rois, ops.cast(target_class, "int32"), deltas, masks)
        return tuple(ops.stop_gradient(o) for o in outs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rois_per_image=self.rois_per_image,
                      positive_fraction=self.positive_fraction,
                      positive_iou=self.positive_iou, negative_iou=self.negative_iou,
                      mask_shape=list(self.mask_shape), std=list(self.std), seed=self.seed)
        return config
