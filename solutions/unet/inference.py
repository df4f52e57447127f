"""One image through the U-Net as its config says: normalise, TTA views, scale normalisation.

The network over whole images (pad, tiles, resize) lives in ``solutions.unet.tiling``,
re-exported here.

Untiled images are padded to a multiple of ``predict.pad_multiple`` (default: the
stride); larger ones are cut into ``predict.tile_size`` squares blended with linear
ramps. The tiles of all TTA views of an image go through the network together, in
chunks of ``predict.batch_size`` (capped at ``predict.batch_pixels`` input pixels, which
bounds the memory of large tiles); with ``predict.static_batch`` a short last chunk is
zero-padded to full size. So ``tile_size = pad_multiple = 256`` plus ``static_batch``
feeds the network one input shape, ``[batch_size, 256, 256, 3]``: one XLA compile
under JAX, where the forward pass is the model's jitted ``predict_on_batch``.

``predict_image(model, image, cfg) -> float32 [H,W,C]`` at the image's original size.
It first smooths a grainy image (``predict.denoise``, ``common.denoise``; off by default),
normalises it with ``common.normalise.normalise_image`` (``data.normalise``, the function
training uses), then predicts the TTA views; with ``predict.scale_norm`` it
predicts twice: once to estimate the nucleus size, once on the image rescaled so its
nuclei have the training size (``common.scale``), and maps the result back; with its
``estimate: multiscale`` it predicts once per candidate scale (no TTA), then the TTA views
at the scale the network is most certain of, and with ``enlarge_below`` enlarges an image
whose nuclei are smaller than nearly all of training instead.
"""

from __future__ import annotations

import numpy as np

from common.timing import Stopwatch, stage
from solutions.unet.tiling import (chunk_size, pad_to_multiple, predict_native, predict_native_views,
                                   predict_resized, predict_resized_views, tile_plan)

__all__ = ["chunk_size", "pad_to_multiple", "predict_image", "predict_native", "predict_native_views", "rescaled_view",
           "predict_resized", "predict_resized_views", "predict_views", "tile_plan"]

# dihedral views: (k rot90, flip left-right), one entry per solutions.unet.config.TTA_MODES
_VIEWS = {"none": [(0, False)],
          "hflip": [(0, False), (0, True)],
          "flip": [(0, False), (0, True), (2, False), (2, True)],
          "d4": [(k, f) for k in range(4) for f in (False, True)]}


def predict_image(model, image: np.ndarray, cfg, tta: str | None = None, params: dict | None = None,
                  target_area: float = 0.0, info: dict | None = None,
                  timer: Stopwatch | None = None, small_area: float = 0.0, view: dict | None = None) -> np.ndarray:
    """Predict one image as the config says: normalise, TTA views, optional scale normalisation.

    Args:
        model: The trained network.
        image: uint8 [H,W,3] as loaded.
        cfg: :class:`~solutions.unet.config.UNetConfig`.
        tta: One of ``solutions.unet.config.TTA_MODES`` (default ``cfg.predict.tta``).
        params: Post-processing params of the first pass when ``predict.scale_norm``
            estimates from instances (default: the config's untuned ones).
        target_area: Training nucleus area (pixels) for ``predict.scale_norm`` and
            ``predict.denoise.larger_than`` when ``predict.scale_norm.target_area`` is 0 (the
            run's ``nucleus_size.json``); checked before any pass where a switch needs it.
        info: If given, receives ``{"area", "scale"}`` of the scale normalisation
            (``{"scale", "certainty"}`` with ``estimate: multiscale``, plus ``area`` when
            ``small_area`` is set and the selection keeps scale 1, or at any scale with
            ``enlarge_over_shrink``); with ``predict.denoise`` also ``noise``, ``denoised`` and,
            with its size check, ``denoise_area``.
        timer: Optional stopwatch (``common.timing``): stages ``normalise``, ``tta_views``,
            ``forward``, ``tta_merge`` (and ``postprocess`` for the scale estimate).
        small_area: With ``multiscale`` and ``predict.scale_norm.enlarge_below``: an image
            the selection keeps at scale 1 (with ``enlarge_over_shrink``: at any scale) whose
            nuclei are smaller than this (pixels;
            ``solutions.unet.predict.load_sizes``) is enlarged towards ``target_area``.
        view: If given, receives ``input``: the TTA's identity view (the image normalised,
            smoothed when ``predict.denoise`` smoothed it, at the scale chosen; before the resize
            to ``data.input_size`` that a ``baseline`` model's views get).

    Returns:
        float32 [H,W,C] maps in 0..1 at the original size.
    """
    tta = tta or cfg.predict.tta
    if tta not in _VIEWS:
        raise ValueError(f"unknown TTA {tta!r}; choose one of {list(_VIEWS)}")
    from common.normalise import normalise_with

    with stage(timer, "normalise"):
        x = normalise_with(image, cfg.data)
    sn = cfg.predict.scale_norm
    target = sn.target_area or target_area  # the config's area, else the run's nucleus_size.json
    if sn.enabled and sn.estimate == "multiscale" and small_area > 0:
        _require_target(target, "predict.scale_norm.enlarge_below")
    elif sn.enabled and sn.estimate != "multiscale":  # before any pass: the size rule rescales to it
        _require_target(target, "predict.scale_norm")
    first = None  # the size check's pass at scale 1 without TTA, when the image stays as it was
    if cfg.predict.denoise.sigma > 0:
        image, x, first = _denoise(model, image, x, cfg, params, target, {} if info is None else info, timer)
    view = {} if view is None else view
    if sn.enabled and sn.estimate == "multiscale":
        return _predict_multiscale(model, image, x, cfg, tta, info, timer, params, target, small_area, first, view)
    view["input"] = x
    prob = predict_views(model, x, cfg, tta, timer, identity=first)
    if not sn.enabled:
        return prob
    from common.scale import estimate_nucleus_size, resize_to, scale_factor

    with stage(timer, "postprocess"):
        area = _instance_area(prob, cfg, params) if sn.estimate == "instances" else estimate_nucleus_size(prob)
    factor = scale_factor(area, target, sn.min_scale, sn.max_scale, sn.tolerance, x.shape[:2], sn.max_pixels)
    if info is not None:
        info.update(area=area, scale=factor)
    if factor == 1.0:
        return prob
    view["input"] = rescaled_view(image, x, factor, cfg, timer)
    scaled = predict_views(model, view["input"], cfg, tta, timer)
    with stage(timer, "tta_merge"):
        return np.ascontiguousarray(resize_to(scaled, x.shape[:2]), dtype=np.float32)


def _require_target(target_area: float, what: str) -> None:
    """Raise when ``what`` needs the training nucleus area and there is none (config nor run)."""
    if not target_area > 0:  # NaN too
        raise ValueError(f"{what} needs a target area: set predict.scale_norm.target_area or give the run's "
                         "nucleus_size.json (solutions.unet.predict.load_sizes)")


def _denoise(model, image: np.ndarray, x: np.ndarray, cfg, params: dict | None, target_area: float, info: dict,
             timer: Stopwatch | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``predict.denoise``: ``(image, x, None)`` smoothed (``common.denoise``) and normalised again
    when the image is noisier than ``above`` and, with ``larger_than``, its nuclei (a pass at scale
    1 without TTA) are that many times ``target_area`` or more; else ``(image, x, first)`` as given,
    ``first`` that pass when the size check ran (the caller's pass at scale 1: not run twice), else
    None. ``info`` gets ``noise``, ``denoised`` and with the size check ``denoise_area``."""
    from common.denoise import noise_level, smooth
    from common.normalise import normalise_with

    dn = cfg.predict.denoise
    with stage(timer, "normalise"):
        noise = noise_level(image)
    info.update(noise=round(noise, 3), denoised=False)
    if not noise > dn.above:
        return image, x, None
    if dn.larger_than > 0:
        _require_target(target_area, "predict.denoise.larger_than")
        prob = predict_views(model, x, cfg, "none", timer)
        with stage(timer, "postprocess"):
            area = _instance_area(prob, cfg, params)
        info.update(denoise_area=area)
        if not area >= dn.larger_than * target_area:  # NaN (nothing found) too
            return image, x, prob
    info.update(denoised=True)
    with stage(timer, "normalise"):
        image = smooth(image, dn.sigma)
        return image, normalise_with(image, cfg.data), None


def _instance_area(prob: np.ndarray, cfg, params: dict | None) -> float:
    """Median area of the instances ``params`` (default: the config's untuned ones) make of ``prob``."""
    from common.instances import probs_to_instances
    from common.scale import estimate_nucleus_size
    from solutions.unet.config import default_params

    return estimate_nucleus_size(probs_to_instances(prob, params or default_params(cfg))[0])


def rescaled_view(image: np.ndarray, x: np.ndarray, factor: float, cfg, timer: Stopwatch | None = None) -> np.ndarray:
    """The network's input at ``factor``: the normalised image ``x`` rescaled, or with
    ``predict.scale_norm.renormalise`` the loaded ``image`` rescaled, then normalised (the
    normalisation in the rescaled frame: the top-hat's radius, too)."""
    from common.normalise import normalise_with
    from common.scale import rescale

    if factor == 1.0:
        return x
    if cfg.predict.scale_norm.renormalise:
        with stage(timer, "normalise"):
            return normalise_with(rescale(image, factor), cfg.data)
    return rescale(x, factor)


def _predict_multiscale(model, image: np.ndarray, x: np.ndarray, cfg, tta: str, info: dict | None,
                        timer: Stopwatch | None, params: dict | None = None, target_area: float = 0.0,
                        small_area: float = 0.0, first: np.ndarray | None = None,
                        view: dict | None = None) -> np.ndarray:
    """``predict.scale_norm.estimate: multiscale``: one pass without TTA at each candidate
    scale (with ``probe``: at scale 1 and the probes, the rest only when a probe wins), the
    most certain one's scale (``common.scale.choose_scale``), then the TTA views
    at that scale (the chosen candidate pass is their identity view: not run again), mapped back.
    When it keeps scale 1 (or with ``enlarge_over_shrink`` at any scale) and ``small_area`` is
    set, :func:`_enlarge_factor` may enlarge instead. ``first``: the pass at scale 1 when already
    run (``predict.denoise``'s size check): not run again. ``view`` receives ``input``, the
    network's input at the scale chosen."""
    from common.scale import choose_scale, map_certainty, resize_to

    sn = cfg.predict.scale_norm
    h, w = x.shape[:2]
    # enlarging candidates beyond max_pixels are left out: bounds memory, as scale_factor's does
    candidates = [s for s in sn.candidates if s <= 1.0 or h * w * s * s <= sn.max_pixels]
    views, passes = {}, {}

    def measure(scale: float) -> tuple[float, float]:
        views[scale] = rescaled_view(image, x, scale, cfg, timer)
        known = first if scale == 1.0 else None
        passes[scale] = predict_views(model, views[scale], cfg, "none", timer) if known is None else known
        return map_certainty(passes[scale])

    probe = [p for p in sn.probe if p in candidates]
    factor, measures = choose_scale(measure, candidates, probe, sn.min_cover)
    if info is not None:
        info.update(scale=factor, certainty={s: round(m[0], 4) for s, m in measures.items()})
    if small_area > 0 and (factor == 1.0 or sn.enlarge_over_shrink):
        small = _enlarge_factor(passes[1.0], cfg, params, target_area, small_area, info, timer)
        if small is not None:  # nuclei smaller than nearly all of training: never shrunk further
            factor = small
            if factor not in passes:
                views[factor], passes[factor] = rescaled_view(image, x, factor, cfg, timer), None
    if view is not None:
        view["input"] = views[factor]
    # The candidate pass is the TTA's identity view at that scale: not run twice.
    prob = predict_views(model, views[factor], cfg, tta, timer, identity=passes[factor])
    if factor == 1.0:
        return prob
    with stage(timer, "tta_merge"):
        return np.ascontiguousarray(resize_to(prob, (h, w)), dtype=np.float32)


def _enlarge_factor(prob: np.ndarray, cfg, params: dict | None, target_area: float, small_area: float,
                    info: dict | None, timer: Stopwatch | None) -> float | None:
    """``predict.scale_norm.enlarge_below``: when the median area of the nuclei of ``prob`` (the
    pass at scale 1) is below ``small_area``, the factor (at least 1) that brings them to
    ``target_area`` (``common.scale.scale_factor``: ``tolerance``, at most ``enlarge_max`` and
    ``max_pixels``); else None (not small: the selection's scale stands)."""
    from common.scale import scale_factor

    sn = cfg.predict.scale_norm
    with stage(timer, "postprocess"):
        area = _instance_area(prob, cfg, params)
    if info is not None:
        info.update(area=area)
    if not area < small_area:
        return None
    # at least 1: the max_pixels cap of a large image must not turn this into a shrink
    factor = max(1.0, scale_factor(area, target_area, 1.0, sn.enlarge_max, sn.tolerance, prob.shape[:2],
                                   sn.max_pixels))
    if info is not None:
        info.update(scale=factor)
    return factor


def predict_views(model, image: np.ndarray, cfg, tta: str = "none", timer: Stopwatch | None = None,
                  identity: np.ndarray | None = None) -> np.ndarray:
    """The TTA views of one image, already normalised and at the scale wanted (no scale
    selection, no smoothing), through the network, averaged: float32 [H,W,C]; ``tta="none"``
    is one plain pass, the one probes and the scale selection use. ``identity``: the network's
    output for ``image`` itself when already known (that view is then not run again)."""
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
