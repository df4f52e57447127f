"""Deterministic k-fold splits stratified by image type.

``folds.csv`` has columns ``image_id,fold,cluster``; ``cluster`` is a rule-based
image type (see :func:`image_type`). On the real stage-1 training set the rules give
541 fluorescence, 16 brightfield and 107 histology images.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from common.io import atomic_write_text

__all__ = [
    "FoldsError",
    "IMAGE_TYPES",
    "image_type",
    "compute_clusters",
    "make_folds",
    "save_folds",
    "load_folds",
    "get_folds",
    "split_ids",
]

IMAGE_TYPES = ("fluorescence", "brightfield", "histology", "colour-fluorescence")
FOLD_COLUMNS = ("image_id", "fold", "cluster")
#: Mean absolute deviation of a pixel's channels from their mean above which an
#: image counts as coloured (real gray images have exactly 0; stained ones > 4).
COLOUR_THRESHOLD = 2.0
#: Median gray level above which the background counts as bright.
BRIGHT_BACKGROUND = 100.0


class FoldsError(ValueError):
    """A folds file is malformed or disagrees with the dataset; names the file."""


class _Dataset(Protocol):
    ids: list[str]

    def load_image(self, image_id: str) -> np.ndarray: ...


def image_type(image: np.ndarray) -> str:
    """Classify an image by colour and background brightness.

    Args:
        image: uint8 [H,W,3] RGB.

    Returns:
        ``"fluorescence"`` (gray, dark background), ``"brightfield"`` (gray, bright
        background), ``"histology"`` (coloured, bright background) or
        ``"colour-fluorescence"`` (coloured, dark background).
    """
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / 65536)))  # ~256x256 sample
    pixels = pixels[::step, ::step]
    gray = pixels.mean(axis=2)
    colourfulness = float(np.abs(pixels - gray[:, :, None]).mean())
    bright = float(np.median(gray)) > BRIGHT_BACKGROUND
    if colourfulness > COLOUR_THRESHOLD:
        return "histology" if bright else "colour-fluorescence"
    return "brightfield" if bright else "fluorescence"


def compute_clusters(dataset: _Dataset) -> pd.Series:
    """:func:`image_type` of every image; a str Series indexed by image id."""
    ids = sorted(dataset.ids)
    return pd.Series([image_type(dataset.load_image(i)) for i in ids], index=ids, name="cluster")


def make_folds(
    dataset: _Dataset,
    n_folds: int = 5,
    seed: int = 42,
    clusters: Mapping[str, str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Assign every image a fold, stratified by image type.

    Clusters with fewer than ``n_folds`` images are pooled into one stratum for the
    split (their ``cluster`` column keeps the true type), so rare types spread over
    folds instead of making ``StratifiedKFold`` fail.

    Args:
        dataset: Anything with ``ids`` and ``load_image`` (e.g. ``DSBDataset``).
        n_folds: Number of folds (>= 2).
        seed: Shuffle seed; the same ids and seed always give the same folds.
        clusters: Optional precomputed ``{image_id: cluster}``; read from images if None.

    Returns:
        DataFrame ``[image_id, fold, cluster]`` sorted by image id, fold in ``0..n_folds-1``.

    Raises:
        ValueError: if ``n_folds < 2`` or there are fewer images than folds.
    """
    ids = sorted(dataset.ids)
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    if len(ids) < n_folds:
        raise ValueError(f"cannot split {len(ids)} images into {n_folds} folds")
    if clusters is None:
        cluster = compute_clusters(dataset)
    else:
        cluster = pd.Series({i: clusters[i] for i in ids})
    cluster = cluster.loc[ids].astype(str)
    counts = cluster.value_counts()
    strata = cluster.where(cluster.map(counts) >= n_folds, "_rare").to_numpy()
    folds = np.empty(len(ids), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a pooled "_rare" stratum may still be < n_folds
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, val_idx) in enumerate(splitter.split(np.zeros(len(ids)), strata)):
            folds[val_idx] = fold
    return pd.DataFrame({"image_id": ids, "fold": folds, "cluster": cluster.to_numpy()})


def _validate(df: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    missing = [c for c in FOLD_COLUMNS if c not in df.columns]
    if missing:
        raise FoldsError(f"{source}: folds table lacks columns {missing} (has {list(df.columns)})")
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].iloc[0]
        raise FoldsError(f"{source}: image id {dup!r} appears more than once")
    folds = pd.to_numeric(df["fold"], errors="coerce")
    if folds.isna().any() or (folds < 0).any() or (folds != folds.round()).any():
        raise FoldsError(f"{source}: column 'fold' must hold non-negative integers")
    out = df.loc[:, list(FOLD_COLUMNS)].copy()
    out["image_id"] = out["image_id"].astype(str)
    out["fold"] = folds.astype(np.int64)
    out["cluster"] = out["cluster"].astype(str)
    return out.sort_values("image_id", ignore_index=True)


def save_folds(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a folds table atomically (temp file in the same folder + ``os.replace``)."""
    path = Path(path)
    df = _validate(df, "<folds table>")
    return atomic_write_text(path, df.to_csv(index=False))


def load_folds(path: str | Path) -> pd.DataFrame:
    """Read and validate a folds CSV.

    Raises:
        FoldsError: if the file is missing, unreadable or malformed (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FoldsError(f"{path}: folds file is missing")
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "cluster": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise FoldsError(f"{path}: cannot parse folds CSV ({err})") from None
    return _validate(df, path)


def get_folds(
    dataset: _Dataset,
    csv_path: str | Path,
    n_folds: int = 5,
    seed: int = 42,
    force: bool = False,
) -> pd.DataFrame:
    """Load ``csv_path`` if it matches the dataset, else make and save the folds.

    A folds file matches when it covers exactly ``dataset.ids`` with folds
    ``0..n_folds-1``. A file that exists but disagrees is never overwritten silently.

    Args:
        dataset: Anything with ``ids`` and ``load_image``.
        csv_path: The folds CSV (e.g. ``Workspace.folds_csv``).
        n_folds: Number of folds.
        seed: Shuffle seed used when the folds are made.
        force: Replace a disagreeing folds file instead of raising.

    Raises:
        FoldsError: if the file exists but disagrees and ``force`` is False.
    """
    csv_path = Path(csv_path)
    if csv_path.exists() and not force:
        df = load_folds(csv_path)
        problem = _mismatch(df, sorted(dataset.ids), n_folds)
        if problem is None:
            return df
        raise FoldsError(
            f"{csv_path}: existing folds disagree with the dataset ({problem}); "
            "delete the file or pass force=True to regenerate it"
        )
    df = make_folds(dataset, n_folds=n_folds, seed=seed)
    save_folds(df, csv_path)
    return df


def _mismatch(df: pd.DataFrame, ids: list[str], n_folds: int) -> str | None:
    have = set(df["image_id"])
    want = set(ids)
    if have != want:
        return f"{len(want - have)} dataset ids missing, {len(have - want)} unknown ids"
    folds = set(df["fold"].tolist())
    if folds != set(range(n_folds)):
        return f"folds {sorted(folds)} but n_folds={n_folds}"
    return None


def split_ids(folds_df: pd.DataFrame, fold: int) -> tuple[list[str], list[str]]:
    """Train ids (every other fold) and validation ids (``fold``), each sorted.

    Raises:
        ValueError: if ``fold`` is not one of the table's folds.
    """
    folds = sorted(set(folds_df["fold"].tolist()))
    if fold not in folds:
        raise ValueError(f"fold {fold} not in the folds table (folds {folds})")
    is_val = folds_df["fold"].to_numpy() == fold
    ids = folds_df["image_id"].astype(str).to_numpy()
    return sorted(ids[~is_val].tolist()), sorted(ids[is_val].tolist())
