"""ImageNet input preprocessing of the keras.applications families, as a function and a layer.

The backbones of :mod:`common.backbones` put :class:`Preprocess` inside the model, so
every model takes images ``[B,H,W,3]`` in 0..255 whatever its family.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = ["MODES", "Preprocess", "check_mode", "preprocess_images"]


_IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)  # caffe mode, after RGB->BGR
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("caffe", "tf", "torch")  #: the modes of ``keras.applications.imagenet_utils``


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"Unknown preprocess mode {mode!r}; expected one of {MODES}")


def preprocess_images(x: Any, mode: str) -> Any:
    """Applies keras.applications-style ImageNet preprocessing.

    Matches ``keras.applications.<family>.preprocess_input`` for channels-last
    RGB input.

    Args:
        x: images ``[..., H, W, 3]`` RGB in 0..255, a numpy array or a tensor.
        mode: ``"caffe"`` (RGB->BGR, subtract the BGR ImageNet mean; ResNet),
            ``"tf"`` (scale to -1..1; MobileNet v1/v2) or ``"torch"``
            (scale to 0..1, then ImageNet mean/std; DenseNet).

    Returns:
        float32 ``[..., H, W, 3]``: numpy in, numpy out; otherwise a tensor.
    """
    check_mode(mode)
    if isinstance(x, (np.ndarray, list, tuple, int, float)):
        x = np.asarray(x, dtype=np.float32)
        flip = lambda t: t[..., ::-1]  # noqa: E731
    else:
        x = ops.cast(x, "float32")
        flip = lambda t: ops.flip(t, axis=-1)  # noqa: E731
    if mode == "caffe":
        return flip(x) - np.asarray(_IMAGENET_MEAN_BGR, np.float32)
    if mode == "tf":
        return x / np.float32(127.5) - np.float32(1.0)
    return (x / np.float32(255.0) - np.asarray(_TORCH_MEAN, np.float32)) / np.asarray(
        _TORCH_STD, np.float32
    )


@keras.saving.register_keras_serializable(package="dsb")
class Preprocess(keras.layers.Layer):
    """Family-specific ImageNet preprocessing as a layer (no weights).

    Input ``[B,H,W,3]`` float RGB in 0..255; output float32 ``[B,H,W,3]``.
    """

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_mode(mode)
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        return preprocess_images(inputs, self.mode)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}
