"""Deterministic k-fold splits: stratified by image type, or grouped by source kind.

``folds.csv`` has columns ``image_id,fold,cluster``; ``cluster`` is a rule-based
image type (see :func:`image_type`). On the real stage-1 training set the rules give
541 fluorescence, 16 brightfield and 107 histology images.

``folds_group.csv`` (:data:`GROUP_FOLDS_NAME`) adds a ``group`` column and never splits
a group across folds, so every out-of-fold image comes from a kind of image that its
model never saw: the validation of how a model generalises (issue 14).

A group is the image's source kind: its type and its size ``HxW`` (each DSB source
experiment has its own camera and so its own size). Measured on the 664 stage-1
training images this gives 10 groups: fluorescence 256x256 (334), histology 256x320
(107), fluorescence 360x360 (90), fluorescence 520x696 (90), brightfield 1024x1024
(16), fluorescence 512x640 (13), 603x1272 (6), 256x320 (4), 260x347 (3) and
1040x1388 (1). The 256x256 fluorescence group alone is half the set: held out whole,
its fold would hold 334 images and its model would train on the other 330. It is
also no one kind: its median nucleus area runs from 39 to 527 px. So a group larger
than one fold's share (``ceil(n / n_folds)`` images) is cut into ``ceil(size / share)``
sub-kinds by k-means (seeded) on two statistics read from the image alone: the
median area of the bright (Otsu) blobs, a scale proxy, and the 99th-percentile
brightness, both in log2 and standardised. Sub-kinds are named ``<group>-s<j>``
with ``j`` rising with blob area. On the real set (seed 42) the 256x256 fluorescence
group becomes 3 sub-kinds: ``-s0`` 104 images (median nucleus area from the masks
84 px, bright), ``-s1`` 102 (147 px, dim), ``-s2`` 128 (228 px): 12 groups in all, and
the 5 folds hold 128, 120, 118, 118 and 180 images (the two 90-image kinds share a
fold: 6 groups of 90+ images cannot fill 5 folds evenly). The tables are in
``bench/results/generalise_cpu_20261201/``. Folds are then filled greedily, largest
group first, into the fold with the fewest images (ties broken by a seeded shuffle),
which balances image counts as far as whole groups allow.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from common.io import atomic_write_text
from common.normalise import COLOUR_THRESHOLD, colourfulness
from common.paths import GROUP_FOLDS_NAME, SPLITS  # the two splits; a path so named holds group folds

__all__ = [
    "FoldsError",
    "IMAGE_TYPES",
    "image_type",
    "kind_name",
    "compute_clusters",
    "make_folds",
    "save_folds",
    "load_folds",
    "get_folds",
    "split_ids",
    "GROUP_FOLDS_NAME",
    "SPLITS",
    "split_kind",
    "image_stats",
    "compute_groups",
    "make_group_folds",
    "group_summary",
]

IMAGE_TYPES = ("fluorescence", "brightfield", "histology", "colour-fluorescence")
FOLD_COLUMNS = ("image_id", "fold", "cluster")
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
    pixels = np.asarray(image)
    step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / 65536)))  # ~256x256 sample
    sample = pixels[::step, ::step].astype(np.float32)
    gray = sample.mean(axis=2) if sample.ndim == 3 else sample
    bright = float(np.median(gray)) > BRIGHT_BACKGROUND
    if colourfulness(sample) > COLOUR_THRESHOLD:  # already ~256x256: the same sample
        return "histology" if bright else "colour-fluorescence"
    return "brightfield" if bright else "fluorescence"


def kind_name(image_type_: str, height: int, width: int) -> str:
    """An image's source kind before any sub-kind cut: ``<type>-<H>x<W>`` (each DSB source
    experiment has its own camera, so its own size). The group folds and
    ``common.sampling`` (``data.balance``) both name kinds with it."""
    return f"{image_type_}-{int(height)}x{int(width)}"


def image_stats(image: np.ndarray) -> dict:
    """The statistics that define an image's source kind.

    Args:
        image: uint8 [H,W,3] RGB.

    Returns:
        ``{"type", "height", "width", "blob_area", "brightness"}``: :func:`image_type`,
        the size, the median area in px of the connected blobs brighter than the Otsu
        threshold (on the inverted gray image when the background is bright; blobs under
        5 px ignored; 0 when there are none) and the 99th percentile of that gray image.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    kind = image_type(image)
    gray = np.asarray(image, dtype=np.float32)
    gray = gray.mean(axis=2) if gray.ndim == 3 else gray
    if kind in ("brightfield", "histology"):
        gray = 255.0 - gray
    area = 0.0
    if float(gray.max()) > float(gray.min()):
        blobs, n = ndimage.label(gray > threshold_otsu(gray))
        areas = np.bincount(blobs.ravel(), minlength=n + 1)[1:]
        areas = areas[areas >= 5]
        area = float(np.median(areas)) if areas.size else 0.0
    return {"type": kind, "height": int(gray.shape[0]), "width": int(gray.shape[1]),
            "blob_area": area, "brightness": float(np.percentile(gray, 99))}


def compute_groups(dataset: _Dataset, n_folds: int = 5, seed: int = 42,
                   stats: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each image's type and source-kind group (see the module docstring).

    Args:
        dataset: Anything with ``ids`` and ``load_image``.
        n_folds: Folds the groups are for; a group over ``ceil(n / n_folds)`` images is cut.
        seed: k-means seed.
        stats: Optional precomputed :func:`image_stats` rows indexed by image id.

    Returns:
        DataFrame indexed by sorted image id with columns ``cluster`` (image type) and
        ``group`` (``<type>-<H>x<W>`` or ``<type>-<H>x<W>-s<j>``).
    """
    from sklearn.cluster import KMeans

    ids = sorted(dataset.ids)
    if stats is None:
        stats = pd.DataFrame([image_stats(dataset.load_image(i)) for i in ids], index=ids)
    stats = stats.loc[ids]
    base = pd.Series([kind_name(t, h, w) for t, h, w in zip(stats["type"], stats["height"], stats["width"])],
                     index=stats.index)
    group = base.copy()
    share = int(np.ceil(len(ids) / n_folds))
    for name, members in base.groupby(base).groups.items():
        k = int(np.ceil(len(members) / share))
        if k < 2:
            continue
        feats = np.log2(stats.loc[members, ["blob_area", "brightness"]].to_numpy(np.float64) + 1.0)
        feats = (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-6)
        lab = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(feats)
        order = np.argsort([feats[lab == j, 0].mean() for j in range(k)])  # s0: smallest blobs
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(k)
        group.loc[members] = [f"{name}-s{rank[j]}" for j in lab]
    return pd.DataFrame({"cluster": stats["type"].astype(str), "group": group}, index=pd.Index(ids))


def make_group_folds(dataset: _Dataset, n_folds: int = 5, seed: int = 42,
                     groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """Assign every image a fold so that no group is split across folds.

    Groups are placed largest first, each into the fold with the fewest images so far
    (equal-sized groups in a seeded random order, ties between folds to the lowest index).

    Args:
        dataset: Anything with ``ids`` and ``load_image``.
        n_folds: Number of folds (>= 2).
        seed: Seed of the tie order and of :func:`compute_groups`.
        groups: Optional :func:`compute_groups` result; computed from the images if None.

    Returns:
        DataFrame ``[image_id, fold, cluster, group]`` sorted by image id.

    Raises:
        ValueError: if ``n_folds < 2`` or there are fewer groups than folds.
    """
    ids = sorted(dataset.ids)
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    table = compute_groups(dataset, n_folds, seed) if groups is None else groups.loc[ids]
    sizes = table["group"].value_counts()
    if len(sizes) < n_folds:
        raise ValueError(f"cannot split {len(sizes)} image groups into {n_folds} folds")
    names = np.array(sorted(sizes.index))
    names = names[np.random.default_rng(seed).permutation(len(names))]
    names = sorted(names, key=lambda g: -sizes[g])  # stable: the shuffle orders equal sizes
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of = {}
    for name in names:
        k = int(np.argmin(load))
        fold_of[name] = k
        load[k] += sizes[name]
    return pd.DataFrame({"image_id": ids, "fold": table["group"].map(fold_of).to_numpy(np.int64),
                         "cluster": table["cluster"].to_numpy(), "group": table["group"].to_numpy()})


def group_summary(folds_df: pd.DataFrame) -> pd.DataFrame:
    """Images per fold and group (rows: groups, columns: folds, plus ``total``)."""
    key = "group" if "group" in folds_df.columns else "cluster"
    table = pd.crosstab(folds_df[key], folds_df["fold"])
    table["total"] = table.sum(axis=1)
    return table.sort_values("total", ascending=False)


def split_kind(csv_path: str | Path) -> str:
    """``"group"`` for a folds file named :data:`GROUP_FOLDS_NAME`, else ``"stratified"``."""
    return "group" if Path(csv_path).name == GROUP_FOLDS_NAME else "stratified"


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
    from sklearn.model_selection import StratifiedKFold  # lazy: ~1 s of imports

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
    columns = list(FOLD_COLUMNS) + (["group"] if "group" in df.columns else [])
    out = df.loc[:, columns].copy()
    out["image_id"] = out["image_id"].astype(str)
    out["fold"] = folds.astype(np.int64)
    out["cluster"] = out["cluster"].astype(str)
    if "group" in out.columns:
        out["group"] = out["group"].astype(str)
        split = out.groupby("group")["fold"].nunique()
        if (split > 1).any():
            raise FoldsError(f"{source}: group {split[split > 1].index[0]!r} is split across folds")
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
        df = pd.read_csv(path, dtype={"image_id": str, "cluster": str, "group": str}, keep_default_na=False)
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
    A path named :data:`GROUP_FOLDS_NAME` holds group folds (:func:`make_group_folds`,
    with a ``group`` column), any other stratified folds (:func:`make_folds`); so a
    caller picks the split by the path alone (``Workspace.folds_csv``).

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
        if problem is None and split_kind(csv_path) == "group" and "group" not in df.columns:
            problem = "no 'group' column in a group folds file"
        if problem is None:
            return df
        raise FoldsError(
            f"{csv_path}: existing folds disagree with the dataset ({problem}); "
            "delete the file or pass force=True to regenerate it"
        )
    make = make_group_folds if split_kind(csv_path) == "group" else make_folds
    df = make(dataset, n_folds=n_folds, seed=seed)
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
        raise FoldsError(f"fold {fold} not in the folds table (folds {folds})")
    is_val = folds_df["fold"].to_numpy() == fold
    ids = folds_df["image_id"].astype(str).to_numpy()
    return sorted(ids[~is_val].tolist()), sorted(ids[is_val].tolist())
