"""Kaggle run-length encoding (RLE) of instance masks.

Format: ``"start length start length ..."`` where ``start`` is a 1-indexed pixel
position in the image flattened in column-major (Fortran) order, i.e. pixel
``(y, x)`` of an ``[H,W]`` image has position ``x * H + y + 1``. Runs are sorted,
lengths are positive, and runs never overlap. An empty mask encodes as ``""``.

All functions are vectorised numpy: there is no per-pixel Python loop, and
:func:`labels_to_rles` encodes every instance of a label image in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import re

import numpy as np

__all__ = [
    "rle_encode",
    "rle_decode",
    "rle_to_runs",
    "runs_to_rle",
    "labels_to_rles",
    "rles_to_labels",
]


_INT_TOKEN = re.compile(r"[+-]?[0-9]{1,18}")


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or int(shape[0]) <= 0 or int(shape[1]) <= 0:
        raise ValueError(f"shape must be (H, W) with H, W > 0, got {tuple(shape)!r}")
    return int(shape[0]), int(shape[1])


def runs_to_rle(starts: np.ndarray, lengths: np.ndarray) -> str:
    """Format runs as an RLE string.

    Args:
        starts: int [R] 1-indexed run starts.
        lengths: int [R] run lengths.

    Returns:
        ``"s1 l1 s2 l2 ..."``, or ``""`` when there are no runs.
    """
    pairs = np.empty(2 * len(starts), dtype=np.int64)
    pairs[0::2] = starts
    pairs[1::2] = lengths
    return " ".join(map(str, pairs.tolist()))


def rle_encode(mask: np.ndarray) -> str:
    """Encode one binary mask.

    Args:
        mask: bool (or 0/1) [H,W] mask.

    Returns:
        The Kaggle RLE string; ``""`` for an empty mask.

    Raises:
        ValueError: if ``mask`` is not 2-D.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"rle_encode expects a 2-D [H,W] mask, got shape {mask.shape}")
    h = mask.shape[0]
    if mask.flags.c_contiguous and not mask.flags.f_contiguous:
        # Sparse path, O(H*W) scan + O(K log K) in the K set pixels: find set pixels
        # in C order, convert to column-major positions and sort (no transposed copy).
        idx = np.flatnonzero(mask)
        if idx.size * 16 < mask.size:
            y, x = np.divmod(idx, mask.shape[1])
            pos = np.sort(x * h + y)
            breaks = np.flatnonzero(np.diff(pos) != 1)
            starts = pos[np.concatenate(([0], breaks + 1))] if pos.size else pos
            ends = pos[np.concatenate((breaks, [pos.size - 1]))] + 1 if pos.size else pos
            return runs_to_rle(starts + 1, ends - starts)
    flat = np.zeros(mask.size + 2, dtype=np.int8)
    flat[1:-1] = mask.ravel(order="F") != 0
    edges = np.flatnonzero(np.diff(flat))  # 0-indexed starts (even) and ends+1 (odd)
    starts, ends = edges[0::2], edges[1::2]
    return runs_to_rle(starts + 1, ends - starts)


def rle_to_runs(
    rle: str | float | None, shape: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Parse and validate an RLE string.

    Args:
        rle: RLE string. ``""``, whitespace, ``None`` or NaN (an empty CSV cell)
            mean an empty mask.
        shape: ``(H, W)``; when given, runs must also lie inside the image.

    Returns:
        ``(starts, lengths)``: int64 [R] each, starts 1-indexed.

    Raises:
        ValueError: on non-integer tokens, an odd count, starts < 1, lengths < 1,
            unsorted or overlapping runs, or runs past the image end.
    """
    if rle is None or (isinstance(rle, float) and np.isnan(rle)):
        rle = ""
    if not isinstance(rle, str):
        raise ValueError(f"RLE must be a string, got {type(rle).__name__}")
    tokens = rle.split()
    bad = [tok for tok in tokens if not _INT_TOKEN.fullmatch(tok)]
    if bad:
        raise ValueError(f"RLE has a non-integer token {bad[0]!r}")
    values = np.array(tokens, dtype=np.str_).astype(np.int64) if tokens else np.zeros(0, np.int64)
    if values.size % 2:
        raise ValueError(f"RLE has an odd number of values ({values.size}); expected start/length pairs")
    starts, lengths = values[0::2], values[1::2]
    if np.any(starts < 1):
        raise ValueError(f"RLE start {int(starts[starts < 1][0])} < 1 (starts are 1-indexed)")
    if np.any(lengths < 1):
        raise ValueError(f"RLE run length {int(lengths[lengths < 1][0])} is not positive")
    ends = starts + lengths  # exclusive, 1-indexed
    bad = np.flatnonzero(starts[1:] < ends[:-1])
    if bad.size:
        i = int(bad[0])
        what = "unsorted" if starts[i + 1] < starts[i] else "overlapping"
        raise ValueError(
            f"RLE runs are {what}: run {i} ({starts[i]} {lengths[i]}) "
            f"then run {i + 1} ({starts[i + 1]} {lengths[i + 1]})"
        )
    if shape is not None and values.size:
        h, w = _check_shape(shape)
        if ends[-1] - 1 > h * w:
            raise ValueError(
                f"RLE run ({starts[-1]} {lengths[-1]}) ends at pixel {ends[-1] - 1}, "
                f"past the image end {h * w} for shape ({h}, {w})"
            )
    return starts, lengths


def _runs_to_flat(starts: np.ndarray, lengths: np.ndarray, size: int) -> np.ndarray:
    """bool [size] with the (validated) runs set; O(set pixels) after the zeroing."""
    flat = np.zeros(size, dtype=bool)
    flat[np.repeat(starts - 1, lengths) + _ranges(lengths)] = True
    return flat


def rle_decode(rle: str | float | None, shape: Sequence[int]) -> np.ndarray:
    """Decode one RLE string.

    Args:
        rle: Kaggle RLE string (``""``/NaN for an empty mask).
        shape: ``(H, W)`` of the image.

    Returns:
        bool [H,W] mask.

    Raises:
        ValueError: if the RLE is malformed or runs fall outside the image.
    """
    h, w = _check_shape(shape)
    starts, lengths = rle_to_runs(rle, (h, w))
    return _runs_to_flat(starts, lengths, h * w).reshape((h, w), order="F")


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D [H,W] array, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"labels must be an integer array, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, found {int(labels.min())}")
    return labels


def labels_to_rles(labels: np.ndarray) -> list[str]:
    """Encode every instance of a label image in one pass.

    The image is flattened in Fortran order, run boundaries are found with one
    ``np.diff`` over the label sequence, and the runs are grouped by label with a
    stable sort (so each label's runs stay in pixel order).

    Args:
        labels: int [H,W], 0 = background, instance ids > 0 (need not be consecutive).

    Returns:
        One RLE string per instance present, in ascending label id.

    Raises:
        ValueError: if ``labels`` is not a 2-D non-negative integer array.
    """
    labels = _check_labels(labels)
    flat = labels.ravel(order="F").astype(np.int64, copy=False)
    if flat.size == 0:
        return []
    bounds = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate(([0], bounds))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    values = flat[starts]
    keep = values > 0
    starts, lengths, values = starts[keep], lengths[keep], values[keep]
    if values.size == 0:
        return []
    order = np.argsort(values, kind="stable")
    starts, lengths, values = starts[order], lengths[order], values[order]
    splits = np.flatnonzero(np.diff(values)) + 1
    pairs = np.empty(2 * starts.size, dtype=np.int64)
    pairs[0::2] = starts + 1
    pairs[1::2] = lengths
    tokens = list(map(str, pairs.tolist()))
    bounds2 = np.concatenate(([0], splits, [starts.size])) * 2
    return [" ".join(tokens[a:b]) for a, b in zip(bounds2[:-1].tolist(), bounds2[1:].tolist())]


def rles_to_labels(rles: Sequence[str], shape: Sequence[int]) -> np.ndarray:
    """Paint RLE masks into a label image.

    Args:
        rles: RLE strings; ``rles[i]`` becomes label ``i + 1`` (an empty string
            leaves label ``i + 1`` absent).
        shape: ``(H, W)``.

    Returns:
        int32 [H,W] label image, 0 = background.

    Raises:
        ValueError: if an RLE is malformed (the message gives its index) or two
            masks overlap.
    """
    h, w = _check_shape(shape)
    all_starts, all_lengths, all_ids = [], [], []
    for i, rle in enumerate(rles):
        try:
            starts, lengths = rle_to_runs(rle, (h, w))
        except ValueError as err:
            raise ValueError(f"RLE #{i}: {err}") from None
        all_starts.append(starts)
        all_lengths.append(lengths)
        all_ids.append(np.full(starts.size, i + 1, dtype=np.int64))
    out = np.zeros(h * w, dtype=np.int32)
    if not all_starts:
        return out.reshape((h, w), order="F")
    starts = np.concatenate(all_starts)
    lengths = np.concatenate(all_lengths)
    ids = np.concatenate(all_ids)
    order = np.argsort(starts, kind="stable")
    starts, lengths, ids = starts[order], lengths[order], ids[order]
    clash = np.flatnonzero(starts[1:] < (starts + lengths)[:-1])
    if clash.size:
        a, b = sorted((int(ids[clash[0]]), int(ids[clash[0] + 1])))
        raise ValueError(f"RLE #{a - 1} and RLE #{b - 1} overlap")
    # Each pixel belongs to at most one run: repeat each run's id over its length.
    pixel = np.repeat(starts - 1, lengths) + _ranges(lengths)
    out[pixel] = np.repeat(ids, lengths).astype(np.int32)
    return out.reshape((h, w), order="F")


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(n)`` for each n in ``lengths`` (vectorised)."""
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets
