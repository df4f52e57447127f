"""Tune the post-processing thresholds on out-of-fold predictions.

Usage::

    python -m solutions.unet.tune --run RUN_DIR [--data DIR] [--work DIR] [--solution NAME]

Reads ``WORK/predictions/<solution>/oof/<id>.npz`` (their ``prob`` maps) for the run's
out-of-fold images, searches a small grid by coordinate ascent (one parameter at a
time, two passes) maximising the DSB score (``common.metrics.score_dataset``), and
writes the best params to the run's ``thresholds.json``, which ``predict`` then uses.
Metadata keys in that file start with ``_``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from common.machine import worker_threads
from common.metrics import score_dataset
from common.predictions import check_layout, load_prediction
from common.instances import floors_at_scale, probs_to_instances

GRID_WATERSHED: dict[str, list] = {
    "mask_threshold": [0.3, 0.4, 0.5, 0.6],
    "seed_threshold": [0.3, 0.4, 0.5, 0.6, 0.7],
    # 0.5 and 0.65: markers only at the cores of the centre map, which splits touching nuclei;
    # tuned on other folds, +0.004 +- 0.001 on group-held-out images (held-out histology
    # +0.013 +- 0.004) and +0.002 +- 0.002 on stratified ones, against the grid up to 0.35,
    # which every fold chose the top of (bench/results/split30_cpu_20261203/)
    "centre_threshold": [0.0, 0.2, 0.35, 0.5, 0.65],
    "min_seed_area": [1, 3, 8],
    "min_area": [1, 5, 15, 30],
    # split instances less solid than this at the necks of their shape (split_depth 0.2, not
    # tuned: 0.1 over-split held-out histology); cross-fitted, +0.007 +- 0.002 on group-held-out
    # and on stratified images, every fold choosing 0.9 (bench/results/declump_cpu_20261204/)
    "split_solidity": [0.0, 0.85, 0.9],
    # not post.min_area_rel: thresholds tuned on other group folds with it in the grid gained
    # +0.005 +- 0.001 on 200-step networks but -0.001 on the 30-minute ones
    # (bench/results/tune_transfer_cpu_20261202/, generalise30_cpu_20261202/); pass a grid to try it
}
GRID_CC: dict[str, list] = {
    "mask_threshold": [0.3, 0.4, 0.5, 0.6, 0.7],
    "min_area": [1, 5, 15, 30],
}


def score_params(probs: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray], params: dict,
                 threads: int = 0, floor_scales: Mapping[str, float] | None = None) -> float:
    """DSB score of ``probs_to_instances(prob, params)`` over the images of ``truth``.

    The images are post-processed on ``threads`` threads (0: up to 8, one per core): the
    watershed and labelling release the GIL, so this scales with the cores.
    ``floor_scales``: image id -> the scale its floors are in (``Prediction.floor_scale``;
    default 1 for every image).
    """
    ids = list(truth)
    scales = floor_scales or {}
    with ThreadPoolExecutor(threads or worker_threads(8)) as pool:
        labels = pool.map(lambda i: probs_to_instances(probs[i], floors_at_scale(params, scales.get(i, 1.0)))[0],
                          ids)
        pred = dict(zip(ids, labels))
    return score_dataset(truth, pred).score


def tune_params(probs: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray], start: dict,
                grid: Mapping[str, Sequence] | None = None, passes: int = 2,
                verbose: bool = True, floor_scales: Mapping[str, float] | None = None
                ) -> tuple[dict, float, float]:
    """Coordinate ascent over ``grid`` starting from ``start``.

    Args:
        probs: image id → float [H,W,C] maps.
        truth: image id → int [H,W] true labels (the scored images).
        start: Initial params (also holds non-tuned keys such as ``channels``).
        grid: Parameter → candidate values (default by channel count).
        passes: Rounds over all parameters.
        verbose: Print each improvement.
        floor_scales: Image id -> the scale its floors are in (:func:`score_params`).

    Returns:
        ``(best_params, best_score, start_score)``.
    """
    n_channels = next(iter(probs.values())).shape[-1] if probs else 1
    grid = grid or (GRID_WATERSHED if n_channels > 1 else GRID_CC)
    best = dict(start)
    start_score = best_score = score_params(probs, truth, best, floor_scales=floor_scales)
    if verbose:
        print(f"[tune] start {best_score:.4f} with {best}", flush=True)
    for _ in range(passes):
        improved = False
        for key, values in grid.items():
            for value in values:
                if best.get(key) == value:
                    continue
                trial = {**best, key: value}
                score = score_params(probs, truth, trial, floor_scales=floor_scales)
                if score > best_score + 1e-9:
                    best, best_score, improved = trial, score, True
                    if verbose:
                        print(f"[tune] {key}={value}: {score:.4f}", flush=True)
        if not improved:
            break
    return best, best_score, start_score


def tune_run(run_dir: Path, pred_dir: Path, dataset, ids: Sequence[str], start: dict) -> dict:
    """Tune on the predictions of ``ids`` in ``pred_dir`` and write ``thresholds.json``.

    Returns:
        The written thresholds dict (params plus ``_``-metadata).
    """
    from common.io import write_json

    probs, truth, scales = {}, {}, {}
    for image_id in ids:
        path = pred_dir / f"{image_id}.npz"
        pred = load_prediction(path)
        if pred.prob is None:
            raise ValueError(f"{path}: no 'prob' maps to tune on; predict with prob maps saved")
        check_layout(pred.channels, start, path)
        probs[image_id], scales[image_id] = pred.prob, pred.floor_scale
        truth[image_id] = dataset.load_labels(image_id)
    if not truth:
        raise ValueError(f"no out-of-fold predictions in {pred_dir} for this run")
    best, score, start_score = tune_params(probs, truth, start, floor_scales=scales)
    out = {**best, "_oof_score": round(score, 5), "_default_score": round(start_score, 5),
           "_n_images": len(truth), "_predictions": str(pred_dir)}
    write_json(Path(run_dir) / "thresholds.json", out)
    print(f"[tune] {len(truth)} OOF images: {start_score:.4f} -> {score:.4f}; wrote {run_dir}/thresholds.json")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from common.cli import predict_target, resolve_run, workspace
    from common.config import load_config
    from common.runs import RunDir
    from solutions.unet.config import UNetConfig, default_params

    parser = argparse.ArgumentParser(prog="python -m solutions.unet.tune", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="run folder (or its name under WORK/runs)")
    parser.add_argument("--data", help="data folder holding stage1_train/")
    parser.add_argument("--work", help="workspace root")
    parser.add_argument("--solution", help="predictions folder name (default: the config's solution)")
    args = parser.parse_args(argv)
    ws = workspace(args)
    run = RunDir(resolve_run(args.run, ws))
    cfg = load_config(UNetConfig, run.config_path)
    target = predict_target(ws, run, args.solution or cfg.solution, "oof", n_folds=cfg.n_folds, seed=cfg.seed)
    tune_run(run.path, target.out_dir, target.dataset, target.ids, default_params(cfg))
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "python -m solutions.unet.tune"))
