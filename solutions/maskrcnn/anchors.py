"""Anchor boxes for a feature pyramid (P2..P6).

Conventions (see ``GEOMETRY.md``):

- Boxes ``(y1, x1, y2, x2)`` float32 in pixels of the padded input.
- One scale per level: ``scales[i]`` goes with ``strides[i]``.
- Ratio ``r = width / height``: ``h = scale / sqrt(r)``, ``w = scale * sqrt(r)``.
- A level with stride ``s`` has a ``ceil(H / s) x ceil(W / s)`` feature map; the anchor
  grid samples it every ``anchor_stride`` cells, so the grid is
  ``ceil(ceil(H / s) / anchor_stride)`` rows. Grid cell ``(y, x)`` is centred at
  ``((y * anchor_stride + 0.5) * s, (x * anchor_stride + 0.5) * s)``, the centre of the
  input pixels the feature cell covers.

Order: level by level (P2 first), then row-major over the grid ``(y, x)``, then over
ratios. That is exactly an RPN head output ``[B, h_l, w_l, len(ratios) * k]`` reshaped to
``[B, h_l * w_l * len(ratios), k]`` and concatenated over levels in the same order.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DEFAULT_SCALES = (8, 16, 32, 64, 128)
DEFAULT_RATIOS = (0.5, 1, 2)
DEFAULT_STRIDES = (4, 8, 16, 32, 64)


def anchors_per_location(ratios: Sequence[float] = DEFAULT_RATIOS) -> int:
    """Number of anchors per grid position (one per ratio)."""
    return len(ratios)


def level_shapes(image_shape: Sequence[int], strides: Sequence[int] = DEFAULT_STRIDES,
                 anchor_stride: int = 1) -> list[tuple[int, int]]:
    """Anchor grid size of every level.

    Args:
        image_shape: ``(H, W)`` of the padded input (extra trailing dims ignored).
        strides: feature stride of each level.
        anchor_stride: sample the feature map every this many cells.

    Returns:
        ``[(h_l, w_l), ...]``, one per level.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    out = []
    for s in strides:
        fh, fw = math.ceil(h / s), math.ceil(w / s)
        out.append((math.ceil(fh / anchor_stride), math.ceil(fw / anchor_stride)))
    return out


def _level_anchors(grid: tuple[int, int], scale: float, ratios: Sequence[float],
                   stride: int, anchor_stride: int) -> np.ndarray:
    """Anchors of one level, ordered (y, x, ratio): float32 [gh*gw*len(ratios), 4]."""
    r = np.asarray(ratios, np.float64)
    hs = scale / np.sqrt(r)  # [K]
    ws = scale * np.sqrt(r)
    cy = (np.arange(grid[0]) * anchor_stride + 0.5) * stride  # [gh]
    cx = (np.arange(grid[1]) * anchor_stride + 0.5) * stride  # [gw]
    cy = cy[:, None, None]
    cx = cx[None, :, None]
    boxes = np.stack(np.broadcast_arrays(cy - hs / 2, cx - ws / 2, cy + hs / 2, cx + ws / 2),
                     axis=-1)  # [gh, gw, K, 4]
    return boxes.reshape(-1, 4).astype(np.float32)


def generate_anchors(image_shape: Sequence[int], scales: Sequence[float] = DEFAULT_SCALES,
                     ratios: Sequence[float] = DEFAULT_RATIOS,
                     strides: Sequence[int] = DEFAULT_STRIDES,
                     anchor_stride: int = 1) -> np.ndarray:
    """All anchors of the pyramid, in RPN-head order.

    Args:
        image_shape: ``(H, W)`` of the padded input.
        scales: anchor side (pixels) per level, same length as ``strides``.
        ratios: width / height ratios used at every position.
        strides: feature stride per level (P2..P6: 4..64).
        anchor_stride: sample the feature map every this many cells.

    Returns:
        float32 [A,4] with ``A = sum_l h_l * w_l * len(ratios)``.
    """
    if len(scales) != len(strides):
        raise ValueError(f"need one scale per stride, got {len(scales)} scales and "
                         f"{len(strides)} strides")
    grids = level_shapes(image_shape, strides, anchor_stride)
    return np.concatenate([_level_anchors(g, sc, ratios, st, anchor_stride)
                           for g, sc, st in zip(grids, scales, strides)], axis=0)
