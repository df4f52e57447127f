"""Predict instances with a trained U-Net run, per ``docs/CONTRACTS.md``.

Usage::

    python -m solutions.unet.predict --run RUN_DIR --split oof|test [--data DIR] [--work DIR]
        [--test-split stage1_test|stage2_test_final] [--solution NAME] [--tta none|hflip|flip|d4]
        [--no-tune] [--limit N] [--only IDS.txt] [--set KEY=VALUE ...]

* ``--split oof``: the run's validation-fold images → ``WORK/predictions/<solution>/oof/``;
  then (``post.tune`` in the config, unless ``--no-tune``) tunes the post-processing on
  them, writes the run's ``thresholds.json`` and re-labels the OOF files with it.
* ``--split test``: ``--test-split`` images → ``WORK/predictions/<solution>/test_fold<K>/``,
  post-processed with the run's ``thresholds.json`` (config defaults if absent).
* ``--set``: predict-time overrides of the run's config (``data.normalise``, ``predict.*``,
  ``post.*``); a ``post.*`` item wins over ``thresholds.json``, and with any item the OOF
  predict does not tune (the run's ``thresholds.json`` is left as it is). ``--tta X`` other than
  the config's own is recorded as the item ``predict.tta=X`` (it does not stop the tuning), so a
  resumed predict with another TTA predicts again. ``--engine`` is not recorded: the engines give
  the same maps up to round-off.
* ``--set predict.adapt.steps=300`` (off by default): before predicting, the network is
  fine-tuned on its own predictions of the images to predict (``solutions.unet.adapt``); the
  folder's summary records it under ``adapt``. Its weights stay in the folder
  (``_adapt*.weights.h5``) until every image of the share is there, so a killed predict (or
  another ``--only`` part) goes on with the same network.
* ``--set predict.bn_adapt.weight=W`` (off by default): before predicting, the network's batch-norm
  statistics are measured again on the share's images and blended in with weight ``W``
  (``solutions.unet.bn_adapt``); recorded under ``bn_adapt``. Measured again by a resumed predict (the
  same statistics for the same share and network); one that finds every image done keeps the record.

Each file holds ``labels`` (int32 [H,W]), ``scores`` (float32 [N], mean body
probability) and ``prob`` (float [H,W,C] maps). Timing goes to
``oof/_summary_fold<K>.json`` (written last, after tuning and relabelling: the pipeline
takes it as the fold's "done" marker) or ``test_fold<K>/_summary.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import add_predict_args, narrow_ids, predict_target, resolve_run, workspace
from common.config import load_config
from common.engine import ENGINE_CHOICES, resolve_engine
from common.io import read_json, write_json
from common.machine import device_description, worker_threads
from common.predictions import (
    adapt_path,
    adapted_weights_path,
    check_layout,
    load_prediction,
    newer_than,
    pending_ids,
    save_prediction,
    summary_path,
    write_folder_summary,
)
from common.runs import RunDir, load_trained
from common.timing import Stopwatch, stage
from solutions.unet.config import TTA_MODES, UNetConfig, default_params

__all__ = ["default_params", "floor_scale", "load_params", "load_run", "load_sizes", "load_target_area", "main",
           "nucleus_stats", "predict_folder",
           "predict_images", "relabel", "resolve_run"]


def load_params(run: RunDir, cfg: UNetConfig) -> dict:
    """The run's ``thresholds.json`` if tuned, else :func:`default_params`."""
    tuned = read_json(run.thresholds_path)
    return tuned if tuned is not None else default_params(cfg)


def post_overrides(params: dict, cfg: UNetConfig, overrides: Sequence[str] = ()) -> dict:
    """``params`` (the run's tuned ``thresholds.json`` or the config's) with every
    post-processing value that a ``--set post.<name>=...`` item gives taken from ``cfg``
    (which holds the items): what the user sets at predict time wins over tuning."""
    post = cfg.post.params()
    keys = (item.split("=", 1)[0].strip().removeprefix("post.") for item in overrides
            if item.strip().startswith("post."))
    return {**params, **{k: post[k] for k in keys if k in post}}


def load_run(run_dir: str | os.PathLike, overrides: Sequence[str] = ()) -> tuple[UNetConfig, Any]:
    """The run's resolved config (plus ``overrides``) and its network with best/last weights."""
    from solutions.unet.model_watershed import build_model

    return load_trained(run_dir, UNetConfig, build_model, overrides)


def load_target_area(run: RunDir, cfg: UNetConfig) -> float:
    """The training nucleus area that ``predict.scale_norm``'s size rule rescales to and
    ``predict.denoise.larger_than`` compares with (0.0 when neither needs it; ``multiscale``'s
    ``enlarge_below`` gets it from :func:`load_sizes`).

    ``predict.scale_norm.target_area`` if set, else the run's ``nucleus_size.json``
    (written by training); a run trained before that file existed gets it measured now
    from its training images' labels (``run_info.json``) and written.
    """
    sn = cfg.predict.scale_norm
    size_rule = sn.enabled and sn.estimate != "multiscale"
    dn = cfg.predict.denoise
    if not size_rule and not (dn.sigma > 0 and dn.larger_than > 0):  # no target needed, or load_sizes's
        return 0.0
    if sn.target_area > 0:
        return float(sn.target_area)
    return float(nucleus_stats(run, "target_area")["target_area"])


def load_sizes(run: RunDir, cfg: UNetConfig, name: str | None = None,
               remedy: str | None = None) -> dict[str, float]:
    """``{"target_area", "small_area"}`` for ``predict_image``: :func:`load_target_area`, and
    the area below which ``predict.scale_norm.enlarge_below`` enlarges (0.0: never), from the
    run's ``nucleus_size.json`` (:func:`nucleus_stats`). A model folder where that cannot be
    had (no file and no training ids, data moved) predicts without enlarging, and says so in
    one line, naming the model as ``name`` (default: the folder's name). ``segment`` passes the
    path it was given: for a ``.dsbmodel`` file, the file, not the temporary folder it was
    unpacked into, whose path is replaced by ``name`` in the reason too; ``remedy`` (optional)
    ends the line with what would fix it."""
    sn = cfg.predict.scale_norm
    if not (sn.enabled and sn.estimate == "multiscale" and sn.enlarge_below > 0):
        return {"target_area": load_target_area(run, cfg), "small_area": 0.0}
    from common.scale import small_area

    try:
        stats = nucleus_stats(run, "image_areas")
    except (OSError, ValueError) as exc:  # no file, moved or unreadable data
        why = " ".join((str(exc).replace(str(run.path), name) if name else str(exc)).split())
        fix = f"; {remedy}" if remedy else ""
        print(f"[predict] predict.scale_norm.enlarge_below is off for {name or run.path.name}: {why}{fix}", flush=True)
        return {"target_area": 0.0, "small_area": 0.0}
    return {"target_area": float(sn.target_area or stats["target_area"]),
            "small_area": float(small_area(stats, sn.enlarge_below))}


def nucleus_stats(run: RunDir, key: str = "image_areas") -> dict:
    """The run's ``nucleus_size.json``; measured from its training labels (``run_info.json``)
    and written when it is missing or lacks ``key`` (a run trained before ``key`` existed).
    A folder that cannot be written keeps the measurement for this call only, and says so.

    Raises:
        FileNotFoundError: no file, and ``run_info.json`` does not list the training images.
    """
    from common.scale import NUCLEUS_SIZE_FILE, nucleus_area_stats

    path = run.path / NUCLEUS_SIZE_FILE
    stats = read_json(path)
    if stats is not None and key in stats:
        return stats
    try:
        data_dir, fit_ids = run.training_set()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {'missing' if stats is None else f'has no {key!r}'}, and "
                                f"{run.info_path} does not list the training images to measure it from") from None
    from common.data import DSBDataset
    from solutions.unet.data import load_items

    print(f"[predict] measuring the training nucleus size of {run.path.name} "
          f"({len(fit_ids)} label images){'' if stats is None else f': {path.name} lacked {key}'}",
          flush=True)
    stats = nucleus_area_stats(load_items(DSBDataset(data_dir, "stage1_train"), fit_ids)[1])
    try:
        write_json(path, stats)
    except OSError as exc:
        print(f"[predict] could not save {path} ({exc}); measured again next time", flush=True)
    return stats


def predict_images(model, cfg: UNetConfig, images: Sequence[np.ndarray], tta: str | None = None,
                   params: dict | None = None, target_area: float = 0.0,
                   small_area: float = 0.0) -> list[np.ndarray]:
    """Probability maps of a list of uint8 [H,W,3] images of any sizes.

    Each image is normalised, padded or tiled and run through its TTA views by
    ``solutions.unet.inference.predict_image``; ``params``, ``target_area`` and
    ``small_area`` serve ``predict.scale_norm`` (:func:`load_sizes`).

    Returns:
        One float [H,W,C] map per image, at the image's size (``C`` = the model's channels).
    """
    from solutions.unet.inference import predict_image

    return [predict_image(model, image, cfg, tta, params, target_area, small_area=small_area) for image in images]


def floor_scale(cfg: UNetConfig, scale: float) -> float:
    """The scale the post-processing floors of an image predicted at ``scale`` (its
    ``info["scale"]``) are in: ``scale`` with ``predict.scale_norm.floors_follow_scale``,
    else 1 (the image's own pixels). Saved with the maps (``Prediction.floor_scale``)."""
    sn = cfg.predict.scale_norm
    return float(scale) if sn.enabled and sn.floors_follow_scale else 1.0


def predict_folder(model, cfg: UNetConfig, dataset, ids: Sequence[str], out_dir: Path, params: dict,
                   tta: str | None, run: RunDir, target_area: float = 0.0,
                   timer: Stopwatch | None = None, small_area: float = 0.0) -> dict:
    """Predict ``ids`` of ``dataset`` into ``out_dir``, one ``<image_id>.npz`` each.

    The network runs in this thread; each image's post-processing and ``.npz`` writing run
    on a few worker threads meanwhile (at most two images per worker wait in memory).
    Images are normalised (``data.normalise``) inside ``predict_image``; with
    ``predict.scale_norm`` its first pass is post-processed with ``params`` and the image
    rescaled towards ``target_area`` (``small_area``: :func:`load_sizes`). ``timer`` (optional,
    ``common.timing``) gets the stages of ``predict_image`` plus ``load``, ``postprocess``
    (watershed) and ``write``.

    Returns:
        The timing summary (``n_images``, ``seconds``, ``images_per_s``, ``device``, ``run``,
        ``tta``, and with scale normalisation ``scale_norm``: target area, images rescaled,
        median factor, small area, images enlarged; with ``predict.denoise`` the images it
        smoothed); the caller writes it with
        ``common.predictions.write_folder_summary`` once the folder is final.
    """
    from solutions.unet.inference import predict_image
    from common.instances import floors_at_scale, probs_to_instances

    def finish(image_id: str, prob, scale: float) -> None:
        floors = floor_scale(cfg, scale)
        with stage(timer, "postprocess"):
            labels, scores = probs_to_instances(prob, floors_at_scale(params, floors))
        with stage(timer, "write"):
            save_prediction(out_dir / f"{image_id}.npz", labels, scores, prob=prob,
                            channels=params.get("channels"), floor_scale=floors)

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    workers = worker_threads(4)
    factors, denoised = [], 0
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for n, image_id in enumerate(ids, 1):
            info: dict = {}
            with stage(timer, "load"):
                image = dataset.load_image(image_id)
            prob = predict_image(model, image, cfg, tta, params, target_area, info, timer, small_area)
            factors.append(info.get("scale", 1.0))
            denoised += bool(info.get("denoised"))
            pending.append(pool.submit(finish, image_id, prob, info.get("scale", 1.0)))
            while len(pending) > 2 * workers:
                pending.popleft().result()  # re-raises a worker's error here
            if n % 25 == 0 or n == len(ids):
                print(f"[predict] {n}/{len(ids)} images, {time.monotonic() - t0:.1f} s", flush=True)
        while pending:
            pending.popleft().result()
    seconds = time.monotonic() - t0
    summary = {"n_images": len(ids), "seconds": round(seconds, 2),
               "images_per_s": round(len(ids) / seconds, 3) if seconds > 0 else None,
               "device": device_description(), "run": str(run.path), "tta": tta or cfg.predict.tta,
               "normalise": cfg.data.normalise, "fluorescence_gray": cfg.data.fluorescence_gray,
               "flatten_background": cfg.data.flatten_background, "engine": resolve_engine(cfg.predict.engine)}
    if cfg.predict.scale_norm.enabled:
        rescaled = [f for f in factors if f != 1.0]
        summary["scale_norm"] = {"target_area": target_area, "n_rescaled": len(rescaled),
                                 "median_factor": float(np.median(rescaled)) if rescaled else 1.0,
                                 "small_area": small_area, "n_enlarged": sum(f > 1.0 for f in factors)}
    if cfg.predict.denoise.sigma > 0:
        summary["denoise"] = {"n_images": denoised}
    return summary


def relabel(out_dir: Path, ids: Sequence[str], params: dict) -> None:
    """Re-run post-processing on saved predictions (their ``prob``) with new params, the
    floors in each file's ``floor_scale``."""
    from common.instances import floors_at_scale, probs_to_instances

    def one(image_id: str) -> None:
        path = out_dir / f"{image_id}.npz"
        pred = load_prediction(path)
        check_layout(pred.channels, params, path)
        labels, scores = probs_to_instances(pred.prob, floors_at_scale(params, pred.floor_scale))
        save_prediction(path, labels, scores, prob=pred.prob, channels=pred.channels or params.get("channels"),
                        floor_scale=pred.floor_scale)

    with ThreadPoolExecutor(worker_threads(4)) as pool:
        list(pool.map(one, ids))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m solutions.unet.predict", description=__doc__.split("\n")[0])
    add_predict_args(parser)
    parser.add_argument("--tta", choices=TTA_MODES, help="override predict.tta")
    parser.add_argument("--engine", choices=ENGINE_CHOICES,
                        help="override predict.engine (what runs the network, common/engine.py)")
    parser.add_argument("--no-tune", action="store_true", help="do not tune thresholds after --split oof")
    args = parser.parse_args(argv)
    ws = workspace(args)
    run = RunDir(resolve_run(args.run, ws))
    cfg = load_config(UNetConfig, run.config_path, args.overrides)  # a bad --set item fails here
    # what the maps are made with: the --set items, and --tta where it is not the config's own (recorded,
    # and checked when a predict resumes or adapts); tuning and post.* follow the --set items alone
    made_with = list(args.overrides)
    if args.tta and args.tta != cfg.predict.tta:
        made_with.append(f"predict.tta={args.tta}")
        cfg = load_config(UNetConfig, run.config_path, made_with)
    target = predict_target(ws, run, args.solution or cfg.solution, args.split, args.test_split,
                            cfg.n_folds, cfg.seed)
    dataset, out_dir, fold = target.dataset, target.out_dir, target.fold
    ids = narrow_ids(target.ids, args.only, args.limit)
    # a killed predict resumes per image, unless this share was predicted with other --set items
    todo = pending_ids(out_dir, ids, run.path, made_with, target.summary_fold, share=target.ids)
    marker = summary_path(out_dir, target.summary_fold)
    before = read_json(marker) if cfg.predict.bn_adapt.enabled and not todo else None  # its bn_adapt record
    marker.unlink(missing_ok=True)  # a stale marker must not mark a half-rewritten folder done
    if len(todo) < len(ids):
        print(f"[predict] {len(ids) - len(todo)} of {len(ids)} images already predicted; "
              f"predicting the other {len(todo)}")
    cfg, model = load_run(run.path, [*made_with, *([f"predict.engine={args.engine}"] if args.engine else [])])
    params = post_overrides(load_params(run, cfg), cfg, args.overrides)
    sizes = load_sizes(run, cfg)
    adapted, weights = None, adapted_weights_path(out_dir, target.summary_fold)
    if cfg.predict.adapt.enabled:  # on the whole share, whatever --only/--limit keep: one network per share
        from solutions.unet.adapt import adapt_share

        adapted, todo = adapt_share(model, cfg, run, dataset, target.ids, ids, todo, out_dir, target.summary_fold,
                                    params, sizes, made_with)
    elif todo:  # these images are not adapted: an earlier record would say they were
        adapt_path(out_dir, target.summary_fold).unlink(missing_ok=True)
        weights.unlink(missing_ok=True)
    bn_adapted = (before or {}).get("bn_adapt")  # every image done: the record of the predict that made them
    if cfg.predict.bn_adapt.enabled and todo:  # on the whole share, after predict.adapt: one set of statistics
        from solutions.unet.bn_adapt import adapt_batch_norm

        bn_adapted = adapt_batch_norm(model, cfg, dataset, target.ids, params, sizes)
    summary = {**predict_folder(model, cfg, dataset, todo, out_dir, params, None, run, **sizes), "fold": fold}
    if adapted is not None:
        summary["adapt"] = adapted
    if bn_adapted is not None:
        summary["bn_adapt"] = bn_adapted
    print(f"[predict] {summary}")
    if args.split == "oof" and cfg.post.tune and not args.no_tune:
        if args.overrides:
            print("[predict] not tuning: --set changed the run's config, and its thresholds.json stays as it is")
        else:
            from solutions.unet.tune import tune_run

            params = tune_run(run.path, out_dir, dataset, ids, default_params(cfg))
            relabel(out_dir, ids, params)
    summary["params"] = params  # the exact post-processing: the ensemble reads it from here
    # last: for oof/ this per-fold file is the pipeline's "fold done" marker
    write_folder_summary(out_dir, summary, fold=target.summary_fold, overrides=made_with)
    if newer_than([out_dir / f"{i}.npz" for i in target.ids], run.path / "train_summary.json"):
        weights.unlink(missing_ok=True)  # the share is whole for this training: its adapted network is not needed
    if args.split == "oof" and dataset.has_labels:
        from common.metrics import score_dataset

        truth = {i: dataset.load_labels(i) for i in ids}
        pred = {i: load_prediction(out_dir / f"{i}.npz").labels for i in ids}
        print(f"[predict] OOF DSB score ({len(ids)} images): {score_dataset(truth, pred).score:.4f}")
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "python -m solutions.unet.predict"))
