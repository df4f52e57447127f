"""``bench/bench_normalise.py --combine``: pool the folds already run into one paired report.

Every variant's OOF predictions of the given folds are scored per image (or taken from an
earlier ``combined.json`` with ``--stored NAME=PATH``), and ``combined.md`` /
``combined.json`` give each variant's DSB over all of them, per image type, size, kind and
fold, with its paired difference from the first variant, and the "over folds" table
(see :func:`over_folds`). The command line lives in ``bench_normalise.py``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.bench_normalise import REPO, per_image_scores, workspace
from bench.score_sources import split_source, stored_scores
from common.io import atomic_write_text, write_json
from common.machine import git_commit, machine_description
from common.stats import format_mean_se

__all__ = ["SIZE_BUCKETS", "combine", "over_folds", "paired_table", "size_bucket"]


#: Image-size buckets of the combined report: (name, most pixels).
SIZE_BUCKETS = (("<=256x320", 256 * 320), ("<=520x696", 520 * 696), ("larger", float("inf")))


def size_bucket(shape: Sequence[int]) -> str:
    """The :data:`SIZE_BUCKETS` name of an image of ``shape`` [H,W,...]."""
    pixels = int(shape[0]) * int(shape[1])
    return next(name for name, most in SIZE_BUCKETS if pixels <= most)


def paired_table(table: pd.DataFrame, ref: str, by: pd.Series | None = None) -> pd.DataFrame:
    """Per variant (column): mean score, and mean ± s.e. of its difference from ``ref``,
    over all rows or per value of ``by``."""
    rows = {}
    groups = [("all", table)] if by is None else list(table.groupby(by))
    for key, part in groups:
        row = {"images": len(part)}
        for v in table.columns:
            row[v] = part[v].mean()
            if v != ref:
                row[f"{v} − {ref}"] = format_mean_se(part[v] - part[ref])
        rows[key] = row
    return pd.DataFrame(rows).T


def _stored_scores(specs: Sequence[str]) -> dict[str, tuple[Path, pd.Series]]:
    """``--stored NAME=PATH[:KEY]``: variant NAME's per-image scores stored in PATH (an earlier
    ``combined.json``, or any stored-scores file of ``bench/score_sources.py``) under KEY,
    by default NAME."""
    out = {}
    for spec in specs:
        name, _, where = spec.partition("=")
        if not name or not where:
            raise SystemExit(f"bench_normalise: --stored wants NAME=PATH[:KEY], got {spec!r}")
        path, key = split_source(where)
        out[name] = (path, stored_scores(path, key or name))
    return out


def _stored_column(entry: tuple[Path, pd.Series], name: str, ids: Sequence[str]) -> pd.Series:
    """Stored variant ``name``'s score of each of ``ids``; exits naming the file if one lacks it."""
    path, scores = entry
    missing = [i for i in ids if i not in scores.index]
    if missing:
        raise SystemExit(f"bench_normalise: {path} has no {name!r} score for {len(missing)} of the "
                         f"{len(ids)} images, e.g. {missing[0]}")
    return scores.reindex(list(ids))


def over_folds(table: pd.DataFrame, ref: str, by_fold: pd.Series) -> pd.DataFrame:
    """Per variant: the mean over folds of its per-fold difference from ``ref``, the
    standard error over folds, and in how many folds it is better.

    Each fold's two variants are two separately trained networks, so the per-fold
    differences carry training noise that the per-image standard error does not see;
    at a few hundred steps it is of the size of the effects measured here.
    """
    rows = {}
    for v in table.columns:
        if v == ref:
            continue
        d = (table[v] - table[ref]).groupby(by_fold).mean()
        rows[v] = {"images": int(by_fold.notna().sum()), "folds": len(d),
                   f"mean of per-fold differences from {ref}": format_mean_se(d),
                   "folds better": f"{int((d > 0).sum())} of {len(d)}"}
    return pd.DataFrame(rows).T


def combine(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """Pool the folds of ``--folds`` already run in ``--work`` (see the module doc)."""
    from common.cli import narrow_ids
    from common.data import DSBDataset
    from common.folds import load_folds, split_ids
    from pipeline.plots import markdown_table

    names = sorted(d.name for d in args.work.iterdir() if (workspace(args, d.name).root / "predictions").is_dir())
    stored = _stored_scores(args.stored)
    order = [n for n in (args.variants or [*stored, *names]) if n in names or n in stored]
    if not order or not names:
        raise SystemExit(f"bench_normalise --combine: no variant with predictions under {args.work}")
    folds = load_folds(workspace(args, next((n for n in order if n in names), names[0])).folds_csv)
    ds = DSBDataset(args.data, "stage1_train")
    ids, fold_of = [], {}
    for k in args.folds:
        held = narrow_ids(list(split_ids(folds, k)[1]), getattr(args, "ids", None), args.oof_limit)
        ids += held
        fold_of.update(dict.fromkeys(held, k))
    truth = {i: ds.load_labels(i) for i in ids}
    table = pd.DataFrame({v: _stored_column(stored[v], v, ids) if v in stored else per_image_scores(v, args, truth)
                          for v in order})
    meta = folds.set_index("image_id").reindex(ids)
    by_type = meta["cluster"]
    by_size = pd.Series({i: size_bucket(truth[i].shape) for i in ids})
    by_fold = pd.Series(fold_of)
    if "group" in meta:
        by_kind = meta["group"]
    else:  # stratified folds have no group column: the kind is the type and size
        by_kind = pd.Series({i: f"{by_type[i]}-{truth[i].shape[0]}x{truth[i].shape[1]}" for i in ids})
    ref = order[0]
    tables = {"all images": paired_table(table, ref), "per image type": paired_table(table, ref, by_type),
              "per image size (pixels)": paired_table(table, ref, by_size),
              "per image kind (group)": paired_table(table, ref, by_kind),
              f"per {args.split_by} fold": paired_table(table, ref, by_fold)}
    tables["over folds (each fold is another trained model)"] = over_folds(table, ref, by_fold)
    command = shlex.join([".venv/bin/python", "bench/bench_normalise.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# U-Net input switches pooled over {args.split_by} folds {' '.join(map(str, args.folds))} "
             f"({len(ids)} held-out images)", "", f"Command: `{command}`", "",
             f"Machine: {machine_description()}; scored at commit `{git_commit(REPO)}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. DSB mean AP per image, "
             f"averaged; `a − {ref}` is the paired difference on the same images, mean ± standard error.", ""]
    for title, df in tables.items():
        lines += [f"## {title}", "", markdown_table(df, index_name=title.split(" (")[0].replace("per ", "")), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "combined.md", "\n".join(lines))
    write_json(args.out / "combined.json", {"command": command, "folds": list(args.folds), "reference": ref,
                                           "per_image": table.round(4).to_dict(orient="index"),
                                           "type": by_type.to_dict(), "size": by_size.to_dict(),
                                           "fold": {i: int(k) for i, k in by_fold.items()}})
    print("\n".join(lines))
    return 0
