"""Losses and metrics of both U-Nets, in ``keras.ops`` (backend-agnostic).

``y_true`` and ``y_pred`` are ``[B,H,W,C]`` maps in 0..1 (``y_pred`` after sigmoid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

_EPS = 1e-6


def _soft_overlap(y_true, y_pred):
    """Per-sample, per-channel ``(intersection, sum_true + sum_pred)``: [B,C] each."""
    inter = ops.sum(y_true * y_pred, axis=(1, 2))
    total = ops.sum(y_true, axis=(1, 2)) + ops.sum(y_pred, axis=(1, 2))
    return inter, total


def soft_dice(y_true, y_pred, smooth: float = 1.0):
    """Soft dice coefficient, [B,C]."""
    inter, total = _soft_overlap(y_true, y_pred)
    return (2.0 * inter + smooth) / (total + smooth)


def soft_iou(y_true, y_pred, smooth: float = 1.0):
    """Soft Jaccard index, [B,C]."""
    inter, total = _soft_overlap(y_true, y_pred)
    return (inter + smooth) / (total - inter + smooth)


def pixel_bce(y_true, y_pred):
    """Binary cross-entropy averaged over pixels, [B,C]."""
    p = ops.clip(y_pred, _EPS, 1.0 - _EPS)
    bce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.mean(bce, axis=(1, 2))


@keras.saving.register_keras_serializable(package="dsb_unet")
class SegmentationLoss(keras.losses.Loss):
    """Per-channel segmentation loss, weighted over channels.

    Args:
        mode: ``"dice"`` (1 - soft dice), ``"iou"`` (1 - soft Jaccard), ``"bce"`` or
            ``"bce_dice"`` (``bce_weight * BCE + dice_weight * (1 - dice)``).
        channel_weights: One weight per channel (empty: all 1).
        bce_weight: Weight of BCE in ``bce_dice``.
        dice_weight: Weight of the dice term in ``bce_dice``.
        smooth: Smoothing of dice / IoU.

    Returns (call):
        float [B]: the per-sample loss.
    """

    def __init__(self, mode: str = "bce_dice", channel_weights: Sequence[float] = (),
                 bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0,
                 name: str | None = None, **kwargs: Any) -> None:
        if mode not in ("dice", "iou", "bce", "bce_dice"):
            raise ValueError(f"unknown loss mode {mode!r}")
        super().__init__(name=name or f"{mode}_loss", **kwargs)
        self.mode = mode
        self.channel_weights = tuple(float(w) for w in channel_weights)
        self.bce_weight, self.dice_weight, self.smooth = bce_weight, dice_weight, smooth

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        if self.mode == "dice":
            per_channel = 1.0 - soft_dice(y_true, y_pred, self.smooth)
        elif self.mode == "iou":
            per_channel = 1.0 - soft_iou(y_true, y_pred, self.smooth)
        elif self.mode == "bce":
            per_channel = pixel_bce(y_true, y_pred)
        else:
            per_channel = (self.bce_weight * pixel_bce(y_true, y_pred)
                           + self.dice_weight * (1.0 - soft_dice(y_true, y_pred, self.smooth)))
        if self.channel_weights:
            weights = ops.convert_to_tensor(self.channel_weights, "float32")
            return ops.sum(per_channel * weights, axis=-1)
        return ops.sum(per_channel, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode, "channel_weights": list(self.channel_weights),
                "bce_weight": self.bce_weight, "dice_weight": self.dice_weight, "smooth": self.smooth}


def _hard(y_true, y_pred):
    t = ops.cast(y_true[..., :1] > 0.5, "float32")
    p = ops.cast(ops.cast(y_pred[..., :1], "float32") > 0.5, "float32")
    return t, p


def dice_metric(y_true, y_pred):
    """Hard dice of the first (body) channel at 0.5, per sample [B]."""
    t, p = _hard(y_true, y_pred)
    return soft_dice(t, p, smooth=_EPS)[:, 0]


def iou_metric(y_true, y_pred):
    """Hard IoU of the first (body) channel at 0.5, per sample [B]."""
    t, p = _hard(y_true, y_pred)
    return soft_iou(t, p, smooth=_EPS)[:, 0]


def build_loss(loss_cfg) -> SegmentationLoss:
    """The loss a :class:`~solutions.unet.config.LossConfig` describes."""
    return SegmentationLoss(loss_cfg.name, loss_cfg.channel_weights, loss_cfg.bce_weight,
                            loss_cfg.dice_weight)


def build_metrics(loss_cfg) -> list:
    """``[metric]`` named ``dice`` or ``iou`` as configured."""
    fn = dice_metric if loss_cfg.metric == "dice" else iou_metric
    return [keras.metrics.MeanMetricWrapper(fn, name=loss_cfg.metric)]
