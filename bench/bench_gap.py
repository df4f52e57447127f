"""The generalisation gap, paired per image: stratified against group OOF scores of the same images.

Issue 14's number: how much a model loses on image kinds it never saw. ``bench_generalise.py``
scores each split on the images it predicted; with a budget too small for every fold of both
splits (the 30-minute CPU models: 33 minutes per fold) the two splits' images differ, and so
does their mix of kinds. This script scores only the images **both** splits predicted, so
each image is compared with itself: once by a network that saw its kind (stratified fold),
once by one that did not (group fold).

Sources are ``NAME=PATH`` or ``NAME=PATH:KEY`` (``bench/score_sources.py``): a predictions
folder (``<id>.npz``, scored here), or per-image scores a benchmark stored (``combined.json``,
``gap.json``, ``generalise.json``, ``paired.json``). Several sources of one model and split are pooled (the folds of one
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

from bench.normalise_combine import paired_table, size_bucket  # noqa: E402
from bench.score_sources import named_source, source_scores  # noqa: E402
from common.io import atomic_write_text, write_json  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402

__all__ = ["gap_tables", "main", "pool"]

SPLITS = ("stratified", "group")


def pool(specs: Sequence[str], dataset) -> dict[str, pd.Series]:
    """Each model's per-image scores over all its sources; an image twice is an error."""
    out: dict[str, pd.Series] = {}
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        name, where = named_source(spec)
        scores = source_scores(where, dataset)
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
    out = {"all images": paired_table(table, "group")}
    out.update({title: paired_table(table, "group", series) for title, series in by.items()})
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
    from common.cli import run_main

    sys.exit(run_main(main, "bench/bench_gap.py"))
