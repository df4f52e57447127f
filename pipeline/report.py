"""The report: ``WORK/reports/summary.md``, ``scores.csv``, ``speed_accuracy.png``, ``overlays/``.

One row per solution (and the ensemble) with numbers read from the runs' own files:
OOF score (stage1_train labels), test score where the test split has labels (mean
over the fold models; the ensemble's merged prediction), training time (sum over
folds of ``train_summary.json`` ``train_seconds``), inference images/s (total images
over total seconds of every ``_summary*.json`` of the test folders, else of the OOF
folder's per-fold summaries), parameter count and device — the study's Table 4.4 regenerated
from real runs, with the study's published numbers beside it for reference.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import DSBDataset, image_folders
from common.error_kinds import sum_error_kinds
from common.io import atomic_write, atomic_write_text, read_json, remove_stale_temps
from common.machine import machine_description
from common.paths import GROUP_SPLIT_DIR, Workspace
from common.predictions import list_predictions
from ensemble.evaluate import ScoreCache, Truth, error_counts_folder, n_missing
from ensemble.run import expected_ids
from pipeline.plots import STUDY_TABLE, fmt, markdown_table, speed_accuracy_plot, write_overlays

__all__ = ["collect_rows", "build_report"]


def folder_summaries(folder: Path) -> list[dict]:
    """A predictions folder's timing summaries: its ``_summary_fold<k>.json`` files (one per
    fold's share of ``oof/``) or, when it has none, its ``_summary.json``.

    (An ``oof/_summary.json`` left by a solution before it wrote per-fold summaries is
    ignored once per-fold ones exist, so no fold is counted twice.)
    """
    per_fold = sorted(Path(folder).glob("_summary_fold*.json"))
    paths = per_fold or [Path(folder) / "_summary.json"]
    return [s for s in (read_json(p) for p in paths) if isinstance(s, dict)]


def _sum_summaries(folders: Sequence[Path]) -> tuple[int, float]:
    """Total images and total seconds over every summary of ``folders``."""
    n, seconds = 0, 0.0
    for folder in folders:
        for s in folder_summaries(folder):
            if s.get("seconds") and s.get("n_images"):
                n += int(s["n_images"])
                seconds += float(s["seconds"])
    return n, seconds


def _solution_row(ws: Workspace, name: str, folds: Sequence[int], cache: ScoreCache,
                  oof_truth: Truth, test_truth: Truth | None,
                  oof_ids: Sequence[str] | None) -> tuple[dict, pd.Series]:
    summaries = [read_json(ws.run_dir(f"{name}-fold{k}") / "train_summary.json") for k in folds]
    summaries = [s for s in summaries if s]
    row: dict = {"folds": len(summaries)}
    row["train_seconds"] = sum(float(s.get("train_seconds") or 0) for s in summaries) if summaries else np.nan
    row["epochs"] = "/".join(str(s.get("epochs", "?")) for s in summaries) or "–"
    params = [s.get("params") for s in summaries if s.get("params")]
    row["params"] = int(params[0]) if params else np.nan
    devices = sorted({str(s.get("device")) for s in summaries if s.get("device")})
    row["device"] = "; ".join(devices) or "–"
    test_dirs = [ws.predictions_dir(name, f"test_fold{k}") for k in folds]
    test_dirs = [d for d in test_dirs if d.is_dir()]
    n, sec = _sum_summaries(test_dirs)
    if not sec:
        n, sec = _sum_summaries([ws.predictions_dir(name, "oof")])
    row["images_per_s"] = n / sec if sec else np.nan
    row["_seconds_per_image"] = sec / n if n else np.nan
    oof_dir = ws.predictions_dir(name, "oof")
    per_image = cache.scores(oof_dir, oof_truth, oof_ids) if list_predictions(oof_dir) \
        else pd.Series(dtype=float)
    row["oof_missing"] = n_missing(per_image)
    row["oof_images"] = int(per_image.size) - row["oof_missing"]
    row["oof_score"] = float(per_image.mean()) if per_image.size else np.nan
    test_scores = [cache.scores(d, test_truth).mean() for d in test_dirs] if test_truth else []
    test_scores = [s for s in test_scores if np.isfinite(s)]
    row["test_score"] = float(np.mean(test_scores)) if test_scores else np.nan
    return row, per_image


def collect_rows(ws: Workspace, data_dir: Path, solutions: Sequence[str], folds: Sequence[int],
                 test_split: str, ensemble: str = "ensemble", cache: ScoreCache | None = None,
                 oof_truth: Truth | None = None) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The results table and the per-image OOF scores of every row (``oof_truth``: the
    stage1_train labels, shared with the caller so they are read once).

    Returns:
        ``(table, per_image)``: table indexed by model name with columns ``oof_score``,
        ``test_score``, ``train_seconds``, ``images_per_s``, ``params``, ``device``, ...;
        per_image maps the same names to per-image OOF score Series.
    """
    cache = cache or ScoreCache(ws.reports_dir / "_scores.json")
    oof_truth = oof_truth or Truth(data_dir, "stage1_train")
    test_truth = Truth(data_dir, test_split)
    test_truth = test_truth if test_truth.available else None
    oof_ids = expected_ids(ws, "oof", folds)  # the selected folds' images (folds.csv)
    rows, per_image = {}, {}
    for name in solutions:
        rows[name], per_image[name] = _solution_row(ws, name, folds, cache, oof_truth, test_truth,
                                                    oof_ids)
    oof_dir, test_dir = ws.predictions_dir(ensemble, "oof"), ws.predictions_dir(ensemble, "test")
    if list_predictions(oof_dir) or list_predictions(test_dir):
        members = [rows[n] for n in solutions if n in rows]
        s = cache.scores(oof_dir, oof_truth, oof_ids) if list_predictions(oof_dir) \
            else pd.Series(dtype=float)
        per_image[ensemble] = s
        merge = read_json(test_dir / "_summary.json", {}) or {}
        merge_spi = merge["seconds"] / merge["n_images"] if merge.get("n_images") else 0.0
        spi = sum(m["_seconds_per_image"] * max(m["folds"], 1) for m in members
                  if np.isfinite(m["_seconds_per_image"])) + merge_spi
        params = [m["params"] for m in members if np.isfinite(m["params"])]
        rows[ensemble] = {
            "folds": max((m["folds"] for m in members), default=0),
            "oof_images": int(s.size) - n_missing(s), "oof_missing": n_missing(s), "oof_score": float(s.mean()) if s.size else np.nan,
            "test_score": float(cache.scores(test_dir, test_truth).mean())
            if test_truth and list_predictions(test_dir) else np.nan,
            "train_seconds": float(np.nansum([m["train_seconds"] for m in members])),
            "epochs": "–", "images_per_s": 1.0 / spi if spi else np.nan,
            "params": float(sum(p * max(m["folds"], 1) for p, m in zip(params, members))) if params else np.nan,
            "device": "; ".join(sorted({m["device"] for m in members})) or "–",
            "_seconds_per_image": spi}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table, per_image


def split_workspaces(ws: Workspace) -> tuple[Workspace, Workspace]:
    """The ``(stratified, group)`` workspaces of the work root ``ws`` belongs to.

    A group split lives in ``<work>/split-group/`` (``Workspace.from_args``), so either
    one finds the other.
    """
    if ws.split_by == "group":
        return Workspace(ws.root.parent, ws.data_dir), ws
    return ws, Workspace(ws.root / GROUP_SPLIT_DIR, ws.data_dir, "group")


def _read_folds_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=["cluster", "group"])
    return pd.read_csv(path, dtype={"image_id": str, "cluster": str, "group": str}).set_index("image_id")


def _split_columns(ws: Workspace, data_dir: Path, solutions: Sequence[str], folds: Sequence[int],
                   test_split: str, ensemble: str, table: pd.DataFrame,
                   per_image: dict[str, pd.Series]) -> tuple[pd.DataFrame, dict[str, pd.Series], pd.DataFrame]:
    """Both splits' OOF scores side by side, when the other split has predictions.

    Returns:
        ``(table, group_per_image, group_folds)``: ``table`` gains ``stratified_oof_score``,
        ``group_oof_score`` and ``gap`` (stratified − group) when both splits were run;
        the group split's per-image OOF scores and its ``folds_group.csv`` (empty without it).
    """
    strat_ws, group_ws = split_workspaces(ws)
    other = group_ws if ws.split_by != "group" else strat_ws
    if not (other.root / "predictions").is_dir():
        if ws.split_by == "group":
            return table, per_image, _read_folds_table(group_ws.folds_csv)
        return table, {}, pd.DataFrame()
    other_table, other_per_image = collect_rows(other, data_dir, solutions, folds, test_split, ensemble)
    table = table.copy()
    mine = table["oof_score"]
    theirs = other_table["oof_score"].reindex(table.index)
    table["stratified_oof_score"] = theirs if ws.split_by == "group" else mine
    table["group_oof_score"] = mine if ws.split_by == "group" else theirs
    table["gap"] = table["stratified_oof_score"] - table["group_oof_score"]
    group_per_image = per_image if ws.split_by == "group" else other_per_image
    return table, group_per_image, _read_folds_table(group_ws.folds_csv)


def _worst(preds: dict, scores: pd.Series, clusters: pd.Series, n: int) -> dict:
    """The prediction files of the ``n`` lowest-scoring OOF images of each type."""
    scores = scores.reindex([i for i in scores.index if i in preds]).dropna()
    if not scores.size:
        return preds
    kinds = clusters.reindex(scores.index).fillna("unknown")
    keep = [i for _, s in scores.groupby(kinds) for i in s.sort_values(kind="stable").index[:n]]
    return {i: preds[i] for i in keep}


def _per_type(per_image: dict[str, pd.Series], clusters: pd.Series) -> pd.DataFrame:
    cols = {}
    for name, s in per_image.items():
        if s.size:
            cols[name] = s.groupby(clusters.reindex(s.index).fillna("unknown")).mean()
    if not cols:
        return pd.DataFrame()
    df = pd.DataFrame(cols).T
    counts = clusters.value_counts()
    df.columns = [f"{c} ({counts.get(c, 0)})" for c in df.columns]
    return df


def error_lines(folder: Path, truth: Truth, ids: Sequence[str], clusters: pd.Series,
                name: str, cache: ScoreCache | None = None) -> list[str]:
    """The report's section on how ``name``'s OOF predictions in ``folder`` fail, per type
    (``common.error_kinds``) over the expected ``ids``; an image without a prediction counts as
    predicting nothing, as in its score. No lines when no labelled image is expected. With a
    ``cache`` each image's counts are kept beside its score."""
    counts = cache.error_counts(folder, truth, ids) if cache is not None else \
        error_counts_folder(folder, truth, ids)
    kinds = clusters.reindex(list(counts)).fillna("unknown").astype(str)
    table = sum_error_kinds((kinds[i], c) for i, c in counts.items())
    if table.empty:
        return []
    shown = table[["images", "true", "matched", "merged_%", "split_%", "missed_%", "outline_%",
                   "pred", "fp_background", "fp_piece"]]
    return ["## How the OOF predictions fail, per image type", "",
            f"`{name}`'s out-of-fold predictions (`common.error_kinds`; a match is IoU > 0.5). Of "
            "the true nuclei not matched, *merged*: inside a prediction that holds another true "
            "nucleus too (touching nuclei not split); *split*: cut in pieces; *missed*: less than "
            "half covered; *outline*: found but outlined poorly (in % of the true nuclei). "
            "Unmatched predictions: *fp_background* mostly on background, *fp_piece* mostly on "
            "nuclei.", "", markdown_table(shown.map(lambda v: fmt(v, 1) if isinstance(v, float) else fmt(v)),
                                          index_name="Image type"), ""]


def opening_lines(profile: str, solutions: Sequence[str], folds: Sequence[int], data: str,
                  n_train: int, n_test: int, table: pd.DataFrame, submission: Path | None) -> list[str]:
    """The report's first lines: what ran, where the submission is, what to do next."""
    devices = sorted({str(d) for d in table.get("device", pd.Series(dtype=str)).dropna()
                      if str(d) not in ("", "nan", "–")})
    synthetic = "synthetic" in data
    ran = (f"**What ran:** {', '.join(solutions)} on {len(folds)} fold(s) of "
           f"{'the synthetic demo set' if synthetic else 'the DSB data'} ({n_train} training, "
           f"{n_test} test images), {profile or 'a'} profile, on {', '.join(devices) or 'this machine'}.")
    where = (f"**Submission:** `{submission}` (validated)." if submission else
             "**Submission:** none written in this run.")
    nxt = ["**Next:**"]
    if synthetic:
        nxt.append("put the Kaggle data under `input/` (or set Kaggle credentials) and run "
                   "`./run_all.sh` again to train on real images;")
    nxt.append("on a GPU machine, `./run_all.sh --profile full` trains every default model on "
               "5 folds; `./segment.sh --model WORK/runs/<run> IMAGES... --out DIR` segments "
               "your own images with a trained run.")
    return [ran, where, " ".join(nxt)]


def build_report(ws: Workspace, data_dir: Path, solutions: Sequence[str], folds: Sequence[int],
                 test_split: str, profile: str = "", data_note: str = "", command: str = "",
                 ensemble: str = "ensemble", submission: Path | None = None,
                 overlays_per_type: int = 6) -> Path:
    """Write the report files into ``ws.reports_dir`` and return ``summary.md``'s path.

    Call it while owning the work folder (``run_all`` holds its lock): the temp files a killed
    report left behind in ``reports/`` are removed first.
    """
    out = ws.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, recursive=True)
    oof_truth = Truth(data_dir, "stage1_train")
    cache = ScoreCache(out / "_scores.json")
    table, per_image = collect_rows(ws, data_dir, solutions, folds, test_split, ensemble,
                                    cache=cache, oof_truth=oof_truth)
    table, group_per_image, group_folds = _split_columns(ws, data_dir, solutions, folds, test_split,
                                                         ensemble, table, per_image)
    public = table.drop(columns=[c for c in table.columns if c.startswith("_")])
    atomic_write(out / "scores.csv", lambda tmp: public.to_csv(tmp))
    machine = machine_description()
    speed_accuracy_plot(table, out / "speed_accuracy.png",
                        title=f"DSB score vs speed ({profile} profile, {machine})")
    clusters = pd.Series(dtype=str)
    if ws.folds_csv.is_file():
        f = pd.read_csv(ws.folds_csv, dtype={"image_id": str, "cluster": str})
        clusters = f.set_index("image_id")["cluster"]
    overlay_src = ensemble if per_image.get(ensemble) is not None and per_image[ensemble].size else (
        next((n for n in solutions if per_image.get(n) is not None and per_image[n].size), None))
    overlays = []
    if overlay_src is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            overlays = write_overlays(out / "overlays", DSBDataset(data_dir, "stage1_train"),
                                      _worst(list_predictions(ws.predictions_dir(overlay_src, "oof")),
                                             per_image[overlay_src], clusters, overlays_per_type),
                                      clusters.to_dict(), per_type=overlays_per_type)
    errors_md = error_lines(ws.predictions_dir(overlay_src, "oof"), oof_truth,
                            list(per_image[overlay_src].index), clusters, overlay_src, cache) \
        if overlay_src is not None else []
    n_train = len(image_folders(data_dir / "stage1_train"))
    n_test = len(image_folders(data_dir / test_split))
    shown = pd.DataFrame({
        "OOF score": [fmt(v, 3) for v in table["oof_score"]],
        "OOF images": [fmt(v) + (f" ({fmt(m)} missing)" if m else "")
                       for v, m in zip(table["oof_images"], table["oof_missing"])],
        **({"Stratified OOF": [fmt(v, 3) for v in table["stratified_oof_score"]],
            "Group OOF": [fmt(v, 3) for v in table["group_oof_score"]],
            "Gap (strat − group)": [fmt(v, 3) for v in table["gap"]]}
           if "gap" in table.columns else {}),
        "Test score": [fmt(v, 3) for v in table["test_score"]],
        "Train time (s, Σ folds)": [fmt(v, 0) for v in table["train_seconds"]],
        "Epochs per fold": table["epochs"].astype(str).tolist(),
        "Inference (img/s)": [fmt(v, 2) for v in table["images_per_s"]],
        "Params": [fmt(int(v)) if np.isfinite(v) else "–" for v in table["params"]],
        "Device": table["device"].astype(str).tolist()}, index=table.index)
    study = STUDY_TABLE.copy()
    study_shown = pd.DataFrame({"Stage-2 test score": [f"{v:.3f}" for v in study["stage2_score"]],
                                "Training time (s)": [f"{v:,}" for v in study["train_seconds"]]},
                               index=study.index)
    per_type = _per_type(per_image, clusters)
    per_type_md = markdown_table(per_type.map(lambda v: fmt(v, 3)), index_name="Model") \
        if not per_type.empty else "(no OOF predictions)"
    group_md = []
    if group_per_image and not group_folds.empty:
        by_type = _per_type(group_per_image, group_folds["cluster"])
        by_group = _per_type(group_per_image, group_folds["group"])
        fold_of = group_folds.groupby("group")["fold"].first()
        by_group.columns = [f"{c} f{fold_of.get(c.rsplit(' (', 1)[0], '?')}" for c in by_group.columns]
        group_md = [
            "## Group folds: how the models do on image kinds they never saw", "",
            "Out-of-fold scores on `folds_group.csv` (`--split-by group`, under "
            f"`{GROUP_SPLIT_DIR}/`): every image is scored by a model that saw no image of its "
            "group (its source kind, see `common.folds`). The gap to the stratified OOF score "
            "above is what a new kind of image costs.", "",
            "Per image type:", "",
            markdown_table(by_type.map(lambda v: fmt(v, 3)), index_name="Model"), "",
            "Per group (images; `fK`: the fold that held it out):", "",
            markdown_table(by_group.T.map(lambda v: fmt(v, 3)), index_name="Group"), ""]
    lines = [
        f"# DSB2018 results{f' ({profile} profile)' if profile else ''}", "",
        *opening_lines(profile, solutions, folds, data_note or str(data_dir), n_train, n_test,
                       table, submission), "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} on **{machine}**.",
        *([f"Command: `{command}`"] if command else []),
        f"Data: {data_note or data_dir} — {n_train} training images, {n_test} test images "
        f"(`{test_split}`); folds trained: {', '.join(map(str, folds))}.", "",
        "## Our runs", "",
        markdown_table(shown, index_name="Model"), "",
        "* **OOF score**: mean DSB metric (average precision over IoU 0.50–0.95) on the "
        "out-of-fold training images of the folds trained, stage1_train labels; *OOF images* "
        "says how many were predicted; an image without a prediction (*missing*) counts as "
        "predicting no nuclei.",
        "* **Test score**: the same metric on the test split where it has labels "
        "(solution CSV); for a solution the mean over its fold models, for the ensemble the "
        "merged prediction. – where the split has no labels.",
        "* **Train time**: sum over folds of `train_seconds` in each run's `train_summary.json`; "
        "**inference**: test images per second, total images over total seconds of the "
        "predictions' `_summary*.json` (for the ensemble: every member fold model plus the "
        "merge, per image).",
        "* **Params**: per model (for the ensemble: all member fold models).",
        *(["* **Stratified / Group OOF**: the OOF score on `folds.csv` (every fold holds every "
           "image type) and on `folds_group.csv` (each source kind held out whole); **gap**: "
           "their difference."] if "gap" in table.columns else []), "",
        *([f"Split: **{ws.split_by}** folds (`{ws.folds_csv.name}`)."] if ws.split_by != "stratified" else []),
        "## OOF score per image type", "", per_type_md, "",
        *errors_md,
        *group_md,
        "## The study's Table 4.4 (their numbers, not ours)", "",
        "Published in the study: stage-2 test score and training time on an NVIDIA K80. "
        "Shown for reference only; not produced by this repository.", "",
        markdown_table(study_shown, index_name="Model (the study)"), "",
        "## Files", "",
        "* `scores.csv`: the table above, machine-readable.",
        "* `speed_accuracy.png`: score vs training time and vs inference speed.",
        f"* `overlays/`: {len(overlays)} pictures, the {overlays_per_type} worst-scored OOF images "
        f"of each type (image | true outlines green, predicted outlines red, both yellow), "
        f"predictions of `{overlay_src}`.",
        *([f"* Submission: `{submission}`"] if submission else []), ""]
    return atomic_write_text(out / "summary.md", "\n".join(lines))
