"""Kaggle submission files from a predictions folder (sending them: ``common.kaggle``).

``submissions/<name>.csv`` is written with ``common.submission.write_submission`` and
validated (every test image present, empty ones included; RLEs inside the image; no
overlaps). An existing submission is never overwritten silently: without
``overwrite`` the next free name ``<name>-2.csv``, ``<name>-3.csv``, ... is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from common.predictions import list_predictions, load_prediction
from common.submission import SubmissionError, check_submission, write_submission

__all__ = ["free_submission_path", "write_validated_submission", "split_shapes"]


def free_submission_path(directory: str | Path, name: str) -> Path:
    """``directory/<name>.csv``, or the first free ``<name>-<k>.csv`` (k = 2, 3, ...)."""
    directory = Path(directory)
    path, k = directory / f"{name}.csv", 1
    while path.exists():
        k += 1
        path = directory / f"{name}-{k}.csv"
    return path


def write_validated_submission(pred_dir: str | Path, path: str | Path,
                               shapes: Mapping[str, tuple[int, int]],
                               overwrite: bool = False) -> Path:
    """Write the submission of a predictions folder and validate it.

    Args:
        pred_dir: Folder of ``<image_id>.npz`` predictions.
        path: Output CSV.
        shapes: image_id -> (H, W) of every test image; each must have a prediction.
        overwrite: Replace an existing file (otherwise ``FileExistsError``).

    Returns:
        The path written.

    Raises:
        SubmissionError: naming the folder when predictions are missing or the wrong
            size, or listing the problems of the written file (which is then renamed
            to ``*.invalid.csv`` so it is never mistaken for a good one).
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
    path = write_submission(path, labels, overwrite=overwrite)
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

