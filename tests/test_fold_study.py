"""bench/fold_study.sh refuses bad arguments before it trains anything, naming what is wrong,
and never overwrites an output or a run folder that exists."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "fold_study.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def ids(tmp_path: Path) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("a\nb\n")
    return path


def test_every_required_argument_is_named(tmp_path: Path, ids: Path):
    full = {"--split": "group", "--fold": "2", "--work": str(tmp_path / "w"), "--ids": str(ids),
            "--out": str(tmp_path / "out")}
    for left_out in full:
        args = [x for k, v in full.items() if k != left_out for x in (k, v)]
        proc = _run(*args)
        assert proc.returncode == 2 and f"{left_out} is required" in proc.stderr, (left_out, proc.stderr)


def test_bad_arguments_are_refused_before_training(tmp_path: Path, ids: Path):
    base = ["--fold", "2", "--work", str(tmp_path / "w")]
    proc = _run(*base, "--split", "group", "--ids", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "nope.txt" in proc.stderr
    proc = _run(*base, "--split", "random", "--ids", str(ids), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "group or stratified" in proc.stderr
    proc = _run(*base, "--split", "group", "--ids", str(ids), "--out", str(tmp_path / "o"), "--bogus")
    assert proc.returncode == 2 and "--bogus" in proc.stderr


def test_existing_outputs_are_never_overwritten(tmp_path: Path, ids: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "magnify.json").write_text("{}")
    proc = _run("--split", "group", "--fold", "2", "--work", str(tmp_path / "w"), "--ids", str(ids), "--out", str(out))
    assert proc.returncode == 2 and "not overwritten" in proc.stderr and str(out) in proc.stderr
    assert (out / "magnify.json").read_text() == "{}"
    run = tmp_path / "w" / "runs" / "unet-fold1"
    run.mkdir(parents=True)
    proc = _run("--split", "stratified", "--fold", "1", "--work", str(tmp_path / "w"), "--ids", str(ids),
                "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2 and "run folder exists" in proc.stderr and str(run) in proc.stderr
    assert not (tmp_path / "o2").exists()
