"""Per-image DSB scores from a *source*: a predictions folder, or scores a benchmark stored.

Benchmarks compare models paired per image. Predictions live in work folders that do not
outlive the machine; the per-image scores a benchmark writes into its results folder do.
A source is written ``PATH`` or ``PATH:KEY``:

* ``PATH``, a folder of predictions (``<id>.npz``): each image is scored here against its
  ``stage1_train`` labels (DSB mean AP, ``common.metrics``).
* ``PATH:KEY``, a JSON of stored per-image scores, in either layout the benches write:

  - ``{"per_image": {id: {KEY: score}}}``: ``combined.json`` (``bench_normalise.py
    --combine``), ``paired.json`` (``bench_paired.py``);
  - ``{"models": {MODEL: {"per_image": {id: {KEY: score}}}}}``: ``gap.json``
    (``bench_gap.py``), ``generalise.json`` (``bench_generalise.py``). KEY is
    ``MODEL/COLUMN`` (``cpu30/group``), or just ``COLUMN`` when the file holds one model.

Bad input exits with a message that names the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.io import read_json

__all__ = ["named_source", "source_scores", "split_source", "stored_scores"]


def split_source(where: str) -> tuple[Path, str]:
    """``PATH`` or ``PATH:KEY`` → ``(path, key)``; only a ``.json`` path takes a key."""
    if ".json:" in where:
        path, key = where.rsplit(":", 1)
        return Path(path), key
    return Path(where), ""


def named_source(spec: str, default_name: str = "") -> tuple[str, str]:
    """``NAME=PATH[:KEY]`` → ``(name, "PATH[:KEY]")``; without ``NAME=``, ``default_name``."""
    name, sep, where = spec.partition("=")
    if not sep:
        name, where = default_name, spec
    if not name or not where:
        raise SystemExit(f"a score source is NAME=PATH or NAME=PATH:KEY, got {spec!r}")
    return name, where


def _columns(path: Path, data: dict, key: str) -> tuple[dict, str]:
    """The ``{id: {column: score}}`` table of ``data`` and the column ``key`` names in it."""
    if "per_image" in data:
        return data["per_image"], key
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise SystemExit(f"{path}: no stored per-image scores (neither 'per_image' nor 'models')")
    model, _, column = key.rpartition("/")
    if not model:
        if len(models) > 1:
            raise SystemExit(f"{path} holds models {sorted(models)}: name one as MODEL/{key}")
        model = next(iter(models))
    if model not in models or "per_image" not in models[model]:
        raise SystemExit(f"{path}: no per-image scores of model {model!r} (it has {sorted(models)})")
    return models[model]["per_image"], column


def stored_scores(path: Path, key: str) -> pd.Series:
    """Column ``key`` of the per-image scores stored in ``path`` (float, indexed by image id)."""
    data = read_json(path)
    if not data:
        raise SystemExit(f"{path}: not a readable JSON file of stored scores")
    if not key:
        raise SystemExit(f"{path}: a stored-scores source needs a key, {path}:KEY")
    table, column = _columns(path, data, key)
    scores = {i: row[column] for i, row in table.items() if row.get(column) is not None}
    if not scores:
        raise SystemExit(f"{path} has no scores under {key!r}")
    return pd.Series(scores, dtype=float)


def source_scores(where: str, dataset, ids: Sequence[str] | None = None) -> pd.Series:
    """Per-image DSB scores of one source (see the module doc), over ``ids`` if given.

    A predictions folder is scored only on the images it holds (and ``ids`` lists); a stored
    source returns what it stores of ``ids``. ``dataset`` (a ``common.data.DSBDataset``) gives
    the labels a folder is scored against.
    """
    from common.metrics import score_dataset
    from common.predictions import list_predictions, load_prediction

    path, key = split_source(where)
    if path.is_dir():
        files = list_predictions(path)
        if ids is not None:
            files = {i: f for i, f in files.items() if i in set(ids)}
        if not files:
            raise SystemExit(f"{path}: no predictions (*.npz)" + (" of the images asked for" if ids is not None else ""))
        truth = {i: dataset.load_labels(i) for i in sorted(files)}
        pred = {i: load_prediction(files[i]).labels for i in truth}
        return score_dataset(truth, pred).per_image["score"].rename(None).astype(float)
    if not path.exists():
        raise SystemExit(f"{path}: no such predictions folder or scores file")
    scores = stored_scores(path, key)
    return scores if ids is None else scores[scores.index.isin(list(ids))]
