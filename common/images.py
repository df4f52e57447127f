"""Image decoding: any image file to uint8 ``[H,W,3]`` RGB, with errors naming the file.

Gray becomes 3 equal channels, alpha is dropped, BGR(A) becomes RGB, and non-uint8 data
(16-bit, float) is rescaled linearly from the image's own range. ``png_shape`` reads a
PNG's size from its header without decoding it. Bad files raise :class:`DataError`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

__all__ = ["DataError", "to_rgb_uint8", "read_image", "read_unchanged", "png_shape"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DataError(ValueError):
    """Bad or missing input data; the message names the offending file."""


def to_rgb_uint8(image: np.ndarray, source: str | Path = "<array>") -> np.ndarray:
    """Convert an array as read by ``cv2.imread(..., IMREAD_UNCHANGED)`` to RGB uint8.

    Gray becomes 3 equal channels, an alpha channel is dropped, BGR(A) becomes RGB.
    Non-uint8 data (16-bit, float) is rescaled linearly from the image's own
    ``[min, max]`` to ``[0, 255]`` (a constant image becomes 0).

    Args:
        image: [H,W], [H,W,1], [H,W,2] (gray + alpha), [H,W,3] BGR or [H,W,4] BGRA.
        source: Name used in error messages.

    Returns:
        uint8 [H,W,3] RGB.

    Raises:
        DataError: on an unsupported number of dimensions or channels.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise DataError(f"{source}: unsupported image shape {image.shape}")
    channels = image.shape[2]
    if channels <= 2:  # gray (+ alpha)
        image = np.repeat(image[:, :, :1], 3, axis=2)
    else:  # BGR(A) -> RGB, alpha dropped
        image = image[:, :, 2::-1]
    if image.dtype != np.uint8:
        image = _rescale_to_uint8(image)
    return np.ascontiguousarray(image)


def _rescale_to_uint8(image: np.ndarray) -> np.ndarray:
    """Linearly map an image's ``[min, max]`` to ``[0, 255]`` (uint8, same shape)."""
    values = image.astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.round((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def png_shape(path: Path) -> tuple[int, int]:
    """(H, W) from a PNG's IHDR chunk, without decoding the pixels."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as err:
        raise DataError(f"{path}: cannot open image file ({err})") from None
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DataError(f"{path}: not a valid PNG file (corrupt or wrong format)")
    width, height = struct.unpack(">II", head[16:24])
    return int(height), int(width)


def read_unchanged(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: image file is missing")
    array = cv2.imread(str(path), flags)
    if array is None or array.size == 0:
        raise DataError(f"{path}: cannot decode image (corrupt PNG or unsupported format)")
    return array


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 [H,W,3] RGB (:func:`to_rgb_uint8`).

    Raises:
        DataError: the file is missing, cannot be decoded or has an unsupported shape.
    """
    path = Path(path)
    return to_rgb_uint8(read_unchanged(path), path)
