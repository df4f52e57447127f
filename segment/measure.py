"""Per-nucleus measurements, outlines and polygons of a label image.

``measure(labels, intensity, scores)`` is one row per nucleus from
``skimage.measure.regionprops_table``: ``label, centroid_y, centroid_x, area, perimeter,
eccentricity, solidity, intensity_mean, intensity_min, intensity_max, score``. The
intensities are measured on the image as given (a 16-bit image keeps its 16-bit values);
a colour image gets one column per channel (``intensity_mean_0`` ..). Polygons
(``polygons``) come from ``cv2.findContours`` on each nucleus' bounding box, in pixel-edge
coordinates (x, y), so a one-pixel nucleus is a unit square.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = ["COLUMNS", "measure", "outlines", "polygons"]

COLUMNS = ("label", "centroid_y", "centroid_x", "area", "perimeter", "eccentricity", "solidity",
           "intensity_mean", "intensity_min", "intensity_max", "score")
_PROPS = ("label", "centroid", "area", "perimeter", "eccentricity", "solidity",
          "intensity_mean", "intensity_min", "intensity_max")


def _intensity(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """[H,W] or [H,W,C] intensities (alpha dropped) matching the labels' shape."""
    image = np.asarray(image)
    if image.shape[:2] != tuple(shape):
        raise ValueError(f"intensity image {image.shape[:2]} and labels {tuple(shape)} differ in size")
    if image.ndim == 3 and image.shape[2] in (2, 4):  # gray + alpha, RGBA
        image = image[:, :, :image.shape[2] - 1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def measure(labels: np.ndarray, intensity: np.ndarray, scores: np.ndarray | None = None) -> pd.DataFrame:
    """One row per nucleus (see the module docstring).

    Args:
        labels: int [H,W], 0 = background, nuclei 1..N.
        intensity: [H,W] or [H,W,C] image measured for the intensity columns.
        scores: float [N] (``scores[i]`` of label ``i + 1``), or None.

    Returns:
        DataFrame with :data:`COLUMNS` (per-channel intensity columns for colour images).
    """
    from skimage.measure import regionprops_table

    image = _intensity(intensity, labels.shape)
    table = pd.DataFrame(regionprops_table(np.asarray(labels), intensity_image=image, properties=_PROPS))
    table = table.rename(columns=lambda c: {"centroid-0": "centroid_y", "centroid-1": "centroid_x"}.get(
        c, c.replace("-", "_")))
    n = len(table)
    sc = np.full(n, np.nan, np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
    if n and sc.size >= int(table["label"].max()):
        table["score"] = sc[table["label"].to_numpy() - 1]
    else:
        table["score"] = np.full(n, np.nan, np.float32)
    return table


def outlines(labels: np.ndarray, rows: int = 1024) -> np.ndarray:
    """bool [H,W]: nucleus pixels with a 4-neighbour of another label (or background).

    Computed ``rows`` at a time (bounded temporaries for very large images).
    """
    h = labels.shape[0]
    out = np.zeros(labels.shape, bool)
    for r0 in range(0, h, rows):
        lo, hi = max(r0 - 1, 0), min(r0 + rows + 1, h)
        lab = labels[lo:hi]
        edge = np.zeros(lab.shape, bool)
        edge[1:] |= lab[1:] != lab[:-1]
        edge[:-1] |= lab[:-1] != lab[1:]
        edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
        edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
        edge &= lab > 0
        out[r0:min(r0 + rows, h)] = edge[r0 - lo:r0 - lo + min(rows, h - r0)]
    return out


def polygons(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Outline polygon of each nucleus: label -> float [K,2] (x, y) vertices, not closed.

    The outer boundary of the nucleus' largest connected piece, traced on pixel edges
    (``cv2.findContours`` on the mask upsampled 2x, then halved), so vertices lie on pixel
    corners and the polygon encloses the pixels.
    """
    out: dict[int, np.ndarray] = {}
    for i, sl in enumerate(ndimage.find_objects(labels), 1):
        if sl is None:
            continue
        mask = (labels[sl] == i).astype(np.uint8)
        big = np.kron(mask, np.ones((2, 2), np.uint8))  # pixel (r, c) -> 2x2 block
        big = np.pad(big, 1)
        contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            continue
        c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
        # boundary sub-pixel 2r+1 is pixel r's top/left edge (corner r), 2r+2 its bottom/right (r+1)
        pts = np.floor(c / 2.0)
        pts = pts[np.any(pts != np.roll(pts, 1, axis=0), axis=1)] if len(pts) > 1 else pts  # no repeats
        pts[:, 0] += sl[1].start
        pts[:, 1] += sl[0].start
        out[i] = pts
    return out

