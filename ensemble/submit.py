"""Kaggle submission files from a predictions folder (sending them: ``common.kaggle``).

``submissions/<name>.csv`` is written with ``common.submission.write_submission`` and
validated (every test image present, empty ones included; RLEs inside the image; no
overlaps). An existing submission is never overwritten silently: without
``overwrite`` the next free name ``<name>-2.csv``, ``<name>-3.csv``, ... is used. A file
that already holds exactly the submission being written (a run stopped between writing it
and recording it) is kept and reused, not duplicated under a new name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from common.predictions import list_predictions, load_prediction
from common.submission import (SubmissionError, check_submission, submission_text,
                               write_submission_text)

__all__ = ["free_submission_path", "submission_labels", "write_validated_submission",
           "split_shapes"]


def _holds(path: Path, text: str) -> bool:
    """Whether ``path`` is a file whose bytes are exactly ``text``."""
    data = text.encode()
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def free_submission_path(directory: str | Path, name: str, text: str | None = None) -> Path:
    """``directory/<name>.csv``, or the first free ``<name>-<k>.csv`` (k = 2, 3, ...).

    With ``text``, a name whose file already holds exactly that text counts as free too:
    it is the same submission, written by a run stopped before it could record it, and
    reusing it neither loses nor overwrites anything.
    """
    directory = Path(directory)
    path, k = directory / f"{name}.csv", 1
    while path.exists() and not (text is not None and _holds(path, text)):
        k += 1
        path = directory / f"{name}-{k}.csv"
    return path


def submission_labels(pred_dir: str | Path,
                      shapes: Mapping[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """image_id -> labels of every test image, read from a predictions folder.

    Raises:
        SubmissionError: naming the folder when predictions are missing, or the file
            whose labels are not the image's size.
    """
    files = list_predictions(pred_dir)
    missing = sorted(set(shapes) - set(files))
    if missing:
        raise SubmissionError(f"{pred_dir}: no prediction for {len(missing)} test image(s), "
                              f"e.g. {missing[:3]}")
    labels = {}
    for image_id, shape in shapes.items():
        lab = load_prediction(files[image_id]).labels
        if lab.shape != tuple(shape):
            raise SubmissionError(f"{files[image_id]}: labels {lab.shape} but the image is {shape}")
        labels[image_id] = lab
    return labels


def write_validated_submission(pred_dir: str | Path, path: str | Path,
                               shapes: Mapping[str, tuple[int, int]],
                               overwrite: bool = False,
                               text: str | None = None) -> Path:
    """Write the submission of a predictions folder and validate it.

    A file already at ``path`` that holds exactly this submission is kept as it is (and
    validated): writing it again would change nothing.

    Args:
        pred_dir: Folder of ``<image_id>.npz`` predictions.
        path: Output CSV.
        shapes: image_id -> (H, W) of every test image; each must have a prediction.
        overwrite: Replace an existing, different file (otherwise ``FileExistsError``).
        text: The submission's CSV text when already built (``submission_text`` of
            :func:`submission_labels`).

    Returns:
        The path written.

    Raises:
        SubmissionError: naming the folder when predictions are missing or the wrong
            size, or listing the problems of the written file (which is then renamed
            to ``*.invalid.csv`` so it is never mistaken for a good one).
    """
    path = Path(path)
    if text is None:
        text = submission_text(submission_labels(pred_dir, shapes))
    if not _holds(path, text):
        write_submission_text(path, text, overwrite)
    try:
        check_submission(path, expected_ids=list(shapes), shapes=shapes)
    except SubmissionError:
        bad = path.with_suffix(".invalid.csv")
        os.replace(path, bad)
        raise
    return path


def split_shapes(data_dir: str | Path, split: str) -> dict[str, tuple[int, int]]:
    """image_id -> (H, W) of every image of a test split (read from PNG headers)."""
    from common.data import DSBDataset

    ds = DSBDataset(data_dir, split)
    return {i: ds.image_shape(i) for i in ds.ids}

