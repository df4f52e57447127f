"""Large images: overlapping tiles, predicted one at a time, stitched into one label image.

Tiles and seams (the rule the README states):

1. An image whose longer side is at most ``tile`` is predicted whole (the same result as
   the solution's own ``predict``). A larger one is cut into ``tile`` x ``tile`` tiles
   that overlap by ``overlap`` pixels (the last tile of a row or column is flush with
   the image edge, so it may overlap more).
2. Each tile **owns** a core: the seam between two neighbouring tiles runs through the
   middle of their overlap, so every pixel belongs to exactly one core, and a core lies
   at least ``overlap / 2`` pixels inside its tile wherever there is a neighbour.
3. A nucleus found in a tile is **kept** only when its centroid lies in that tile's core.
   So a nucleus on a seam is taken from the tile where it is farther from the tile border,
   where the network saw it whole (for nuclei narrower than ``overlap / 2``).
4. When a kept nucleus overlaps pixels already taken by a nucleus of a neighbouring tile
   by more than half its own area, it is a **duplicate** and dropped; otherwise it takes
   only the free pixels (the nucleus pasted first keeps the contested ones).
5. At the end, pieces smaller than ``min_area`` pixels are dropped and the labels are
   renumbered 1..N in the order they were pasted (row-major over tiles).

Per-image statistics are per tile: a run's ``percentile``/``gray_invert`` normalisation (with
``data.flatten_background``, its plane too) and the watershed U-Net's input standardisation
(``ImageStandardize``) see one tile at a time.

Memory: the stitched labels are one uint32 [H,W] array; each tile's maps live only while
that tile is predicted, so a 10k x 10k image never has a full-size float map. Everything
is vectorised (bincount, lookup tables); the loops run over tiles and row chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["axis_tiles", "tile_grid", "Stitcher", "stitch_tiles"]

#: Rows processed at once by the full-image passes (bounds their temporaries).
ROW_CHUNK = 1024


def axis_tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis.

    Returns:
        ``(start, end, core_start, core_end)`` per tile; cores partition ``[0, length)``.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    step = max(1, tile - overlap)
    starts = sorted(set(list(range(0, length - tile, step)) + [length - tile]))
    ends = [s + tile for s in starts]
    bounds = [0] + [(ends[i] + starts[i + 1]) // 2 for i in range(len(starts) - 1)] + [length]
    return [(s, e, bounds[i], bounds[i + 1]) for i, (s, e) in enumerate(zip(starts, ends))]


def tile_grid(shape: tuple[int, int], tile: int, overlap: int) -> list[tuple[tuple, tuple]]:
    """All tiles of an [H,W] image: ``((y0, y1, cy0, cy1), (x0, x1, cx0, cx1))``, row-major."""
    return [(ty, tx) for ty in axis_tiles(shape[0], tile, overlap)
            for tx in axis_tiles(shape[1], tile, overlap)]


class Stitcher:
    """Pastes the instances of tiles into one uint32 [H,W] label image by the module's rule.

    Args:
        shape: (H, W) of the whole image.
    """

    def __init__(self, shape: tuple[int, int]):
        self.labels = np.zeros(shape, np.uint32)
        self._scores: list[np.ndarray] = []
        self._areas: list[np.ndarray] = []
        self.n = 0

    def add(self, labels: np.ndarray, scores: np.ndarray, ty: tuple, tx: tuple) -> int:
        """Paste one tile's instances.

        Args:
            labels: int [h,w] instances 1..n of the tile (0 = background).
            scores: float [n].
            ty, tx: The tile's ``(start, end, core_start, core_end)`` along y and x.

        Returns:
            The number of instances kept.
        """
        (y0, y1, cy0, cy1), (x0, x1, cx0, cx1) = ty, tx
        labels = np.asarray(labels)
        n = int(labels.max(initial=0))
        if n == 0:
            return 0
        flat = labels.ravel().astype(np.intp)
        area = np.bincount(flat, minlength=n + 1)
        rows, cols = np.indices(labels.shape, dtype=np.float64)
        cy = np.bincount(flat, weights=rows.ravel(), minlength=n + 1) / np.maximum(area, 1) + y0
        cx = np.bincount(flat, weights=cols.ravel(), minlength=n + 1) / np.maximum(area, 1) + x0
        in_core = (cy >= cy0 - 0.5) & (cy < cy1 - 0.5) & (cx >= cx0 - 0.5) & (cx < cx1 - 0.5)
        region = self.labels[y0:y1, x0:x1]
        free = region.ravel() == 0
        taken = np.bincount(flat[~free], minlength=n + 1)
        keep = in_core & (area > 0) & (taken * 2 <= area)
        keep[0] = False
        k = int(keep.sum())
        if k == 0:
            return 0
        lut = np.zeros(n + 1, np.uint32)
        lut[keep] = np.arange(self.n + 1, self.n + k + 1, dtype=np.uint32)
        new = lut[flat]
        write = free & (new > 0)
        region[write.reshape(region.shape)] = new[write]  # a view: writes into self.labels
        written = np.bincount(flat[write], minlength=n + 1)
        self._areas.append(written[keep])
        self._scores.append(np.asarray(scores, np.float32).reshape(-1)[np.flatnonzero(keep) - 1])
        self.n += k
        return k

    def finish(self, min_area: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Drop pieces under ``min_area`` pixels and renumber 1..N.

        Returns:
            ``(labels uint32 [H,W], scores float32 [N])``.
        """
        if self.n == 0:
            return self.labels, np.zeros(0, np.float32)
        areas = np.concatenate(self._areas)
        scores = np.concatenate(self._scores)
        keep = areas >= max(int(min_area), 1)
        if keep.all():
            return self.labels, scores
        lut = np.zeros(self.n + 1, np.uint32)
        lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.uint32)
        for r in range(0, self.labels.shape[0], ROW_CHUNK):  # bounded temporaries
            self.labels[r:r + ROW_CHUNK] = lut[self.labels[r:r + ROW_CHUNK]]
        return self.labels, scores[keep]


def stitch_tiles(image: np.ndarray, predict: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 tile: int, overlap: int, min_area: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predict an image tile by tile and stitch the instances (module docstring's rule).

    Args:
        image: uint8 [H,W,3].
        predict: ``predict(tile uint8 [h,w,3]) -> (labels int [h,w], scores float [n])``.
        tile: Tile side in pixels.
        overlap: Overlap between neighbouring tiles in pixels.
        min_area: Stitched pieces smaller than this are dropped.
        progress: Called as ``progress(done, total)`` after each tile.

    Returns:
        ``(labels uint32 [H,W], scores float32 [N])``.
    """
    grid = tile_grid(image.shape[:2], tile, overlap)
    stitcher = Stitcher(image.shape[:2])
    for i, (ty, tx) in enumerate(grid, 1):
        labels, scores = predict(np.ascontiguousarray(image[ty[0]:ty[1], tx[0]:tx[1]]))
        stitcher.add(labels, scores, ty, tx)
        if progress is not None:
            progress(i, len(grid))
    return stitcher.finish(min_area)
