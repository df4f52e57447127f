"""Run the ensemble: merge splits, score every source and the ensemble, write a submission.

Used by ``python -m ensemble`` and by the pipeline's ensemble and submission stages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from common.data import image_folders
from common.io import move_aside, timestamp
from common.paths import Workspace
from common.predictions import list_predictions
from common.submission import submission_text
from ensemble.config import EnsembleConfig
from ensemble.evaluate import ScoreCache, Truth, score_folders, truth_split
from ensemble.filter_cli import fit_if_stale
from ensemble.merge import merge_split, source_folders
from ensemble.pixel import Postprocess, read_image_folds
from ensemble.submit import (free_submission_path, split_shapes, submission_labels,
                             write_validated_submission)

__all__ = ["TEST_SPLITS", "detect_test_split", "expected_ids", "score_split", "run_ensemble",
           "make_submission", "format_scores"]

TEST_SPLITS = ("stage2_test_final", "stage1_test")


def detect_test_split(data_dir: str | Path, pred_dir: str | Path) -> str:
    """The test split (``stage2_test_final`` or ``stage1_test``) whose images ``pred_dir`` predicts.

    Raises:
        FileNotFoundError: when no test split of ``data_dir`` holds those images.
    """
    predicted = set(list_predictions(pred_dir))
    for split in TEST_SPLITS:
        folder = Path(data_dir) / split
        if folder.is_dir():
            ids = set(image_folders(folder))
            if predicted and predicted <= ids:
                return split
    raise FileNotFoundError(f"{pred_dir}: its {len(predicted)} images are not all in any of "
                            f"{[str(Path(data_dir) / s) for s in TEST_SPLITS]}")


def format_scores(table: pd.DataFrame) -> str:
    """A fixed-width text table of :func:`score_split` output."""
    if table.empty:
        return "(nothing scored)"
    shown = table[["n_images", "missing", "coverage", "score"]].copy()
    shown["coverage"] = (shown["coverage"] * 100).round(0).astype("Int64").astype(str) + "%"
    shown["score"] = shown["score"].map(lambda v: f"{v:.4f}")
    text = shown.to_string()
    if (table["missing"] > 0).any():
        text += ("\n(missing: expected images without a prediction, scored as predicting no "
                 "nuclei)")
    return text


def expected_ids(ws: Workspace, split: str, folds: Sequence[int] | None) -> list[str] | None:
    """The images a split's predictions should cover: for ``oof`` with ``folds`` (and a
    ``folds.csv``), the validation images of those folds; otherwise ``None`` (every
    labelled image of the split)."""
    if split != "oof" or folds is None:
        return None
    image_folds = read_image_folds(ws.folds_csv)
    if not image_folds:
        return None
    keep = set(folds)
    return sorted(i for i, k in image_folds.items() if k in keep)


def score_split(cfg: EnsembleConfig, ws: Workspace, data_dir: str | Path, split: str,
                test_split: str = "stage1_test", cache: ScoreCache | None = None,
                truth: Truth | None = None, log: Callable[[str], None] = print,
                folds: Sequence[int] | None = None) -> pd.DataFrame | None:
    """DSB score of every source folder and of the ensemble for ``split``.

    Every folder is scored on the same expected images (:func:`expected_ids`); an image a
    folder does not predict counts as empty, and the table's ``missing`` column says how
    many. ``folds`` also restricts the sources' ``test_fold<k>`` folders to those folds.

    Returns:
        The table (rows: ``<source>`` or ``<source>/<folder>``, then ``ensemble``), or
        ``None`` when the split has no labels.
    """
    truth = truth or Truth(data_dir, truth_split(split, test_split))
    if not truth.available:
        log(f"[ensemble] {split}: {truth.split} has no labels in {data_dir}; not scored")
        return None
    folders = {}
    for src in cfg.sources:
        found = source_folders(src, ws, split, folds)
        for folder in found:
            folders[src.label if len(found) == 1 else f"{src.label}/{folder.name}"] = folder
    out = ws.predictions_dir(cfg.output, split)
    if out.is_dir():
        folders[cfg.output] = out
    cache = cache or ScoreCache(ws.reports_dir / "_scores.json")
    ids = expected_ids(ws, split, folds)
    table = score_folders(folders, truth, cache, ids)
    n = len(ids) if ids is not None else len(truth.ids())
    log(f"[ensemble] {split} DSB score ({truth.split} labels, {n} expected images):\n"
        f"{format_scores(table)}")
    return table


def run_ensemble(cfg: EnsembleConfig, ws: Workspace, data_dir: str | Path,
                 splits: Sequence[str] = ("oof", "test"), test_split: str | None = None,
                 force: bool = False, postprocess: Postprocess | None = None,
                 backup_root: Path | None = None, log: Callable[[str], None] = print,
                 folds: Sequence[int] | None = None) -> dict[str, pd.DataFrame | None]:
    """Merge and score each split.

    Args:
        cfg: Ensemble config.
        ws: Workspace (predictions are read from and written to ``ws.root/predictions``).
        data_dir: DSB data folder (for the labels).
        splits: ``oof`` and/or ``test``.
        test_split: Data split of the test predictions (default: detected).
        force: Rebuild merged folders even when up to date.
        postprocess: Override ``probs_to_instances`` (tests).
        backup_root: Where outdated merged folders are moved.
        log: Printer.
        folds: The folds selected in this run: only their ``test_fold<k>`` folders are
            merged, and OOF is scored on their validation images (default: every folder
            found, every labelled image).

    With ``cfg.filter.fit`` the instance filter is fitted first (or found up to date) on
    its source's OOF predictions (``ensemble.filter_cli.fit_if_stale``).

    Returns:
        split -> score table (``None`` where the split has no labels).
    """
    tables = {}
    backup_root = backup_root or ws.root / "backup" / timestamp()
    cfg = fit_if_stale(cfg, ws, backup_root, log)
    for split in splits:
        merge_split(cfg, ws, split, force=force, postprocess=postprocess,
                    backup_root=backup_root, log=log, folds=folds)
        tsplit = test_split
        if split == "test" and tsplit is None:
            tsplit = detect_test_split(data_dir, ws.predictions_dir(cfg.output, split))
        tables[split] = score_split(cfg, ws, data_dir, split, tsplit or "stage1_test", log=log,
                                    folds=folds)
    return tables


def make_submission(ws: Workspace, data_dir: str | Path, pred_dir: str | Path, name: str,
                    test_split: str | None = None, overwrite: bool = False,
                    log: Callable[[str], None] = print) -> Path:
    """Write and validate ``WORK/submissions/<name>.csv`` from a predictions folder.

    Without ``overwrite`` an existing, different file is kept and the next free name is
    used (a file that already holds exactly this submission is reused: a run killed
    between writing and recording it leaves one copy, not two); with ``overwrite`` the
    existing file is first moved to ``WORK/backup/<time>/submissions/``: no submission
    is ever overwritten in place.

    Returns:
        The submission path.
    """
    test_split = test_split or detect_test_split(data_dir, pred_dir)
    shapes = split_shapes(data_dir, test_split)
    text = submission_text(submission_labels(pred_dir, shapes))
    path = ws.submissions_dir / f"{name}.csv"
    if path.exists() and overwrite:
        where = move_aside(path, ws.root / "backup" / timestamp(), ws.root)
        log(f"[submission] replacing {path} (--force); the old one is in {where}")
    elif path.exists():
        path = free_submission_path(ws.submissions_dir, name, text)
        if path.exists():
            log(f"[submission] {path} already holds this submission; kept")
        else:
            log(f"[submission] {ws.submissions_dir / f'{name}.csv'} exists; "
                f"writing {path.name} instead")
    write_validated_submission(pred_dir, path, shapes, overwrite=overwrite, text=text)
    log(f"[submission] {path}: {len(shapes)} {test_split} images, validated")
    return path
