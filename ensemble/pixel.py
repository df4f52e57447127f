"""Pixel-level ensembling: weighted mean of per-pixel maps, then the U-Net watershed.

U-Net predictions store their per-pixel maps as ``prob`` (float [H,W,C]). The maps of
several folds (or TTA variants, or U-Nets with the same channel layout) are averaged
with weights and turned into instances by the U-Net's own post-processing,
``solutions.unet.postprocess.probs_to_instances(prob, params)``, with ``params`` read
from the producing run's ``thresholds.json``. The import is lazy so the ensemble
works (instance voting only) where the U-Net package is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["average_probs", "load_postprocess", "run_dir_of", "load_threshold_params",
           "merge_params", "pixel_merge"]

Postprocess = Callable[[np.ndarray, dict], tuple[np.ndarray, np.ndarray]]


def average_probs(probs: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of per-pixel maps.

    Args:
        probs: M arrays float [H,W,C] (or [H,W]) with identical shapes.
        weights: float [M] non-negative, positive sum (default all 1).

    Returns:
        float32 [H,W,C] weighted mean.
    """
    if not probs:
        raise ValueError("average_probs needs at least one map")
    shapes = {np.shape(p) for p in probs}
    if len(shapes) != 1:
        raise ValueError(f"prob maps differ in shape: {sorted(shapes)} "
                         "(only maps with the same size and channel layout can be averaged)")
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(probs),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(probs)} non-negative numbers with a positive sum")
    out = np.zeros(next(iter(shapes)), np.float64)
    for p, wi in zip(probs, w):
        out += wi * np.asarray(p, np.float64)
    out /= w.sum()
    if out.ndim == 2:
        out = out[..., None]
    return out.astype(np.float32)


def load_postprocess() -> Postprocess:
    """Import ``solutions.unet.postprocess.probs_to_instances`` (lazily).

    Raises:
        ImportError: naming the missing module, when the U-Net package is absent.
    """
    try:
        from solutions.unet.postprocess import probs_to_instances
    except ImportError as exc:
        raise ImportError(
            "pixel-level ensembling needs solutions/unet/postprocess.py "
            f"(probs_to_instances), which could not be imported: {exc}") from exc
    return probs_to_instances


def run_dir_of(pred_dir: str | Path, work: str | Path | None = None) -> Path | None:
    """The training run that produced a predictions folder, from its ``_summary.json``.

    The summary's ``run`` is tried as given, relative to ``work`` and as a name under
    ``work/runs/``.

    Returns:
        The run folder, or ``None`` when the summary or the folder is missing.
    """
    summary = Path(pred_dir) / "_summary.json"
    if not summary.is_file():
        return None
    try:
        run = json.loads(summary.read_text()).get("run")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{summary}: invalid JSON ({exc})") from exc
    if not run:
        return None
    candidates = [Path(run)]
    if work is not None:
        candidates += [Path(work) / run, Path(work) / "runs" / Path(run).name]
    for cand in candidates:
        if cand.is_dir():
            return cand
    return None


def load_threshold_params(pred_dir: str | Path, work: str | Path | None = None) -> dict:
    """The post-processing params of the run behind ``pred_dir`` (its ``thresholds.json``).

    A run without ``thresholds.json`` (tuning off) uses its config's default params.

    Raises:
        FileNotFoundError: naming the summary / run / config file that is missing.
    """
    run = run_dir_of(pred_dir, work)
    if run is None:
        raise FileNotFoundError(f"{Path(pred_dir) / '_summary.json'}: no readable 'run' entry "
                                "pointing to an existing run folder (needed for thresholds.json)")
    path = run / "thresholds.json"
    if not path.is_file():
        return _config_default_params(run, path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from exc


def _config_default_params(run: Path, missing: Path) -> dict:
    """An untuned U-Net run's params: its config's defaults (as ``solutions.unet.predict`` uses)."""
    config = run / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{missing}: missing, and no {config} to take default params from")
    try:
        from common.config import load_config
        from solutions.unet.config import UNetConfig
        from solutions.unet.predict import default_params  # imports keras: only on this path
    except ImportError as exc:
        raise FileNotFoundError(f"{missing}: missing, and the U-Net defaults are not importable "
                                f"({exc})") from exc
    return default_params(load_config(UNetConfig, config))


def merge_params(params: Sequence[dict]) -> dict:
    """Combine the post-processing params of several runs.

    Equal values are kept; differing numbers are averaged (rounded for integers);
    otherwise the first run's value is kept.
    """
    if not params:
        return {}
    out = dict(params[0])
    for key, first in params[0].items():
        values = [p.get(key, first) for p in params]
        if all(v == first for v in values):
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            mean = float(np.mean(values))
            out[key] = int(round(mean)) if all(isinstance(v, int) for v in values) else mean
    return out


def pixel_merge(probs: Sequence[np.ndarray], weights: Sequence[float] | None, params: dict,
                postprocess: Postprocess | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Average prob maps and turn them into instances.

    Args:
        probs: M float [H,W,C] maps.
        weights: float [M].
        params: Post-processing params (from ``thresholds.json``).
        postprocess: ``probs_to_instances``; default the U-Net's (imported lazily).

    Returns:
        ``(labels int32 [H,W], scores float32 [N])``.
    """
    fn = postprocess if postprocess is not None else load_postprocess()
    labels, scores = fn(average_probs(probs, weights), params)
    labels = np.asarray(labels, np.int32)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if scores.size != int(labels.max(initial=0)):
        raise ValueError(f"probs_to_instances returned {scores.size} scores for "
                         f"{int(labels.max(initial=0))} labels")
    return labels, scores
