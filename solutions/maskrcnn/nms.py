"""Static-shape NMS, per-class NMS and crop-and-resize with ``keras.ops`` (any backend).

Every function takes and returns backend tensors with static shapes (the batch dimension
may be dynamic under TensorFlow), has no Python-side data-dependent control flow, and so
traces once under ``jax.jit`` and inside a ``tf.function`` / functional model.

**NMS semantics** (those of ``tf.image.non_max_suppression``, checked by
``tests/test_maskrcnn_ops.py``): candidates are the boxes with ``score > score_threshold``
(strictly greater); they are visited by decreasing score, ties towards the lower index; a
candidate is kept unless its IoU with an already kept box is ``> iou_threshold``. IoU is
TensorFlow's: coordinates are ordered with min/max first, a pair in which either box has
zero area has IoU 0 (so zero-area boxes are never suppressed and never suppress).

**Algorithm** (tile-based, as in ``tf.image.non_max_suppression_padded``): boxes are sorted
once, then processed in tiles of ``tile_size``. A tile is first suppressed by the boxes kept
so far (kept boxes live in a compacted ``[B,max_output,4]`` buffer, so one IoU matrix
``[B,T,max_output]`` per tile), then resolved internally by iterating
``keep_j = init_j and not any_{i<j}(keep_i and IoU_ij > t)`` to its fixed point, which is the
greedy result (the first ``n`` entries are right after ``n`` iterations, and the fixed point
is unique). The loop over tiles stops as soon as every row has ``max_output`` kept boxes
or no candidate is left (scores below the threshold, padding).
"""

from __future__ import annotations

import functools

import keras
from keras import ops

DEFAULT_TILE = 512


# ------------------------------------------------------------------------------ IoU
def _canonical(boxes):
    """``(ymin, xmin, ymax, xmax)`` of ``[...,4]`` boxes given in either corner order."""
    y1, x1, y2, x2 = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
    return ops.stack([ops.minimum(y1, y2), ops.minimum(x1, x2),
                      ops.maximum(y1, y2), ops.maximum(x1, x2)], axis=-1)


def _pairwise_iou(a, b):
    """TF-style IoU of canonical boxes ``a [B,N,4]``, ``b [B,M,4]`` -> ``[B,N,M]``."""
    ay1, ax1, ay2, ax2 = [a[..., :, None, i] for i in range(4)]
    by1, bx1, by2, bx2 = [b[..., None, :, i] for i in range(4)]
    area_a = (ay2 - ay1) * (ax2 - ax1)
    area_b = (by2 - by1) * (bx2 - bx1)
    ih = ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0)
    iw = ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0)
    inter = ih * iw
    ok = ops.logical_and(area_a > 0.0, area_b > 0.0)
    union = ops.where(ok, area_a + area_b - inter, 1.0)
    return ops.where(ok, inter / union, 0.0)


# ------------------------------------------------------------------------ core loop
def _static_len(x, axis: int, what: str) -> int:
    n = x.shape[axis]
    if n is None:
        raise ValueError(f"nms.py: {what} needs a static size on axis {axis}, got shape {x.shape}")
    return int(n)


def _first_true(mask, k: int):
    """Positions of the first ``k`` True entries of ``mask [B,L]`` (L >= k), in order.

    Returns:
        (positions int32 [B,k] (0 where fewer than k), found bool [B,k]).
    """
    length = mask.shape[-1]
    key = ops.where(mask, length - ops.arange(length, dtype="int32"), 0)
    vals, pos = ops.top_k(key, k, sorted=True)
    found = vals > 0
    return ops.where(found, ops.cast(pos, "int32"), 0), found


def _greedy_keep(sboxes, svalid, sgroups, max_output: int, iou_threshold, tile: int):
    """Greedy NMS over boxes already sorted by decreasing score.

    Args:
        sboxes: float32 [B,L,4] canonical boxes, ``L`` a multiple of ``tile``.
        svalid: bool [B,L] candidates (score above threshold, not padding).
        sgroups: int32 [B,L] group (class) ids, boxes of different groups never suppress
            each other; or None.
        max_output: stop once every row has this many kept boxes.
        iou_threshold: float32 scalar; suppress when IoU > this.
        tile: tile size.

    Returns:
        bool [B,L] kept boxes (at least the first ``max_output`` of each row are exact; the
        rest of a row may be left unprocessed, i.e. False).
    """
    length = sboxes.shape[1]
    n_tiles = length // tile
    batch = ops.shape(sboxes)[0]
    boxes_t = ops.reshape(sboxes, (batch, n_tiles, tile, 4))
    valid_t = ops.reshape(svalid, (batch, n_tiles, tile))
    groups_t = None if sgroups is None else ops.reshape(sgroups, (batch, n_tiles, tile))
    slots = ops.arange(max_output, dtype="int32")
    tile_ids = ops.arange(n_tiles, dtype="int32")
    upper = ops.arange(tile)[:, None] < ops.arange(tile)[None, :]  # [T,T] i before j
    zeros_b = ops.zeros_like(svalid[:, :1], dtype="int32")  # [B,1]

    first_valid = valid_t[:, :, 0]  # [B,n_tiles]: sorted, so a tile with an invalid first
    # box holds no candidate, nor do the tiles after it.

    def cond(i, keep, buf_boxes, buf_groups, count):
        more = ops.any(ops.take(first_valid, ops.minimum(i, n_tiles - 1), axis=1))
        return ops.logical_and(ops.logical_and(i < n_tiles, ops.any(count < max_output)), more)

    def body(i, keep, buf_boxes, buf_groups, count):
        tb = ops.take(boxes_t, i, axis=1)  # [B,T,4]
        tv = ops.take(valid_t, i, axis=1)  # [B,T]
        # 1. Suppression by the boxes kept in earlier tiles.
        over = _pairwise_iou(tb, buf_boxes) > iou_threshold  # [B,T,M]
        over = ops.logical_and(over, (slots[None, :] < count)[:, None, :])
        if groups_t is not None:
            tg = ops.take(groups_t, i, axis=1)
            over = ops.logical_and(over, tg[:, :, None] == buf_groups[:, None, :])
        init = ops.logical_and(tv, ops.logical_not(ops.any(over, axis=-1)))  # [B,T]
        # 2. Inside the tile: fixed point of keep_j = init_j & ~any_{i<j}(keep_i & S_ij).
        self_over = ops.logical_and(_pairwise_iou(tb, tb) > iou_threshold, upper[None])
        if groups_t is not None:
            self_over = ops.logical_and(self_over, tg[:, :, None] == tg[:, None, :])

        def inner_cond(prev, cur):
            return ops.any(ops.not_equal(prev, cur))

        def inner_body(prev, cur):
            hit = ops.any(ops.logical_and(cur[:, :, None], self_over), axis=1)
            return cur, ops.logical_and(init, ops.logical_not(hit))

        _, kt = ops.while_loop(inner_cond, inner_body, (ops.logical_not(init), init))
        # 3. Append the tile's kept boxes to the compacted buffer (slots >= M are dropped).
        order, _ = _first_true(kt, tile)  # kept positions first, in order
        n_new = ops.sum(ops.cast(kt, "int32"), axis=-1, keepdims=True)  # [B,1]
        src = ops.clip(slots[None, :] - count, 0, tile - 1)  # [B,M]
        take = ops.take_along_axis(order, src, axis=1)  # [B,M]
        fill = ops.logical_and(slots[None, :] >= count, slots[None, :] < count + n_new)
        new_boxes = ops.take_along_axis(tb, take[:, :, None], axis=1)
        buf_boxes = ops.where(fill[:, :, None], new_boxes, buf_boxes)
        if groups_t is not None:
            buf_groups = ops.where(fill, ops.take_along_axis(tg, take, axis=1), buf_groups)
        keep = ops.where((tile_ids == i)[None, :, None], kt[:, None, :], keep)
        return i + 1, keep, buf_boxes, buf_groups, count + n_new

    keep0 = ops.zeros_like(valid_t)
    buf0 = ops.zeros_like(zeros_b[:, :, None], dtype="float32") + ops.zeros((1, max_output, 4))
    groups0 = zeros_b + ops.zeros((1, max_output), dtype="int32")
    loop = ops.while_loop(cond, body, (ops.convert_to_tensor(0, "int32"), keep0, buf0,
                                       groups0, zeros_b))
    return ops.reshape(loop[1], (batch, length))


@functools.lru_cache(maxsize=None)
def _jax_jitted():
    import jax  # only under the JAX backend

    return jax.jit(_sorted_nms_core, static_argnums=(3, 6))


def _sorted_nms(boxes, scores, groups, max_output, iou_threshold, score_threshold, tile):
    """Shared front end: checks, then the core (through one cached ``jax.jit`` under JAX,
    so eager calls do not re-trace the loops; inside an outer jit it is inlined). The
    thresholds are traced scalars: one compile serves every threshold."""
    boxes = ops.stop_gradient(ops.cast(ops.convert_to_tensor(boxes), "float32"))
    scores = ops.stop_gradient(ops.cast(ops.convert_to_tensor(scores), "float32"))
    k = _static_len(scores, 1, "NMS (number of boxes K)")
    max_output = int(max_output)
    if max_output < 1:
        raise ValueError(f"nms.py: max_output must be >= 1, got {max_output}")
    args = (boxes, scores, groups, max_output,
            ops.convert_to_tensor(float(iou_threshold), "float32"),
            ops.convert_to_tensor(float(score_threshold), "float32"), max(1, min(int(tile), k)))
    if keras.backend.backend() == "jax":
        return _jax_jitted()(*args)
    return _sorted_nms_core(*args)


def _sorted_nms_core(boxes, scores, groups, max_output, iou_threshold, score_threshold, tile):
    """Sort, pad to whole tiles, run the greedy loop, map back to input indices."""
    k = scores.shape[1]
    length = -(-max(k, max_output) // tile) * tile  # padded length, multiple of tile
    sscores, order = ops.top_k(scores, k, sorted=True)  # ties: lower index first
    order = ops.cast(order, "int32")
    sboxes = _canonical(ops.take_along_axis(boxes, order[:, :, None], axis=1))
    svalid = sscores > score_threshold
    sgroups = None if groups is None else ops.take_along_axis(groups, order, axis=1)
    if length > k:
        pad = length - k
        sboxes = ops.pad(sboxes, ((0, 0), (0, pad), (0, 0)))
        svalid = ops.pad(svalid, ((0, 0), (0, pad)))
        order = ops.pad(order, ((0, 0), (0, pad)))
        if sgroups is not None:
            sgroups = ops.pad(sgroups, ((0, 0), (0, pad)))
    keep = _greedy_keep(sboxes, svalid, sgroups, max_output, iou_threshold, tile)
    pos, valid = _first_true(keep, max_output)
    indices = ops.where(valid, ops.take_along_axis(order, pos, axis=1), 0)
    return indices, valid


# ------------------------------------------------------------------------ public API
def nms_padded(boxes, scores, max_output: int, iou_threshold: float,
               score_threshold: float = float("-inf"), *, tile_size: int = DEFAULT_TILE,
               impl: str = "auto"):
    """Greedy NMS per batch row, padded to ``max_output``.

    Args:
        boxes: float [B,K,4] ``(y1, x1, y2, x2)``; ``K`` must be static.
        scores: float [B,K].
        max_output: number of output slots ``N`` per row.
        iou_threshold: a candidate is suppressed when its IoU with a kept box is > this.
        score_threshold: only boxes with ``score > score_threshold`` are candidates.
        tile_size: boxes per tile of the generic algorithm.
        impl: ``"generic"`` (keras.ops, any backend), ``"tf"`` (TensorFlow's C++ kernel,
            TensorFlow backend only) or ``"auto"`` (``"tf"`` under the TensorFlow backend,
            else ``"generic"``). Both give identical results.

    Returns:
        (indices int32 [B,N] into ``K`` of the kept boxes by decreasing score, 0 on padding;
        valid bool [B,N], True for the first ``n_kept`` slots of each row).
    """
    if int(max_output) < 1:
        raise ValueError(f"nms.py: max_output must be >= 1, got {max_output}")
    if impl == "auto":
        impl = "tf" if keras.backend.backend() == "tensorflow" else "generic"
    if impl == "tf":
        return _nms_padded_tf(boxes, scores, max_output, iou_threshold, score_threshold)
    if impl != "generic":
        raise ValueError(f"nms.py: impl must be 'auto', 'generic' or 'tf', got {impl!r}")
    return _sorted_nms(boxes, scores, None, max_output, iou_threshold, score_threshold,
                       tile_size)


def _nms_padded_tf(boxes, scores, max_output, iou_threshold, score_threshold):
    """TensorFlow fast path: the C++ kernel (NonMaxSuppressionV4) mapped over the batch.

    Why: a TF graph runs the generic tile loop op by op, unfused: on the CPU it measured
    ~3.5x slower than this kernel at the proposal size (B=2, K=6000 -> 2000; figures in
    bench/results/maskrcnn_ops_cpu.md). Same results, tested index for index.
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError("nms.py: impl='tf' needs KERAS_BACKEND=tensorflow")
    import tensorflow as tf  # lazy: only on the TensorFlow backend

    boxes = tf.stop_gradient(tf.cast(boxes, tf.float32))
    scores = tf.stop_gradient(tf.cast(scores, tf.float32))
    n = int(max_output)

    def one(args):
        b, s = args
        # The raw V4 kernel (V3's greedy loop + padding). Not
        # tf.image.non_max_suppression_padded(pad_to_max_output_size=True): that runs a
        # Python tile algorithm that drops all-zero boxes, unlike non_max_suppression.
        idx, count = tf.raw_ops.NonMaxSuppressionV4(
            boxes=b, scores=s, max_output_size=n, iou_threshold=float(iou_threshold),
            score_threshold=float(score_threshold), pad_to_max_output_size=True)
        return tf.cast(idx, tf.int32), tf.range(n) < count

    return tf.map_fn(one, (boxes, scores), fn_output_signature=(
        tf.TensorSpec([n], tf.int32), tf.TensorSpec([n], tf.bool)))


def per_class_nms_padded(boxes, scores, max_total: int, iou_threshold: float,
                         score_threshold: float, *, tile_size: int = DEFAULT_TILE) -> dict:
    """Per-class greedy NMS, merged over classes and padded (combined NMS).

    Boxes of different classes never suppress each other (a same-class mask inside one
    greedy pass over all ``R*C`` candidates, so IoUs are computed on the exact coordinates).

    Args:
        boxes: float [B,R,C,4] one box per ROI and class; ``R``, ``C`` static.
        scores: float [B,R,C].
        max_total: output slots ``N`` per row (also the per-class cap).
        iou_threshold: suppress when IoU with a kept box of the same class is > this.
        score_threshold: only ``score > score_threshold`` are candidates.
        tile_size: boxes per tile.

    Returns:
        dict ``boxes`` float32 [B,N,4] (zero on padding), ``scores`` float32 [B,N] (0 on
        padding), ``classes`` int32 [B,N] (0-based index into ``C``, 0 on padding),
        ``valid`` bool [B,N]; sorted by decreasing score. Equals
        ``tf.image.combined_non_max_suppression(max_output_size_per_class=N,
        max_total_size=N, pad_per_class=False, clip_boxes=False)`` up to the order of
        equal scores of different classes (which TF leaves unspecified).
    """
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    scores = ops.cast(ops.convert_to_tensor(scores), "float32")
    r = _static_len(scores, 1, "per-class NMS (R)")
    c = _static_len(scores, 2, "per-class NMS (C)")
    batch = ops.shape(scores)[0]
    flat_boxes = ops.reshape(boxes, (batch, r * c, 4))
    flat_scores = ops.reshape(scores, (batch, r * c))
    classes = ops.zeros_like(flat_scores[:, :1], dtype="int32") + \
        ops.tile(ops.arange(c, dtype="int32"), (r,))[None, :]
    indices, valid = _sorted_nms(flat_boxes, flat_scores, classes, max_total, iou_threshold,
                                 score_threshold, tile_size)
    vf = ops.cast(valid, "float32")
    out_boxes = ops.take_along_axis(flat_boxes, indices[:, :, None], axis=1) * vf[:, :, None]
    return {"boxes": ops.stop_gradient(out_boxes),
            "scores": ops.stop_gradient(ops.take_along_axis(flat_scores, indices, axis=1) * vf),
            "classes": ops.where(valid, ops.take_along_axis(classes, indices, axis=1), 0),
            "valid": valid}


# -------------------------------------------------------------------- crop_and_resize
def _axis_samples(lo, hi, size, n: int):
    """TF crop_and_resize sample coordinates along one axis: ``[n_boxes, n]`` and inside."""
    scale = (size - 1.0)
    if n > 1:
        step = (hi - lo) * scale / float(n - 1)
        coord = lo[:, None] * scale + ops.arange(n, dtype="float32")[None, :] * step[:, None]
    else:
        coord = (0.5 * (lo + hi) * scale)[:, None]
    inside = ops.logical_and(coord >= 0.0, coord <= scale)
    return coord, inside


def crop_and_resize(image, boxes, box_indices, crop_size, extrapolation_value: float = 0.0):
    """``tf.image.crop_and_resize(method='bilinear')`` with ``keras.ops``.

    Args:
        image: float [B,H,W,C].
        boxes: float [n,4] normalised ``(y1, x1, y2, x2)``: 0 is the first pixel centre, 1
            the last (``y * (H - 1)``); may reach outside ``[0, 1]``.
        box_indices: int [n] batch index of each box.
        crop_size: ``(ch, cw)`` static ints.
        extrapolation_value: value of samples outside the image.

    Returns:
        float32 [n,ch,cw,C]; differentiable with respect to ``image``.
    """
    image = ops.cast(ops.convert_to_tensor(image), "float32")
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    box_indices = ops.cast(ops.convert_to_tensor(box_indices), "int32")
    ch, cw = int(crop_size[0]), int(crop_size[1])
    shape = ops.shape(image)
    h, w, c = shape[1], shape[2], image.shape[-1]
    hf, wf = ops.cast(h, "float32"), ops.cast(w, "float32")
    ys, y_in = _axis_samples(boxes[:, 0], boxes[:, 2], hf, ch)  # [n,ch]
    xs, x_in = _axis_samples(boxes[:, 1], boxes[:, 3], wf, cw)  # [n,cw]
    y0f, x0f = ops.floor(ys), ops.floor(xs)
    ly, lx = (ys - y0f)[:, :, None, None], (xs - x0f)[:, None, :, None]
    hi_y, hi_x = ops.cast(h, "int32") - 1, ops.cast(w, "int32") - 1
    y0 = ops.clip(ops.cast(y0f, "int32"), 0, hi_y)
    x0 = ops.clip(ops.cast(x0f, "int32"), 0, hi_x)
    y1 = ops.clip(ops.cast(ops.ceil(ys), "int32"), 0, hi_y)
    x1 = ops.clip(ops.cast(ops.ceil(xs), "int32"), 0, hi_x)
    flat = ops.reshape(image, (-1, c))  # [B*H*W,C]
    base = box_indices * ops.cast(h, "int32")  # [n]

    def corner(yi, xi):
        rows = (base[:, None] + yi) * ops.cast(w, "int32")  # [n,ch]
        return ops.take(flat, rows[:, :, None] + xi[:, None, :], axis=0)  # [n,ch,cw,C]

    top_left, top_right = corner(y0, x0), corner(y0, x1)
    top = top_left + (top_right - top_left) * lx
    bottom_left, bottom_right = corner(y1, x0), corner(y1, x1)
    bottom = bottom_left + (bottom_right - bottom_left) * lx
    out = top + (bottom - top) * ly
    inside = ops.logical_and(y_in[:, :, None], x_in[:, None, :])[..., None]
    return ops.where(inside, out, float(extrapolation_value))
