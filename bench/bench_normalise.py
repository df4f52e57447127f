"""A/B of U-Net input switches (``data.normalise``, augmentation, ``predict.scale_norm``) on group folds.

The cheapest informative comparison for issue 14: one group fold (a fold whose image kind
no training image has, e.g. fold 1 of the 5 group folds holds every histology image),
trained once per variant for the same number of steps (not seconds: the CPU is shared,
so a time budget would give the variants different amounts of training), its out-of-fold
images predicted without TTA and without tuning (tuning on the held-out fold would leak
it), scored (DSB mean AP) overall and per image type.

Usage::

    .venv/bin/python bench/bench_normalise.py --work /tmp/norm_work --data ../shared/dsb2018 \\
        --fold 1 --epochs 16 --variant none:data.normalise=none \\
        --variant gray_invert:data.normalise=gray_invert --out bench/results/normalise_cpu_<date>/

Each variant trains in ``WORK/<name>/split-group/runs/unet-fold<K>`` (``--split-by group``;
``WORK/split-group/folds_group.csv`` is copied in when present, so the folds are made
once); finished runs and predicted folds are skipped, so running it again resumes.
``--split-by stratified`` runs the same A/B on the stratified folds instead
(``WORK/<name>/runs/``, ``WORK/folds.csv``): the in-distribution score per type, where a
change meant for rare kinds (``data.balance``) shows whether it helps the rare kinds that
training does contain, and what it costs the common ones.
``--predict-variant NAME:BASE:KEY=VALUE ...`` A/Bs a prediction-time switch (e.g.
``predict.scale_norm.enabled=true``) on variant BASE's trained network: its run folder is
copied with the overrides applied to the copy's ``config.yaml``, and only predicted.
Writes ``normalise.md`` and ``normalise.json`` to ``--out`` with the command and machine.

``--sizes`` (no training) writes ``sizes.md`` instead: the median nucleus area per image
type, and the ``predict.scale_norm`` target (``common.scale.nucleus_area_stats``) that
each group fold's training images give, against the median of its held-out images.

``--combine --folds 4 2 1 0 3`` (no training) pools the folds already run in ``--work``:
every variant's OOF predictions of those folds are scored per image, and
``combined.md`` / ``combined.json`` give each variant's DSB over all of them, per image
type, per image size, per image kind (``folds_group.csv`` group) and per fold, with its paired difference from the first variant
(mean ± standard error over the same images), so a change is judged on every held-out
kind rather than on one fold. ``--stored gi=bench/results/.../combined.json`` adds a variant
scored earlier (its per-image scores) without its predictions: a deterministic variant
need not be retrained as the reference of every new one.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.io import atomic_write_text, read_json, write_json  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402
from common.paths import Workspace, repo_pythonpath  # noqa: E402

#: Same for every variant: the cpu30 network, cosine over a fixed number of steps, no
#: validation split (all steps train), no TTA, no tuning.
BASE_SETS = ("train.lr_schedule=cosine", "train.time_budget_s=0", "train.steps_per_epoch=25",
             "train.patience=0", "data.val_fraction=0", "post.tune=false", "predict.tta=none")


def _run(cmd: list[str], log: Path) -> float:
    t0 = time.monotonic()
    with open(log, "a") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": repo_pythonpath()})
    if proc.returncode:
        raise SystemExit(f"bench_normalise: command failed ({proc.returncode}), see {log}: {shlex.join(cmd)}")
    return time.monotonic() - t0


def workspace(args: argparse.Namespace, name: str | None = None) -> Workspace:
    """The workspace of variant ``name`` (None: the shared one whose folds file is copied in)."""
    return Workspace.from_args(args.work / name if name else args.work, args.data, args.split_by)


def run_variant(name: str, sets: list[str], args: argparse.Namespace) -> dict:
    """Train and OOF-predict one variant; returns its timings."""
    work = args.work / name
    ws = workspace(args, name)
    group_root = ws.root
    group_root.mkdir(parents=True, exist_ok=True)
    shared_folds = workspace(args).folds_csv
    if shared_folds.is_file() and not ws.folds_csv.exists():
        shutil.copy2(shared_folds, ws.folds_csv)
    common = ["--data", str(args.data), "--work", str(work), "--split-by", args.split_by]
    log = args.work / f"{name}.log"
    run = f"unet-fold{args.fold}"
    items = [*BASE_SETS, f"train.epochs={args.epochs}", *sets]
    out = {"sets": items}
    if not (group_root / "runs" / run / "train_summary.json").is_file():
        out["train_wall_s"] = _run([sys.executable, "-m", "solutions.unet.train", "--config", str(args.config),
                                    "--fold", str(args.fold), *common, "--verbose", "2", "--set", *items], log)
    marker = group_root / "predictions" / "unet" / "oof" / f"_summary_fold{args.fold}.json"
    if not marker.is_file():
        limit = ["--limit", str(args.oof_limit)] if args.oof_limit else []
        out["predict_wall_s"] = _run([sys.executable, "-m", "solutions.unet.predict", "--run", run, "--split", "oof",
                                      *common, "--no-tune", *limit], log)
    out["train"] = read_json(group_root / "runs" / run / "train_summary.json")
    out["predict"] = {k: v for k, v in (read_json(marker) or {}).items() if k != "params"}
    return out


def predict_variant(name: str, base: str, sets: list[str], args: argparse.Namespace) -> dict:
    """Copy BASE's trained run with ``sets`` applied to its config, and OOF-predict it."""
    from common.config import load_config, save_config
    from solutions.unet.config import UNetConfig

    run = f"unet-fold{args.fold}"
    src = workspace(args, base).run_dir(run)
    dst = workspace(args, name).run_dir(run)
    if not dst.exists():
        tmp = dst.with_name(dst.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("logs"))
        save_config(load_config(UNetConfig, src / "config.yaml", sets), tmp / "config.yaml")
        shutil.copy2(workspace(args, base).folds_csv, workspace(args, name).folds_csv)
        tmp.rename(dst)
    common = ["--data", str(args.data), "--work", str(args.work / name), "--split-by", args.split_by]
    marker = workspace(args, name).predictions_dir("unet", "oof") / f"_summary_fold{args.fold}.json"
    out = {"sets": [f"(network of {base})", *sets], "train": read_json(dst / "train_summary.json")}
    if not marker.is_file():
        limit = ["--limit", str(args.oof_limit)] if args.oof_limit else []
        out["predict_wall_s"] = _run([sys.executable, "-m", "solutions.unet.predict", "--run", run, "--split", "oof",
                                      *common, "--no-tune", *limit], args.work / f"{name}.log")
    out["predict"] = {k: v for k, v in (read_json(marker) or {}).items() if k != "params"}
    return out


def per_image_scores(name: str, args: argparse.Namespace, truth: dict) -> pd.Series:
    """DSB score of each image of ``truth`` in variant ``name``'s OOF predictions (in ``truth``'s
    order); exits naming the first missing prediction file."""
    from common.metrics import score_dataset
    from common.predictions import load_prediction

    folder = workspace(args, name).predictions_dir("unet", "oof")
    missing = [i for i in truth if not (folder / f"{i}.npz").is_file()]
    if missing:
        raise SystemExit(f"bench_normalise: {name} lacks {len(missing)} of the {len(truth)} "
                         f"predictions, e.g. {folder / (missing[0] + '.npz')}; run its folds first")
    pred = {i: load_prediction(folder / f"{i}.npz").labels for i in truth}
    return score_dataset(truth, pred).per_image["score"].reindex(list(truth))


def score_variant(name: str, args: argparse.Namespace, truth: dict, types: dict) -> dict:
    """DSB score of the variant's OOF images, overall and per image type."""
    per_image = per_image_scores(name, args, truth)
    by_type = {t: round(float(np.mean([per_image[i] for i in truth if types[i] == t])), 4)
               for t in sorted(set(types.values()))}
    return {"score": round(float(per_image.mean()), 4), "by_type": by_type,
            "n_by_type": {t: sum(v == t for v in types.values()) for t in by_type}}


def sizes(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """Nucleus sizes per image type and per group fold (training target vs held-out images)."""
    from common.data import DSBDataset
    from common.folds import get_folds, split_ids
    from common.scale import estimate_nucleus_size, nucleus_area_stats
    from solutions.unet.data import load_items

    ds = DSBDataset(args.data, "stage1_train")
    folds = get_folds(ds, workspace(args).folds_csv)
    ids = list(folds["image_id"])
    labels = dict(zip(ids, load_items(ds, ids)[1]))
    median = {i: estimate_nucleus_size(labels[i], min_area=1) for i in ids}
    types = dict(zip(folds["image_id"], folds["cluster"]))
    command = shlex.join([".venv/bin/python", "bench/bench_normalise.py", *(argv if argv is not None else sys.argv[1:])])
    lines = ["# Nucleus sizes in stage1_train (pixels; per image: the median nucleus area)", "",
             f"Command: `{command}`; machine: {machine_description()}; "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| image type | images | median of per-image medians | 10th-90th percentile |", "|---|---:|---:|---|"]
    for t in sorted(set(types.values())):
        v = np.array([median[i] for i in ids if types[i] == t and np.isfinite(median[i])])
        lines.append(f"| {t} | {len(v)} | {np.median(v):.0f} | {np.percentile(v, 10):.0f}-{np.percentile(v, 90):.0f} |")
    lines += ["", "| group fold | training target_area | held-out median | ratio (held-out / target) |",
              "|---:|---:|---:|---:|"]
    for k in sorted(folds["fold"].unique()):
        fit, held = split_ids(folds, int(k))
        target = nucleus_area_stats(labels[i] for i in fit)["target_area"]
        held_median = float(np.nanmedian([median[i] for i in held]))
        lines.append(f"| {k} | {target:.0f} | {held_median:.0f} | {held_median / target:.2f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "sizes.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="data folder holding stage1_train/")
    p.add_argument("--fold", type=int, default=1, help="the fold held out")
    p.add_argument("--split-by", choices=("group", "stratified"), default="group",
                   help="the folds (default group: each source kind held out whole)")
    p.add_argument("--epochs", type=int, default=16, help="epochs of 25 steps (batch 8) per variant")
    p.add_argument("--config", type=Path, default=REPO / "solutions/unet/configs/cpu30.yaml")
    p.add_argument("--sizes", action="store_true", help="only the nucleus-size table (no training)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE [KEY=VALUE ...]",
                   help="a variant and its config overrides (repeat)")
    p.add_argument("--predict-variant", action="append", default=[], metavar="NAME:BASE:KEY=VALUE [...]",
                   help="a prediction-time variant on variant BASE's network (repeat)")
    p.add_argument("--oof-limit", type=int, default=0, help="predict and score only the first N held-out images")
    p.add_argument("--jobs", type=int, default=1, help="variants trained side by side")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--combine", action="store_true", help="pool the folds of --folds already run (no training)")
    p.add_argument("--folds", type=int, nargs="+", default=[], help="with --combine: the folds to pool")
    p.add_argument("--stored", action="append", default=[], metavar="NAME=PATH[:KEY]",
                   help="with --combine: variant NAME's per-image scores from an earlier combined.json "
                        "(its runs need not be in --work; same images required)")
    p.add_argument("--variants", nargs="+", default=[],
                   help="with --combine: variants in this order (first = reference); default all, sorted")
    p.add_argument("--ids", type=Path, metavar="FILE",
                   help="with --combine: score only the held-out images this file lists (one id per line; "
                        "e.g. a stratified run predicted with --only), before --oof-limit")
    args = p.parse_args(argv)
    if args.sizes:
        return sizes(args, argv)
    if args.combine:
        if not args.folds:
            p.error("--combine needs --folds")
        from bench.normalise_combine import combine

        return combine(args, argv)
    if not args.variant:
        p.error("give at least one --variant (or --sizes)")
    variants, predict_only = {}, {}
    for spec in args.variant:
        name, _, sets = spec.partition(":")
        variants[name] = sets.split()
    for spec in args.predict_variant:
        name, base, sets = (spec.split(":", 2) + [""])[:3]
        if base not in variants:
            p.error(f"--predict-variant {name}: base {base!r} is not a --variant")
        predict_only[name] = (base, sets.split())
    t0 = time.monotonic()
    load0 = os.getloadavg()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        runs = dict(zip(variants, pool.map(lambda kv: run_variant(kv[0], kv[1], args), variants.items())))
    for name, (base, sets) in predict_only.items():
        runs[name] = predict_variant(name, base, sets, args)
        variants[name] = [f"(network of {base})", *sets]
    load1 = os.getloadavg()
    from common.data import DSBDataset
    from common.folds import load_folds, split_ids

    folds = load_folds(workspace(args, next(iter(variants))).folds_csv)
    ids = split_ids(folds, args.fold)[1]
    if args.oof_limit:  # the predict CLI's --limit: the first N of the fold's ids
        ids = ids[:args.oof_limit]
    types = dict(zip(folds["image_id"], folds["cluster"]))
    ds = DSBDataset(args.data, "stage1_train")
    truth = {i: ds.load_labels(i) for i in ids}
    types = {i: types[i] for i in ids}
    results = {name: {**runs[name], **score_variant(name, args, truth, types)} for name in variants}
    commit = git_commit(REPO)
    command = shlex.join([".venv/bin/python", "bench/bench_normalise.py", *(argv if argv is not None else sys.argv[1:])])
    meta = {"command": command, "machine": machine_description(), "commit": commit,
            "wall_s": round(time.monotonic() - t0, 1), "load_avg_start": load0, "load_avg_end": load1,
            "fold": args.fold, "n_images": len(ids), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "normalise.json", {"meta": meta, "results": results})
    type_names = sorted(types_set := set(types.values()))
    lines = [f"# U-Net input switches on {args.split_by} fold {args.fold} ({len(ids)} held-out images)", "",
             f"Command: `{command}`", "",
             f"Machine: {meta['machine']}; commit `{commit}`; {meta['date']}; load average "
             f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end; wall {meta['wall_s']:.0f} s.", "",
             f"Every variant: `{args.config.name}` with `{' '.join(BASE_SETS)} train.epochs={args.epochs}` "
             f"({args.epochs * 25} steps of batch 8), then OOF prediction of the held-out fold.", "",
             "| variant | overrides | DSB (all) | " + " | ".join(f"{t} ({sum(v == t for v in types.values())})"
                                                       for t in type_names) + " | train s | predict img/s |",
             "|---|---|---:|" + "---:|" * len(types_set) + "---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | `{' '.join(variants[name]) or '-'}` | {r['score']:.4f} | "
                     + " | ".join(f"{r['by_type'][t]:.4f}" for t in type_names)
                     + f" | {(r['train'] or {}).get('train_seconds', '?')} | {r['predict'].get('images_per_s', '?')} |")
    atomic_write_text(args.out / "normalise.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "bench/bench_normalise.py"))
