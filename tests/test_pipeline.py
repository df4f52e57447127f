"""Pipeline: registry, resume/force of the stages, submission naming, report (the data stage: test_data_stage.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.paths import REPO_ROOT, Workspace
from common.submission import validate_submission
from pipeline import stages
from pipeline.registry import UnknownSolution, get_solution, parse_solutions
from pipeline.report import build_report
from pipeline.run_all import parse_folds, parse_size
from pipeline.stages import Context, PipelineError, split_sets
from tests.test_ensemble import H, W, box, paint, write_dsb, write_folder


# ------------------------------------------------------------------ registry / options
def test_registry_and_overrides():
    mr = get_solution("maskrcnn-resnet101")
    assert mr.family == "maskrcnn" and mr.config("full").name == "resnet101.yaml"
    assert "model.backbone=resnet101" in mr.set_items("demo", 3)
    assert "n_folds=3" in mr.set_items("demo", 3)
    # Every solution CLI parses --set with common.cli, which keeps all items.
    import argparse

    from common.cli import add_train_args

    parser = argparse.ArgumentParser()
    add_train_args(parser)
    for spec in (mr, get_solution("unet")):
        argv = ["--config", "c.yaml", "--fold", "0", *spec.set_args(["a=1", "b=2"]), "--set", "c=3"]
        assert parser.parse_args(argv).overrides == ["a=1", "b=2", "c=3"]
    assert get_solution("unet-baseline").config("demo").name == "demo_baseline.yaml"
    with pytest.raises(UnknownSolution, match="resnet9"):
        get_solution("maskrcnn-resnet9")
    with pytest.raises(UnknownSolution, match="known"):
        parse_solutions("unet,foo", "demo")
    assert [s.name for s in parse_solutions(None, "demo")] == ["unet"]
    items = ["a=1", "unet:b=2", "maskrcnn-mobilenet:c=3", "ensemble:vote.min_votes=1", "x.y=a:b"]
    assert split_sets(items, get_solution("unet")) == ["a=1", "b=2", "x.y=a:b"]
    assert split_sets(items, get_solution("maskrcnn-mobilenet")) == ["a=1", "c=3", "x.y=a:b"]
    assert split_sets(items, None) == ["vote.min_votes=1"]


def test_parse_folds_and_size():
    assert parse_folds(None, None, "demo") == ([0, 1], 2)
    assert parse_folds("5", None, "demo") == ([0, 1, 2, 3, 4], 5)
    assert parse_folds("0,2", None, "full") == ([0, 2], 5)
    assert parse_folds("1,", 3, "demo") == ([1], 3)
    with pytest.raises(PipelineError):
        parse_folds("0,7", 5, "full")
    assert parse_size(None, True) == (6, 3) and parse_size("10,4", False) == (10, 4)


# ------------------------------------------------------------------ resume / force
def make_ctx(tmp_path, solutions=("unet",), folds=(0, 1), **kw) -> Context:
    data, work = tmp_path / "data", tmp_path / "work"
    ids = [f"t{i}" for i in range(4)]
    if not data.exists():
        write_dsb(data, {i: paint(box(2, 12, 2, 12)) for i in ids}, {"s1": paint(box(2, 9, 2, 9))})
    ctx = Context(ws=Workspace(work, data), profile="demo",
                  solutions=[get_solution(s) for s in solutions], folds=list(folds), n_folds=2,
                  echo=lambda _: None, **kw)
    ctx.folds_df = pd.DataFrame({"image_id": ids, "fold": [0, 1, 0, 1], "cluster": "fluorescence"})
    return ctx


def fake_runner(record):
    def run_tasks(tasks, gpus=0, echo=print, jobs=1):
        record.extend(tasks)
    return run_tasks


def test_train_stage_skips_finished_runs_and_force_moves_aside(tmp_path, monkeypatch):
    ctx = make_ctx(tmp_path)
    done = ctx.ws.run_dir("unet-fold0")
    done.mkdir(parents=True)
    (done / "train_summary.json").write_text("{}")
    tasks = []
    monkeypatch.setattr(stages, "run_tasks", fake_runner(tasks))
    stages.train_stage(ctx)
    assert [t.name for t in tasks] == ["train unet-fold1"]
    cmd = tasks[0].cmds[0]
    assert cmd[1:3] == ["-m", "solutions.unet.train"] and "--fold" in cmd and "n_folds=2" in cmd
    assert cmd[cmd.index("--run-name") + 1] == "unet-fold1"
    tasks.clear()
    ctx.force = True
    stages.train_stage(ctx)
    assert [t.name for t in tasks] == ["train unet-fold0", "train unet-fold1"]
    assert not done.exists()
    assert list(ctx.backup_root.rglob("train_summary.json")), "moved aside, not deleted"


def test_predict_stage_resume(tmp_path, monkeypatch):
    ctx = make_ctx(tmp_path, folds=[0])
    run = ctx.ws.run_dir("unet-fold0")
    run.mkdir(parents=True)
    (run / "train_summary.json").write_text("{}")
    old = time.time() - 100
    os.utime(run / "train_summary.json", (old, old))
    lab = paint(box(2, 12, 2, 12))
    write_folder(ctx.ws.predictions_dir("unet", "oof"),
                 {i: (lab, np.ones(1), None) for i in ("t0", "t2")})
    write_folder(ctx.ws.predictions_dir("unet", "test_fold0"), {"s1": (lab, np.ones(1), None)})
    tasks = []
    monkeypatch.setattr(stages, "run_tasks", fake_runner(tasks))
    stages.predict_stage(ctx)
    assert tasks == []  # everything done and newer than the run
    new = time.time() + 10
    os.utime(run / "train_summary.json", (new, new))  # retrained: predictions are now stale
    stages.predict_stage(ctx)
    assert [t.name for t in tasks] == ["predict oof+test unet-fold0"]
    oof, test = tasks[0].cmds  # OOF first: a U-Net tunes its thresholds there
    assert oof[oof.index("--split") + 1] == "oof" and "stage1_test" in test
    assert not (ctx.ws.predictions_dir("unet", "oof") / "t0.npz").exists()
    assert (ctx.ws.predictions_dir("unet", "oof") / "_summary.json").exists()  # other folds' files stay
    ctx2 = make_ctx(tmp_path, folds=[1])
    with pytest.raises(PipelineError, match="not trained"):
        stages.predict_stage(ctx2)


def test_submission_stage_never_overwrites(tmp_path):
    ctx = make_ctx(tmp_path)
    pred = ctx.ws.predictions_dir("ensemble", "test")
    write_folder(pred, {"s1": (paint(box(2, 9, 2, 9)), np.ones(1), None)})
    p1, sent = stages.submission_stage(ctx)
    assert p1.name == "ensemble-demo.csv" and sent is None
    assert validate_submission(p1, expected_ids=["s1"]) == []
    p2, _ = stages.submission_stage(ctx)
    assert p2 == p1  # unchanged predictions: reused
    ctx.save_state(submission=None)  # killed after writing the file, before recording it
    p2, _ = stages.submission_stage(ctx)
    assert p2 == p1 and sorted(f.name for f in p1.parent.glob("*.csv")) == [p1.name]
    assert ctx.state()["submission"]["path"] == str(p1)
    time.sleep(0.01)
    write_folder(pred, {"s1": (paint(box(2, 10, 2, 10)), np.ones(1), None)})
    p3, _ = stages.submission_stage(ctx)
    assert p3.name == "ensemble-demo-2.csv" and p1.is_file()
    ctx.force = True
    p4, _ = stages.submission_stage(ctx)
    assert p4.name == "ensemble-demo-2.csv" and list(ctx.backup_root.rglob("ensemble-demo-2.csv"))
    # --submit without credentials: says what is missing, never calls kaggle
    ctx.force, ctx.submit = False, True
    logs = []
    ctx.echo = logs.append
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE")}
    os_environ = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env, HOME=str(tmp_path), KAGGLE_CONFIG_DIR=str(tmp_path / "nokaggle"))
        _, sent = stages.submission_stage(ctx)
    finally:
        os.environ.clear()
        os.environ.update(os_environ)
    assert sent is False and any("NOT submitted" in line and "kaggle.json" in line for line in logs)
    assert not ctx.state()["submission"].get("sending")  # nothing was sent
    # a run killed while the kaggle CLI ran: the next one does not send the file again unasked
    ctx.save_state(submission=dict(ctx.state()["submission"], sending=True))
    logs.clear()
    assert stages.submission_stage(ctx)[1] is False
    assert any("may have reached Kaggle" in line and "--stages submission --submit --force" in line
               for line in logs)


# ------------------------------------------------------------------ report
def test_report_uses_the_numbers_in_the_summaries(tmp_path):
    ctx = make_ctx(tmp_path, solutions=("unet", "maskrcnn-mobilenet"))
    ctx.ws.root.mkdir(parents=True, exist_ok=True)
    ctx.folds_df.to_csv(ctx.ws.folds_csv, index=False)
    truth = paint(box(2, 12, 2, 12))
    for name, secs, params in (("unet", (12.5, 7.5), 1234), ("maskrcnn-mobilenet", (100, 50), 99999)):
        for k in (0, 1):
            run = ctx.ws.run_dir(f"{name}-fold{k}")
            run.mkdir(parents=True)
            (run / "train_summary.json").write_text(json.dumps(
                {"solution": name, "fold": k, "train_seconds": secs[k], "epochs": 3,
                 "train_images_per_s": 1.0, "params": params, "device": "test-cpu"}))
            write_folder(ctx.ws.predictions_dir(name, f"test_fold{k}"),
                         {"s1": (paint(box(2, 9, 2, 9)), np.ones(1), None)})  # 1 image / 2 s
        lab = truth if name == "unet" else np.zeros((H, W), np.int32)
        write_folder(ctx.ws.predictions_dir(name, "oof"),
                     {f"t{i}": (lab, np.ones(lab.max()), None) for i in range(4)})
    write_folder(ctx.ws.predictions_dir("ensemble", "oof"),
                 {f"t{i}": (truth, np.ones(1), None) for i in range(4)})
    path = build_report(ctx.ws, ctx.ws.data_dir, ["unet", "maskrcnn-mobilenet"], [0, 1], "stage1_test",
                        profile="demo", data_note="the synthetic demo set in x",
                        submission=Path("WORK/submissions/ensemble.csv"))
    text = path.read_text()
    first = text.splitlines()[2:5]  # after the title: what ran, the submission, what next
    assert first[0].startswith("**What ran:** unet, maskrcnn-mobilenet on 2 fold(s) of the synthetic")
    assert "test-cpu" in first[0] and "`WORK/submissions/ensemble.csv`" in first[1]
    assert "input/" in first[2] and "--profile full" in first[2] and "segment.sh" in first[2]
    rows = {}
    for line in text.splitlines():  # first table: our runs
        if line.startswith("| "):
            rows.setdefault(line.split("|")[1].strip(), line)
    cells = [c.strip() for c in rows["unet"].split("|")]
    assert cells[2] == "1.000" and cells[4] == "1.000"        # OOF, test score
    assert cells[5] == "20" and cells[7] == "0.50" and cells[8] == "1,234" and cells[9] == "test-cpu"
    cells = [c.strip() for c in rows["maskrcnn-mobilenet"].split("|")]
    assert cells[2] == "0.000" and cells[5] == "150"
    assert "ensemble" in rows and "0.326" in text and "10,440" in text and "not ours" in text
    assert (ctx.ws.reports_dir / "speed_accuracy.png").stat().st_size > 1000
    assert list((ctx.ws.reports_dir / "overlays").glob("fluorescence_*.png"))
    # how the overlay source (the ensemble) fails, per type: here it finds every nucleus
    section = text.split("## How the OOF predictions fail, per image type")[1].split("## ")[0]
    assert "`ensemble`'s out-of-fold predictions" in section
    row = next(line for line in section.splitlines() if line.startswith("| fluorescence"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "4" and cells[2] == cells[3] == "4" and cells[4:8] == ["0.0"] * 4
    table = pd.read_csv(ctx.ws.reports_dir / "scores.csv", index_col=0)
    assert table.loc["unet", "train_seconds"] == pytest.approx(20.0)


# ------------------------------------------------------------------ end to end
SOLUTIONS_READY = all((REPO_ROOT / "solutions" / pkg / f"{cli}.py").is_file()
                      for pkg in ("unet", "maskrcnn") for cli in ("train", "predict"))


@pytest.mark.slow
@pytest.mark.skipif(not SOLUTIONS_READY, reason="solutions' train/predict CLIs not there yet")
def test_run_all_demo_end_to_end_tiny(tmp_path):
    """./run_all.sh --profile demo --tiny on synthetic data: a valid submission and a real report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE")}
    env.update(DSB_INPUT_DIR=str(tmp_path / "no-input"), KAGGLE_CONFIG_DIR=str(tmp_path / "no-kaggle"),
               DSB_KAGGLE_MOUNT=str(tmp_path / "no-mount"),
               HOME=str(tmp_path), PYTHONPATH=str(REPO_ROOT), CUDA_VISIBLE_DEVICES="-1")
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "pipeline.run_all", "--profile", "demo", "--tiny",
           "--solutions", "unet,maskrcnn-mobilenet", "--folds", "2", "--jobs", "2",
           "--work", str(work)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "synthetic" in proc.stdout
    assert "unet x2 (pixel" in proc.stdout  # test folds merged by prob averaging + the U-Net watershed
    subs = list((work / "submissions").glob("*.csv"))
    assert len(subs) == 1
    test_ids = sorted(p.name for p in (next((work / "input-demo").iterdir()) / "stage1_test").iterdir())
    assert validate_submission(subs[0], expected_ids=test_ids) == []
    table = pd.read_csv(work / "reports" / "scores.csv", index_col=0)
    assert {"unet", "maskrcnn-mobilenet", "ensemble"} <= set(table.index)
    assert table.loc["unet", "train_seconds"] > 0 and np.isfinite(table.loc["ensemble", "oof_score"])
    summary = (work / "reports" / "summary.md").read_text().splitlines()
    assert summary[2].startswith("**What ran:**") and summary[3].startswith("**Submission:** `")
    assert summary[4].startswith("**Next:**")
    assert (work / "reports" / "speed_accuracy.png").stat().st_size > 10_000  # a real picture
    import cv2

    plot = cv2.imread(str(work / "reports" / "speed_accuracy.png"))
    assert plot is not None and min(plot.shape[:2]) > 200 and len(np.unique(plot.reshape(-1, 3), axis=0)) > 20
    # progress: every task's end line counts the stage's tasks; every stage says what comes next
    assert "[train 4/4 done, " in proc.stdout and "[predict 4/4 done, " in proc.stdout
    assert "about " in proc.stdout.split("[train 1/4 done")[1].splitlines()[0]  # an estimate of the rest
    assert "since the start; next: predict, ensemble, submission, report)" in proc.stdout
    # running again resumes: nothing is retrained
    again = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "skip train" in again.stdout and "-> train" not in again.stdout


# ------------------------------------------------------------------ review fixes
def test_predict_stage_oof_needs_the_folds_marker_and_fresh_thresholds(tmp_path, monkeypatch):
    from common.predictions import write_folder_summary

    ctx = make_ctx(tmp_path, folds=[0, 1])
    old = time.time() - 100
    lab = paint(box(2, 12, 2, 12))
    oof = ctx.ws.predictions_dir("unet", "oof")
    write_folder(oof, {f"t{i}": (lab, np.ones(1), None) for i in range(4)})
    for k in (0, 1):
        run = ctx.ws.run_dir(f"unet-fold{k}")
        run.mkdir(parents=True)
        (run / "train_summary.json").write_text("{}")
        os.utime(run / "train_summary.json", (old, old))
        write_folder(ctx.ws.predictions_dir("unet", f"test_fold{k}"), {"s1": (lab, np.ones(1), None)})
    write_folder_summary(oof, {"n_images": 2, "seconds": 1.0}, fold=1)  # fold 0 has no marker
    tasks = []
    monkeypatch.setattr(stages, "run_tasks", fake_runner(tasks))
    stages.predict_stage(ctx)
    assert [t.name for t in tasks] == ["predict oof+test unet-fold0"]
    tasks.clear()
    write_folder_summary(oof, {"n_images": 2, "seconds": 1.0}, fold=0)
    for i in range(4):  # the re-run rewrites fold 0's images and its test folder
        write_folder(oof, {f"t{i}": (lab, np.ones(1), None)})
    write_folder(ctx.ws.predictions_dir("unet", "test_fold0"), {"s1": (lab, np.ones(1), None)})
    stages.predict_stage(ctx)
    assert tasks == []
    # a tuning U-Net run also needs thresholds.json newer than its training
    run1 = ctx.ws.run_dir("unet-fold1")
    (run1 / "config.yaml").write_text("post:\n  tune: true\n")
    stages.predict_stage(ctx)
    assert [t.name for t in tasks] == ["predict oof+test unet-fold1"]
    tasks.clear()
    (run1 / "thresholds.json").write_text("{}")
    write_folder(ctx.ws.predictions_dir("unet", "test_fold1"), {"s1": (lab, np.ones(1), None)})
    stages.predict_stage(ctx)
    assert tasks == []
    (run1 / "config.yaml").write_text("post:\n  tune: false\n")
    os.utime(run1 / "thresholds.json", (old - 10, old - 10))
    stages.predict_stage(ctx)
    assert tasks == []  # not tuned: an old thresholds.json does not matter


def test_force_redoes_folds_only_when_implied_and_the_hint(tmp_path):
    from pipeline.run_all import force_folds

    assert force_folds(True, None, ("train", "predict"))
    assert not force_folds(True, "train,predict", ("train", "predict"))
    assert force_folds(True, "folds,train", ("folds", "train"))
    assert not force_folds(False, None, ())
    ctx = make_ctx(tmp_path)
    ctx.ws.root.mkdir(parents=True)
    ctx.folds_df.assign(image_id=["x0", "x1", "x2", "x3"]).to_csv(ctx.ws.folds_csv, index=False)
    with pytest.raises(PipelineError, match="--force and without --stages"):
        stages.folds_stage(ctx)


def test_report_speed_sums_every_fold_summary(tmp_path):
    from common.predictions import write_folder_summary
    from pipeline.report import _sum_summaries

    oof = tmp_path / "oof"
    oof.mkdir()
    (oof / "_summary.json").write_text(json.dumps({"n_images": 100, "seconds": 1.0}))  # stale, old style
    write_folder_summary(oof, {"n_images": 2, "seconds": 4.0}, fold=0)
    write_folder_summary(oof, {"n_images": 3, "seconds": 1.0}, fold=1)
    test = tmp_path / "test_fold0"
    test.mkdir()
    write_folder_summary(test, {"n_images": 5, "seconds": 5.0})
    assert _sum_summaries([oof]) == (5, 5.0)
    assert _sum_summaries([oof, test]) == (10, 10.0)


def test_every_set_item_is_checked_before_any_work():
    from common.config import ConfigError
    from pipeline.overrides import check_sets

    specs = parse_solutions("unet,maskrcnn-mobilenet", "demo")
    ens = REPO_ROOT / "ensemble" / "configs" / "demo.yaml"
    check_sets(["unet:train.epochs=1", "maskrcnn:train.heads_epochs=1", "ensemble:vote.min_votes=1"],
               specs, "demo", 2, True, ens)
    for items, match in ((["train.epochs=1"], "maskrcnn-mobilenet.*epochs"),  # meaningless for one
                         (["unte:train.epochs=1"], "unknown target 'unte'"),
                         (["noequals"], "expected"),
                         (["unet:train.epochs=abc"], "unet"),
                         (["unet:train.epochs=[1"], "not valid YAML"),
                         (["ensemble:vote.nope=1"], "ensemble")):
        with pytest.raises(ConfigError, match=match):
            check_sets(items, specs, "demo", 2, False, ens)


@pytest.mark.parametrize("lo, hi", [(0.31, 0.62), (0.2, 450.0), (120.0, 9000.0)])
def test_log_axes_have_plain_tick_labels(lo, hi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.plots import _plain_log_ticks

    fig, ax = plt.subplots()
    ax.scatter([lo, hi], [0, 1])
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert 3 <= len(labels) <= 8, labels
    assert all(float(t) > 0 and "10^" not in t and "\\times" not in t for t in labels), labels
