"""Second-stage heads of Mask R-CNN: box classifier/regressor and mask head.

Both pool their ROIs from P2..P5 with ``PyramidROIAlign`` (level chosen per box) and
run the same network on every ROI (the ROI axis is folded into the batch axis).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from solutions.maskrcnn.roi_align import PyramidROIAlign

POOL_LEVELS = ("P2", "P3", "P4", "P5")


def _fold(x: Any) -> tuple[Any, Any, Any]:
    """[B,R,...] -> ([B*R,...], B, R)."""
    shape = ops.shape(x)
    return ops.reshape(x, (-1,) + tuple(x.shape[2:])), shape[0], shape[1]


def _pool_features(features: dict) -> dict:
    return {lvl: features[lvl] for lvl in POOL_LEVELS}


@keras.saving.register_keras_serializable(package="maskrcnn")
class ClassifierHead(keras.layers.Layer):
    """ROIAlign 7x7 -> two fully connected layers -> class logits and per-class deltas.

    Args:
        num_classes: Including background.
        pool_size: ROIAlign output side.
        fc_dim: Width of the two hidden layers.

    Call:
        rois: [B,R,4] boxes ``(y1, x1, y2, x2)`` in input pixels.
        features: dict with ``"P2".."P5"`` maps [B,h_l,w_l,C].

    Returns:
        (logits [B,R,num_classes], deltas [B,R,num_classes,4]), float32. Deltas are in
        the normalised (``/ bbox_std``) space of the detection targets.
    """

    def __init__(self, num_classes: int = 2, pool_size: int = 7, fc_dim: int = 1024,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.pool_size, self.fc_dim = int(num_classes), int(pool_size), int(fc_dim)
        self.roi_align = PyramidROIAlign(self.pool_size, name="roi_align_classifier")
        self.flatten = keras.layers.Flatten()
        self.fc1 = keras.layers.Dense(self.fc_dim, activation="relu", name="mrcnn_class_fc1")
        self.fc2 = keras.layers.Dense(self.fc_dim, activation="relu", name="mrcnn_class_fc2")
        self.class_logits = keras.layers.Dense(self.num_classes, name="mrcnn_class_logits")
        self.bbox = keras.layers.Dense(4 * self.num_classes, name="mrcnn_bbox_fc")

    def build(self, rois_shape: tuple, features_shape: dict | None = None) -> None:
        channels = features_shape["P2"][-1] if features_shape else None
        if channels is not None:
            self.fc1.build((None, self.pool_size * self.pool_size * channels))
            self.fc2.build((None, self.fc_dim))
            self.class_logits.build((None, self.fc_dim))
            self.bbox.build((None, self.fc_dim))
        self.built = True

    def call(self, rois: Any, features: dict) -> tuple[Any, Any]:
        pooled = self.roi_align(rois, _pool_features(features))  # [B,R,p,p,C]
        x, batch, n = _fold(pooled)
        x = self.fc2(self.fc1(self.flatten(x)))
        logits = ops.cast(self.class_logits(x), "float32")
        deltas = ops.cast(self.bbox(x), "float32")
        logits = ops.reshape(logits, (batch, n, self.num_classes))
        deltas = ops.reshape(deltas, (batch, n, self.num_classes, 4))
        return logits, deltas

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes,
                "pool_size": self.pool_size, "fc_dim": self.fc_dim}


def _norm_layer(kind: str, channels: int, name: str) -> keras.layers.Layer | None:
    if kind == "gn":
        return keras.layers.GroupNormalization(groups=min(32, channels), name=name)
    if kind == "bn":
        return keras.layers.BatchNormalization(name=name)
    return None


@keras.saving.register_keras_serializable(package="maskrcnn")
class MaskHead(keras.layers.Layer):
    """ROIAlign 14x14 -> 4 x (3x3 conv + norm + ReLU) -> 2x deconv -> per-class mask logits.

    Args:
        num_classes: Including background (channel ``c`` is the mask of class ``c``).
        pool_size: ROIAlign output side; the masks are ``2 * pool_size``.
        channels: Width of the convolutions.
        norm: ``"gn"``, ``"bn"`` or ``"none"``.
        num_convs: Number of 3x3 convolutions.

    Call:
        rois: [B,R,4] boxes in input pixels.
        features: dict with ``"P2".."P5"``.

    Returns:
        float32 logits [B,R,2*pool,2*pool,num_classes] (sigmoid gives the mask).
    """

    def __init__(self, num_classes: int = 2, pool_size: int = 14, channels: int = 256,
                 norm: str = "gn", num_convs: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.pool_size = int(num_classes), int(pool_size)
        self.channels, self.norm, self.num_convs = int(channels), norm, int(num_convs)
        self.roi_align = PyramidROIAlign(self.pool_size, name="roi_align_mask")
        self.convs, self.norms = [], []
        for i in range(self.num_convs):
            self.convs.append(keras.layers.Conv2D(self.channels, 3, padding="same",
                                                  name=f"mrcnn_mask_conv{i + 1}"))
            self.norms.append(_norm_layer(norm, self.channels, f"mrcnn_mask_{norm}{i + 1}"))
        self.deconv = keras.layers.Conv2DTranspose(self.channels, 2, strides=2, activation="relu",
                                                   name="mrcnn_mask_deconv")
        self.out_conv = keras.layers.Conv2D(self.num_classes, 1, name="mrcnn_mask")

    def build(self, rois_shape: tuple, features_shape: dict | None = None) -> None:
        channels = features_shape["P2"][-1] if features_shape else None
        if channels is not None:
            p = self.pool_size
            shape = (None, p, p, channels)
            for conv, norm in zip(self.convs, self.norms):
                conv.build(shape)
                shape = (None, p, p, self.channels)
                if norm is not None:
                    norm.build(shape)
            self.deconv.build(shape)
            self.out_conv.build((None, 2 * p, 2 * p, self.channels))
        self.built = True

    def call(self, rois: Any, features: dict, training: bool | None = None) -> Any:
        pooled = self.roi_align(rois, _pool_features(features))  # [B,R,p,p,C]
        x, batch, n = _fold(pooled)
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = ops.relu(x)
        x = self.out_conv(self.deconv(x))
        side = 2 * self.pool_size
        return ops.reshape(ops.cast(x, "float32"), (batch, n, side, side, self.num_classes))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes,
                "pool_size": self.pool_size, "channels": self.channels, "norm": self.norm,
                "num_convs": self.num_convs}
