"""Whole-image inference: resize (baseline) or reflect-pad to the stride, tiles, TTA.

Untiled images are padded to a multiple of ``predict.pad_multiple`` (default: the
stride); tiles are ``predict.tile_size`` squares, so ``tile_size = pad_multiple = 256``
feeds the network a single input shape (one XLA compile under JAX).

``predict_image(model, image, cfg) -> float32 [H,W,C]`` at the image's original size.
"""

from __future__ import annotations

import cv2
import numpy as np
from keras import ops

# dihedral views: (k rot90, flip left-right)
_VIEWS = {"none": [(0, False)],
          "flip": [(0, False), (0, True), (2, False), (2, True)],
          "d4": [(k, f) for k in range(4) for f in (False, True)]}


def _forward(model, batch: np.ndarray) -> np.ndarray:
    """Run the network on float32 [B,H,W,3] → float32 [B,H,W,C]."""
    return ops.convert_to_numpy(model(batch, training=False)).astype(np.float32)


def pad_to_multiple(image: np.ndarray, stride: int, min_size: int = 0) -> tuple[np.ndarray, tuple]:
    """Reflect-pad [H,W,...] on the bottom/right to multiples of ``stride`` (and >= min_size).

    Returns:
        The padded array and the original ``(H, W)``.
    """
    h, w = image.shape[:2]
    ph = max(-(-h // stride) * stride, min_size) - h
    pw = max(-(-w // stride) * stride, min_size) - w
    pads = ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2)
    return (np.pad(image, pads, mode="reflect") if ph or pw else image), (h, w)


def _ramp(size: int, overlap: int) -> np.ndarray:
    """1-D blending weights: linear ramps of ``overlap`` pixels at both ends."""
    w = np.ones(size, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 1) / (overlap + 1)
        w[:overlap], w[-overlap:] = ramp, ramp[::-1]
    return w


def _tile_starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def predict_native(model, image: np.ndarray, stride: int, tile_size: int = 1024,
                   overlap: int = 64, pad_multiple: int = 0) -> np.ndarray:
    """Predict one image at native resolution.

    Args:
        model: Maps float32 [B,H,W,3] (0..255) to [B,H,W,C].
        image: uint8/float [H,W,3].
        stride: Network stride; the image is reflect-padded to a multiple of it.
        tile_size: Above this side length the image is split into overlapping tiles.
        overlap: Tile overlap in pixels (blended with linear ramps).
        pad_multiple: An untiled image is padded to a multiple of this instead of ``stride``
            (0: ``stride``), which buckets input shapes (one XLA compile per shape under JAX).

    Returns:
        float32 [H,W,C].
    """
    x = np.asarray(image, np.float32)
    h, w = x.shape[:2]
    if max(h, w) <= tile_size:
        padded, _ = pad_to_multiple(x, pad_multiple or stride)
        return _forward(model, padded[None])[0, :h, :w]
    padded, _ = pad_to_multiple(x, stride, min_size=tile_size)
    ph, pw = padded.shape[:2]
    th, tw = min(tile_size, ph), min(tile_size, pw)
    acc = None
    weight = np.zeros((ph, pw, 1), np.float32)
    win = (_ramp(th, overlap)[:, None] * _ramp(tw, overlap)[None, :])[..., None]
    for y in _tile_starts(ph, th, th - overlap):
        for x0 in _tile_starts(pw, tw, tw - overlap):
            out = _forward(model, padded[None, y:y + th, x0:x0 + tw])[0]
            if acc is None:
                acc = np.zeros((ph, pw, out.shape[-1]), np.float32)
            acc[y:y + th, x0:x0 + tw] += out * win
            weight[y:y + th, x0:x0 + tw] += win
    return (acc / np.maximum(weight, 1e-6))[:h, :w]


def predict_resized(model, image: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size``, predict, resize the maps back (bilinear).

    Returns:
        float32 [H,W,C] at the original size.
    """
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if h > size and w > size else cv2.INTER_LINEAR
    small = cv2.resize(np.asarray(image, np.uint8), (size, size), interpolation=interp)
    out = _forward(model, small[None].astype(np.float32))[0]
    big = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return big.reshape(h, w, -1).astype(np.float32)


def predict_image(model, image: np.ndarray, cfg, tta: str | None = None) -> np.ndarray:
    """Predict one image as the config says, averaging over TTA views.

    Args:
        model: The trained network.
        image: uint8 [H,W,3].
        cfg: :class:`~solutions.unet.config.UNetConfig`.
        tta: ``"none"``, ``"flip"`` or ``"d4"`` (default ``cfg.predict.tta``).

    Returns:
        float32 [H,W,C] maps in 0..1 at the original size.
    """
    tta = tta or cfg.predict.tta
    if tta not in _VIEWS:
        raise ValueError(f"unknown TTA {tta!r}; choose one of {list(_VIEWS)}")

    def once(img: np.ndarray) -> np.ndarray:
        if cfg.model.kind == "baseline":
            return predict_resized(model, img, cfg.data.input_size)
        return predict_native(model, img, cfg.model.stride, cfg.predict.tile_size, cfg.predict.tile_overlap,
                              cfg.predict.pad_multiple)

    total = None
    for k, flip in _VIEWS[tta]:
        view = np.rot90(image, k)
        view = np.ascontiguousarray(view[:, ::-1] if flip else view)
        out = once(view)
        out = out[:, ::-1] if flip else out
        out = np.rot90(out, -k)
        total = out if total is None else total + out
    return np.ascontiguousarray(total / len(_VIEWS[tta]), dtype=np.float32)
