"""The generalisation gap, paired per image: stratified against group OOF scores of the same images.

Issue 14's number: how much a model loses on image kinds it never saw. ``bench_generalise.py``
scores each split on the images it predicted; with a budget too small for every fold of both
splits (the 30-minute CPU models: 33 minutes per fold) the two splits' images differ, and so
does their mix of kinds. This script scores only the images **both** splits predicted, so
each image is compared with itself: once by a network that saw its kind (stratified fold),
once by one that did not (group fold).

Sources are ``NAME=PATH``: a predictions folder (``<id>.npz``, scored here), or an earlier
``combined.json`` of ``bench_normalise.py --combine`` as ``PATH:VARIANT`` (its stored
per-image scores). Several sources of one model and split are pooled (the folds of one
session and of another); an image in two of them is an error naming both.

Usage::

    .venv/bin/python bench/bench_gap.py --data ../shared/dsb2018 --group-folds WORK/split-group/folds_group.csv \\
        --group cpu30=bench/results/generalise30_cpu_20261202/combined.json:cpu30 \\
        --group cpu30=WORK2/split-group/predictions/unet/oof \\
        --stratified cpu30=WORK3/predictions/unet/oof --out bench/results/gap_cpu_YYYYMMDD

Writes ``gap.md`` and ``gap.json`` (per-image scores of both splits, the command, the machine).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.normalise_combine import _paired, size_bucket  # noqa: E402
from common.io import atomic_write_text, read_json, write_json  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402

__all__ = ["source_scores", "gap_tables", "main"]

SPLITS = ("stratified", "group")


def source_scores(spec: str, dataset) -> tuple[str, pd.Series]:
    """``NAME=PATH`` (a predictions folder) or ``NAME=PATH:VARIANT`` (a ``combined.json``)
    → ``(name, per-image DSB score)``. Bad input exits naming the path."""
    from common.metrics import score_dataset
    from common.predictions import list_predictions, load_prediction

    name, _, where = spec.partition("=")
    if not name or not where:
        raise SystemExit(f"bench_gap: a source is NAME=PATH or NAME=PATH:VARIANT, got {spec!r}")
    path, variant = (where.rsplit(":", 1) if ".json:" in where else (where, ""))
    path = Path(path)
    if path.is_dir():
        files = list_predictions(path)
        if not files:
            raise SystemExit(f"bench_gap: {path}: no predictions (*.npz)")
        truth = {i: dataset.load_labels(i) for i in sorted(files)}
        pred = {i: load_prediction(files[i]).labels for i in truth}
        return name, score_dataset(truth, pred).per_image["score"].rename(None)
    data = read_json(path)
    if not data or "per_image" not in data:
        raise SystemExit(f"bench_gap: {path} is neither a predictions folder nor a combined.json")
    variant = variant or name
    scores = {i: row[variant] for i, row in data["per_image"].items() if variant in row}
    if not scores:
        raise SystemExit(f"bench_gap: {path} has no scores of variant {variant!r}")
    return name, pd.Series(scores, dtype=float)


def pool(specs: Sequence[str], dataset) -> dict[str, pd.Series]:
    """Each model's per-image scores over all its sources; an image twice is an error."""
    out: dict[str, pd.Series] = {}
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        name, scores = source_scores(spec, dataset)
        for i in scores.index:
            if (name, i) in seen:
                raise SystemExit(f"bench_gap: image {i} of {name!r} is in two sources: {seen[name, i]} and {spec}")
            seen[name, i] = spec
        out[name] = pd.concat([out[name], scores]) if name in out else scores
    return out


def gap_tables(strat: pd.Series, group: pd.Series, meta: pd.DataFrame, shapes: dict) -> dict[str, pd.DataFrame]:
    """Paired tables over the images both series score: all, per type, size, kind, group fold.
    ``meta`` is ``folds_group.csv`` indexed by image id; ``shapes`` image id → [H,W]."""
    ids = sorted(set(strat.index) & set(group.index))
    table = pd.DataFrame({"group": group.reindex(ids), "stratified": strat.reindex(ids)})
    by = {"per image type": meta["cluster"].reindex(ids),
          "per image size (pixels)": pd.Series({i: size_bucket(shapes[i]) for i in ids}),
          "per image kind (group)": meta["group"].reindex(ids),
          "per group fold (where the kind was held out)": meta["fold"].reindex(ids)}
    out = {"all images": _paired(table, "group")}
    out.update({title: _paired(table, "group", series) for title, series in by.items()})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/bench_gap.py", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="data folder holding stage1_train/")
    p.add_argument("--group-folds", type=Path, required=True, help="folds_group.csv of the group runs")
    p.add_argument("--stratified", action="append", default=[], metavar="NAME=PATH[:VARIANT]")
    p.add_argument("--group", action="append", default=[], metavar="NAME=PATH[:VARIANT]")
    p.add_argument("--out", type=Path, required=True, help="folder for gap.md / gap.json")
    args = p.parse_args(argv)
    from common.data import DSBDataset
    from common.folds import load_folds
    from pipeline.plots import markdown_table

    ds = DSBDataset(args.data, "stage1_train")
    meta = load_folds(args.group_folds).set_index("image_id")
    scores = {"stratified": pool(args.stratified, ds), "group": pool(args.group, ds)}
    models = [m for m in scores["group"] if m in scores["stratified"]]
    if not models:
        raise SystemExit("bench_gap: no model has both --stratified and --group sources")
    command = shlex.join([".venv/bin/python", "bench/bench_gap.py", *(argv if argv is not None else sys.argv[1:])])
    lines = ["# The generalisation gap, paired per image", "", f"Command: `{command}`", "",
             f"Machine: {machine_description()}; scored at commit `{git_commit(REPO)}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. DSB mean AP per image over the images "
             "both splits predicted; `stratified − group` is the gap, mean ± standard error over images.", ""]
    record = {"command": command, "machine": machine_description(), "models": {}}
    for m in models:
        strat, group = scores["stratified"][m], scores["group"][m]
        both = sorted(set(strat.index) & set(group.index))
        shapes = {i: ds.image_shape(i) for i in both}
        lines += [f"## `{m}`: {len(both)} images (stratified scored {len(strat)}, group {len(group)})", ""]
        for title, df in gap_tables(strat, group, meta, shapes).items():
            lines += [f"### {title}", "", markdown_table(df, index_name=title.split(" (")[0].replace("per ", "")), ""]
        record["models"][m] = {"per_image": {i: {"stratified": round(float(strat[i]), 4),
                                                 "group": round(float(group[i]), 4)} for i in both}}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "gap.md", "\n".join(lines))
    write_json(args.out / "gap.json", record)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
