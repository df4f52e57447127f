"""Kill -9 at random moments, and two pipelines on one folder (issue: reliability).

Both use the dummy solution (``tests/dummy_solution.py``: no learning, deterministic), so
the pipeline machinery itself is what is tested: folds, training and prediction
subprocesses, the ensemble, the submission and the report, their resume rules, the folder
locks, the orphan rule and the atomic writes. The two racing pipelines run once per module
and the winner's folder is the kill test's reference (one full run fewer).
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
from tests.dummy_solution import pipeline_env, write_dummy_package

STAGE_MARKS = {"== train ==": "train", "== predict ==": "predict", "== ensemble ==": "ensemble",
               "== submission ==": "submission", "== report ==": "report"}
#: The stages a kill aims at (the report is rebuilt on every run).
KILL_MARKS = [mark for mark, stage in STAGE_MARKS.items() if stage != "report"]


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


@pytest.fixture(scope="module")
def raced_reference(tmp_path_factory) -> dict:
    """Two pipelines started at once on one fresh folder: the one that gets the lock makes the
    reference submission of the kill test, the other must refuse (both tests read it)."""
    root = tmp_path_factory.mktemp("faults")
    env = pipeline_env(root, write_dummy_package(root / "plugins"))
    work = root / "ref"
    t0 = time.monotonic()
    procs = [subprocess.Popen(_cmd(work), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(300), *p.communicate()) for p in procs]
    return {"env": env, "work": work, "procs": procs, "results": results,
            "duration": time.monotonic() - t0}


@pytest.mark.slow
def test_two_pipelines_on_one_folder_one_works_one_refuses(raced_reference):
    procs, results = raced_reference["procs"], raced_reference["results"]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 2], [(rc, err[-500:]) for rc, _, err in results]
    refused = next(err for rc, _, err in results if rc == 2)
    winner = next(p for p, (rc, _, _) in zip(procs, results) if rc == 0)
    assert f"PID {winner.pid}" in refused and len(refused.strip().splitlines()) == 1


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_the_same_submission(raced_reference, tmp_path):
    env, duration = raced_reference["env"], raced_reference["duration"]
    assert 0 in [rc for rc, _, _ in raced_reference["results"]], "no reference run (see the race test)"
    want_sub, want_scores = _results(raced_reference["work"])

    # each kill aims at a stage in turn (train, predict, ensemble, submission, and the
    # start): it waits for that stage's line, then a seeded random moment of up to 0.5 s
    # in the two long stages. The report stage is not aimed at: it is rebuilt on every
    # run and writes through the same atomic writes as the submission.
    work, rng, kills, stages = tmp_path / "work", random.Random(2018), 0, []
    targets = [*KILL_MARKS, None]  # 5 kills, one per stage that skips work done, one at the start
    for attempt in range(40):
        log = tmp_path / f"attempt{attempt}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(_cmd(work), cwd=REPO_ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, text=True)
            if kills < len(targets):
                mark = targets[kills]
                while proc.poll() is None and mark is not None and mark not in log.read_text():
                    time.sleep(0.01)
                # the ensemble and submission stages take a blink: kill at once there
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
def test_a_new_run_clears_the_temp_files_a_killed_one_left(tmp_path, capsys):
    """A kill inside an atomic write leaves ``.<name>.tmp-*`` beside its target: the next run,
    holding the folder's lock, removes those of the work root and ``submissions/``."""
    from pipeline.run_all import main

    work = tmp_path / "work"
    (work / "submissions").mkdir(parents=True)
    stale = [work / f".pipeline_state.json{TEMP_MARK}1", work / "submissions" / f".e.csv{TEMP_MARK}2"]
    for path in stale:
        path.write_text("half")
    kept = work / "submissions" / "mine.txt"
    kept.write_text("not a temp file")
    assert main(["--work", str(work), "--tiny", "--stages", "data,folds"]) == 0
    capsys.readouterr()
    assert not any(p.exists() for p in stale) and kept.read_text() == "not a temp file"
    assert (work / "folds.csv").is_file()
