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
    ``MODEL/COLUMN`` (``cpu30/group``), or just ``COLUMN`` when the file holds one model;
  - ``{"rows": [{"image_id", "variant", "factor", "score", ...}]}``: ``magnify.json``
    (``bench_magnify.py``). KEY is ``VARIANT/xFACTOR`` (``boxes/x2``), or just ``VARIANT``
    when the file holds one factor.

Bad input raises ``common.data.DataError`` naming the path (``common.cli.run_main`` turns it
into one line and exit status 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.data import DataError
from common.io import read_json

__all__ = ["named_source", "source_scores", "split_source", "stored_rows", "stored_scores"]


def split_source(where: str) -> tuple[Path, str]:
    """``PATH`` or ``PATH:KEY`` → ``(path, key)``. Only a ``.json`` path takes a key (split
    after its first ``.json:``, so a key may hold ``:``); an existing path is taken whole."""
    if ".json:" in where and not Path(where).exists():
        path, key = where.split(".json:", 1)
        return Path(path + ".json"), key
    return Path(where), ""


def named_source(spec: str, default_name: str = "") -> tuple[str, str]:
    """``NAME=PATH[:KEY]`` → ``(name, "PATH[:KEY]")``; without ``NAME=``, ``default_name``.
    A ``NAME`` has no ``/``, so a path such as ``runs/lr=0.1/oof`` is taken whole."""
    name, sep, where = spec.partition("=")
    if not sep or "/" in name or Path(spec).exists():
        name, where = default_name, spec
    if not name or not where:
        raise DataError(f"a score source is NAME=PATH or NAME=PATH:KEY, got {spec!r}")
    return name, where


def _columns(path: Path, data: dict, key: str) -> tuple[dict, str]:
    """The ``{id: {column: score}}`` table of ``data`` and the column ``key`` names in it."""
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a JSON object of stored per-image scores")
    if "per_image" in data:
        return data["per_image"], key
    if "rows" in data:
        return _magnify_table(path, data["rows"], key), "score"
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise DataError(f"{path}: no stored per-image scores (neither 'per_image' nor 'models')")
    model, _, column = key.rpartition("/")
    if not model:
        if len(models) > 1:
            raise DataError(f"{path} holds models {sorted(models)}: name one as MODEL/{key}")
        model = next(iter(models))
    if model not in models or "per_image" not in models[model]:
        raise DataError(f"{path}: no per-image scores of model {model!r} (it has {sorted(models)})")
    return models[model]["per_image"], column


def _magnify_rows(path: Path, rows, key: str) -> list[dict]:
    """``magnify.json``'s rows of variant and factor ``key`` (``VARIANT/xFACTOR`` or ``VARIANT``)."""
    def valid(r) -> bool:
        factor = r.get("factor") if isinstance(r, dict) else None
        return isinstance(factor, (int, float)) and not isinstance(factor, bool) and "image_id" in r

    if not isinstance(rows, list) or not all(valid(r) for r in rows):
        raise DataError(f"{path}: rows is not a list of per-image records with an image_id and a numeric factor")
    variant, sep, factor = key.rpartition("/x")
    if not sep:
        variant, factor = key, ""
    mine = [r for r in rows if r.get("variant") == variant]
    if not mine:
        raise DataError(f"{path}: no variant {variant!r} (it has {sorted({str(r.get('variant')) for r in rows})})")
    factors = sorted({r["factor"] for r in mine})
    if not factor and len(factors) > 1:
        raise DataError(f"{path} holds factors {factors} of {variant!r}: name one as {variant}/x<factor>")
    if factor:
        try:
            wanted = float(factor)
        except ValueError:
            raise DataError(f"{path}: the factor in {key!r} is not a number") from None
        mine = [r for r in mine if r["factor"] == wanted]
        if not mine:
            raise DataError(f"{path}: variant {variant!r} has no factor {factor} (it has {factors})")
    seen: set = set()
    for r in mine:
        if r["image_id"] in seen:
            raise DataError(f"{path}: image {r['image_id']!r} appears twice under {key!r}")
        seen.add(r["image_id"])
    return mine


def _magnify_table(path: Path, rows, key: str) -> dict:
    """``magnify.json``'s rows of ``key`` as ``{id: {"score": score}}``."""
    return {r["image_id"]: {"score": r.get("score")} for r in _magnify_rows(path, rows, key)}


def _read_stored(path: Path, key: str) -> dict | list:
    """The parsed JSON of a stored-scores file; a ``DataError`` naming it when the file is not valid
    JSON, is empty, or ``key`` is empty. The caller checks the layout."""
    try:
        data = read_json(path)
    except ValueError as exc:  # invalid JSON, named by read_json
        raise DataError(str(exc)) from None
    if not data:
        raise DataError(f"{path}: not a readable JSON file of stored scores")
    if not key:
        raise DataError(f"{path}: a stored-scores source needs a key, {path}:KEY")
    return data


def stored_rows(path: Path, key: str) -> pd.DataFrame:
    """Every per-image column a ``magnify.json`` stores for ``key`` (``VARIANT/xFACTOR`` or
    ``VARIANT``): score, instance counts, the chosen scale ..., indexed by image id. For the
    other columns than the score that a per-kind diagnosis reads; scores alone: ``stored_scores``."""
    data = _read_stored(path, key)
    if not isinstance(data, dict) or "rows" not in data:
        raise DataError(f"{path}: per-image rows are stored only by bench_magnify.py (a 'rows' list); not found")
    rows = _magnify_rows(path, data["rows"], key)
    return pd.DataFrame(rows).set_index("image_id")


def stored_scores(path: Path, key: str) -> pd.Series:
    """Column ``key`` of the per-image scores stored in ``path`` (float, indexed by image id)."""
    data = _read_stored(path, key)
    table, column = _columns(path, data, key)
    if not isinstance(table, dict) or not all(isinstance(row, dict) for row in table.values()):
        raise DataError(f"{path}: per_image is not a table {{image id: {{column: score}}}}")
    scores = {}
    for i, row in table.items():
        value = row.get(column)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"{path}: the {key!r} score of {i} is not a number: {value!r}")
        if math.isfinite(value):  # a NaN stored by an older bench is no score
            scores[i] = float(value)
    if not scores:
        raise DataError(f"{path} has no scores under {key!r}")
    return pd.Series(scores, dtype=float)


def source_scores(where: str, dataset, ids: Sequence[str] | None = None) -> pd.Series:
    """Per-image DSB scores of one source (see the module doc), over ``ids`` if given.

    A predictions folder is scored only on the images it holds (and ``ids`` lists); a stored
    source returns what it stores of ``ids``. ``dataset`` (a ``common.data.DSBDataset``) gives
    the labels a folder is scored against.
    """
    from common.predictions import list_predictions
    from ensemble.evaluate import Truth, score_folder

    path, key = split_source(where)
    if path.is_dir():
        files = list_predictions(path)
        if ids is not None:
            wanted = set(ids)
            files = {i: f for i, f in files.items() if i in wanted}
        if not files:
            raise DataError(f"{path}: no predictions (*.npz)" + (" of the images asked for" if ids is not None else ""))
        truth = Truth(dataset.data_dir, dataset.split_dir.name)
        scores = score_folder(path, truth, sorted(files)).rename(None).astype(float)
        return scores[scores.notna()]
    if not path.exists():
        raise DataError(f"{path}: no such predictions folder or scores file")
    scores = stored_scores(path, key)
    return scores if ids is None else scores[scores.index.isin(list(ids))]
