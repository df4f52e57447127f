"""Kill -9 at random moments, and two pipelines on one folder (issue: reliability).

Both use the dummy solution (``tests/dummy_solution.py``: no learning, deterministic), so
the pipeline machinery itself is what is tested: folds, training and prediction
subprocesses, the ensemble, the submission and the report, their resume rules, the folder
locks, the orphan rule and the atomic writes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from common.io import TEMP_MARK
from common.paths import REPO_ROOT
from tests.dummy_solution import dummy_solution, pipeline_env  # noqa: F401 (fixture)

STAGE_MARKS = {"== train ==": "train", "== predict ==": "predict", "== ensemble ==": "ensemble",
               "== submission ==": "submission", "== report ==": "report"}


def _cmd(work: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline.run_all", "--profile", "demo", "--tiny",
            "--solutions", "dummy-otsu", "--folds", "2", "--jobs", "1", "--work", str(work)]


def _stage(log: str) -> str:
    """The last stage a pipeline's output announced."""
    stage = "data/folds"
    for line in log.splitlines():
        stage = STAGE_MARKS.get(line.strip(), stage)
    return stage


def _children_gone(work: Path, timeout: float = 30.0) -> None:
    """Wait until no process holds a lock under ``work`` (killed children exit on SIGTERM)."""
    from common.locks import lock_holder

    deadline = time.monotonic() + timeout
    for lock in work.rglob(".lock"):
        pid = lock_holder(lock.parent).get("pid")
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                if "zombie" in Path(f"/proc/{pid}/status").read_text().lower():
                    break
            except (ProcessLookupError, OSError):
                break
            time.sleep(0.1)


def _results(work: Path) -> tuple[bytes, pd.Series]:
    subs = sorted((work / "submissions").glob("*.csv"))
    assert len(subs) == 1, subs
    scores = pd.read_csv(work / "reports" / "scores.csv", index_col=0)["oof_score"]
    return subs[0].read_bytes(), scores


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_the_same_submission(dummy_solution, tmp_path):
    env = pipeline_env(tmp_path, dummy_solution)
    ref = tmp_path / "ref"
    t0 = time.monotonic()
    done = subprocess.run(_cmd(ref), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    duration = time.monotonic() - t0
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    want_sub, want_scores = _results(ref)

    # each kill aims at a stage in turn (train, predict, ensemble, submission, report, and
    # the start): it waits for that stage's line, then a seeded random moment of up to 0.5 s
    # in the two long stages
    work, rng, kills, stages = tmp_path / "work", random.Random(2018), 0, []
    targets = [*STAGE_MARKS, None]  # 6 kills, one per stage and one at the start
    for attempt in range(40):
        log = tmp_path / f"attempt{attempt}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(_cmd(work), cwd=REPO_ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, text=True)
            if kills < len(targets):
                mark = targets[kills]
                while proc.poll() is None and mark is not None and mark not in log.read_text():
                    time.sleep(0.01)
                # the ensemble, submission and report stages take a blink: kill at once there
                slow = mark in ("== train ==", "== predict ==")
                try:
                    proc.wait(rng.uniform(0.0, 0.5) if slow else 0.0 if mark else
                              rng.uniform(0.5, duration / 3))
                except subprocess.TimeoutExpired:
                    stages.append(_stage(log.read_text()))
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            rc = proc.wait(300)
        _children_gone(work)
        if rc == 0 and kills >= len(targets):
            break
    else:
        pytest.fail(f"no clean finish after {kills} kills; last log:\n{log.read_text()[-3000:]}")
    got_sub, got_scores = _results(work)
    assert got_sub == want_sub
    pd.testing.assert_series_equal(got_scores, want_scores)
    assert kills >= len(targets) and {"train", "predict", "ensemble", "submission"} <= set(stages), stages
    assert not [p for p in work.rglob(f"*{TEMP_MARK}*")], "temp files left behind"
    for history in work.rglob("history.csv"):
        rows = pd.read_csv(history)
        assert not rows.duplicated("epoch").any(), history


@pytest.mark.slow
def test_two_pipelines_on_one_folder_one_works_one_refuses(dummy_solution, tmp_path):
    env = pipeline_env(tmp_path, dummy_solution)
    work = tmp_path / "work"
    procs = [subprocess.Popen(_cmd(work), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(300), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 2], [(rc, err[-500:]) for rc, _, err in results]
    refused = next(err for rc, _, err in results if rc == 2)
    winner = next(p for p, (rc, _, _) in zip(procs, results) if rc == 0)
    assert f"PID {winner.pid}" in refused and len(refused.strip().splitlines()) == 1
