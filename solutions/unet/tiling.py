"""The network over whole images of any size: reflect-pad to the stride, or cut into tiles
blended with linear ramps (``predict_native_views``), or resize to the training input
(``predict_resized_views``, the baseline U-Net), in chunks of at most ``batch_size``
inputs and ``batch_pixels`` input pixels.

``solutions.unet.inference.predict_image`` normalises, builds the TTA views and the
test-time scale normalisation on top of these; it re-exports the public names here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import cv2
import numpy as np
from keras import ops

from common.engine import forward_fn
from common.timing import Stopwatch, stage

Window = tuple[int, int, int, int]  # (y, x, height, width) of a tile in the padded view


def _forward(model, batch: np.ndarray, batch_size: int = 0, static: bool = False,
             timer: Stopwatch | None = None, engine: str = "auto") -> np.ndarray:
    """Run the network on float32 [N,H,W,3] → float32 [N,H,W,C], ``batch_size`` at a time.

    Args:
        model: Maps float32 [B,H,W,3] (0..255) to [B,H,W,C].
        batch: The inputs, all of one shape.
        batch_size: Inputs per forward pass (0: all at once).
        static: Zero-pad the last chunk to ``batch_size`` so every pass has one shape.
        timer: Optional stopwatch; the passes are timed as stage ``forward``.
        engine: The inference engine (``common.engine``: ``auto``, ``keras``, ``openvino``).
    """
    n = len(batch)
    size = batch_size or n
    run = forward_fn(model, engine)
    outs = []
    for start in range(0, n, size):
        chunk = batch[start:start + size]
        k = len(chunk)
        if static and k < size:
            chunk = np.concatenate([chunk, np.zeros((size - k, *chunk.shape[1:]), chunk.dtype)])
        with stage(timer, "forward"):
            outs.append(ops.convert_to_numpy(run(chunk)).astype(np.float32)[:k])
    return np.concatenate(outs)


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


def tile_plan(image: np.ndarray, stride: int, tile_size: int, overlap: int,
              pad_multiple: int = 0) -> tuple[np.ndarray, list[Window]]:
    """Pad one view and list its tile windows.

    Returns:
        float32 [H',W',3] padded view, and its windows ``(y, x, h, w)``: one covering the
        whole padded view when its longer side is <= ``tile_size``, else overlapping
        ``tile_size`` squares (sides shorter than ``tile_size`` are padded up to it).
    """
    x = np.asarray(image, np.float32)
    if max(x.shape[:2]) <= tile_size:
        padded, _ = pad_to_multiple(x, pad_multiple or stride)
        return padded, [(0, 0, padded.shape[0], padded.shape[1])]
    padded, _ = pad_to_multiple(x, stride, min_size=tile_size)
    ph, pw = padded.shape[:2]
    th, tw = min(tile_size, ph), min(tile_size, pw)
    return padded, [(y, x0, th, tw) for y in _tile_starts(ph, th, th - overlap)
                    for x0 in _tile_starts(pw, tw, tw - overlap)]


def chunk_size(batch_size: int, batch_pixels: int, height: int, width: int) -> int:
    """Inputs of ``height`` x ``width`` per forward pass: ``batch_size``, capped so a pass
    holds at most ``batch_pixels`` input pixels (0: no cap), and at least 1."""
    if batch_pixels:
        return max(1, min(batch_size, batch_pixels // (height * width)))
    return max(1, batch_size)


def predict_native_views(model, views: Sequence[np.ndarray], stride: int, tile_size: int = 1024,
                         overlap: int = 64, pad_multiple: int = 0, batch_size: int = 8,
                         static_batch: bool = False, batch_pixels: int = 1 << 20,
                         timer: Stopwatch | None = None, engine: str = "auto") -> list[np.ndarray]:
    """Predict several images (e.g. the TTA views of one) at native resolution, tiles batched.

    All tiles of all views are grouped by shape and run through the network a chunk at a
    time (:func:`chunk_size`); each chunk's outputs are blended into their view at once,
    so memory holds the views' maps plus one chunk.

    Args:
        model: Maps float32 [B,H,W,3] (0..255) to [B,H,W,C].
        views: uint8/float [H,W,3] images (shapes may differ).
        stride: Network stride; each view is reflect-padded to a multiple of it.
        tile_size: Above this side length a view is split into overlapping tiles.
        overlap: Tile overlap in pixels (blended with linear ramps).
        pad_multiple: An untiled view is padded to a multiple of this instead of ``stride``
            (0: ``stride``), which buckets input shapes (one XLA compile per shape under JAX).
        batch_size: Most tiles per forward pass.
        static_batch: Zero-pad a short last pass to the full chunk (one batch shape).
        batch_pixels: Most input pixels per forward pass (0: no cap); bounds the memory
            of large tiles on a CPU.
        timer: Optional stopwatch: stages ``tta_views`` (padding, tiling), ``forward``
            and ``tta_merge`` (blending tiles).
        engine: The inference engine (``common.engine``).

    Returns:
        One float32 [H,W,C] map per view, at that view's size.
    """
    with stage(timer, "tta_views"):
        plans = [tile_plan(v, stride, tile_size, overlap, pad_multiple) for v in views]
    jobs = [(v, win) for v, (_, wins) in enumerate(plans) for win in wins]
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j, (_, (_, _, th, tw)) in enumerate(jobs):
        by_shape[(th, tw)].append(j)
    acc: list[np.ndarray | None] = [None] * len(plans)
    weight: list[np.ndarray | None] = [None] * len(plans)
    for (th, tw), idx in by_shape.items():
        size = chunk_size(batch_size, batch_pixels, th, tw)
        for start in range(0, len(idx), size):
            part = [jobs[j] for j in idx[start:start + size]]
            with stage(timer, "tta_views"):
                batch = np.stack([plans[v][0][y:y + th, x:x + tw] for v, (y, x, _, _) in part])
            outs = _forward(model, batch, size, static_batch, timer, engine)
            with stage(timer, "tta_merge"):
                _blend(part, outs, plans, acc, weight, overlap)
    results = []
    with stage(timer, "tta_merge"):
        for v, view in enumerate(views):
            h, w = np.asarray(view).shape[:2]
            out = acc[v] if weight[v] is None else acc[v] / np.maximum(weight[v], 1e-6)
            results.append(out[:h, :w])
    return results


def _blend(part: list, outs: np.ndarray, plans: list, acc: list, weight: list, overlap: int) -> None:
    """Add one chunk's outputs into their views' accumulators (in place).

    A view predicted in one window takes its output as is; tiles are weighted by linear
    ramps of ``overlap`` pixels and summed into ``acc`` (float32 [H',W',C]) and ``weight``
    ([H',W',1]) of their view.
    """
    ramp = None
    for (v, (y, x, th, tw)), out in zip(part, outs):
        padded, wins = plans[v]
        if len(wins) == 1:  # the whole view in one window: no blending
            acc[v] = out
            continue
        if ramp is None:  # one shape per chunk
            ramp = (_ramp(th, overlap)[:, None] * _ramp(tw, overlap)[None, :])[..., None]
        if acc[v] is None:
            acc[v] = np.zeros((*padded.shape[:2], out.shape[-1]), np.float32)
            weight[v] = np.zeros((*padded.shape[:2], 1), np.float32)
        acc[v][y:y + th, x:x + tw] += out * ramp
        weight[v][y:y + th, x:x + tw] += ramp


def predict_native(model, image: np.ndarray, stride: int, tile_size: int = 1024,
                   overlap: int = 64, pad_multiple: int = 0, batch_size: int = 8,
                   static_batch: bool = False, batch_pixels: int = 1 << 20) -> np.ndarray:
    """Predict one image at native resolution (see :func:`predict_native_views`).

    Returns:
        float32 [H,W,C].
    """
    return predict_native_views(model, [image], stride, tile_size, overlap, pad_multiple,
                                batch_size, static_batch, batch_pixels)[0]


def predict_resized_views(model, views: Sequence[np.ndarray], size: int, batch_size: int = 8,
                          static_batch: bool = False, batch_pixels: int = 1 << 20,
                          timer: Stopwatch | None = None, engine: str = "auto") -> list[np.ndarray]:
    """Resize each view to ``size`` x ``size``, predict, resize the maps back (bilinear).

    ``timer`` (optional) gets stages ``tta_views`` (resizing down), ``forward`` and
    ``tta_merge`` (resizing back); ``engine`` is the inference engine (``common.engine``).

    Returns:
        One float32 [H,W,C] map per view, at that view's size.
    """
    small = []
    with stage(timer, "tta_views"):
        for view in views:
            h, w = view.shape[:2]
            interp = cv2.INTER_AREA if h > size and w > size else cv2.INTER_LINEAR
            small.append(cv2.resize(np.asarray(view, np.uint8), (size, size), interpolation=interp))
    outs = _forward(model, np.stack(small).astype(np.float32), chunk_size(batch_size, batch_pixels, size, size),
                    static_batch, timer, engine)
    results = []
    with stage(timer, "tta_merge"):
        for view, out in zip(views, outs):
            h, w = view.shape[:2]
            big = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
            results.append(big.reshape(h, w, -1).astype(np.float32))
    return results


def predict_resized(model, image: np.ndarray, size: int) -> np.ndarray:
    """One image through :func:`predict_resized_views`. Returns float32 [H,W,C]."""
    return predict_resized_views(model, [image], size)[0]
