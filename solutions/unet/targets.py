"""Training targets of the watershed U-Net, made from instance labels.

For int labels ``[H,W]`` (0 = background, 1..N nuclei):

* ``body``: 1 inside any nucleus;
* ``border``: the inner contour of every nucleus, ``border_width`` pixels wide
  (where two nuclei touch, both contours meet, so ``body - border`` splits them);
* ``centre``: the distance to the nucleus' own contour, normalised to 1 at the
  nucleus' innermost pixel (0 on the background);
* ``touch``: where nuclei touch or nearly touch: every pixel (nucleus or gap) within
  ``border_width`` pixels of two different nuclei: a few pixels per contact, far fewer than
  ``border``'s, so a channel of its own (with its own dice term) weights the contacts where
  dense tissue is under-split (the DSB winners' third map). Off by default: at 30 minutes on
  two group folds it gained nothing once thresholds were tuned
  (``bench/results/split30_cpu_20261203/``).

All vectorised (scikit-image, OpenCV, ``scipy.ndimage``); no per-pixel loops.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage
from skimage.segmentation import find_boundaries

from common.predictions import relabel_sequential
from solutions.unet.config import CHANNELS

_KERNEL = np.ones((3, 3), np.uint8)


def body_map(labels: np.ndarray) -> np.ndarray:
    """float32 [H,W]: 1 inside nuclei."""
    return (labels > 0).astype(np.float32)


def border_map(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """float32 [H,W]: inner contours of the nuclei, ``width`` pixels wide.

    Args:
        labels: int [H,W] instance labels.
        width: Contour width in pixels (>= 1).
    """
    fg = labels > 0
    edge = find_boundaries(labels, connectivity=1, mode="inner", background=0) & fg
    if width > 1:
        edge = cv2.dilate(edge.astype(np.uint8), _KERNEL, iterations=width - 1).astype(bool) & fg
    return edge.astype(np.float32)


def centre_map(labels: np.ndarray) -> np.ndarray:
    """float32 [H,W]: per-nucleus distance to its contour, scaled to max 1.

    Args:
        labels: int [H,W] instance labels.
    """
    labels = np.asarray(labels)
    fg = labels > 0
    n = int(labels.max(initial=0))
    if n == 0:
        return np.zeros(labels.shape, np.float32)
    edge = find_boundaries(labels, connectivity=1, mode="inner", background=0)
    inner = (fg & ~edge).astype(np.uint8)
    dist = cv2.distanceTransform(inner, cv2.DIST_L2, 3).astype(np.float32) + fg
    peak = np.ones(n + 1, np.float32)
    peak[1:] = np.maximum(ndimage.maximum(dist, labels, index=np.arange(1, n + 1)), 1.0)
    return np.where(fg, dist / peak[labels], 0.0).astype(np.float32)


def touch_map(labels: np.ndarray, width: int = 2) -> np.ndarray:
    """float32 [H,W]: 1 within ``width`` pixels (a square window) of two different nuclei.

    Args:
        labels: int [H,W] instance labels.
        width: Window radius in pixels (>= 1).
    """
    labels = relabel_sequential(np.asarray(labels))[0]  # small ids: scipy's cval goes through float
    n = int(labels.max(initial=0))
    if n == 0:
        return np.zeros(labels.shape, np.float32)
    size = 2 * max(int(width), 1) + 1
    none = n + 1  # "no nucleus in the window"
    largest = ndimage.maximum_filter(labels.astype(np.int64), size=size, mode="constant", cval=0)
    smallest = ndimage.minimum_filter(np.where(labels > 0, labels.astype(np.int64), none), size=size,
                                      mode="constant", cval=none)
    return ((smallest != none) & (largest != smallest)).astype(np.float32)


def make_targets(labels: np.ndarray, channels: Sequence[str] = CHANNELS,
                 border_width: int = 2) -> np.ndarray:
    """Stack the requested maps.

    Args:
        labels: int [H,W] instance labels.
        channels: Names from ``KNOWN_CHANNELS`` (``body``, ``border``, ``centre``, ``touch``).
        border_width: Width of the border map and radius of the touch map.

    Returns:
        float32 [H,W,C] in 0..1.
    """
    makers = {"body": body_map, "border": lambda x: border_map(x, border_width), "centre": centre_map,
              "touch": lambda x: touch_map(x, border_width)}
    unknown = [c for c in channels if c not in makers]
    if unknown:
        raise ValueError(f"unknown target channel(s) {unknown}; known: {list(makers)}")
    labels = np.asarray(labels)
    return np.stack([makers[c](labels) for c in channels], axis=-1)
