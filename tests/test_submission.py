"""Tests for common.submission (CSV writing/validation) and the common.score CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.paths import REPO_ROOT
from common.rle import labels_to_rles
from common.submission import (
    SubmissionError,
    check_submission,
    read_solution,
    read_submission,
    submission_to_labels,
    validate_submission,
    write_submission,
)


@pytest.fixture
def predictions() -> dict[str, np.ndarray]:
    a = np.zeros((20, 30), np.int32)
    a[2:6, 3:9] = 1
    a[10:18, 10:12] = 4  # non-consecutive id
    a[0, 29] = 2
    b = np.zeros((16, 16), np.int32)
    b[:, :] = 3
    empty = np.zeros((8, 12), np.int32)
    return {"img_a": a, "img_b": b, "img_empty": empty}


@pytest.fixture
def shapes(predictions) -> dict[str, tuple[int, int]]:
    return {k: v.shape for k, v in predictions.items()}


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _solution_csv(path: Path, labels: dict[str, np.ndarray], usage: dict[str, str]) -> Path:
    rows = []
    for image_id, lab in labels.items():
        for rle in labels_to_rles(lab) or [""]:
            rows.append((image_id, rle, lab.shape[0], lab.shape[1], usage.get(image_id, "Public")))
    pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width", "Usage"]).to_csv(
        path, index=False)
    return path


# ----------------------------------------------------------------------- writing


def test_write_read_round_trip(tmp_path, predictions, shapes):
    path = write_submission(tmp_path / "sub" / "s.csv", predictions)
    text = path.read_text().splitlines()
    assert text[0] == "ImageId,EncodedPixels"
    assert "img_empty," in text  # one empty row for an image without nuclei
    df = read_submission(path)
    assert list(df.columns) == ["ImageId", "EncodedPixels"]
    assert (df["ImageId"] == "img_a").sum() == 3
    assert df.loc[df["ImageId"] == "img_empty", "EncodedPixels"].tolist() == [""]
    labels = submission_to_labels(df, shapes)
    for image_id, lab in predictions.items():
        back = labels[image_id]
        assert back.dtype == np.int32
        np.testing.assert_array_equal(back > 0, lab > 0)
        # same partition: each predicted id maps to exactly one original id
        pairs = set(zip(lab[lab > 0].tolist(), back[lab > 0].tolist()))
        assert len(pairs) == len({p for p, _ in pairs}) == len({q for _, q in pairs})
    assert validate_submission(path, expected_ids=list(predictions), shapes=shapes) == []
    check_submission(path, expected_ids=list(predictions), shapes=shapes)


def test_write_refuses_to_overwrite(tmp_path, predictions):
    path = tmp_path / "s.csv"
    path.write_text("keep me")
    with pytest.raises(FileExistsError, match="s.csv"):
        write_submission(path, predictions)
    assert path.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]  # no temp file left
    write_submission(path, predictions, overwrite=True)
    assert path.read_text().startswith("ImageId,EncodedPixels")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_write_failure_leaves_no_file(tmp_path):
    with pytest.raises(ValueError):
        write_submission(tmp_path / "s.csv", {"bad": np.zeros((2, 2, 2), np.int32)})
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------- validating


def test_validate_detects_overlap(tmp_path, shapes):
    path = _write_csv(tmp_path / "s.csv",
                      "ImageId,EncodedPixels\nimg_a,1 5\nimg_a,10 3\nimg_a,4 2\n")
    problems = validate_submission(path, shapes=shapes)
    assert len(problems) == 1 and "overlap" in problems[0] and "s.csv" in problems[0]
    assert "masks 0 and 2" in problems[0]
    with pytest.raises(SubmissionError, match="overlap"):
        check_submission(path, shapes=shapes)
    with pytest.raises(SubmissionError, match="overlap"):
        submission_to_labels(read_submission(path), shapes)


def test_validate_overlap_inside_long_run(tmp_path):
    # a short run nested inside an earlier long run of another mask
    path = _write_csv(tmp_path / "s.csv", "ImageId,EncodedPixels\nx,1 100\nx,50 1\nx,200 1\n")
    problems = validate_submission(path)
    assert len(problems) == 1 and "masks 0 and 1 overlap" in problems[0]


@pytest.mark.parametrize(
    "body, match",
    [
        ("img_a,1 2 3\n", "odd number"),
        ("img_a,5 2 1 1\n", "unsorted"),
        ("img_a,0 1\n", "1-indexed"),
        ("img_a,1 0\n", "not positive"),
        ("img_a,600 2\n", "past the image end"),
        ("img_a,1 x\n", "non-integer"),
        ("img_zzz,1 1\n", "unknown image id"),
    ],
)
def test_validate_bad_rows(tmp_path, shapes, body: str, match: str):
    path = _write_csv(tmp_path / "s.csv", "ImageId,EncodedPixels\n" + body)
    problems = validate_submission(path, shapes=shapes)
    assert any(match in p for p in problems), problems
    assert all(str(path) in p for p in problems)


def test_validate_missing_ids_and_columns(tmp_path, predictions, shapes):
    path = write_submission(tmp_path / "s.csv", {"img_a": predictions["img_a"]})
    problems = validate_submission(path, expected_ids=list(predictions), shapes=shapes)
    assert len(problems) == 1 and "2 expected image id(s) missing" in problems[0]

    bad = _write_csv(tmp_path / "bad.csv", "Id,Pixels\nimg_a,1 1\n")
    problems = validate_submission(bad)
    assert len(problems) == 1 and "missing column" in problems[0] and "bad.csv" in problems[0]
    with pytest.raises(SubmissionError, match="bad.csv"):
        read_submission(bad)
    with pytest.raises(SubmissionError, match="no such file"):
        read_submission(tmp_path / "absent.csv")


def test_run_outside_image_needs_shapes(tmp_path):
    path = _write_csv(tmp_path / "s.csv", "ImageId,EncodedPixels\nx,1000 5\n")
    assert validate_submission(path) == []
    assert validate_submission(path, shapes={"x": (10, 10)}) != []


# --------------------------------------------------------------------- solutions


def test_read_solution_skips_ignored(tmp_path, predictions):
    labels = dict(predictions)
    labels["decoy"] = np.ones((5, 5), np.int32)
    path = _solution_csv(tmp_path / "sol.csv", labels, {"decoy": "Ignored", "img_b": "Private"})
    sol = read_solution(path)
    assert sorted(sol) == ["img_a", "img_b", "img_empty"]
    assert not sol["img_empty"].any()
    assert sol["img_a"].max() == 3
    assert sorted(read_solution(path, usage="Private")) == ["img_b"]


def test_read_solution_errors_name_file(tmp_path):
    path = _write_csv(tmp_path / "sol.csv", "ImageId,EncodedPixels,Height,Width\nx,1 1,abc,3\n")
    with pytest.raises(SubmissionError, match="sol.csv.*integers"):
        read_solution(path)
    path = _write_csv(tmp_path / "sol2.csv",
                      "ImageId,EncodedPixels,Height,Width\nx,1 3,2,2\nx,3 1,2,2\n")
    with pytest.raises(SubmissionError, match="sol2.csv.*overlap"):
        read_solution(path)


# -------------------------------------------------------------------------- CLI


def _score_cli(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "common.score", *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_score_cli_solution_against_itself(tmp_path, predictions):
    labels = dict(predictions)
    labels["decoy"] = np.ones((5, 5), np.int32)
    sol = _solution_csv(tmp_path / "sol.csv", labels, {"decoy": "Ignored"})
    result = _score_cli(sol, sol)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("score 1.0000")
    assert "threshold" in result.stdout and "0.95" in result.stdout

    # an empty prediction for every scored image: only img_empty scores 1
    sub = write_submission(tmp_path / "sub.csv", {k: np.zeros_like(v) for k, v in predictions.items()})
    result = _score_cli(sub, sol)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"score {1 / 3:.6f}"


def test_score_cli_malformed_csv(tmp_path, predictions):
    sol = _solution_csv(tmp_path / "sol.csv", predictions, {})
    bad = _write_csv(tmp_path / "broken.csv", 'ImageId,EncodedPixels\n"img_a,1 1\nimg_b,1 2,3,4\n')
    result = _score_cli(bad, sol)
    assert result.returncode == 2
    assert "broken.csv" in result.stderr
    overlapping = _write_csv(tmp_path / "ov.csv", "ImageId,EncodedPixels\nimg_a,1 5\nimg_a,3 1\n")
    result = _score_cli(overlapping, sol)
    assert result.returncode == 2 and "overlap" in result.stderr and "ov.csv" in result.stderr


def test_absurd_sizes_are_refused_before_any_allocation(tmp_path):
    path = _write_csv(tmp_path / "huge.csv", "ImageId,EncodedPixels,Height,Width\nx,1 1,40000,40000\n")
    with pytest.raises(SubmissionError, match="huge.csv: image x is 40000x40000"):
        read_solution(path)
    path = _write_csv(tmp_path / "zero.csv", "ImageId,EncodedPixels,Height,Width\nx,,0,5\n")
    with pytest.raises(SubmissionError, match="zero.csv"):
        read_solution(path)


def test_score_cli_names_missing_images(tmp_path, predictions):
    sol = _solution_csv(tmp_path / "sol.csv", predictions, {})
    sub = write_submission(tmp_path / "sub.csv", {"img_a": predictions["img_a"]})
    result = _score_cli(sub, sol)
    assert result.returncode == 0, result.stderr
    assert "2 scored image(s) have no row" in result.stderr
    assert "img_b" in result.stderr and "img_empty" in result.stderr
    extra = write_submission(tmp_path / "extra.csv", {**predictions, "stranger": predictions["img_a"]})
    result = _score_cli(extra, sol)
    assert result.returncode == 2 and "stranger" in result.stderr
