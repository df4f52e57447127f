"""Score prediction folders against ground truth (OOF on stage1_train, test on a solution CSV).

Truth is loaded lazily and once per process; per-folder per-image scores (and the report's
error counts) are cached in a JSON file keyed by the folder's fingerprint (file count, newest mtime, size), so
re-running the report after a crash does not rescore unchanged folders.

A folder is scored on the *expected* image ids (every labelled image of the split, or
the ids given, e.g. the validation images of the folds trained): an expected image
without a prediction counts as predicting no nuclei (``docs/CONTRACTS.md``), and the
number of such images is reported (``missing``) instead of silently shrinking the set.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SOLUTION_CSVS, DSBDataset, load_split
from common.metrics import score_dataset
from common.predictions import list_predictions, load_prediction
from common.io import folder_fingerprint, ids_digest, read_json, stored_form, unchanged, write_json

__all__ = ["Truth", "truth_split", "score_folder", "score_folders", "error_counts_folder", "ScoreCache",
           "n_missing"]


def truth_split(split: str, test_split: str = "stage1_test") -> str:
    """The data split whose labels score a predictions split (``oof`` → ``stage1_train``)."""
    if split == "oof":
        return "stage1_train"
    if split == "test" or split.startswith("test_fold"):
        return test_split
    return split


class Truth:
    """Ground-truth labels of one data split, loaded on demand.

    A test split is read from its solution CSV with ``common.submission.read_solution``
    (images marked Ignored are left out); other splits from their masks folders.

    Args:
        data_dir: DSB data folder.
        split: ``stage1_train``, ``stage1_test`` or ``stage2_test_final``.
    """

    def __init__(self, data_dir: str | Path, split: str):
        self.data_dir, self.split = Path(data_dir), split
        self._labels: dict[str, np.ndarray] = {}
        self._dataset: DSBDataset | None = None
        self._csv_done = False

    @property
    def available(self) -> bool:
        """Whether this split has labels."""
        csv = self.data_dir / SOLUTION_CSVS.get(self.split, "-")
        if csv.is_file():
            return True
        if not (self.data_dir / self.split).is_dir():
            return False
        return self._ds().has_labels

    def _ds(self) -> DSBDataset:
        if self._dataset is None:
            self._dataset = load_split(self.data_dir, self.split)
        return self._dataset

    def ids(self) -> list[str]:
        """Every labelled image id of the split."""
        csv = self.data_dir / SOLUTION_CSVS.get(self.split, "-")
        if csv.is_file():
            self._read_csv(csv)
            return sorted(self._labels)
        return list(self._ds().ids)

    def _read_csv(self, csv: Path) -> None:
        if not self._csv_done:
            from common.submission import read_solution

            self._labels.update(read_solution(csv))
            self._csv_done = True

    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Labels int32 [H,W] for ``ids`` (unknown ids are left out)."""
        csv = self.data_dir / SOLUTION_CSVS.get(self.split, "-")
        if csv.is_file():
            self._read_csv(csv)
            return {i: self._labels[i] for i in ids if i in self._labels}
        known = set(self._ds().ids)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overlapping-mask notices
            for i in ids:
                if i in known and i not in self._labels:
                    self._labels[i] = self._ds().load_labels(i)
        return {i: self._labels[i] for i in ids if i in self._labels}


def n_missing(scores: pd.Series) -> int:
    """How many expected images of a :func:`score_folder` result had no prediction."""
    return int(scores.attrs.get("missing", 0))


def _series(per_image: Mapping[str, float], missing: int) -> pd.Series:
    s = pd.Series(dict(per_image), dtype=float, name="score")
    s.attrs["missing"] = int(missing)
    return s


def error_counts_folder(folder: str | Path, truth: Truth, ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``common.error_kinds.error_kinds`` of each expected labelled image in ``ids``; an image
    without a prediction counts as predicting nothing, as in :func:`score_folder`."""
    from common.error_kinds import error_kinds

    files = list_predictions(folder)
    return {i: error_kinds(t, load_prediction(files[i], prob=False).labels if i in files else np.zeros_like(t))
            for i, t in truth.get(list(ids)).items()}


def score_folder(folder: str | Path, truth: Truth, ids: Sequence[str] | None = None) -> pd.Series:
    """Per-image DSB scores of a folder on the expected images.

    Args:
        folder: Predictions folder (``<id>.npz`` files).
        truth: The matching ground truth.
        ids: The expected image ids (default every labelled image of ``truth``); ids
            without labels are left out.

    Returns:
        float Series indexed by the expected labelled ids; an image without a prediction
        counts as empty (scores 0 where it has nuclei). ``attrs["missing"]`` (see
        :func:`n_missing`) says how many had no prediction. Empty when nothing is expected.
    """
    files = list_predictions(folder)
    true = truth.get(truth.ids() if ids is None else list(ids))
    if not true:
        return _series({}, 0)
    pred = {i: load_prediction(files[i], prob=False).labels for i in true if i in files}
    per_image = score_dataset(true, pred).per_image["score"]
    return _series(per_image.to_dict(), len(true) - len(pred))


class ScoreCache:
    """Per-image scores of prediction folders, cached in a JSON file.

    Args:
        path: The cache file (e.g. ``WORK/reports/_scores.json``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: dict = read_json(self.path, {}) or {}

    @staticmethod
    def _key(folder: str | Path, truth: Truth, ids: Sequence[str] | None, what: str = "") -> str:
        which = "all" if ids is None else ids_digest(ids)[:12]
        return f"{Path(folder).resolve()}|{truth.split}|{which}{what}"

    def scores(self, folder: str | Path, truth: Truth, ids: Sequence[str] | None = None) -> pd.Series:
        """:func:`score_folder` of ``folder`` (computed, or read from the cache when unchanged)."""
        fp = folder_fingerprint(folder)
        key = self._key(folder, truth, ids)
        hit = self.data.get(key)
        if unchanged(hit, fp) and "missing" in hit:
            return _series(hit["per_image"], hit["missing"])
        series = score_folder(folder, truth, ids)
        self.data[key] = {"inputs": stored_form(fp), "missing": n_missing(series),
                          "per_image": {k: float(v) for k, v in series.items()}}
        write_json(self.path, self.data)
        return series

    def error_counts(self, folder: str | Path, truth: Truth, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """:func:`error_counts_folder` of ``folder`` (computed, or read from the cache when
        unchanged), so a report built again does not re-read every prediction."""
        fp = folder_fingerprint(folder)
        key = self._key(folder, truth, ids, "|errors")
        hit = self.data.get(key)
        if unchanged(hit, fp) and "per_image" in hit:
            return hit["per_image"]
        counts = error_counts_folder(folder, truth, ids)
        self.data[key] = {"inputs": stored_form(fp), "per_image": counts}
        write_json(self.path, self.data)
        return counts


def score_folders(folders: Mapping[str, Path], truth: Truth, cache: ScoreCache | None = None,
                  ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Score several folders on the same expected images.

    Args:
        folders: display name -> predictions folder.
        truth: Ground truth.
        cache: Optional score cache.
        ids: Expected image ids (default every labelled image of ``truth``).

    Returns:
        One row per name: ``folder``, ``n_images`` predicted among the expected,
        ``missing`` (expected but not predicted, scored as empty), ``coverage``
        (``n_images`` / expected) and ``score`` (mean over the expected images, NaN when
        nothing is expected).
    """
    rows = []
    for name, folder in folders.items():
        s = cache.scores(folder, truth, ids) if cache is not None else score_folder(folder, truth, ids)
        missing = n_missing(s)
        rows.append({"name": name, "folder": str(folder), "n_images": int(s.size) - missing,
                     "missing": missing, "coverage": (s.size - missing) / s.size if s.size else np.nan,
                     "score": float(s.mean()) if s.size else np.nan})
    return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame(
        columns=["folder", "n_images", "missing", "coverage", "score"])
