"""The study's table on one GPU: fold 0 of every model, side by side, under a deadline.

Trains fold 0 of ``maskrcnn-mobilenet``, ``maskrcnn-resnet50``, ``maskrcnn-resnet101``,
``maskrcnn-densenet201``, ``unet`` and ``unet-baseline`` at once on one card (each in its
own process; JAX does not preallocate, so they share the memory), predicts each model's
fold-0 out-of-fold images as soon as it has trained, scores them, and derives from the
measured speeds what the full profile (every default solution, 5 folds) costs on such a
card. Meant for the lent H200 with JAX and no TensorFlow (see docs/DEVELOPING.md for the
wheels and the packed data)::

    KERAS_BACKEND=jax python bench/gpu_study.py --packed .devdata/dsb_train.pkl --out OUT \\
        --budget 300 --deadline 560

The backbones start from random weights there (no internet), so every figure is for random
initialisation; with ImageNet weights on a user's machine they will differ. Mask R-CNN
trains with the schedule the CPU real-data check uses for random init (one short
heads-only epoch, then all layers with Adam) until ``--budget`` seconds, since the study's
SGD schedule assumes ImageNet weights. ``OUT`` gets the driver's files
(``bench/gpu_driver.py``) plus ``study.md`` and ``study.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gpu_driver import Job, add_driver_args, prepare, report_failures, run_jobs, score  # noqa: E402

STUDY = ("maskrcnn-mobilenet", "maskrcnn-resnet50", "maskrcnn-resnet101", "maskrcnn-densenet201",
         "unet", "unet-baseline")
#: The study's figures (stage-2 test set, K80), for the table's last columns.
STUDY_PAPER = {"unet-baseline": (0.326, 510), "maskrcnn-mobilenet": (0.387, 7292),
               "maskrcnn-resnet50": (0.406, 8750), "maskrcnn-resnet101": (0.436, 10440),
               "maskrcnn-densenet201": (0.25, 8637)}
#: Per family: --set items that fit a random-init training into a wall-clock budget, and
#: one input shape per predict batch under JAX (one XLA compile).
FAMILY_SETS = {
    "maskrcnn": ("train.optimizer=adam", "train.lr=0.001", "train.heads_epochs=1",
                 "train.all_epochs=1000", "train.steps_per_epoch=50", "train.val_steps=0",
                 "train.workers=3"),
    "unet": ("predict.tile_size=256", "predict.pad_multiple=256", "predict.batch_size=16",
             "predict.static_batch=true", "train.workers=3"),
}
#: The U-Net trained under a time budget on a GPU (the full profile's watershed.yaml runs
#: an epoch schedule; gpu_time.yaml is its budgeted GPU form).
CONFIG_OVERRIDE = {"unet": "solutions/unet/configs/gpu_time.yaml"}
N_TRAIN, N_TEST_STAGE2 = 664, 3019


def study_jobs(names: list[str], pred_limit: int = 0, tiny: bool = False) -> list[Job]:
    """Fold-0 jobs of the named solutions (from the pipeline registry); ``tiny`` adds each
    solution's ``--tiny`` items (a dry run of the script on a CPU)."""
    from pipeline.registry import get_solution

    jobs = []
    for name in names:
        spec = get_solution(name)
        config = CONFIG_OVERRIDE.get(name, str(spec.config("full")))
        limit = ("--limit", str(pred_limit)) if pred_limit and spec.family == "unet" else ()
        jobs.append(Job(name, config, 0, package=spec.package,
                        train_set=(*spec.overrides, "n_folds=5",
                                   *FAMILY_SETS.get(spec.family, ()), *(spec.tiny if tiny else ())),
                        predict_args=limit))
    return jobs


def full_profile_cost(name: str, train_ips: float | None, infer_ips: float | None) -> dict:
    """Seconds that 5 folds of ``name``'s full-profile config take at the measured speeds.

    Training: the config's images per fold (``common.devices.train_images_per_fold``), capped
    by its ``train.time_budget_s``; prediction: every training image once out-of-fold plus
    the 3,019 stage-2 test images once per fold.
    """
    from common.config import load_yaml
    from common.devices import train_images_per_fold
    from pipeline.registry import get_solution

    spec = get_solution(name)
    cfg = load_yaml(spec.config("full"))
    images = train_images_per_fold(cfg, N_TRAIN, 5)
    budget = float((cfg.get("train") or {}).get("time_budget_s") or 0)
    out = {"config": spec.config("full").name, "train_images_per_fold": images}
    if train_ips:
        per_fold = images / train_ips
        out["train_s_per_fold"] = round(min(per_fold, budget) if budget else per_fold, 1)
    if infer_ips:
        out["predict_s"] = round((N_TRAIN + 5 * N_TEST_STAGE2) / infer_ips, 1)
    if "train_s_per_fold" in out and "predict_s" in out:
        out["total_s"] = round(5 * out["train_s_per_fold"] + out["predict_s"], 1)
    return out


def study_table(jobs: list[Job], work: Path, out: Path, budget: float) -> dict:
    """Speeds, fold-0 scores and the 5-fold cost of each model; writes study.md/json."""
    from common.io import read_json
    from common.machine import device_description

    scores = read_json(out / "oof_scores.json", {}) or {}
    rows, lines = {}, [
        "| model | init | train img/s | inference img/s | fold-0 OOF DSB | 5-fold full profile (est.) "
        "| study: score, train s (K80) |", "|---|---|---:|---:|---:|---:|---|"]
    for job in jobs:
        summary = read_json(work / "runs" / job.name / "train_summary.json", {}) or {}
        pred = read_json(work / "predictions" / job.solution / "oof" / "_summary_fold0.json", {}) or {}
        train_ips, infer_ips = summary.get("train_images_per_s"), pred.get("images_per_s")
        cost = full_profile_cost(job.solution, train_ips, infer_ips)
        dsb = (scores.get(job.solution) or {}).get("score")
        rows[job.solution] = {"state": job.state, "train_images_per_s": train_ips,
                              "inference_images_per_s": infer_ips, "fold0_dsb": dsb,
                              "train_seconds": summary.get("train_seconds"), "cost": cost}
        paper = STUDY_PAPER.get(job.solution)
        hours = f"{cost['total_s'] / 3600:.2f} h" if "total_s" in cost else "n/a"
        lines.append(f"| {job.solution} | random | {train_ips or 'n/a'} | {infer_ips or 'n/a'} | "
                     f"{dsb if dsb is not None else 'n/a'} | {hours} | "
                     f"{f'{paper[0]}, {paper[1]:,} s' if paper else ''} |")
    known = [r["cost"]["total_s"] for r in rows.values() if "total_s" in r["cost"]]
    total = sum(known) / 3600 if known else math.nan
    lines += ["", f"Device: {device_description()}. Fold 0 of 5 (stratified, seed 42), "
              f"{budget:g} s of training per model, all models side by side on the card, so each "
              "speed is measured while sharing it. Random initialisation (no internet).",
              f"Estimated full profile, every model 5 folds one after another at these speeds: "
              f"{total:.2f} GPU-hours ({len(known)} of {len(rows)} models measured; goal: at most 2)."]
    (out / "study.md").write_text("\n".join(lines) + "\n")
    (out / "study.json").write_text(json.dumps({"models": rows, "full_profile_gpu_hours": total},
                                               indent=1) + "\n")
    print("\n".join(lines), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_driver_args(parser, budget=300, deadline=560)
    parser.add_argument("--solutions", default=",".join(STUDY), help="comma list of pipeline names")
    parser.add_argument("--set", nargs="*", default=[], help="train --set overrides for every run")
    parser.add_argument("--pred-limit", type=int, default=0, help="U-Nets predict only N images (dry runs)")
    parser.add_argument("--tiny", action="store_true", help="each model's run_all --tiny items (dry runs)")
    args = parser.parse_args(argv)
    env, logs, t0 = prepare(parser, args)
    jobs = study_jobs([s for s in args.solutions.split(",") if s], args.pred_limit, args.tiny)
    run_jobs(jobs, args, env, logs, t0)
    report_failures(jobs, logs)
    score(jobs, args, t0)
    study_table(jobs, args.work, args.out, args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
