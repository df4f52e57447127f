"""Pixel-level ensembling: weighted mean of per-pixel maps, then the shared post-processing.

Semantic solutions (the U-Net) store their per-pixel maps as ``prob`` (float [H,W,C]).
The maps of several folds (or TTA variants, or models with the same channel layout) are
averaged with weights and turned into instances by ``common.instances.probs_to_instances``
with the exact ``params`` the producing predict recorded in its folder summary
(``_summary.json`` / ``_summary_fold<k>.json``, key ``params``). Folders written before
summaries carried params fall back to the producing run's ``thresholds.json``; without
either, the merge refuses, naming the summary (it never guesses).

Which run's params:

* ``test_fold<k>`` folders: each folder's ``_summary.json`` names its run; the params of
  the runs whose folders are merged are combined by :func:`merge_params` (numbers
  averaged, integers rounded, anything else taken from the first, i.e. lowest, fold).
  The mean is used rather than one fold's params because the merged map is the mean of
  every merged fold's maps.
* ``oof``: every image is predicted by the run of its own fold only, so it is
  post-processed with that run's params (:func:`oof_fold_params`): ``folds.csv`` maps
  the image to fold ``k``, and ``_summary_fold<k>.json`` of the folder (or, for folders
  written before per-fold summaries, the run ``WORK/runs/<solution>-fold<k>``) names the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.io import read_json
from common.predictions import list_predictions, summary_path

__all__ = ["average_probs", "load_postprocess", "map_layout", "run_dir_of", "load_threshold_params",
           "read_image_folds", "oof_fold_params", "merge_params", "pixel_merge"]

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
    """The shared post-processing, ``common.instances.probs_to_instances``."""
    from common.instances import probs_to_instances

    return probs_to_instances


def run_dir_of(pred_dir: str | Path, work: str | Path | None = None,
               fold: int | None = None) -> Path | None:
    """The training run that produced a predictions folder (or one fold's share of it).

    Read from the folder's ``_summary.json`` (``fold`` None) or ``_summary_fold<k>.json``.
    The summary's ``run`` is tried as given, relative to ``work`` and as a name under
    ``work/runs/``. For a fold of a folder without per-fold summaries (written before
    they existed), the run ``work/runs/<solution>-fold<k>`` is used, ``<solution>`` being
    the name of the folder's parent (``predictions/<solution>/oof``).

    Returns:
        The run folder, or ``None`` when the summary or the folder is missing.
    """
    pred_dir = Path(pred_dir)
    summary = read_json(summary_path(pred_dir, fold))  # ValueError naming a corrupt file
    run = (summary or {}).get("run") if isinstance(summary, dict) else None
    candidates = []
    if run:
        candidates.append(Path(run))
        if work is not None:
            candidates += [Path(work) / run, Path(work) / "runs" / Path(run).name]
    elif fold is not None and work is not None and not list(pred_dir.glob("_summary_fold*.json")):
        candidates.append(Path(work) / "runs" / f"{pred_dir.parent.name}-fold{fold}")
    for cand in candidates:
        if cand.is_dir():
            return cand
    return None


def load_threshold_params(pred_dir: str | Path, work: str | Path | None = None,
                          fold: int | None = None) -> dict:
    """The post-processing params that produced ``pred_dir`` (or one fold's share of it).

    Read from the folder summary's ``params`` (every predict writes them); for folders
    written before that, from the producing run's ``thresholds.json``.

    Args:
        pred_dir: Predictions folder.
        work: Workspace root (to resolve run names).
        fold: For an ``oof`` folder: the fold whose params are wanted.

    Raises:
        FileNotFoundError: naming the summary when it records no params and no
            ``thresholds.json`` of its run can be found.
    """
    summary = read_json(summary_path(pred_dir, fold))
    if fold is not None and summary is None:  # an old folder with one _summary.json
        summary = read_json(summary_path(pred_dir, None))
    if isinstance(summary, dict) and isinstance(summary.get("params"), dict):
        return dict(summary["params"])
    run = run_dir_of(pred_dir, work, fold)
    if run is not None and (run / "thresholds.json").is_file():
        return read_json(run / "thresholds.json")
    raise FileNotFoundError(f"{summary_path(pred_dir, fold)}: records no post-processing "
                            "'params' and its run has no thresholds.json; predict this folder "
                            "again to record them")


def read_image_folds(folds_csv: str | Path) -> dict[str, int]:
    """image id -> fold from ``folds.csv`` (empty when the file is missing)."""
    folds_csv = Path(folds_csv)
    if not folds_csv.is_file():
        return {}
    df = pd.read_csv(folds_csv, dtype={"image_id": str})
    return dict(zip(df["image_id"], df["fold"].astype(int)))


def oof_fold_params(oof_dir: str | Path, work: str | Path | None,
                    image_folds: Mapping[str, int]) -> dict[int, dict]:
    """fold -> post-processing params of that fold's run, for every fold ``oof_dir`` holds.

    Raises:
        FileNotFoundError: ``image_folds`` is empty (no ``folds.csv``), or a fold's run or
            its params cannot be found (the message names the file).
    """
    if not image_folds:
        raise FileNotFoundError(f"{oof_dir}: no folds.csv to tell which fold's run predicted "
                                "each OOF image (needed for its thresholds.json)")
    folds = sorted({image_folds[i] for i in list_predictions(oof_dir) if i in image_folds})
    return {k: load_threshold_params(oof_dir, work, fold=k) for k in folds}


#: Params that say what the maps are; runs that differ in them are not averaged.
LAYOUT_KEYS = ("channels", "method")


def merge_params(params: Sequence[dict]) -> dict:
    """Combine the post-processing params of several runs.

    Equal values are kept; differing numbers are averaged (rounded for integers);
    otherwise the first run's value is kept, except for the maps' layout: runs whose
    ``channels`` (or ``method``) differ raise ``ValueError``, since their maps cannot be
    averaged channel by channel. A step that 0 switches off
    (``common.instances.OFF_AT_ZERO``, e.g. ``split_solidity``) is off when most runs
    have it off, else it takes the mean of the runs' "on" values: the mean of 0 and 0.9 is
    neither choice.
    """
    from common.instances import OFF_AT_ZERO

    if not params:
        return {}
    out = dict(params[0])
    for key, first in params[0].items():
        values = [p.get(key, first) for p in params]
        if all(v == first for v in values):
            continue
        if key in LAYOUT_KEYS:
            raise ValueError(f"the runs' prob maps differ in {key} ({sorted(map(str, values))}); "
                             "they cannot be averaged pixel by pixel")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            if key in OFF_AT_ZERO:
                values = [v for v in values if v != 0]
                if 2 * len(values) < len(params):
                    out[key] = 0 * first
                    continue
            mean = float(np.mean(values))
            out[key] = int(round(mean)) if all(isinstance(v, int) for v in values) else mean
    return out



def map_layout(channels: Sequence, n_channels: int, where: str, params: dict | None = None
               ) -> tuple[str, ...]:
    """The one layout of maps about to be averaged, from each file's names (``None``: a file
    that names none, read in the default order, ``common.instances.channel_names``).

    Args:
        channels: Each file's ``Prediction.channels``.
        n_channels: The maps' channel count.
        where: Named in the error (image and source).
        params: The post-processing params that will read the average; when a file names
            its maps, ``params["channels"]`` must match them.

    Raises:
        ValueError: the files lay their maps out differently, or otherwise than ``params``.
    """
    from common.instances import channel_names
    from common.predictions import check_layout

    layouts = {tuple(c) if c is not None else channel_names(n_channels) for c in channels}
    if len(layouts) > 1:
        raise ValueError(f"{where}: the folders name their prob maps differently ({sorted(layouts)}); "
                         "maps of different layouts cannot be averaged")
    layout = next(iter(layouts))
    if any(c is not None for c in channels):  # unnamed files: the params' names are all there is
        check_layout(layout, params or {}, where)
    return layout

def pixel_merge(probs: Sequence[np.ndarray], weights: Sequence[float] | None, params: dict,
                postprocess: Postprocess | None = None, floor_scale: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Average prob maps and turn them into instances.

    Args:
        probs: M float [H,W,C] maps.
        weights: float [M].
        params: Post-processing params (recorded by the predict that made the maps).
        postprocess: Default ``common.instances.probs_to_instances``.
        floor_scale: The scale ``params``' floors are in (``common.predictions.Prediction``;
            the merger passes the median of the files' own).

    Returns:
        ``(labels int32 [H,W], scores float32 [N])``.
    """
    from common.instances import floors_at_scale

    fn = postprocess if postprocess is not None else load_postprocess()
    labels, scores = fn(average_probs(probs, weights), floors_at_scale(params, floor_scale))
    labels = np.asarray(labels, np.int32)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if scores.size != int(labels.max(initial=0)):
        raise ValueError(f"probs_to_instances returned {scores.size} scores for "
                         f"{int(labels.max(initial=0))} labels")
    return labels, scores
