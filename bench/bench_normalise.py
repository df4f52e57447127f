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
Writes ``normalise.md`` and ``normalise.json`` to ``--out`` with the command and machine.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.io import atomic_write_text, read_json, write_json  # noqa: E402
from common.machine import machine_description  # noqa: E402
from common.paths import GROUP_FOLDS_NAME, GROUP_SPLIT_DIR  # noqa: E402

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
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode:
        raise SystemExit(f"bench_normalise: command failed ({proc.returncode}), see {log}: {shlex.join(cmd)}")
    return time.monotonic() - t0


def run_variant(name: str, sets: list[str], args: argparse.Namespace) -> dict:
    """Train and OOF-predict one variant; returns its timings."""
    work = args.work / name
    group_root = work / GROUP_SPLIT_DIR
    group_root.mkdir(parents=True, exist_ok=True)
    shared_folds = args.work / GROUP_SPLIT_DIR / GROUP_FOLDS_NAME
    if shared_folds.is_file() and not (group_root / GROUP_FOLDS_NAME).exists():
        shutil.copy2(shared_folds, group_root / GROUP_FOLDS_NAME)
    common = ["--data", str(args.data), "--work", str(work), "--split-by", "group"]
    log = args.work / f"{name}.log"
    run = f"unet-fold{args.fold}"
    items = [*BASE_SETS, f"train.epochs={args.epochs}", *sets]
    out = {"sets": items}
    if not (group_root / "runs" / run / "train_summary.json").is_file():
        out["train_wall_s"] = _run([sys.executable, "-m", "solutions.unet.train", "--config", str(args.config),
                                    "--fold", str(args.fold), *common, "--verbose", "2", "--set", *items], log)
    marker = group_root / "predictions" / "unet" / "oof" / f"_summary_fold{args.fold}.json"
    if not marker.is_file():
        out["predict_wall_s"] = _run([sys.executable, "-m", "solutions.unet.predict", "--run", run, "--split", "oof",
                                      *common, "--no-tune"], log)
    out["train"] = read_json(group_root / "runs" / run / "train_summary.json")
    out["predict"] = {k: v for k, v in (read_json(marker) or {}).items() if k != "params"}
    return out


def score_variant(name: str, args: argparse.Namespace, truth: dict, types: dict) -> dict:
    """DSB score of the variant's OOF images, overall and per image type."""
    from common.metrics import score_dataset
    from common.predictions import load_prediction

    folder = args.work / name / GROUP_SPLIT_DIR / "predictions" / "unet" / "oof"
    pred = {i: load_prediction(folder / f"{i}.npz").labels for i in truth}
    per_image = score_dataset(truth, pred).per_image["score"]
    by_type = {t: round(float(np.mean([per_image[i] for i in truth if types[i] == t])), 4)
               for t in sorted(set(types.values()))}
    return {"score": round(float(per_image.mean()), 4), "by_type": by_type,
            "n_by_type": {t: sum(v == t for v in types.values()) for t in by_type}}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="data folder holding stage1_train/")
    p.add_argument("--fold", type=int, default=1, help="the group fold held out")
    p.add_argument("--epochs", type=int, default=16, help="epochs of 25 steps (batch 8) per variant")
    p.add_argument("--config", type=Path, default=REPO / "solutions/unet/configs/cpu30.yaml")
    p.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE [KEY=VALUE ...]",
                   help="a variant and its config overrides (repeat)")
    p.add_argument("--jobs", type=int, default=1, help="variants trained side by side")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    variants = {}
    for spec in args.variant:
        name, _, sets = spec.partition(":")
        variants[name] = sets.split()
    t0 = time.monotonic()
    load0 = os.getloadavg()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        runs = dict(zip(variants, pool.map(lambda kv: run_variant(kv[0], kv[1], args), variants.items())))
    load1 = os.getloadavg()
    from common.data import DSBDataset
    from common.folds import load_folds, split_ids

    folds = load_folds(args.work / next(iter(variants)) / GROUP_SPLIT_DIR / GROUP_FOLDS_NAME)
    ids = split_ids(folds, args.fold)[1]
    types = dict(zip(folds["image_id"], folds["cluster"]))
    ds = DSBDataset(args.data, "stage1_train")
    truth = {i: ds.load_labels(i) for i in ids}
    types = {i: types[i] for i in ids}
    results = {name: {**runs[name], **score_variant(name, args, truth, types)} for name in variants}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    command = shlex.join([".venv/bin/python", "bench/bench_normalise.py", *(argv if argv is not None else sys.argv[1:])])
    meta = {"command": command, "machine": machine_description(), "commit": commit,
            "wall_s": round(time.monotonic() - t0, 1), "load_avg_start": load0, "load_avg_end": load1,
            "fold": args.fold, "n_images": len(ids), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "normalise.json", {"meta": meta, "results": results})
    type_names = sorted(types_set := set(types.values()))
    lines = [f"# U-Net input switches on group fold {args.fold} ({len(ids)} held-out images)", "",
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
    sys.exit(main())
