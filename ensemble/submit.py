"""Kaggle submission files from a predictions folder, and sending them with the kaggle CLI.

``submissions/<name>.csv`` is written with ``common.submission.write_submission`` and
validated (every test image present, empty ones included; RLEs inside the image; no
overlaps). An existing submission is never overwritten silently: without
``overwrite`` the next free name ``<name>-2.csv``, ``<name>-3.csv``, ... is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path


from common.predictions import list_predictions, load_prediction
from common.submission import SubmissionError, check_submission, write_submission

__all__ = ["COMPETITION", "free_submission_path", "write_validated_submission",
           "kaggle_credentials", "submit_command", "submit_to_kaggle", "split_shapes"]

COMPETITION = "data-science-bowl-2018"


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


def kaggle_credentials(env: Mapping[str, str] | None = None, home: Path | None = None
                       ) -> tuple[bool, str]:
    """Whether the kaggle CLI has credentials, and where they are (or what is missing).

    Looks for ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``, ``KAGGLE_API_TOKEN``, and
    ``kaggle.json`` / ``access_token`` in ``KAGGLE_CONFIG_DIR``, ``~/.kaggle`` or
    ``~/.config/kaggle``.

    Returns:
        ``(True, "where")`` or ``(False, "what is missing and how to fix it")``.
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return True, "KAGGLE_USERNAME/KAGGLE_KEY environment variables"
    if env.get("KAGGLE_API_TOKEN"):
        return True, "KAGGLE_API_TOKEN environment variable"
    dirs = [Path(env["KAGGLE_CONFIG_DIR"])] if env.get("KAGGLE_CONFIG_DIR") else []
    dirs += [home / ".kaggle", home / ".config" / "kaggle"]
    for d in dirs:
        for name in ("kaggle.json", "access_token"):
            if (d / name).is_file():
                return True, str(d / name)
    partial = ""
    if env.get("KAGGLE_USERNAME") or env.get("KAGGLE_KEY"):
        have = "KAGGLE_USERNAME" if env.get("KAGGLE_USERNAME") else "KAGGLE_KEY"
        partial = f" ({have} is set but not its partner)"
    return False, ("no Kaggle credentials: neither KAGGLE_USERNAME and KAGGLE_KEY are set"
                   f"{partial} nor is there a {home / '.kaggle' / 'kaggle.json'} "
                   "(create one at https://www.kaggle.com/settings > API > Create New Token, "
                   "chmod 600 it, and accept the rules at "
                   f"https://www.kaggle.com/c/{COMPETITION}/rules)")


def submit_command(path: str | Path, message: str) -> list[str]:
    """The kaggle CLI command that submits ``path``."""
    return ["kaggle", "competitions", "submit", "-c", COMPETITION, "-f", str(path), "-m", message]


def submit_to_kaggle(path: str | Path, message: str,
                     runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                     env: Mapping[str, str] | None = None, home: Path | None = None,
                     log: Callable[[str], None] = print) -> bool:
    """Send a submission with the kaggle CLI when credentials exist.

    Args:
        path: The submission CSV.
        message: Submission description.
        runner: ``subprocess.run`` (replaceable in tests: never call kaggle there).
        env, home: Where to look for credentials (default the real ones).
        log: Printer for the one-line outcome.

    Returns:
        True when the CLI reported success; False (with the reason printed) otherwise.
    """
    ok, where = kaggle_credentials(env, home)
    if not ok:
        log(f"[submit] NOT submitted {path}: {where}")
        return False
    if runner is subprocess.run and shutil.which("kaggle") is None:
        log(f"[submit] NOT submitted {path}: the kaggle CLI is not on PATH (pip package 'kaggle')")
        return False
    cmd = submit_command(path, message)
    log(f"[submit] credentials from {where}; running: {' '.join(cmd)}")
    proc = runner(cmd, capture_output=True, text=True)
    out = ((proc.stdout or "") + (proc.stderr or "")).strip()
    if proc.returncode != 0:
        log(f"[submit] kaggle failed (exit {proc.returncode}): {out[-2000:]}")
        return False
    log(f"[submit] {out[-500:] if out else 'submitted'}")
    return True


def split_shapes(data_dir: str | Path, split: str) -> dict[str, tuple[int, int]]:
    """image_id -> (H, W) of every image of a test split (read from PNG headers)."""
    from common.data import DSBDataset

    ds = DSBDataset(data_dir, split)
    return {i: ds.image_shape(i) for i in ds.ids}

