"""Whole-image inference: resize (baseline) or reflect-pad to the stride, tiles, TTA.

Untiled images are padded to a multiple of ``predict.pad_multiple`` (default: the
stride); larger ones are cut into ``predict.tile_size`` squares blended with linear
ramps. The tiles of all TTA views of an image go through the network together, in
chunks of ``predict.batch_size`` (capped at ``predict.batch_pixels`` input pixels, which
bounds the memory of large tiles); with ``predict.static_batch`` a short last chunk is
zero-padded to full size. So ``tile_size = pad_multiple = 256`` plus ``static_batch``
feeds the network one input shape, ``[batch_size, 256, 256, 3]``: one XLA compile
under JAX, where the forward pass is the model's jitted ``predict_on_batch``.

``predict_image(model, image, cfg) -> float32 [H,W,C]`` at the image's original size.
It first normalises the image with ``common.normalise.normalise_image`` (``data.normalise``,
the function training uses), then predicts the TTA views; with ``predict.scale_norm`` it
predicts twice: once to estimate the nucleus size, once on the image rescaled so its
nuclei have the training size (``common.scale``), and maps the result back; with its
``estimate: multiscale`` it predicts once per candidate scale (no TTA), then the TTA views
at the scale the network is most certain of.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import cv2
import keras
import numpy as np
from keras import ops

from common.engine import forward_fn
from common.timing import Stopwatch, stage

# dihedral views: (k rot90, flip left-right), one entry per solutions.unet.config.TTA_MODES
_VIEWS = {"none": [(0, False)],
          "hflip": [(0, False), (0, True)],
          "flip": [(0, False), (0, True), (2, False), (2, True)],
          "d4": [(k, f) for k in range(4) for f in (False, True)]}

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


def predict_image(model, image: np.ndarray, cfg, tta: str | None = None, params: dict | None = None,
                  target_area: float = 0.0, info: dict | None = None,
                  timer: Stopwatch | None = None) -> np.ndarray:
    """Predict one image as the config says: normalise, TTA views, optional scale normalisation.

    Args:
        model: The trained network.
        image: uint8 [H,W,3] as loaded.
        cfg: :class:`~solutions.unet.config.UNetConfig`.
        tta: One of ``solutions.unet.config.TTA_MODES`` (default ``cfg.predict.tta``).
        params: Post-processing params of the first pass when ``predict.scale_norm``
            estimates from instances (default: the config's untuned ones).
        target_area: Training nucleus area (pixels) for ``predict.scale_norm`` when
            ``predict.scale_norm.target_area`` is 0 (the run's ``nucleus_size.json``).
        info: If given, receives ``{"area", "scale"}`` of the scale normalisation
            (``{"scale", "certainty"}`` with ``estimate: multiscale``).
        timer: Optional stopwatch (``common.timing``): stages ``normalise``, ``tta_views``,
            ``forward``, ``tta_merge`` (and ``postprocess`` for the scale estimate).

    Returns:
        float32 [H,W,C] maps in 0..1 at the original size.
    """
    tta = tta or cfg.predict.tta
    if tta not in _VIEWS:
        raise ValueError(f"unknown TTA {tta!r}; choose one of {list(_VIEWS)}")
    from common.normalise import normalise_image

    with stage(timer, "normalise"):
        x = normalise_image(image, cfg.data.normalise)
    sn = cfg.predict.scale_norm
    if sn.enabled and sn.estimate == "multiscale":
        return _predict_multiscale(model, image, x, cfg, tta, info, timer)
    prob = _predict_views(model, x, cfg, tta, timer)
    if not sn.enabled:
        return prob
    from common.scale import estimate_nucleus_size, resize_to, scale_factor

    target = sn.target_area or target_area
    if not target or target <= 0:
        raise ValueError("predict.scale_norm is enabled but there is no target area: set "
                         "predict.scale_norm.target_area or give the run's nucleus_size.json")
    with stage(timer, "postprocess"):
        if sn.estimate == "instances":
            from common.instances import probs_to_instances
            from solutions.unet.config import default_params

            area = estimate_nucleus_size(probs_to_instances(prob, params or default_params(cfg))[0])
        else:
            area = estimate_nucleus_size(prob)
    factor = scale_factor(area, target, sn.min_scale, sn.max_scale, sn.tolerance, x.shape[:2], sn.max_pixels)
    if info is not None:
        info.update(area=area, scale=factor)
    if factor == 1.0:
        return prob
    scaled = _predict_views(model, _rescaled_view(image, x, factor, cfg, timer), cfg, tta, timer)
    with stage(timer, "tta_merge"):
        return np.ascontiguousarray(resize_to(scaled, x.shape[:2]), dtype=np.float32)


def _rescaled_view(image: np.ndarray, x: np.ndarray, factor: float, cfg, timer: Stopwatch | None) -> np.ndarray:
    """The network's input at ``factor``: the normalised image ``x`` rescaled, or with
    ``predict.scale_norm.renormalise`` the loaded ``image`` rescaled, then normalised (the
    normalisation in the rescaled frame: the top-hat's radius, too)."""
    from common.normalise import normalise_image
    from common.scale import rescale

    if factor == 1.0:
        return x
    if cfg.predict.scale_norm.renormalise:
        with stage(timer, "normalise"):
            return normalise_image(rescale(image, factor), cfg.data.normalise)
    return rescale(x, factor)


def _predict_multiscale(model, image: np.ndarray, x: np.ndarray, cfg, tta: str, info: dict | None,
                        timer: Stopwatch | None) -> np.ndarray:
    """``predict.scale_norm.estimate: multiscale``: one pass without TTA at each candidate
    scale (with ``probe``: at scale 1 and the probes, the rest only when a probe wins), the
    most certain one's scale (``common.scale.choose_scale``), then the TTA views
    at that scale (the chosen candidate pass is their identity view: not run again), mapped back."""
    from common.scale import choose_scale, map_certainty, resize_to

    sn = cfg.predict.scale_norm
    h, w = x.shape[:2]
    # enlarging candidates beyond max_pixels are left out: bounds memory, as scale_factor's does
    candidates = [s for s in sn.candidates if s <= 1.0 or h * w * s * s <= sn.max_pixels]
    views, passes = {}, {}

    def measure(scale: float) -> tuple[float, float]:
        views[scale] = _rescaled_view(image, x, scale, cfg, timer)
        passes[scale] = _predict_views(model, views[scale], cfg, "none", timer)
        return map_certainty(passes[scale])

    probe = [p for p in sn.probe if p in candidates]
    factor, measures = choose_scale(measure, candidates, probe, sn.min_cover)
    if info is not None:
        info.update(scale=factor, certainty={s: round(m[0], 4) for s, m in measures.items()})
    # The candidate pass is the TTA's identity view at that scale: not run twice.
    prob = _predict_views(model, views[factor], cfg, tta, timer, identity=passes[factor])
    if factor == 1.0:
        return prob
    with stage(timer, "tta_merge"):
        return np.ascontiguousarray(resize_to(prob, (h, w)), dtype=np.float32)


def _predict_views(model, image: np.ndarray, cfg, tta: str, timer: Stopwatch | None = None,
                   identity: np.ndarray | None = None) -> np.ndarray:
    """The TTA views of one (normalised) image through the network, averaged: float32 [H,W,C].
    ``identity``: the network's output for ``image`` itself when already known (that view is
    then not run again)."""
    todo = [v for v in _VIEWS[tta] if identity is None or v != (0, False)]
    with stage(timer, "tta_views"):
        views = []
        for k, flip in todo:
            view = np.rot90(image, k)
            views.append(np.ascontiguousarray(view[:, ::-1] if flip else view))
    p = cfg.predict
    if not views:
        outs = []
    elif cfg.model.kind == "baseline":
        outs = predict_resized_views(model, views, cfg.data.input_size, p.batch_size, p.static_batch,
                                     p.batch_pixels, timer, p.engine)
    else:
        outs = predict_native_views(model, views, cfg.model.stride, p.tile_size, p.tile_overlap,
                                    p.pad_multiple, p.batch_size, p.static_batch, p.batch_pixels, timer,
                                    p.engine)
    if identity is not None:
        todo, outs = [(0, False)] + todo, [identity] + list(outs)
    if len(outs) == 1:
        return np.ascontiguousarray(outs[0], dtype=np.float32)
    with stage(timer, "tta_merge"):
        total = None
        for (k, flip), out in zip(todo, outs):
            out = out[:, ::-1] if flip else out
            out = np.rot90(out, -k)
            total = out if total is None else total + out
        return np.ascontiguousarray(total / len(outs), dtype=np.float32)
