"""Image decoding: any image file to uint8 ``[H,W,3]`` RGB, with errors naming the file.

Gray becomes 3 equal channels, alpha is dropped, BGR(A) becomes RGB, and non-uint8 data
(16-bit, float) is rescaled linearly from the image's own range. ``png_shape`` reads a
PNG's size from its header without decoding it. ``read_any_image`` also reads TIFF and
OME-TIFF (``tifffile``) and picks one channel of a multi-channel image. Bad files raise
:class:`DataError`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

__all__ = ["DataError", "to_rgb_uint8", "read_image", "read_unchanged", "png_shape", "read_any_image",
           "read_raw_image", "raw_to_rgb_uint8"]

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


TIFF_SUFFIXES = (".tif", ".tiff")


def _read_tiff(path: Path) -> tuple[np.ndarray, bool]:
    """A TIFF's first series as [Y,X] or [Y,X,C] (channels last, in file order).

    Returns:
        The array, and whether its channels are separate planes (axis ``C``, e.g.
        fluorescence stains) rather than colour samples (``S``: RGB, RGBA).

    Raises:
        DataError: unreadable file, or more than one plane (Z stack, time series).
    """
    import logging

    import tifffile

    logging.getLogger("tifffile").setLevel(logging.ERROR)  # its warnings repeat our one line
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            array, axes = series.asarray(), series.axes
    except Exception as err:  # tifffile raises many types for a corrupt file
        raise DataError(f"{path}: cannot read TIFF, corrupt or not a TIFF ({' '.join(str(err).split()) or type(err).__name__})") from None
    keep = [i for i, a in enumerate(axes) if a in "YXSC" or array.shape[i] > 1]
    array = array.squeeze(tuple(i for i in range(array.ndim) if i not in keep))
    axes = "".join(axes[i] for i in keep)
    if set(axes) - set("YXSC") or axes.count("S") + axes.count("C") > 1:
        raise DataError(f"{path}: {array.ndim}-D TIFF with axes {axes} {array.shape}; "
                        "give a single 2-D plane (gray, RGB or channels)")
    order = [axes.index("Y"), axes.index("X")] + [i for i, a in enumerate(axes) if a in "SC"]
    return np.transpose(array, order), "C" in axes


def read_raw_image(path: str | Path, channel: int | None = None) -> np.ndarray:
    """Read PNG/JPEG (OpenCV) or TIFF/OME-TIFF (``tifffile``) with its own values.

    Args:
        path: The image file.
        channel: Keep only this channel (0-based, RGB order for colour images).
            Needed for TIFFs of 2 or more than 3 separate channels and for images of
            more than 4 channels.

    Returns:
        [H,W] (gray or the chosen channel) or [H,W,C] (C = 2 gray + alpha, 3 RGB, 4 RGBA),
        in the file's dtype.

    Raises:
        DataError: missing, corrupt or unsupported file (dtype, channels, dimensions).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file is missing")
    if path.suffix.lower() in TIFF_SUFFIXES:
        array, planes = _read_tiff(path)  # channels in file (RGB) order
    else:
        planes = False
        array = read_unchanged(path)
        if array.ndim == 3 and array.shape[2] >= 3:  # OpenCV's BGR(A) -> RGB(A)
            array = array[:, :, [2, 1, 0, 3][:array.shape[2]]]
    if array.dtype.kind not in "uifb":
        raise DataError(f"{path}: unsupported pixel type {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DataError(f"{path}: the image holds NaN or infinite values")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if channel is not None:
        n = 1 if array.ndim == 2 else array.shape[2]
        if not 0 <= channel < n:
            raise DataError(f"{path}: --channel {channel} but the image has {n} channel(s)")
        array = array if array.ndim == 2 else array[:, :, channel]
    elif array.ndim == 3 and (array.shape[2] > 4 or (planes and array.shape[2] != 3)):
        raise DataError(f"{path}: {array.shape[2]} channels; choose one with --channel K")
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise DataError(f"{path}: unsupported image shape {array.shape}")
    return np.ascontiguousarray(array)


def raw_to_rgb_uint8(array: np.ndarray, source: str | Path = "<array>") -> np.ndarray:
    """[H,W] or RGB(A)-ordered [H,W,C] of any dtype -> uint8 [H,W,3] RGB (:func:`to_rgb_uint8`)."""
    if array.ndim == 3 and array.shape[2] >= 3:  # to OpenCV's order, which to_rgb_uint8 expects
        array = array[:, :, [2, 1, 0, 3][:array.shape[2]]]
    if array.ndim == 2 and array.dtype != np.uint8:  # rescale one plane, not three copies
        array = _rescale_to_uint8(array)
    return to_rgb_uint8(np.ascontiguousarray(array), source)


def read_any_image(path: str | Path, channel: int | None = None) -> np.ndarray:
    """:func:`read_raw_image` as uint8 [H,W,3] RGB (16-bit and float rescaled from the
    image's own range, as :func:`to_rgb_uint8`)."""
    return raw_to_rgb_uint8(read_raw_image(path, channel), path)
