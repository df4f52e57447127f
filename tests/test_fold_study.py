"""bench/fold_study.sh refuses bad arguments before it trains anything, naming what is wrong, never
overwrites an output or a run folder that exists, and hands the trainer and the predictor what it
was given (a stub interpreter stands in for both, so nothing trains here)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "fold_study.sh"
GROUPS = ROOT / "bench" / "results" / "dim_nuclei_cpu_20261206" / "folds_group.csv"

STUB = """#!/usr/bin/env bash
# stands in for python: the ids check runs for real, the trainer and the predictor are logged
echo "$*" >> "{log}"
if [[ $1 == - ]]; then exec "{python}" "$@"; fi
if [[ $1 == -m ]]; then
  args=("$@"); work=""; fold=""; group=""
  for ((i = 0; i < ${{#args[@]}}; i++)); do
    case ${{args[i]}} in --work) work=${{args[i+1]}} ;; --fold) fold=${{args[i+1]}} ;; --split-by) group=1 ;; esac
  done
  runs=$work/runs; [[ -n $group ]] && runs=$work/split-group/runs
  mkdir -p "$runs/unet-fold$fold"
  echo '{{"oof_ids": {oof}}}' > "$runs/unet-fold$fold/run_info.json"
  exit 0
fi
mkdir -p "${{@: -1}}"; echo '{{}}' > "${{@: -1}}/magnify.json"
"""


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=env)


def _stub(tmp_path: Path, oof: list[str]) -> tuple[dict, Path]:
    log = tmp_path / "calls.log"
    stub = tmp_path / "python"
    stub.write_text(STUB.format(log=log, python=sys.executable, oof=json.dumps(oof)))
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "FOLD_STUDY_PYTHON": str(stub)}, log


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
    proc = _run(*[x for k, v in full.items() if k != "--fold" for x in (k, v)], "--fold")
    assert proc.returncode == 2 and "--fold needs a value" in proc.stderr


def test_bad_arguments_are_refused_before_training(tmp_path: Path, ids: Path):
    base = ["--fold", "2", "--work", str(tmp_path / "w")]
    proc = _run(*base, "--split", "group", "--ids", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "nope.txt" in proc.stderr
    (tmp_path / "empty.txt").write_text("")
    proc = _run(*base, "--split", "group", "--ids", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "empty" in proc.stderr
    proc = _run(*base, "--split", "random", "--ids", str(ids), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "group or stratified" in proc.stderr
    proc = _run(*base, "--split", "group", "--ids", str(ids), "--out", str(tmp_path / "o"), "--bogus")
    assert proc.returncode == 2 and "--bogus" in proc.stderr
    proc = _run("--fold", "2", "--work", str(tmp_path / "w" / "split-group"), "--split", "group", "--ids", str(ids),
                "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "folder above split-group" in proc.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "w").exists()


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


@pytest.mark.skipif(not GROUPS.exists(), reason="the group split of the records is not in this checkout")
def test_group_arm_trains_checks_and_predicts_with_the_overrides(tmp_path: Path):
    import pandas as pd

    held = sorted(pd.read_csv(GROUPS).query("fold == 2").image_id)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(held[:3]) + "\n")
    env, log = _stub(tmp_path, held)
    work, out = tmp_path / "w", tmp_path / "pred"
    proc = _run("--split", "group", "--fold", "2", "--work", str(work), "--ids", str(ids), "--out", str(out),
                "--factors", "1 0.5", "--", "data.grain=0.5", env=env)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    train = next(c for c in calls if c.startswith("-m solutions.unet.train"))
    assert "--split-by group" in train and "--fold 2" in train and train.endswith("data.grain=0.5")
    predict = next(c for c in calls if "bench_magnify.py" in c)
    assert f"--run {work}/split-group/runs/unet-fold2" in predict and "--factors 1 0.5 --variant" in predict
    assert (work / "split-group" / "folds_group.csv").read_bytes() == GROUPS.read_bytes()
    assert (out / "magnify.json").exists()
    # the same work folder again: the run folder is refused, nothing retrained
    proc = _run("--split", "group", "--fold", "2", "--work", str(work), "--ids", str(ids), "--out",
                str(tmp_path / "p2"), env=env)
    assert proc.returncode == 2 and "run folder exists" in proc.stderr


@pytest.mark.skipif(not GROUPS.exists(), reason="the group split of the records is not in this checkout")
def test_foreign_split_or_ids_stop_before_training(tmp_path: Path):
    import pandas as pd

    table = pd.read_csv(GROUPS)
    env, log = _stub(tmp_path, [])
    other = tmp_path / "w" / "split-group"
    other.mkdir(parents=True)
    (other / "folds_group.csv").write_text("image_id,fold\nx,0\n")
    ids = tmp_path / "ids.txt"
    ids.write_text(table.query("fold == 2").image_id.iloc[0] + "\n")
    proc = _run("--split", "group", "--fold", "2", "--work", str(tmp_path / "w"), "--ids", str(ids),
                "--out", str(tmp_path / "o"), env=env)
    assert proc.returncode == 2 and "another split" in proc.stderr
    ids.write_text(table.query("fold == 3").image_id.iloc[0] + "\n")  # held out by fold 3, not 2
    proc = _run("--split", "group", "--fold", "2", "--work", str(tmp_path / "w2"), "--ids", str(ids),
                "--out", str(tmp_path / "o"), env=env)
    assert proc.returncode != 0 and "not held out by fold 2" in proc.stderr
    assert not any("solutions.unet.train" in c for c in (log.read_text().splitlines() if log.exists() else []))
