"""The stronger U-Net (DSB2018 winners' family): body, border and centre maps.

Two encoders:

* ``"plain"``: its own conv encoder (two 3x3 conv + BN + ReLU per level, filters
  ``base_filters * 2**level``, 2x2 max-pool), cheap enough to train on a CPU;
  network stride ``2 ** depth``.
* any name from :func:`common.backbones.list_backbones`: the pyramid ``P2..P5``
  plus a shallow full-resolution path (stride 1 and stride 2 convs on the input),
  decoded at strides 16, 8, 4, 2, 1 with ``decoder_filters``; network stride 32.

Both map float32 images ``[B,H,W,3]`` in 0..255 to sigmoid maps ``[B,H,W,C]``
(float32, ``C = len(channels)``, e.g. body, border, centre).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="dsb_unet")
class ImageStandardize(keras.layers.Layer):
    """Per-image standardisation: ``(x - mean) / max(std, eps)`` over ``H, W, C``.

    Input and output ``[B,H,W,C]``. Makes the plain encoder insensitive to the very
    different brightness of fluorescence, brightfield and histology images.
    """

    def __init__(self, epsilon: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=(1, 2, 3), keepdims=True))
        return (x - mean) / ops.maximum(std, ops.cast(self.epsilon, x.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


def conv_block(x, filters: int, name: str, batch_norm: bool = True, n: int = 2, strides: int = 1,
               bn_momentum: float = 0.9):
    """``n`` x (3x3 conv [+ BN] + ReLU); the first conv may be strided.

    BN momentum 0.9 (not Keras' 0.99) so the moving statistics are usable after the few
    hundred steps of a short CPU training.
    """
    for i in range(n):
        x = layers.Conv2D(filters, 3, strides=strides if i == 0 else 1, padding="same",
                          use_bias=not batch_norm, kernel_initializer="he_normal",
                          name=f"{name}_conv{i + 1}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i + 1}")(x)
    return x


def _up_block(x, skip, filters: int, name: str, batch_norm: bool):
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_up")(x)
    x = layers.Concatenate(name=f"{name}_concat")([x, skip])
    return conv_block(x, filters, name, batch_norm)


def _head(x, n_channels: int):
    return layers.Conv2D(n_channels, 1, activation="sigmoid", dtype="float32", name="maps")(x)


def build_plain_unet(n_channels: int = 3, base_filters: int = 16, depth: int = 4,
                     batch_norm: bool = True, dropout: float = 0.0,
                     input_shape: tuple = (None, None, 3), name: str = "unet_plain") -> keras.Model:
    """Plain-encoder multi-channel U-Net.

    Args:
        n_channels: Output maps ``C``.
        base_filters: Filters at full resolution; doubled per level (capped at 512).
        depth: Number of 2x down-samplings; ``H``, ``W`` must be multiples of ``2**depth``.
        batch_norm: BatchNorm after each conv.
        dropout: Dropout in the bottom block.
        input_shape: ``(H, W, 3)``, ``None`` allowed.
        name: Model name.

    Returns:
        ``keras.Model``: float32 ``[B,H,W,3]`` in 0..255 → ``[B,H,W,C]`` in 0..1.
    """
    images = keras.Input(shape=input_shape, name="images")
    x = ImageStandardize(name="standardize")(images)
    skips = []
    for level in range(depth):
        x = conv_block(x, min(base_filters * 2 ** level, 512), f"enc{level}", batch_norm)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = conv_block(x, min(base_filters * 2 ** depth, 512), "centre", batch_norm)
    if dropout > 0:
        x = layers.Dropout(dropout, name="centre_dropout")(x)
    for level in reversed(range(depth)):
        x = _up_block(x, skips[level], min(base_filters * 2 ** level, 512), f"dec{level}", batch_norm)
    return keras.Model(images, _head(x, n_channels), name=name)


def build_backbone_unet(encoder: str, n_channels: int = 3, weights: str = "none",
                        decoder_filters: Sequence[int] = (128, 64, 32, 16, 16),
                        batch_norm: bool = True, dropout: float = 0.0,
                        input_shape: tuple = (None, None, 3), name: str | None = None) -> keras.Model:
    """U-Net on a ``common.backbones`` encoder (pyramid P2..P5) plus a shallow path.

    Args:
        encoder: A registered backbone name.
        n_channels: Output maps ``C``.
        weights: ``"none"``, ``"imagenet"`` or a weights path.
        decoder_filters: Decoder filters at strides 16, 8, 4, 2, 1.
        batch_norm: BatchNorm in the decoder and shallow path.
        dropout: Dropout on P5.
        input_shape: ``(H, W, 3)``; ``H``, ``W`` multiples of 32.
        name: Model name (default ``unet_<encoder>``).

    Returns:
        ``keras.Model``: float32 ``[B,H,W,3]`` in 0..255 → ``[B,H,W,C]`` in 0..1.
    """
    from common.backbones import build_backbone

    images = keras.Input(shape=input_shape, name="images")
    feats = build_backbone(encoder, input_shape=input_shape, weights=weights)(images)
    shallow = ImageStandardize(name="standardize")(images)
    s1 = conv_block(shallow, decoder_filters[4], "shallow_s1", batch_norm, n=1)
    s2 = conv_block(s1, decoder_filters[3], "shallow_s2", batch_norm, n=2, strides=2)
    x = feats["P5"]
    if dropout > 0:
        x = layers.Dropout(dropout, name="p5_dropout")(x)
    skips = [(feats["P4"], "dec16"), (feats["P3"], "dec8"), (feats["P2"], "dec4"), (s2, "dec2"), (s1, "dec1")]
    for (skip, block), f in zip(skips, decoder_filters):
        x = _up_block(x, skip, f, block, batch_norm)
    return keras.Model(images, _head(x, n_channels), name=name or f"unet_{encoder}")


def build_model(cfg) -> keras.Model:
    """Build the network a :class:`~solutions.unet.config.UNetConfig` describes."""
    m = cfg.model
    if m.kind == "baseline":
        from solutions.unet.model_baseline import build_baseline_unet

        return build_baseline_unet(m.filters, m.centre_filters, dropout=m.dropout)
    if m.encoder == "plain":
        return build_plain_unet(len(m.channels), m.base_filters, m.depth, m.batch_norm, m.dropout)
    return build_backbone_unet(m.encoder, len(m.channels), m.encoder_weights, m.decoder_filters,
                               m.batch_norm, m.dropout)
