"""Kaggle submission and solution CSVs.

Submission: ``ImageId,EncodedPixels`` with one row per predicted nucleus; an image
with no nuclei gets one row with an empty ``EncodedPixels``.

Solution (``stage1_solution.csv``, ``stage2_solution_final.csv``):
``ImageId,EncodedPixels,Height,Width[,Usage]``. ``Usage`` is ``Public``/``Private``
for scored images; in stage 2 the images that were not scored (decoys) have
``Usage == "Ignored"``. :func:`read_solution` leaves Ignored images out, so they are
not scored; :func:`ignored_ids` lists them so a scorer can drop predictions for them.

All writes are atomic (temp file in the same folder, then rename) and never
overwrite an existing file unless asked to.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from common.io import atomic_write_text
from common.rle import labels_to_rles, rle_to_runs, rles_to_labels

__all__ = [
    "SubmissionError",
    "SUBMISSION_COLUMNS",
    "submission_text",
    "write_submission_text",
    "write_submission",
    "read_submission",
    "submission_to_labels",
    "validate_submission",
    "check_submission",
    "read_solution_table",
    "read_solution",
    "solution_shapes",
    "ignored_ids",
]

SUBMISSION_COLUMNS = ["ImageId", "EncodedPixels"]
_SOLUTION_COLUMNS = ["ImageId", "EncodedPixels", "Height", "Width"]
#: Largest image (Height x Width) a solution CSV may describe: 100 megapixels, far above
#: any DSB image (the largest is 1040 x 1388), so a corrupt size fails here and not as a
#: MemoryError when the label image is allocated.
MAX_PIXELS = 100_000_000


class SubmissionError(ValueError):
    """A malformed submission or solution file; the message names the file."""


# ----------------------------------------------------------------------------- writing


def _submission_rows(predictions: Mapping[str, np.ndarray]) -> pd.DataFrame:
    ids, rles = [], []
    for image_id in sorted(predictions):
        encoded = labels_to_rles(np.asarray(predictions[image_id])) or [""]
        ids.extend([image_id] * len(encoded))
        rles.extend(encoded)
    return pd.DataFrame({"ImageId": ids, "EncodedPixels": rles}, columns=SUBMISSION_COLUMNS)


def submission_text(predictions: Mapping[str, np.ndarray]) -> str:
    """The exact CSV text :func:`write_submission` writes for ``predictions``."""
    return _submission_rows(predictions).to_csv(index=False, lineterminator="\n")


def write_submission_text(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write :func:`submission_text` atomically; without ``overwrite`` an existing file is
    never replaced (``FileExistsError`` naming it)."""
    path = Path(path)
    try:
        atomic_write_text(path, text, overwrite=overwrite)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
    return path


def write_submission(
    path: str | os.PathLike, predictions: Mapping[str, np.ndarray], overwrite: bool = False
) -> Path:
    """Write a Kaggle submission CSV, atomically.

    Args:
        path: Output CSV path (parent folders are created).
        predictions: image_id -> int [H,W] labels (0 = background, no overlaps by
            construction). Rows are written in sorted image-id order, instances in
            ascending label id; an image without nuclei gets one empty row.
        overwrite: Replace an existing file. Off by default.

    Returns:
        The path written.

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    return write_submission_text(path, submission_text(predictions), overwrite)


# ----------------------------------------------------------------------------- reading


def _read_csv(path: str | os.PathLike, required: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SubmissionError(f"{path}: not a readable CSV ({err})".strip()) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SubmissionError(
            f"{path}: missing column(s) {missing}; expected {required}, found {list(df.columns)}")
    df["ImageId"] = df["ImageId"].str.strip()
    df["EncodedPixels"] = df["EncodedPixels"].str.strip()
    if (df["ImageId"] == "").any():
        row = int(np.flatnonzero(df["ImageId"] == "")[0]) + 2
        raise SubmissionError(f"{path}: empty ImageId on line {row}")
    return df


def read_submission(path: str | os.PathLike) -> pd.DataFrame:
    """Read a submission CSV.

    Args:
        path: CSV with columns ``ImageId,EncodedPixels`` (extra columns are kept).

    Returns:
        DataFrame of str columns; an empty ``EncodedPixels`` is ``""``.

    Raises:
        SubmissionError: if the file is missing, unreadable or lacks the columns.
    """
    return _read_csv(path, SUBMISSION_COLUMNS)


def submission_to_labels(
    df: pd.DataFrame, shapes: Mapping[str, tuple[int, int]]
) -> dict[str, np.ndarray]:
    """Decode a submission table into label images.

    Args:
        df: Table from :func:`read_submission`.
        shapes: image_id -> ``(H, W)`` for every image in ``df``.

    Returns:
        image_id -> int32 [H,W] labels; the i-th non-empty row of an image becomes
        label i+1. Images of ``shapes`` absent from ``df`` are not included.

    Raises:
        SubmissionError: if an id has no shape, an RLE is malformed or masks overlap.
    """
    out: dict[str, np.ndarray] = {}
    for image_id, rles in _grouped(df).items():
        if image_id not in shapes:
            raise SubmissionError(f"image {image_id}: no shape known")
        try:
            out[image_id] = rles_to_labels([r for r in rles if r], shapes[image_id])
        except ValueError as err:
            raise SubmissionError(f"image {image_id}: {err}") from None
    return out


def _grouped(df: pd.DataFrame) -> dict[str, list[str]]:
    """image_id -> its EncodedPixels strings in file order."""
    return {k: list(v) for k, v in df.groupby("ImageId", sort=False)["EncodedPixels"]}


# -------------------------------------------------------------------------- validating


def _image_problems(image_id: str, rles: list[str], shape: tuple[int, int] | None) -> list[str]:
    """Problems with one image's rows: unparsable/unsorted runs, outside the image, overlaps."""
    problems, starts, ends, owner = [], [], [], []
    for i, rle in enumerate(r for r in rles if r):
        try:
            s, n = rle_to_runs(rle, shape)
        except ValueError as err:
            problems.append(f"image {image_id}, mask {i}: {err}")
            continue
        starts.append(s), ends.append(s + n), owner.append(np.full(s.size, i))
    if starts:
        s, e, o = np.concatenate(starts), np.concatenate(ends), np.concatenate(owner)
        order = np.argsort(s, kind="stable")
        s, e, o = s[order], e[order], o[order]
        clash = np.flatnonzero(s[1:] < np.maximum.accumulate(e)[:-1])
        if clash.size:
            # the run at clash+1 starts inside an earlier run; find whose
            j = int(clash[0]) + 1
            k = int(np.flatnonzero(e[:j] > s[j])[0])
            problems.append(f"image {image_id}: masks {int(o[k])} and {int(o[j])} overlap "
                            f"({clash.size} overlapping run(s) in this image)")
    return problems


def validate_submission(
    path: str | os.PathLike,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> list[str]:
    """List the problems of a submission file (empty list: valid).

    Checks: readable CSV with ``ImageId,EncodedPixels``; every expected id present
    (an empty row counts); no unknown ids (ids outside ``expected_ids``, or outside
    ``shapes`` when only those are given); every RLE parses, with positive lengths,
    sorted non-overlapping runs; runs inside the image (when ``shapes`` are given);
    no two masks of an image overlap (checked on the runs, no shape needed).

    Args:
        path: Submission CSV.
        expected_ids: Image ids that must appear.
        shapes: image_id -> ``(H, W)``.

    Returns:
        Human-readable problems, each naming the file.
    """
    path = Path(path)
    try:
        df = read_submission(path)
    except SubmissionError as err:
        return [str(err)]
    problems: list[str] = []
    groups = _grouped(df)
    known = set(expected_ids) if expected_ids is not None else (
        set(shapes) if shapes is not None else None)
    if expected_ids is not None:
        missing = sorted(known - set(groups))
        if missing:
            problems.append(f"{len(missing)} expected image id(s) missing, e.g. {missing[:3]}")
    if known is not None:
        unknown = sorted(set(groups) - known)
        if unknown:
            problems.append(f"{len(unknown)} unknown image id(s), e.g. {unknown[:3]}")
    for image_id, rles in groups.items():
        shape = None
        if shapes is not None:
            shape = shapes.get(image_id)
            if shape is None:
                if known is not None and image_id not in known:
                    pass  # already reported as unknown
                else:
                    problems.append(f"image {image_id}: no shape known")
        problems.extend(_image_problems(image_id, rles, shape))
    return [f"{path}: {p}" for p in problems]


def check_submission(
    path: str | os.PathLike,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """Like :func:`validate_submission` but raise :class:`SubmissionError` listing the problems."""
    problems = validate_submission(path, expected_ids, shapes)
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise SubmissionError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(shown))


# ---------------------------------------------------------------------------- solutions


def read_solution_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a solution CSV (``ImageId,EncodedPixels,Height,Width[,Usage]``).

    Returns:
        DataFrame with ``Height``/``Width`` as int64 and ``Usage`` ("" when absent).

    Raises:
        SubmissionError: if the file is unreadable, lacks columns, has non-integer
            sizes or an image with inconsistent sizes.
    """
    df = _read_csv(path, _SOLUTION_COLUMNS)
    try:
        df["Height"] = df["Height"].astype(np.int64)
        df["Width"] = df["Width"].astype(np.int64)
    except ValueError as err:
        raise SubmissionError(f"{path}: Height/Width must be integers ({err})") from None
    if "Usage" not in df.columns:
        df["Usage"] = ""
    df["Usage"] = df["Usage"].str.strip()
    sizes = df.groupby("ImageId")[["Height", "Width"]].nunique()
    bad = sizes.index[(sizes > 1).any(axis=1)]
    if len(bad):
        raise SubmissionError(f"{path}: image {bad[0]} has rows with different Height/Width")
    absurd = df[(df["Height"] < 1) | (df["Width"] < 1) | (df["Height"] * df["Width"] > MAX_PIXELS)]
    if len(absurd):
        row = absurd.iloc[0]
        raise SubmissionError(f"{path}: image {row['ImageId']} is {row['Height']}x{row['Width']} "
                              f"pixels; sizes must be 1..{MAX_PIXELS:,} pixels (DSB images are "
                              "at most about 1.5 million)")
    return df


def ignored_ids(table: pd.DataFrame) -> set[str]:
    """Ids whose rows have ``Usage == "Ignored"`` (unscored stage-2 images)."""
    return set(table.loc[table["Usage"].str.lower() == "ignored", "ImageId"])


def solution_shapes(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """image_id -> ``(H, W)`` from a solution table."""
    first = table.drop_duplicates("ImageId")
    return {i: (int(h), int(w)) for i, h, w in zip(first["ImageId"], first["Height"], first["Width"])}


def read_solution(
    path: str | os.PathLike, usage: str | Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Ground-truth labels from a solution CSV.

    Images marked ``Usage == "Ignored"`` are left out (they were not scored).

    Args:
        path: Solution CSV.
        usage: Keep only these usages (e.g. ``"Public"`` or ``["Public", "Private"]``);
            ``None`` keeps every scored image.

    Returns:
        image_id -> int32 [H,W] labels (row order within an image gives label ids).

    Raises:
        SubmissionError: on a malformed file, RLE or overlapping masks (names the file).
    """
    table = read_solution_table(path)
    table = table[~table["ImageId"].isin(ignored_ids(table))]
    if usage is not None:
        keep = {usage} if isinstance(usage, str) else set(usage)
        table = table[table["Usage"].isin(keep)]
    shapes = solution_shapes(table)
    try:
        return submission_to_labels(table, shapes)
    except SubmissionError as err:
        raise SubmissionError(f"{path}: {err}") from None
