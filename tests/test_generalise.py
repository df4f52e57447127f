"""The group split end to end: workspaces, run claims, pipeline commands, report, bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from common.paths import GROUP_SPLIT_DIR, REPO_ROOT, Workspace
from common.runs import RunConflictError, RunDir
from tests.dummy_solution import dummy_solution, pipeline_env  # noqa: F401 (fixture)
from tests.test_ensemble import box, paint, write_dsb, write_folder

IDS = ["t0", "t1", "t2", "t3"]


def test_workspace_of_each_split(tmp_path):
    strat = Workspace.from_args(tmp_path, tmp_path / "data")
    group = Workspace.from_args(tmp_path, tmp_path / "data", "group")
    assert strat.folds_csv == tmp_path / "folds.csv" and strat.split_by == "stratified"
    assert group.root == tmp_path / GROUP_SPLIT_DIR and group.folds_csv.name == "folds_group.csv"
    assert Workspace.from_args(group.root, None, "group").root == group.root  # passed on as is
    assert group.run_dir("unet-fold0") != strat.run_dir("unet-fold0")
    # split_by=None (commands that read a work folder): the folder's name says which split
    assert Workspace.from_args(group.root, None, None).split_by == "group"
    assert Workspace.from_args(group.root, None, None).folds_csv == group.folds_csv
    assert Workspace.from_args(tmp_path, None, None).root == strat.root
    assert Workspace.from_args(tmp_path, None, None).split_by == "stratified"
    with pytest.raises(ValueError, match="split_by"):
        Workspace.from_args(tmp_path, None, "random")


def test_a_run_is_never_resumed_or_predicted_on_the_other_split(tmp_path):
    from common.cli import _split_run_dir, check_split, predict_target, run_split

    path = tmp_path / "runs" / "unet-fold0"
    path.mkdir(parents=True)
    run = _split_run_dir(path, "group")
    check_split(run, "stratified")  # a new folder: nothing to check
    run.claim({"fold": 0, "solution": "unet"})
    assert json.loads(run.info_path.read_text())["split_by"] == "group" and run_split(run) == "group"
    with pytest.raises(RunConflictError, match="run_info.json.*group split"):
        _split_run_dir(path, "stratified").claim({"fold": 0})
    with pytest.raises(RunConflictError, match="--split-by group"):
        predict_target(Workspace(tmp_path, tmp_path / "data"), RunDir(path), "unet", "oof")
    old = tmp_path / "runs" / "old"  # made before the split existed: stratified
    old.mkdir()
    (old / "run_info.json").write_text(json.dumps({"fold": 1}))
    check_split(RunDir(old), "stratified")
    with pytest.raises(RunConflictError):
        check_split(RunDir(old), "group")


def test_pipeline_passes_the_split_to_every_command(tmp_path, monkeypatch):
    from pipeline import stages
    from pipeline.registry import get_solution
    from pipeline.stages import Context

    data = tmp_path / "data"
    write_dsb(data, {i: paint(box(2, 12, 2, 12)) for i in IDS}, {"s1": paint(box(2, 9, 2, 9))})
    ws = Workspace.from_args(tmp_path / "work", data, "group")
    ctx = Context(ws=ws, profile="demo", solutions=[get_solution("unet")], folds=[0], n_folds=2,
                  echo=lambda _: None)
    ctx.folds_df = pd.DataFrame({"image_id": IDS, "fold": [0, 1, 0, 1], "cluster": "fluorescence",
                                 "group": ["a", "b", "a", "b"]})
    tasks = []
    monkeypatch.setattr(stages, "run_tasks", lambda t, *a, **k: tasks.extend(t))
    stages.train_stage(ctx)
    run = ws.run_dir("unet-fold0")
    run.mkdir(parents=True)
    (run / "train_summary.json").write_text("{}")
    stages.predict_stage(ctx)
    cmds = [c for t in tasks for c in t.cmds]
    assert len(cmds) == 3  # train, predict oof, predict test
    for cmd in cmds:
        assert cmd[cmd.index("--split-by") + 1] == "group"
        assert cmd[cmd.index("--work") + 1] == str(tmp_path / "work" / GROUP_SPLIT_DIR)


def _two_splits(tmp_path):
    """Data, and a stratified and a group workspace: the U-Net perfect on the stratified
    folds and blind on the group folds (fold 1 only half right)."""
    data = tmp_path / "data"
    truth = paint(box(2, 12, 2, 12))
    write_dsb(data, {i: truth for i in IDS}, {"s1": paint(box(2, 9, 2, 9))})
    strat = Workspace.from_args(tmp_path / "work", data)
    group = Workspace.from_args(tmp_path / "work", data, "group")
    for ws in (strat, group):
        ws.root.mkdir(parents=True)
    pd.DataFrame({"image_id": IDS, "fold": [0, 1, 0, 1], "cluster": "fluorescence"}).to_csv(
        strat.folds_csv, index=False)
    pd.DataFrame({"image_id": IDS, "fold": [0, 0, 1, 1],
                  "cluster": ["fluorescence", "fluorescence", "histology", "histology"],
                  "group": ["fl-a", "fl-a", "hi-b", "hi-b"]}).to_csv(group.folds_csv, index=False)
    empty = np.zeros_like(truth)
    write_folder(strat.predictions_dir("unet", "oof"), {i: (truth, np.ones(1), None) for i in IDS})
    write_folder(group.predictions_dir("unet", "oof"),
                 {"t0": (empty, np.ones(0), None), "t1": (empty, np.ones(0), None),
                  "t2": (truth, np.ones(1), None), "t3": (empty, np.ones(0), None)})
    return data, strat, group


def test_report_gains_group_columns_and_tables(tmp_path):
    from pipeline.report import build_report

    data, strat, group = _two_splits(tmp_path)
    text = build_report(strat, data, ["unet"], [0, 1], "stage1_test", overlays_per_type=0).read_text()
    assert "Group OOF" in text and "Gap (strat − group)" in text and "## Group folds" in text
    table = pd.read_csv(strat.reports_dir / "scores.csv", index_col=0)
    assert table.loc["unet", "stratified_oof_score"] == pytest.approx(1.0)
    assert table.loc["unet", "group_oof_score"] == pytest.approx(0.25)
    assert table.loc["unet", "gap"] == pytest.approx(0.75)
    assert "| hi-b (2) f1 |" in text  # per group, with the fold that held it out
    # the group split's own report shows the same comparison
    text = build_report(group, data, ["unet"], [0, 1], "stage1_test", overlays_per_type=0).read_text()
    assert "Split: **group** folds" in text and "Gap (strat − group)" in text


def test_bench_generalise_report(tmp_path):
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import bench_generalise as bg

    data, strat, group = _two_splits(tmp_path)
    out = tmp_path / "out"
    result = bg.main(["--work", str(strat.root), "--data", str(data), "--folds", "2", "--out", str(out)])
    assert result == 0
    res = json.loads((out / "generalise.json").read_text())
    assert res["summary"]["unet"]["stratified_oof"] == pytest.approx(1.0)
    assert res["summary"]["unet"]["group_oof"] == pytest.approx(0.25)
    assert res["summary"]["unet"]["gap"] == pytest.approx(0.75)
    assert res["per_group"]["hi-b"]["unet group"] == pytest.approx(0.5)
    assert res["per_type"]["histology"]["unet gap"] == pytest.approx(0.5)
    md = (out / "generalise.md").read_text()
    assert "Command: `python bench/bench_generalise.py" in md and "## Per group" in md
    assert res["pictures"] == ["worst_unet_group.png"] and "![worst_unet_group.png]" in md
    assert (out / "worst_unet_group.png").stat().st_size > 100
    per_image = res["models"]["unet"]["per_image"]  # stored, so a later A/B can pair with it
    assert per_image["t2"] == {"stratified": 1.0, "group": 1.0} and per_image["t0"]["group"] == 0.0
    (group.predictions_dir("unet", "oof") / "t3.npz").unlink()  # only the predicted images
    stored = bg.report(bg.workspaces(strat.root, data), ["unet"], [0, 1], 2, 42, out, "x")["models"]
    assert stored["unet"]["per_image"]["t3"] == {"stratified": 1.0}  # scored 0 in the tables, not stored
    res = bg.report(bg.workspaces(strat.root, data), ["unet"], [0, 1], 2, 42, out, "x", only_predicted=True)
    assert res["summary"]["unet"]["images group"] == 3


@pytest.mark.slow
def test_run_all_tiny_with_group_split_then_bench(dummy_solution, tmp_path):
    """./run_all.sh --tiny --split-by group, then the bench trains the stratified side and reports.

    The dummy Otsu solution (``tests/dummy_solution.py``) stands in for a model: what is tested
    is the group split through the pipeline and the bench, not learning (the real solutions'
    train/predict CLIs have their own tests)."""
    env = pipeline_env(tmp_path, dummy_solution)
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "pipeline.run_all", "--profile", "demo", "--tiny", "--solutions", "dummy-otsu",
           "--folds", "2", "--split-by", "group", "--stages", "train,predict,report", "--work", str(work)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    gw = work / GROUP_SPLIT_DIR
    folds = pd.read_csv(gw / "folds_group.csv")
    assert (folds.groupby("group")["fold"].nunique() == 1).all() and "groups (none split)" in proc.stdout
    assert json.loads((gw / "runs" / "dummy-otsu-fold0" / "run_info.json").read_text())["split_by"] == "group"
    assert len(list((gw / "predictions" / "dummy-otsu" / "oof").glob("*.npz"))) == len(folds)
    assert not (work / "runs").exists()  # nothing written into the stratified tree
    assert "## Group folds" in (gw / "reports" / "summary.md").read_text()
    data = next((work / "input-demo").iterdir())
    bench = [sys.executable, str(REPO_ROOT / "bench" / "bench_generalise.py"), "--train", "--tiny",
             "--profile", "demo", "--splits", "stratified", "--work", str(work), "--data", str(data),
             "--solutions", "dummy-otsu", "--folds", "2", "--out", str(tmp_path / "out")]
    proc = subprocess.run(bench, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    res = json.loads((tmp_path / "out" / "generalise.json").read_text())
    summary = res["summary"]["dummy-otsu"]
    assert np.isfinite(summary["stratified_oof"]) and np.isfinite(summary["group_oof"])
    assert summary["stratified_oof"] > 0.05  # Otsu finds the synthetic nuclei: real scores, not zeros
    assert (work / "runs" / "dummy-otsu-fold1" / "train_summary.json").is_file()


def test_bench_generalise_trains_only_the_folds_asked_in_their_order(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import bench_generalise as bg

    calls = {}
    monkeypatch.setattr(bg, "drive", lambda wss, solutions, folds, *a, **k: calls.setdefault("train", list(folds)))
    monkeypatch.setattr(bg, "report", lambda wss, solutions, folds, *a, **k: calls.setdefault("score", list(folds)))
    args = ["--work", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--train"]
    assert bg.main([*args, "--train-folds", "3,1", "--score-folds", "1,3"]) == 0
    assert calls == {"train": [3, 1], "score": [1, 3]}
    calls.clear()
    assert bg.main(args) == 0
    assert calls == {"train": [0, 1, 2, 3, 4], "score": [0, 1, 2, 3, 4]}
    with pytest.raises(SystemExit, match="0..4.*'5'"):
        bg.main([*args, "--train-folds", "5"])
