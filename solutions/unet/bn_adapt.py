"""Batch-norm statistics re-estimated on the images about to be predicted (``predict.bn_adapt``).

A network normalises each batch-norm layer's input with the mean and variance it saw in
training. On a kind of image it never trained on (another stain, microscope or magnification)
those inputs are distributed otherwise. AdaBN (Li et al., 2016) measures them again on the new
images; Schneider et al. (2020) blend the two, ``(1 - w) * training + w * new``.

1. :func:`view_statistics`: each view goes through the network in training mode, so every
   batch-norm layer normalises it with its own statistics (each layer thus sees inputs already
   normalised for the new images, as AdaBN does) and records them; the views' statistics are
   pooled, weighted by their pixels (the variance of the pool: the mean variance plus the
   variance of the means). The training's statistics are put back after each view, so whatever
   runs between two views (the ``chosen`` view's scale selection) sees the network as trained, and
   the network is left as it was.
2. :func:`set_statistics`: the blend becomes each layer's ``moving_mean`` and ``moving_variance``.
3. :func:`adapt_batch_norm`: both, on a share of images as ``predict.bn_adapt`` says, with the
   compiled forward passes dropped (``common.engine.forget``) so every engine serves the new
   statistics.

No label is read, and no weight but those statistics changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import keras
import numpy as np

__all__ = ["adapt_batch_norm", "batch_norm_layers", "measure_crop", "set_statistics", "view_statistics"]


def batch_norm_layers(model) -> list:
    """The model's ``BatchNormalization`` layers, nested ones too, in one fixed order (Keras's
    ``_flatten_layers``, as ``common.engine_openvino`` walks a model too)."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def measure_crop(x: np.ndarray, multiple: int, max_pixels: int) -> np.ndarray:
    """What :func:`view_statistics` measures of ``x`` [H,W,C]: its centre, both sides shrunk in
    proportion where it holds more than ``max_pixels`` pixels, then cut down to multiples of
    ``multiple`` (so it may hold fewer pixels, in another aspect ratio); a side shorter than
    ``multiple`` is reflect-padded to it, as prediction pads (``solutions.unet.tiling``)."""
    from solutions.unet.tiling import pad_to_multiple

    x = pad_to_multiple(x, multiple)[0] if min(x.shape[:2]) < multiple else x
    h, w = x.shape[:2]
    shrink = min(1.0, float(np.sqrt(max_pixels / (h * w))))
    ch = max(multiple, int(h * shrink) // multiple * multiple)
    cw = max(multiple, int(w * shrink) // multiple * multiple)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[top:top + ch, left:left + cw]


def _put_back(layers: Sequence, saved: Sequence[tuple]) -> None:
    """Each layer's moving mean and variance as ``saved`` (``(momentum, trainable, mean, variance)``)."""
    for layer, (_, _, mean, var) in zip(layers, saved):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(var)


def view_statistics(model, views: Iterable[np.ndarray], multiple: int = 1,
                    max_pixels: int = 1 << 62) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Per batch-norm layer, the pooled per-channel (mean, variance) of its input over ``views``.

    Args:
        model: A Keras model with batch-norm layers.
        views: float-convertible [H,W,3] network inputs, one at a time (a generator keeps one in memory).
        multiple, max_pixels: Each view is cut by :func:`measure_crop` first.

    Returns:
        ``(statistics, n_views)``; the model's weights, momenta and trainable flags are as before.

    Raises:
        ValueError: No view was given, or the model has no batch-norm layer.
    """
    layers = batch_norm_layers(model)
    if not layers:
        raise ValueError("predict.bn_adapt: the network has no batch-norm layer")
    dropouts = [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.Dropout)]
    saved = [(layer.momentum, layer.trainable, keras.ops.convert_to_numpy(layer.moving_mean),
              keras.ops.convert_to_numpy(layer.moving_variance)) for layer in layers]
    rates = [layer.rate for layer in dropouts]
    sums = [[0.0, 0.0, 0.0] for _ in layers]  # pixels, pixels * mean, pixels * (variance + mean^2)
    n = 0
    try:
        for layer in layers:  # momentum 0: after a pass, the moving statistics are that view's own
            layer.momentum, layer.trainable = 0.0, True
        for layer in dropouts:  # training mode must normalise, not drop
            layer.rate = 0.0
        for view in views:
            x = measure_crop(np.asarray(view, np.float32), multiple, max_pixels)
            model(x[None], training=True)
            pixels = float(x.shape[0] * x.shape[1])
            for acc, layer in zip(sums, layers):
                mean = keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
                var = keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64)
                acc[0] += pixels
                acc[1] = acc[1] + pixels * mean
                acc[2] = acc[2] + pixels * (var + mean ** 2)
            _put_back(layers, saved)  # as trained until the next view's pass
            n += 1
    finally:
        _put_back(layers, saved)
        for layer, (momentum, trainable, _, _) in zip(layers, saved):
            layer.momentum, layer.trainable = momentum, trainable
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
    if n == 0:
        raise ValueError("predict.bn_adapt: no image to measure")
    stats = []
    for pixels, first, second in sums:
        mean = first / pixels
        stats.append((mean, np.maximum(second / pixels - mean ** 2, 0.0)))
    return stats, n


def set_statistics(model, stats: Sequence[tuple[np.ndarray, np.ndarray]], weight: float) -> float:
    """Blend ``stats`` (:func:`view_statistics`) into the model's batch-norm statistics:
    ``(1 - weight) * current + weight * stats``.

    Returns:
        The mean over layers and channels of ``|new mean - old mean| / sqrt(old variance + eps)``:
        how far the blend moved the statistics, in the training's standard deviations.
    """
    layers = batch_norm_layers(model)
    if len(stats) != len(layers):
        raise ValueError(f"set_statistics: {len(stats)} statistics for {len(layers)} batch-norm layers")
    moved = []
    for layer, (mean, var) in zip(layers, stats):
        old_mean = keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
        old_var = keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64)
        new_mean = (1 - weight) * old_mean + weight * mean
        layer.moving_mean.assign(new_mean.astype(np.float32))
        layer.moving_variance.assign(((1 - weight) * old_var + weight * var).astype(np.float32))
        moved.append(np.abs(new_mean - old_mean) / np.sqrt(old_var + layer.epsilon))
    return float(np.mean(np.concatenate(moved)))


def adapt_batch_norm(model, cfg, dataset, ids: Sequence[str], params: dict, sizes: dict) -> dict:
    """``predict.bn_adapt`` on the images ``ids`` (at most ``max_images``, evenly spaced): their
    statistics (``at``: as normalised, or at the scale ``predict.scale_norm`` chose, found by a pass
    without TTA) blended into ``model`` with ``weight``.

    Args:
        model, cfg: The trained network and its ``UNetConfig``.
        dataset: Has ``load_image(id)``.
        params, sizes: For the ``chosen`` pass (``predict_image``'s ``params`` and
            ``solutions.unet.predict.load_sizes``).

    Returns:
        A record for the prediction folder: images measured, ``weight``, ``at``, how far the
        statistics moved (:func:`set_statistics`) and seconds.
    """
    from common.engine import forget
    from common.normalise import normalise_with
    from solutions.unet.adapt import pick_evenly
    from solutions.unet.inference import predict_image

    ba = cfg.predict.bn_adapt
    t0 = time.monotonic()
    picked = pick_evenly(ids, ba.max_images)

    def views():
        for image_id in picked:
            image = dataset.load_image(image_id)
            if ba.at == "native":
                yield normalise_with(image, cfg.data)
            else:
                view = {}
                predict_image(model, image, cfg, "none", params=params, view=view, **sizes)
                yield view["input"]

    stats, n = view_statistics(model, views(), cfg.model.stride, ba.max_pixels)
    moved = set_statistics(model, stats, ba.weight)
    forget(model)  # an engine that froze the old statistics must not serve the new ones
    record = {"images": n, "weight": ba.weight, "at": ba.at, "moved_sd": round(moved, 4),
              "seconds": round(time.monotonic() - t0, 1)}
    print(f"[bn_adapt] batch-norm statistics of {n} images ({ba.at}) blended in at {ba.weight}: moved "
          f"{moved:.3f} training s.d. on average, {record['seconds']} s", flush=True)
    return record
