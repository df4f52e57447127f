"""Compare models paired per image: each against a reference, on the images all of them scored.

Two trainings of one recipe differ by more than most switches move a fold, so an A/B is
read on the same images, as the mean of the per-image differences and its standard
error, overall and per image type and size. Every source is ``[NAME=]PATH[:KEY]``
(``bench/score_sources.py``): a predictions folder (``<id>.npz``, scored here), or per-image
scores a benchmark stored (``combined.json``, ``gap.json``, ``generalise.json``,
``magnify.json:VARIANT/xFACTOR``, or an earlier ``paired.json``). The first name is the
reference. A name given more than once stands for the union of its sources, as the held-out
images of several folds (``base=g0/magnify.json:ship/x1 base=g1/magnify.json:ship/x1 ...``);
an image two of one name's sources score is refused, naming both.

Usage::

    .venv/bin/python bench/bench_paired.py \\
        base=WORK1/split-group/predictions/unet/oof \\
        balance=WORK2/split-group/predictions/unet/oof \\
        [--ids FILE] [--groups folds_group.csv] [--folds folds_group.csv] [--data ../shared/dsb2018]
        [--out bench/results/<name>/fold1]

``--groups FILE`` adds a table per image kind: the ``group`` column of a ``folds_group.csv``
(``common.folds``; e.g. ``fluorescence-512x640``), so a rare kind is not averaged into its size
bucket. ``--folds FILE`` (a ``folds.csv`` or ``folds_group.csv``) adds a table per fold and the table
"over folds": the mean and standard error of the per-fold differences, and in how many folds each source is
better. Give it when each fold's images were scored by another trained network (one source per
fold, or the out-of-fold predictions of a k-fold run): that spread, not the per-image error,
decides a training switch (``docs/DEVELOPING.md``). Prints the tables; with ``--out`` also
writes ``paired.md`` and ``paired.json`` (the command, the machine, every source's per-image score), so the comparison, and each
predictions folder's scores, outlive the work folders: a later comparison can name
``paired.json:balance`` as a source. An ``--out`` that already holds a ``paired.json`` is
refused, naming it; nothing written is overwritten. Bad input (a missing folder, a stored
file without the key, an unreadable ``--ids``) is one line naming the file, exit status 2.
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

from bench.normalise_combine import over_folds, paired_table, size_bucket  # noqa: E402
from bench.score_sources import named_source, source_scores  # noqa: E402
from common.data import DataError  # noqa: E402
from common.io import atomic_write_text, write_json  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402

__all__ = ["paired_tables", "read_folds", "read_groups", "union_scores", "main"]


def paired_tables(table: pd.DataFrame, types: pd.Series, sizes: pd.Series,
                  kinds: pd.Series | None = None, folds: pd.Series | None = None) -> dict[str, pd.DataFrame]:
    """All images, per image type, per size bucket, (given ``kinds``) per image kind and (given
    ``folds``) per fold and over folds; the first column is the reference."""
    ref = table.columns[0]
    out = {"all images": paired_table(table, ref),
           "per image type": paired_table(table, ref, types.reindex(table.index)),
           "per image size (pixels)": paired_table(table, ref, sizes.reindex(table.index))}
    if kinds is not None:
        out["per image kind (group)"] = paired_table(table, ref, kinds.reindex(table.index).fillna("(not in --groups)"))
    if folds is not None:  # images the file does not hold are left out of these tables (their images column)
        out["per fold"] = paired_table(table, ref, folds.reindex(table.index))
        out["over folds (each fold is another trained model)"] = over_folds(table, ref, folds.reindex(table.index))
    return out


def _read_column(path: Path, column: str, what: str) -> pd.Series:
    """``image_id -> column`` of a folds CSV; a DataError names the file."""
    try:
        frame = pd.read_csv(path, dtype={"image_id": str})
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read it as a {what} ({' '.join(str(exc).split())})") from None
    if not {"image_id", column} <= set(frame.columns):
        raise DataError(f"{path}: not a {what} (needs the columns image_id and {column})")
    twice = frame.image_id[frame.image_id.duplicated()]
    if len(twice):
        raise DataError(f"{path}: image {twice.iloc[0]} is listed more than once")
    return frame.set_index("image_id")[column]


def read_groups(path: Path) -> pd.Series:
    """``image_id -> group`` of a ``folds_group.csv``; a DataError names the file."""
    return _read_column(path, "group", "folds_group.csv").astype(str)


def read_folds(path: Path) -> pd.Series:
    """``image_id -> fold`` of a ``folds.csv`` or ``folds_group.csv``; a DataError names the file."""
    return _read_column(path, "fold", "folds CSV")


def _names(specs: Sequence[str]) -> dict[str, list[str]]:
    """``name -> its sources``, in the order the names first appear. An unnamed source is named
    by its position (``ref``, then ``new``, or ``new1``, ``new2``, ...); one whose positional
    name another source was given is refused, so it never joins that name unasked."""
    defaults = ["ref"] + (["new"] if len(specs) == 2 else [f"new{k}" for k in range(1, len(specs))])
    unnamed = "\0"  # no NAME= can be this
    parsed = [named_source(spec, unnamed) for spec in specs]
    given = {name for name, _ in parsed} - {unnamed}
    out: dict[str, list[str]] = {}
    for (name, where), default in zip(parsed, defaults):
        if name == unnamed:
            if default in given:
                raise DataError(f"bench_paired: the unnamed source {where} would be called {default!r}, "
                                "a name another source was given; name it (NAME=PATH)")
            name = default
        out.setdefault(name, []).append(where)
    if len(out) < 2:
        raise DataError(f"bench_paired: every source has the name {next(iter(out))!r}; give two names to compare")
    return out


def union_scores(name: str, wheres: Sequence[str], ds, ids: Sequence[str]) -> pd.Series:
    """The scores of one name's sources together; an image two of them score is refused."""
    parts = [source_scores(where, ds, ids) for where in wheres]
    for k, part in enumerate(parts):
        for where, other in zip(wheres[:k], parts[:k]):
            both = part.index.intersection(other.index)
            if len(both):
                raise DataError(f"bench_paired: {name}'s sources {where} and {wheres[k]} both score "
                                f"{len(both)} images (e.g. {both[0]}); one name's sources hold other images")
    return pd.concat(parts)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from common.paths import SHARED_DSB_DIR

    p = argparse.ArgumentParser(prog="bench/bench_paired.py", description=__doc__.split("\n")[0])
    p.add_argument("sources", nargs="+", metavar="[NAME=]PATH[:KEY]",
                   help="the reference first, then one or more to compare with it")
    p.add_argument("--data", type=Path, default=SHARED_DSB_DIR, help="data folder holding stage1_train/")
    p.add_argument("--ids", type=Path, help="only these image ids (a file, one per line, # comments)")
    p.add_argument("--groups", type=Path, help="folds_group.csv: add a table per image kind (its group column)")
    p.add_argument("--folds", type=Path, help="folds.csv or folds_group.csv whose fold column tells which training "
                   "scored each image: add the table over folds")
    p.add_argument("--out", type=Path, help="folder for paired.md / paired.json")
    args = p.parse_intermixed_args(argv)  # sources before or after the options
    if len(args.sources) < 2:
        p.error("give a reference and at least one source to compare with it")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from common.cli import narrow_ids
    from common.data import DSBDataset
    from common.folds import image_type
    from pipeline.plots import markdown_table

    outputs = [args.out / "paired.md", args.out / "paired.json"] if args.out is not None else []
    for path in outputs:
        if path.exists():
            raise DataError(f"{path} exists; give another --out (nothing written is overwritten)")
    named = _names(args.sources)
    kinds = read_groups(args.groups) if args.groups is not None else None
    folds = read_folds(args.folds) if args.folds is not None else None
    ds = DSBDataset(args.data, "stage1_train")
    try:  # only images of stage1_train: a stored score of another image has no labels here
        wanted = narrow_ids(list(ds.ids), args.ids)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    scores = {name: union_scores(name, wheres, ds, wanted) for name, wheres in named.items()}
    ids = sorted(set.intersection(*(set(s.index) for s in scores.values())))
    if not ids:
        raise DataError("bench_paired: no image is scored by every source: "
                         + ", ".join(f"{n} {len(s)}" for n, s in scores.items()))
    if folds is not None and not folds.index.isin(ids).any():
        raise DataError(f"{args.folds}: holds none of the {len(ids)} images every source scored")
    table = pd.DataFrame({n: s.reindex(ids) for n, s in scores.items()})
    types = pd.Series({i: image_type(ds.load_image(i)) for i in ids})
    sizes = pd.Series({i: size_bucket(ds.image_shape(i)) for i in ids})
    command = shlex.join([".venv/bin/python", "bench/bench_paired.py", *(argv if argv is not None else sys.argv[1:])])
    machine = machine_description()
    ref = table.columns[0]
    lines = [f"# Paired per image against `{ref}`", "", f"Command: `{command}`", "",
             f"Scored on {machine}, commit `{git_commit(REPO, mark_dirty=True)}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"DSB mean AP over the {len(ids)} images every source scored "
             f"({', '.join(f'`{n}` {len(s)}' for n, s in scores.items())}); `X − {ref}`: mean ± standard "
             "error of the per-image differences.", ""]
    for title, df in paired_tables(table, types, sizes, kinds, folds).items():
        lines += [f"## {title}", "", markdown_table(df, index_name=title.split(" (")[0].replace("per ", "")), ""]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(outputs[0], text, overwrite=False)
        write_json(outputs[1], {
            "command": command, "machine": machine,
            "sources": {n: w[0] if len(w) == 1 else w for n, w in named.items()},
            "per_image": {i: {n: round(float(table.at[i, n]), 4) for n in table.columns} for i in ids}},
            overwrite=False)
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "bench/bench_paired.py"))
