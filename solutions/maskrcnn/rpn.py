"""Region Proposal Network head, shared across the pyramid levels P2..P6.

One 3x3 convolution + ReLU, then two 1x1 convolutions: 2 class logits (background,
object) and 4 box deltas for each of the ``anchors_per_location`` anchors of every
feature cell. Level outputs are flattened in the anchor order of ``anchors.py``
(level, row, column, ratio) and concatenated.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="maskrcnn")
class RPNHead(keras.layers.Layer):
    """Shared RPN head.

    Args:
        anchors_per_location: Anchors per feature cell (one per ratio).
        channels: Width of the shared 3x3 convolution.
        anchor_stride: Stride of the 3x3 convolution (anchors every this many cells).

    Call:
        features: list of ``[B,h_l,w_l,C]`` maps, P2 first.

    Returns:
        (logits [B,A,2] float32, deltas [B,A,4] float32), ``A = sum_l h_l*w_l*k``.
    """

    def __init__(self, anchors_per_location: int = 3, channels: int = 512,
                 anchor_stride: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.anchors_per_location = int(anchors_per_location)
        self.channels = int(channels)
        self.anchor_stride = int(anchor_stride)
        self.shared = keras.layers.Conv2D(self.channels, 3, strides=self.anchor_stride,
                                          padding="same", activation="relu", name="rpn_conv_shared")
        self.class_conv = keras.layers.Conv2D(2 * self.anchors_per_location, 1, name="rpn_class_raw")
        self.bbox_conv = keras.layers.Conv2D(4 * self.anchors_per_location, 1, name="rpn_bbox_pred")

    def build(self, input_shape: Sequence[tuple]) -> None:
        shape = tuple(input_shape[0])
        self.shared.build(shape)
        mid = shape[:-1] + (self.channels,)
        self.class_conv.build(mid)
        self.bbox_conv.build(mid)
        self.built = True

    def call(self, features: Sequence[Any]) -> tuple[Any, Any]:
        logits, deltas = [], []
        for x in features:
            shared = self.shared(x)
            h, w = shared.shape[1], shared.shape[2]
            if h is not None and w is not None:  # static anchor count even if B is dynamic
                shape = (-1, h * w * self.anchors_per_location)
            else:
                shape = (ops.shape(x)[0], -1)
            logits.append(ops.reshape(self.class_conv(shared), shape + (2,)))
            deltas.append(ops.reshape(self.bbox_conv(shared), shape + (4,)))
        logits = ops.cast(ops.concatenate(logits, axis=1), "float32")
        deltas = ops.cast(ops.concatenate(deltas, axis=1), "float32")
        return logits, deltas

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple:
        b = input_shape[0][0]
        return (b, None, 2), (b, None, 4)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "anchors_per_location": self.anchors_per_location,
                "channels": self.channels, "anchor_stride": self.anchor_stride}
