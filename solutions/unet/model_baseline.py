"""The study's baseline U-Net (semantic nucleus mask).

Exactly: ``len(filters)`` down levels, each two 3x3 ReLU convs (padding ``same``) and a
2x2 max-pool; a centre block of two 3x3 convs with ``centre_filters``; on the way up a
2x2 stride-2 ``Conv2DTranspose`` with half the filters of the block below, concatenation
with the matching down level and two 3x3 convs; a 1x1 sigmoid output. With filters
8, 16, 32, 64 and a 128-filter centre it has 485,817 parameters.

Images (float ``[B,H,W,3]`` in 0..255) are scaled to 0..1 inside the model; ``H`` and
``W`` must be multiples of ``2 ** len(filters)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def _double_conv(x, filters: int, name: str):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          kernel_initializer="he_normal", name=f"{name}_conv{i}")(x)
    return x


def build_baseline_unet(filters: Sequence[int] = (8, 16, 32, 64), centre_filters: int = 128,
                        input_shape: tuple = (None, None, 3), dropout: float = 0.0,
                        name: str = "unet_baseline") -> keras.Model:
    """Build the study's U-Net.

    Args:
        filters: Filters of each down level; the depth is ``len(filters)``.
        centre_filters: Filters of the bottom block.
        input_shape: ``(H, W, 3)``; ``H``/``W`` may be ``None``.
        dropout: Dropout after the centre block (0 = none, as in the study).
        name: Model name.

    Returns:
        A ``keras.Model`` mapping float32 ``[B,H,W,3]`` (0..255) to ``[B,H,W,1]``
        nucleus probabilities (float32).
    """
    images = keras.Input(shape=input_shape, name="images")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(images)
    skips = []
    for level, f in enumerate(filters):
        x = _double_conv(x, f, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _double_conv(x, centre_filters, "centre")
    if dropout > 0:
        x = layers.Dropout(dropout, name="centre_dropout")(x)
    for level in reversed(range(len(filters))):
        up_filters = x.shape[-1] // 2
        x = layers.Conv2DTranspose(up_filters, 2, strides=2, padding="same", name=f"up{level}_tconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
        x = _double_conv(x, filters[level], f"up{level}")
    out = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="body")(x)
    return keras.Model(images, out, name=name)
