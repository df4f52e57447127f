"""Does the second-level instance filter help on images of kinds the model never saw?

Reads one model's out-of-fold predictions (``predictions/<solution>/oof``, with ``prob``
maps), builds the instance table (``ensemble.filter_data.collect_instances``) and
evaluates the filter cross-fitted by fold (``ensemble.filter_data.crossfit``): the images
of fold k are filtered by a filter fitted, and its threshold tuned, on the other folds'
instances only. With group folds (``folds_group.csv``) fold k's image kinds are then new
both to the U-Net and to the filter. Reports the DSB score with and without the filter,
overall, per image type and per group, with standard errors (the difference's is paired
per image), for each feature set.

Usage::

    .venv/bin/python bench/bench_instance_filter.py \\
        --pred-dir WORK/split-group/predictions/unet/oof --folds-csv WORK/split-group/folds_group.csv \\
        --data ../shared/dsb2018 --name group --out bench/results/instance_filter_cpu_<date>/

``--pred-dir`` may be given several times: the OOF folders of runs trained in separate work
folders (one group fold each) are pooled, and the filter is cross-fitted over the folds they hold.

Writes ``<name>.md`` and ``<name>.json`` (atomically) with the command, machine and load.
``--folds-csv`` gives the folds the filter is cross-fitted on; the image types and groups
always come from ``--groups-csv`` (default: the ``folds_group.csv`` beside it or the same file).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.data import load_split  # noqa: E402
from common.folds import load_folds  # noqa: E402
from common.instance_features import FEATURE_SETS  # noqa: E402
from common.io import atomic_write_text  # noqa: E402
from common.machine import machine_description  # noqa: E402
from common.predictions import list_predictions  # noqa: E402
from common.stats import standard_error  # noqa: E402
from ensemble.filter_data import collect_instances, crossfit  # noqa: E402

def summarise(per_image: pd.DataFrame, by: pd.Series | None = None) -> pd.DataFrame:
    """Mean and standard error of the unfiltered and filtered scores and their difference."""
    d = per_image.assign(diff=per_image["filtered"] - per_image["unfiltered"])
    keys = by.reindex(d.index) if by is not None else pd.Series("all", index=d.index)

    rows = {}
    for key, g in d.groupby(keys):
        rows[key] = {"n": len(g), "unfiltered": g["unfiltered"].mean(), "se_u": standard_error(g["unfiltered"]),
                     "filtered": g["filtered"].mean(), "se_f": standard_error(g["filtered"]),
                     "diff": g["diff"].mean(), "se_diff": standard_error(g["diff"]),
                     "kept": g["n_kept"].sum() / max(1, g["n_pred"].sum())}
    return pd.DataFrame(rows).T


def pooled_instances(pred_dirs: list[Path], dataset, workers: int = 2) -> tuple[pd.DataFrame, pd.Series]:
    """The instance tables of several OOF predictions folders, pooled; an image predicted in
    two of them is an error naming both (its instances would count twice)."""
    seen: dict[str, Path] = {}
    listed = {folder: list_predictions(folder) for folder in pred_dirs}
    for folder, files in listed.items():
        if not files:
            raise SystemExit(f"bench_instance_filter: {folder}: no predictions (*.npz)")
        for i in files:
            if i in seen:
                raise SystemExit(f"bench_instance_filter: image {i} is in {seen[i]} and in {folder}")
            seen[i] = folder
    parts = [collect_instances(folder, dataset, sorted(files), workers=workers) for folder, files in listed.items()]
    return (pd.concat([t for t, _ in parts], ignore_index=True),
            pd.concat([n for _, n in parts]))


def _md_table(t: pd.DataFrame, label: str) -> str:
    lines = [f"| {label} | n | unfiltered | filtered | difference | instances kept |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, r in t.iterrows():
        lines.append(f"| {key} | {int(r['n'])} | {r['unfiltered']:.4f} ± {r['se_u']:.4f} | "
                     f"{r['filtered']:.4f} ± {r['se_f']:.4f} | {r['diff']:+.4f} ± {r['se_diff']:.4f} | "
                     f"{100 * r['kept']:.1f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pred-dir", type=Path, action="append", required=True,
                   help="OOF predictions folder; several (the folds of several work folders) are pooled")
    p.add_argument("--folds-csv", type=Path, required=True, help="the folds to cross-fit on")
    p.add_argument("--groups-csv", type=Path, help="image types and groups (folds_group.csv)")
    p.add_argument("--data", type=Path, required=True, help="DSB folder with stage1_train")
    p.add_argument("--name", default="group", help="output file stem")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--table", type=Path, help="cache of the instance table (.pkl)")
    p.add_argument("--sets", default="all,no_image,shape_only", help="feature sets to evaluate")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--note", default="")
    args = p.parse_args(argv)
    t0, load0 = time.time(), os.getloadavg()
    folds = load_folds(args.folds_csv).set_index("image_id")
    groups_csv = args.groups_csv or (args.folds_csv if "group" in folds.columns
                                     else args.folds_csv.with_name("folds_group.csv"))
    groups = load_folds(groups_csv).set_index("image_id")
    if args.table and args.table.is_file():
        table, n_true = pd.read_pickle(args.table)
    else:
        table, n_true = pooled_instances(args.pred_dir, load_split(args.data, "stage1_train"), args.workers)
        if args.table:
            pd.to_pickle((table, n_true), args.table)
    t_table = time.time() - t0
    image_folds = folds["fold"].to_dict()
    results, md = {}, []
    for name in [s for s in args.sets.split(",") if s]:
        per_image, filters = crossfit(table, n_true, image_folds, list(FEATURE_SETS[name]))
        tabs = {"overall": summarise(per_image),
                "type": summarise(per_image, groups["cluster"]),
                "group": summarise(per_image, groups["group"])}
        results[name] = {"features": list(FEATURE_SETS[name]),
                         "thresholds": {k: f.threshold for k, f in filters.items()},
                         **{k: json.loads(v.to_json(orient="index")) for k, v in tabs.items()}}
        md += [f"### Feature set `{name}`", "",
               f"Thresholds tuned per fold (on the other folds): {results[name]['thresholds']}", "",
               _md_table(tabs["overall"], "images"), "", _md_table(tabs["type"], "type"), "",
               _md_table(tabs["group"], "group"), ""]
    cmd = "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    head = {"command": cmd, "machine": machine_description(),
            "loadavg_start": [round(x, 2) for x in load0],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "seconds_table": round(t_table, 1), "seconds_total": round(time.time() - t0, 1),
            "pred_dir": [str(d) for d in args.pred_dir], "folds_csv": str(args.folds_csv),
            "n_images": int(len(n_true)), "n_instances": int(len(table)),
            "positive_rate": round(float((table["iou"] > 0.5).mean()), 4), "note": args.note}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / f"{args.name}.json",
                      json.dumps({**head, "results": results}, indent=1, default=float))
    text = [f"# Instance filter, cross-fitted on `{args.folds_csv.name}`: {args.name}", "",
            f"Command: `{cmd}`", "", f"Machine: {head['machine']}; load average "
            f"{head['loadavg_start'][0]} at the start, {head['loadavg_end'][0]} at the end; "
            f"instance table {head['seconds_table']} s, total {head['seconds_total']} s.", "",
            f"{head['n_images']} OOF images from {', '.join(f'`{d}`' for d in args.pred_dir)}, "
            f"{head['n_instances']} predicted "
            f"instances, {100 * head['positive_rate']:.1f}% of them match a nucleus (IoU > 0.5). "
            "Scores: DSB mean AP per image, mean ± standard error; the difference's error is "
            "paired per image.", "", args.note, "", *md]
    atomic_write_text(args.out / f"{args.name}.md", "\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
