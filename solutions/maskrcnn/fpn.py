"""Feature Pyramid Network (Lin et al. 2017) over a backbone pyramid ``{"P2".."P5"}``.

Lateral 1x1 convolutions bring every backbone level to ``channels``; a top-down pass
adds the 2x nearest-upsampled coarser level; a 3x3 convolution smooths each sum.
P6 is a stride-2 subsample of P5 (used by the RPN only), as in the paper.
"""

from __future__ import annotations

from typing import Any

import keras

LEVELS = ("P2", "P3", "P4", "P5")


@keras.saving.register_keras_serializable(package="maskrcnn")
class FPN(keras.layers.Layer):
    """Top-down feature pyramid.

    Args:
        channels: Output channels of every level.

    Call:
        features: dict ``{"P2": [B,H/4,W/4,C2], ..., "P5": [B,H/32,W/32,C5]}`` (input
            sides multiples of 64, so each level is exactly twice the next).

    Returns:
        dict ``{"P2": [B,H/4,W/4,channels], ..., "P6": [B,H/64,W/64,channels]}``.
    """

    def __init__(self, channels: int = 256, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.lateral = {lvl: keras.layers.Conv2D(self.channels, 1, name=f"fpn_c{lvl[1]}p{lvl[1]}")
                        for lvl in LEVELS}
        self.output_convs = {lvl: keras.layers.Conv2D(self.channels, 3, padding="same",
                                                      name=f"fpn_p{lvl[1]}")
                             for lvl in LEVELS}
        self.upsample = keras.layers.UpSampling2D(2, interpolation="nearest")
        self.subsample = keras.layers.MaxPooling2D(pool_size=1, strides=2, name="fpn_p6")

    def build(self, input_shape: dict) -> None:
        for lvl in LEVELS:
            self.lateral[lvl].build(input_shape[lvl])
            out_shape = tuple(input_shape[lvl][:-1]) + (self.channels,)
            self.output_convs[lvl].build(out_shape)
        self.built = True

    def call(self, features: dict) -> dict:
        top = self.lateral["P5"](features["P5"])
        merged = {"P5": top}
        for lvl in ("P4", "P3", "P2"):
            top = self.lateral[lvl](features[lvl]) + self.upsample(top)
            merged[lvl] = top
        out = {lvl: self.output_convs[lvl](merged[lvl]) for lvl in LEVELS}
        out["P6"] = self.subsample(out["P5"])
        return out

    def compute_output_shape(self, input_shape: dict) -> dict:
        out = {lvl: tuple(input_shape[lvl][:-1]) + (self.channels,) for lvl in LEVELS}
        b, h, w, _ = input_shape["P5"]
        half = lambda n: None if n is None else (n + 1) // 2  # noqa: E731
        out["P6"] = (b, half(h), half(w), self.channels)
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels}
