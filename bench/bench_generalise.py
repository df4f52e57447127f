"""How the models generalise to image kinds they never saw: stratified against group folds.

Stratified out-of-fold (OOF) scores cannot see a distribution shift, because every fold
holds images of every kind. Group folds (``common.folds``, ``folds_group.csv``) hold each
source kind out whole, so every group-OOF image is scored by a model that saw nothing
like it. This script reports, per model, the stratified OOF score, the group OOF score,
the gap between them (the number issue 14 exists to shrink), and both scores per image
type and per group (DSB mean AP, ``common.metrics``).

Usage::

    # report on finished work folders: the stratified split in WORK, the group split in
    # WORK/split-group/ (what ./run_all.sh --work WORK [--split-by group] leaves)
    .venv/bin/python bench/bench_generalise.py --work WORK --data ../shared/dsb2018 \\
        --solutions unet --out bench/results/generalise_cpu_<date>/

    # train and OOF-predict every fold of both splits first (each fold --budget seconds;
    # finished runs and predicted folds are skipped, so running it again resumes)
    .venv/bin/python bench/bench_generalise.py --train --budget 200 --work WORK \\
        --data ../shared/dsb2018 --solutions unet --config solutions/unet/configs/cpu30.yaml \\
        --set post.tune=false --out DIR

Writes ``generalise.md`` and ``generalise.json`` to ``--out`` (atomically), with the
command, the machine and every scored image's score per split (``models.<name>.per_image``:
a source of ``bench/bench_paired.py`` once the work folder is gone). A U-Net that tunes its thresholds on its OOF images
(``post.tune``) sees its held-out group during tuning: pass ``--set post.tune=false``
for a clean group score. ``--splits group --train-folds 3,1`` trains only those folds, in
that order (a queue that may be cut short by the clock still ends with whole folds).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.folds import get_folds, group_summary, split_ids  # noqa: E402
from common.io import atomic_write_text, read_json  # noqa: E402
from common.machine import machine_description  # noqa: E402
from common.paths import GROUP_SPLIT_DIR, Workspace, repo_pythonpath  # noqa: E402

__all__ = ["drive", "score_split", "build_tables", "main"]


def workspaces(work: Path, data: Path, group_work: Path | None = None) -> dict[str, Workspace]:
    """The stratified workspace ``work`` and the group one (default ``work/split-group``)."""
    group_root = group_work or Path(work) / GROUP_SPLIT_DIR
    return {"stratified": Workspace(Path(work), Path(data)),
            "group": Workspace(Path(group_root), Path(data), "group")}


# ---------------------------------------------------------------------------- driving
def _run(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[generalise] {shlex.join(cmd)}  (log {log})", flush=True)
    with open(log, "a") as fh:
        proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": repo_pythonpath()})
    if proc.returncode != 0:
        raise RuntimeError(f"{log}: {cmd[2]} exited with status {proc.returncode}")


def drive(wss: dict[str, Workspace], solutions: Sequence[str], folds: Sequence[int], n_folds: int,
          budget: float, config: Path | None = None, sets: Sequence[str] = (),
          profile: str = "full", tiny: bool = False, oof_limit: int = 0,
          oof_ids: Path | None = None) -> None:
    """Train every fold of every solution on each split of ``wss``, then predict its OOF images.

    Each training run gets ``train.time_budget_s=budget`` (when > 0). A fold whose OOF
    marker (``_summary_fold<K>.json``) is newer than its run is not predicted again.
    ``oof_limit`` > 0 predicts only the first that many OOF images of a fold (``--limit``);
    ``oof_ids`` (a file of image ids) only those of them it lists (``--only``), so two splits
    can be scored on the same images.
    """
    from common.predictions import summary_path
    from pipeline.registry import get_solution

    for split, ws in wss.items():
        for name in solutions:
            spec = get_solution(name)
            extra = ([f"train.time_budget_s={budget:g}"] if budget > 0 else []) + list(sets)
            items = spec.set_items(profile, n_folds, tiny, tuple(extra))
            cfg = str(config or spec.config(profile))
            for k in folds:
                run = f"{name}-fold{k}"
                common = ["--data", str(ws.data_dir), "--work", str(ws.root), "--split-by", split]
                log = ws.root / "logs" / f"generalise-{run}.log"
                _run([sys.executable, "-m", spec.train_module(), "--config", cfg, "--fold", str(k),
                      *common, "--run-name", run, "--verbose", "2", *spec.set_args(items)], log)
                marker = summary_path(ws.predictions_dir(name, "oof"), k)
                trained = ws.run_dir(run) / "train_summary.json"
                if marker.is_file() and marker.stat().st_mtime >= trained.stat().st_mtime:
                    print(f"[generalise] skip predict {split} {run}: done", flush=True)
                    continue
                limit = (["--limit", str(oof_limit)] if oof_limit else []) + (
                    ["--only", str(oof_ids)] if oof_ids else [])
                _run([sys.executable, "-m", spec.predict_module(), "--run", run, "--split", "oof",
                      *common, "--solution", name, *limit], log)


# ---------------------------------------------------------------------------- scoring
def score_split(ws: Workspace, solution: str, ids: Sequence[str], truth: dict[str, np.ndarray],
                only_predicted: bool = False) -> pd.Series:
    """Per-image DSB score of ``predictions/<solution>/oof``.

    A missing image predicts nothing (scores 0 where it has nuclei), unless
    ``only_predicted``: then only the images with a prediction file are scored.
    """
    from common.metrics import score_dataset
    from common.predictions import load_prediction

    folder = ws.predictions_dir(solution, "oof")
    if only_predicted:
        ids = [i for i in ids if (folder / f"{i}.npz").is_file()]
    pred = {}
    for i in ids:
        path = folder / f"{i}.npz"
        pred[i] = load_prediction(path, prob=False).labels if path.is_file() else np.zeros_like(truth[i])
    return score_dataset({i: truth[i] for i in ids}, pred).per_image["score"]


def _train_info(ws: Workspace, solution: str, folds: Sequence[int]) -> dict:
    runs = [read_json(ws.run_dir(f"{solution}-fold{k}") / "train_summary.json") or {} for k in folds]
    return {"train_seconds": [r.get("train_seconds") for r in runs], "epochs": [r.get("epochs") for r in runs]}


def build_tables(scores: dict[str, dict[str, pd.Series]], groups: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Summary, per-type and per-group tables from per-image scores.

    Args:
        scores: ``{solution: {"stratified": Series, "group": Series}}`` indexed by image id.
        groups: ``folds_group.csv`` indexed by image id (``fold``, ``cluster``, ``group``).

    Returns:
        ``{"summary", "per_type", "per_group"}``; the breakdowns have, per model, the
        stratified and group score of the same images and their gap.
    """
    summary, per_type, per_group = {}, {}, {}
    for name, by_split in scores.items():
        s, g = by_split.get("stratified"), by_split.get("group")
        summary[name] = {"stratified_oof": s.mean() if s is not None else np.nan,
                         "group_oof": g.mean() if g is not None else np.nan,
                         "images stratified": len(s) if s is not None else 0,
                         "images group": len(g) if g is not None else 0}
        summary[name]["gap"] = summary[name]["stratified_oof"] - summary[name]["group_oof"]
        for key, out in (("cluster", per_type), ("group", per_group)):
            for split, series in by_split.items():
                by = series.groupby(groups[key].reindex(series.index))
                out[f"n {split}"] = by.size()
                out[f"{name} {split}"] = by.mean()
            if s is not None and g is not None:
                out[f"{name} gap"] = out[f"{name} stratified"] - out[f"{name} group"]
    per_type = pd.DataFrame(per_type)
    per_type.insert(0, "images", groups["cluster"].value_counts().reindex(per_type.index))
    per_group = pd.DataFrame(per_group)
    per_group.insert(0, "held out in fold", groups.groupby("group")["fold"].first().reindex(per_group.index))
    per_group.insert(0, "images", groups["group"].value_counts().reindex(per_group.index))
    per_group = per_group.sort_values("images", ascending=False)
    return {"summary": pd.DataFrame(summary).T[["stratified_oof", "group_oof", "gap", "images stratified",
                                                 "images group"]],
            "per_type": per_type.sort_values("images", ascending=False), "per_group": per_group}


def worst_picture(ws: Workspace, solution: str, per_image: pd.Series, types: pd.Series, dataset,
                  path: Path, n: int = 6, height: int = 160) -> Path | None:
    """The ``n`` lowest-scoring OOF images of every type, one row per type, as one PNG.

    Each tile is ``pipeline.plots.overlay`` (image | true outlines green, predicted red,
    both yellow) scaled to ``height`` px, captioned with its type and DSB score.
    """
    import cv2

    from common.io import atomic_write
    from common.predictions import load_prediction
    from pipeline.plots import overlay

    folder = ws.predictions_dir(solution, "oof")
    kinds = types.reindex(per_image.index)
    rows = []
    for kind in sorted(kinds.dropna().unique()):
        tiles = []
        for image_id, score in per_image[kinds == kind].sort_values().iloc[:n].items():
            pred = folder / f"{image_id}.npz"
            labels = load_prediction(pred).labels if pred.is_file() else np.zeros(dataset.image_shape(image_id), np.int32)
            pic = overlay(dataset.load_image(image_id), dataset.load_labels(image_id), labels)
            width = max(1, int(round(pic.shape[1] * height / pic.shape[0])))
            pic = np.ascontiguousarray(cv2.resize(pic, (width, height), interpolation=cv2.INTER_AREA))
            cv2.putText(pic, f"{kind} {score:.2f} {image_id[:6]}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles += [pic, np.full((height, 6, 3), 255, np.uint8)]
        if tiles:
            rows.append(np.concatenate(tiles, axis=1))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(png.tobytes()), suffix=".png")


def _md(df: pd.DataFrame, index_name: str) -> str:
    """A markdown table: scores with 3 decimals; counts (``images``, ``n ...``, folds) as integers."""
    def cell(v, col):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return "–"
        if isinstance(v, (float, np.floating)) and not (col.startswith(("images", "n ", "held out"))
                                                        or col.isdigit() or col == "total"):
            return f"{v:.3f}"
        return str(int(v)) if isinstance(v, (float, np.floating, int, np.integer)) else str(v)
    head = f"| {index_name} | " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * (len(df.columns) + 1)
    cols = [str(c) for c in df.columns]
    rows = [f"| {i} | " + " | ".join(cell(v, c) for v, c in zip(row, cols)) + " |"
            for i, row in zip(df.index, df.to_numpy(dtype=object))]
    return "\n".join([head, rule, *rows])


def _per_image_record(wss: dict[str, Workspace], scores: dict[str, dict[str, pd.Series]]) -> dict:
    """``{model: {"per_image": {id: {split: score}}}}`` of the images that were predicted: what
    a later paired comparison reads (``bench/score_sources.py``: ``generalise.json:MODEL/SPLIT``)
    once the work folder is gone. An image without a prediction (scored 0 in the tables) is
    not stored: it is no score of the model."""
    record = {}
    for name, by_split in scores.items():
        rows: dict[str, dict[str, float]] = {}
        for split, series in by_split.items():
            folder = wss[split].predictions_dir(name, "oof")
            for i, v in series.items():
                if (folder / f"{i}.npz").is_file() and np.isfinite(v):
                    rows.setdefault(str(i), {})[split] = round(float(v), 4)
        record[name] = {"per_image": dict(sorted(rows.items()))}
    return record


def report(wss: dict[str, Workspace], solutions: Sequence[str], folds: Sequence[int], n_folds: int,
           seed: int, out: Path, command: str, extra: str = "", only_predicted: bool = False,
           worst: int = 6) -> dict:
    """Score both splits' OOF predictions and write ``generalise.md`` / ``generalise.json``."""
    from common.data import DSBDataset

    dataset = DSBDataset(wss["stratified"].data_dir, "stage1_train")
    folds_df = {split: get_folds(dataset, ws.folds_csv, n_folds=n_folds, seed=seed) for split, ws in wss.items()}
    groups = folds_df["group"].set_index("image_id")
    ids = {split: sorted(i for k in folds for i in split_ids(df, k)[1]) for split, df in folds_df.items()}
    if only_predicted:  # labels are read only for the images that will be scored
        ids = {split: [i for i in ids[split] if any((wss[split].predictions_dir(n, "oof") / f"{i}.npz").is_file()
                                                    for n in solutions)] for split in ids}
    truth = {i: dataset.load_labels(i) for i in sorted(set(ids["stratified"]) | set(ids["group"]))}
    scores, train = {}, {}
    for name in solutions:
        scores[name] = {split: score_split(ws, name, ids[split], truth, only_predicted)
                        for split, ws in wss.items() if ws.predictions_dir(name, "oof").is_dir()}
        train[name] = {split: _train_info(ws, name, folds) for split, ws in wss.items()}
    tables = build_tables(scores, groups)
    pictures = []
    for name, by_split in scores.items():
        if worst and "group" in by_split:
            pic = worst_picture(wss["group"], name, by_split["group"], groups["cluster"], dataset,
                                out / f"worst_{name}_group.png", n=worst)
            pictures += [pic.name] if pic else []
    machine = machine_description()
    sizes = group_summary(folds_df["group"])
    lines = [
        "# Generalisation: stratified against group out-of-fold scores", "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on **{machine}**.", "",
        f"Command: `{command}`", "",
        f"Work folders: stratified `{wss['stratified'].root}`, group `{wss['group'].root}`; "
        f"folds {', '.join(map(str, folds))} of {n_folds}.", *([extra, ""] if extra else [""]),
        "## Per model", "",
        "DSB mean AP (IoU 0.50–0.95) over the out-of-fold images"
        + (" that were predicted (a subset: see the command)" if only_predicted else
           " (a missing prediction counts as no nuclei)")
        + "; **gap** = stratified − group; `n`: images scored.", "",
        _md(tables["summary"], "Model"), "",
        "## Per image type", "", _md(tables["per_type"], "Type"), "",
        "## Per group (held out whole in the group split)", "",
        "The stratified column scores the same images with models that saw their kind.", "",
        _md(tables["per_group"], "Group"), "",
        "## Group folds (images per group and fold)", "", _md(sizes, "Group"), "",
        *(["## Where it fails", "",
           f"The {worst} worst group-OOF images of each type (image | outlines: true green, "
           "predicted red, both yellow; caption: type, DSB score, id):", "",
           *[f"![{p}]({p})" for p in pictures], ""] if pictures else []),
        "## Training", "",
        *[f"* `{name}` {split}: train seconds per fold {info['train_seconds']}, epochs {info['epochs']}"
          for name, by in train.items() for split, info in by.items()], ""]
    atomic_write_text(out / "generalise.md", "\n".join(lines))
    result = {"command": command, "machine": machine, "folds": list(folds), "n_folds": n_folds,
              "summary": json.loads(tables["summary"].to_json(orient="index")),
              "per_type": json.loads(tables["per_type"].to_json(orient="index")),
              "per_group": json.loads(tables["per_group"].to_json(orient="index")),
              "fold_sizes": {str(k): int(v) for k, v in folds_df["group"]["fold"].value_counts().sort_index().items()},
              "train": train, "pictures": pictures, "models": _per_image_record(wss, scores)}
    atomic_write_text(out / "generalise.json", json.dumps(result, indent=2, default=str))
    print("\n".join(lines))
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/bench_generalise.py", description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True, help="stratified work folder (group split in WORK/split-group/)")
    p.add_argument("--group-work", type=Path, help="group work folder (default WORK/split-group)")
    p.add_argument("--data", type=Path, required=True, help="data folder holding stage1_train/")
    p.add_argument("--solutions", default="unet", help="comma list of pipeline solution names")
    p.add_argument("--folds", type=int, default=5, help="number of folds (all are trained and scored)")
    p.add_argument("--seed", type=int, default=42, help="folds seed")
    p.add_argument("--out", type=Path, required=True, help="folder for generalise.md / generalise.json")
    p.add_argument("--train", action="store_true", help="train and OOF-predict both splits first")
    p.add_argument("--budget", type=float, default=0.0, help="with --train: train.time_budget_s per fold")
    p.add_argument("--config", type=Path, help="with --train: config YAML (default the registry's)")
    p.add_argument("--profile", default="full", choices=("demo", "full"), help="registry profile (configs)")
    p.add_argument("--set", dest="sets", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="with --train: config overrides for every run")
    p.add_argument("--tiny", action="store_true", help="with --train: the registry's smoke-test sizes")
    p.add_argument("--note", default="", help="a line added to the report (e.g. what else ran)")
    p.add_argument("--splits", default="stratified,group",
                   help="with --train: which splits to train (e.g. one per process); the report uses both")
    p.add_argument("--oof-limit", type=int, default=0,
                   help="with --train: predict only the first N OOF images per fold (implies --only-predicted)")
    p.add_argument("--oof-ids", type=Path, metavar="FILE",
                   help="with --train: predict only the OOF images this file lists, one id per line "
                        "(e.g. those another split's run predicted: a paired gap; implies --only-predicted)")
    p.add_argument("--train-folds", help="with --train: comma list, train and predict only these folds, in this "
                                         "order (default all); the report scores those done")
    p.add_argument("--score-folds", help="comma list: score only these folds' OOF images (default all)")
    p.add_argument("--worst", type=int, default=6, help="worst group-OOF images per type in the picture (0: none)")
    p.add_argument("--only-predicted", action="store_true",
                   help="score only the OOF images that have a prediction (not missing = empty)")
    return p.parse_args(argv)


def _fold_list(text: str, n_folds: int) -> list[int]:
    """``"3,1,4"`` -> ``[3, 1, 4]``; a fold outside ``0..n_folds-1`` is an error naming it."""
    folds = [int(k) for k in text.split(",") if k.strip()]
    bad = [k for k in folds if not 0 <= k < n_folds]
    if bad or not folds:
        raise SystemExit(f"bench_generalise: folds must be in 0..{n_folds - 1}, got {text!r}")
    return folds


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.folds < 2:
        raise SystemExit("bench_generalise: --folds must be >= 2")
    wss = workspaces(args.work.resolve(), args.data.resolve(), args.group_work and args.group_work.resolve())
    solutions = [s.strip() for s in args.solutions.split(",") if s.strip()]
    folds = list(range(args.folds))
    if args.train:
        chosen = {s: wss[s] for s in wss if s in args.splits.split(",")}
        order = _fold_list(args.train_folds, args.folds) if args.train_folds else folds
        drive(chosen, solutions, order, args.folds, args.budget, args.config, args.sets, args.profile,
              args.tiny, args.oof_limit, args.oof_ids and args.oof_ids.resolve())
    if args.score_folds:
        folds = sorted(set(_fold_list(args.score_folds, args.folds)))
    command = "python bench/bench_generalise.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    report(wss, solutions, folds, args.folds, args.seed, args.out, command, args.note,
           args.only_predicted or args.oof_limit > 0 or args.oof_ids is not None, args.worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
