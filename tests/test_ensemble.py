"""Ensemble: instance voting, overlap resolution, pixel averaging, merging, submissions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from common.io import TEMP_MARK
from common.paths import REPO_ROOT, Workspace
from common.predictions import load_prediction, save_prediction
from common.submission import SubmissionError, read_submission, validate_submission
from ensemble import __main__ as cli
from ensemble.config import EnsembleConfig, FoldMergeConfig, SourceConfig, VoteConfig
from ensemble.merge import merge_split
from ensemble.pixel import average_probs, merge_params, pixel_merge
from ensemble.run import make_submission, run_ensemble
from ensemble.vote import VoteParams, pair_iou, resolve_overlaps, vote_instances

H = W = 32


def box(y0, y1, x0, x1, shape=(H, W)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def paint(*masks):
    lab = np.zeros(masks[0].shape, np.int32)
    for k, m in enumerate(masks, 1):
        lab[m & (lab == 0)] = k
    return lab


# ------------------------------------------------------------------ instance voting
def test_pair_iou_sparse():
    a = paint(box(0, 10, 0, 10), box(20, 30, 20, 30))
    b = paint(box(0, 10, 5, 15))
    ia, ib, iou = pair_iou(a, b)
    assert ia.tolist() == [1] and ib.tolist() == [1]
    assert iou[0] == pytest.approx(50 / 150)


def test_vote_majority_keeps_two_of_three_drops_one_of_three():
    # A: all three sources, shifted by a pixel; C: sources 0 and 1; B: only source 2
    a0, a1, a2 = box(2, 12, 2, 12), box(3, 13, 2, 12), box(2, 12, 3, 13)
    c0, c1 = box(20, 28, 2, 10), box(20, 28, 3, 11)
    b2 = box(20, 28, 20, 28)
    labels = [paint(a0, c0), paint(c1, a1), paint(a2, b2)]
    scores = [np.array([0.9, 0.8]), np.array([0.4, 0.6]), np.array([0.3, 0.95])]
    out, out_scores = vote_instances(labels, scores, params=VoteParams(min_votes=2))
    assert out.dtype == np.int32 and out.max() == 2
    # B (only source 2) is dropped
    assert not (out[b2] > 0).any()
    a_id = int(np.median(out[5:9, 5:9]))
    c_id = int(np.median(out[22:26, 5:8]))
    assert {a_id, c_id} == {1, 2}
    # fused A = pixels covered by >= 2 of the 3 members (half the weight is 1.5)
    np.testing.assert_array_equal(out == a_id, (a0.astype(int) + a1 + a2) >= 2)
    # fused C with two members = pixels holding >= half of their weight = the union
    np.testing.assert_array_equal(out == c_id, c0 | c1)
    # scores are the members' mean; labels are in descending score order
    assert out_scores[a_id - 1] == pytest.approx(np.mean([0.9, 0.6, 0.3]))
    assert out_scores[c_id - 1] == pytest.approx(np.mean([0.8, 0.4]))
    assert out_scores[0] >= out_scores[1]


def test_vote_min_votes_one_keeps_singletons_and_weights_count():
    labels = [paint(box(2, 12, 2, 12)), paint(box(20, 30, 20, 30)), np.zeros((H, W), np.int32)]
    scores = [np.array([0.5]), np.array([0.7]), np.zeros(0)]
    out, sc = vote_instances(labels, scores, params=VoteParams(min_votes=1))
    assert out.max() == 2 and sc.tolist() == pytest.approx([0.7, 0.5])
    # weighted vote fraction: source 0 holds half the weight -> its lone instance stays
    out, sc = vote_instances(labels, scores, weights=[2, 1, 1],
                             params=VoteParams(min_votes=1, min_fraction=0.5))
    assert out.max() == 1 and out[5, 5] == 1 and sc.tolist() == pytest.approx([0.5])


def test_overlap_resolution_goes_to_higher_score_and_min_size():
    # two sources, partially overlapping instances (IoU < 0.5): two clusters
    lo, hi = box(0, 10, 0, 10), box(0, 10, 6, 16)
    tiny = box(30, 32, 30, 32)
    labels = [paint(lo, tiny), paint(hi)]
    out, sc = vote_instances(labels, [np.array([0.2, 0.9]), np.array([0.8])],
                             params=VoteParams(min_votes=1, min_size=5))
    assert sc.tolist() == pytest.approx([0.8, 0.2])  # tiny (4 px) dropped
    assert (out[hi] == 1).all()                      # contested pixels -> higher score
    assert (out[lo & ~hi] == 2).all()
    assert not out[tiny].any()
    # same through resolve_overlaps directly
    pix = np.concatenate([np.flatnonzero(lo), np.flatnonzero(hi)])
    inst = np.concatenate([np.zeros(lo.sum(), int), np.ones(hi.sum(), int)])
    lab, s = resolve_overlaps(pix, inst, np.array([0.9, 0.1]), (H, W))
    assert (lab[lo] == 1).all() and s.tolist() == pytest.approx([0.9, 0.1])


def test_vote_empty_sources():
    z = np.zeros((H, W), np.int32)
    out, sc = vote_instances([z, z], [np.zeros(0), np.zeros(0)], params=VoteParams(min_votes=2))
    assert out.shape == (H, W) and out.max() == 0 and sc.size == 0


# ------------------------------------------------------------------ pixel level
def stub_postprocess(prob, params):
    """Threshold channel 0, connected components; score = mean prob inside."""
    n, lab = cv2.connectedComponents((prob[..., 0] > params["threshold"]).astype(np.uint8))
    lab = lab.astype(np.int32)
    sums = np.bincount(lab.ravel(), weights=prob[..., 0].ravel(), minlength=n)
    area = np.bincount(lab.ravel(), minlength=n)
    return lab, (sums[1:] / np.maximum(area[1:], 1)).astype(np.float32)


def test_average_probs_weighted_and_shape_check():
    a, b = np.zeros((4, 4, 2), np.float32), np.ones((4, 4, 2), np.float32)
    np.testing.assert_allclose(average_probs([a, b], [1, 3]), 0.75)
    with pytest.raises(ValueError, match="shape"):
        average_probs([a, np.zeros((4, 4, 3))])
    assert merge_params([{"t": 0.4, "k": 3, "m": "x"}, {"t": 0.6, "k": 4, "m": "y"}]) == \
        {"t": pytest.approx(0.5), "k": 4, "m": "x"}
    # maps of other channels (a U-Net with the touch map beside one without) are not averaged
    three, four = ["body", "border", "centre"], ["body", "border", "centre", "touch"]
    assert merge_params([{"channels": three}, {"channels": list(three)}]) == {"channels": three}
    with pytest.raises(ValueError, match="differ in channels"):
        merge_params([{"channels": three}, {"channels": four}])


def test_pixel_merge_averages_before_watershed():
    p0 = np.zeros((H, W, 1), np.float32)
    p1 = np.zeros((H, W, 1), np.float32)
    p0[box(2, 12, 2, 12)] = 0.9
    p1[box(2, 12, 2, 12)] = 0.3          # mean 0.6 > 0.5: kept
    p0[box(20, 30, 20, 30)] = 0.8        # mean 0.4: gone
    lab, sc = pixel_merge([p0, p1], [1, 1], {"threshold": 0.5}, stub_postprocess)
    assert lab.max() == 1 and (lab == 1).sum() == 100 and sc[0] == pytest.approx(0.6)


def test_pixel_merge_with_the_shared_postprocess():
    """The real ``common.instances.probs_to_instances``."""
    p0 = np.zeros((H, W, 1), np.float32)
    p1 = np.zeros((H, W, 1), np.float32)
    p0[box(2, 12, 2, 12)], p1[box(2, 12, 2, 12)] = 0.9, 0.3
    p0[box(20, 30, 20, 30)] = 0.8
    params = {"method": "cc", "channels": ["body"], "mask_threshold": 0.5, "min_area": 1,
              "_oof_score": 0.1}
    lab, sc = pixel_merge([p0, p1], [1, 1], params)
    assert lab.max() == 1 and (lab == 1).sum() == 100 and sc[0] == pytest.approx(0.6)


# ------------------------------------------------------------------ merging folders
def write_folder(folder: Path, preds: dict, run: str | None = None):
    for image_id, (labels, scores, prob) in preds.items():
        save_prediction(folder / f"{image_id}.npz", labels, scores, prob=prob)
    summary = {"n_images": len(preds), "seconds": 2.0, "images_per_s": len(preds) / 2.0,
               "device": "cpu", "run": run}
    (folder / "_summary.json").write_text(json.dumps(summary))


def unet_workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "work", tmp_path / "data")
    for k, value in enumerate((0.9, 0.3)):
        prob = np.zeros((H, W, 1), np.float32)
        prob[box(2, 12, 2, 12)] = value
        lab = paint(box(2, 12, 2, 12)) if value > 0.5 else np.zeros((H, W), np.int32)
        write_folder(ws.predictions_dir("unet", f"test_fold{k}"),
                     {"img": (lab, np.ones(lab.max()), prob)}, run=f"unet-fold{k}")
        run = ws.run_dir(f"unet-fold{k}")
        run.mkdir(parents=True)
        (run / "thresholds.json").write_text(json.dumps({"threshold": 0.5}))
    return ws


def test_merge_split_pixel_mode_resume_and_force(tmp_path):
    ws = unet_workspace(tmp_path)
    cfg = EnsembleConfig(sources=[SourceConfig(solution="unet")])
    logs = []
    s1 = merge_split(cfg, ws, "test", postprocess=stub_postprocess, log=logs.append)
    out = ws.predictions_dir("ensemble", "test")
    pred = load_prediction(out / "img.npz")
    assert s1["n_images"] == 1 and pred.labels.max() == 1
    assert pred.scores[0] == pytest.approx(0.6, abs=1e-3)  # mean of 0.9 and 0.3: prob maps were averaged
    assert "pixel" in logs[-1]
    s2 = merge_split(cfg, ws, "test", postprocess=stub_postprocess, log=logs.append)
    assert s2.get("skipped") is True
    (out / f".other.npz{TEMP_MARK}1").write_bytes(b"half")  # a killed merge's temp file
    s3 = merge_split(cfg, ws, "test", postprocess=stub_postprocess, force=True,
                     backup_root=tmp_path / "bak", log=logs.append)
    assert not s3.get("skipped")
    assert list((tmp_path / "bak").rglob("img.npz")), "old output moved aside, not deleted"
    assert not list(tmp_path.rglob(f"*{TEMP_MARK}*")), "temp files are not backed up"


def test_merge_split_vote_mode_without_prob(tmp_path):
    ws = Workspace(tmp_path / "work", tmp_path / "data")
    for k in range(3):
        lab = paint(box(2, 12, 2, 12)) if k < 2 else np.zeros((H, W), np.int32)
        write_folder(ws.predictions_dir("maskrcnn-mobilenet", f"test_fold{k}"),
                     {"img": (lab, np.full(lab.max(), 0.5), None)})
    cfg = EnsembleConfig(sources=[SourceConfig(solution="maskrcnn-mobilenet")],
                         folds=FoldMergeConfig(min_fraction=0.6))
    merge_split(cfg, ws, "test", log=lambda _: None)
    pred = load_prediction(ws.predictions_dir("ensemble", "test") / "img.npz")
    assert pred.labels.max() == 1  # 2 of 3 folds > 0.6 of the weight


# ------------------------------------------------------------------ scoring + submission
def write_dsb(data: Path, train: dict, test: dict):
    """Tiny DSB layout: train images with masks, test images + stage1_solution.csv."""
    from common.rle import labels_to_rles

    rows = []
    for split, items in (("stage1_train", train), ("stage1_test", test)):
        for image_id, labels in items.items():
            img_dir = data / split / image_id / "images"
            img_dir.mkdir(parents=True)
            cv2.imwrite(str(img_dir / f"{image_id}.png"), ((labels > 0) * 200).astype(np.uint8))
            if split == "stage1_train":
                (data / split / image_id / "masks").mkdir()
                for k in range(1, labels.max() + 1):
                    cv2.imwrite(str(data / split / image_id / "masks" / f"m{k}.png"),
                                ((labels == k) * 255).astype(np.uint8))
            else:
                for rle in labels_to_rles(labels) or [""]:
                    rows.append({"ImageId": image_id, "EncodedPixels": rle, "Height": H, "Width": W,
                                 "Usage": "Public"})
    pd.DataFrame(rows).to_csv(data / "stage1_solution.csv", index=False)


def test_run_ensemble_scores_sources_and_cli_submission(tmp_path, capsys):
    a, b = box(2, 12, 2, 12), box(20, 30, 20, 30)
    truth = paint(a, b)
    data, work = tmp_path / "data", tmp_path / "work"
    write_dsb(data, {"t1": truth}, {"s1": truth, "s2": np.zeros((H, W), np.int32)})
    ws = Workspace(work, data)
    # source x finds a and b, y finds a only, z finds a and a false positive
    fp = box(14, 18, 14, 18)
    srcs = {"x": paint(a, b), "y": paint(a), "z": paint(a, fp)}
    for name, lab in srcs.items():
        write_folder(ws.predictions_dir(name, "oof"), {"t1": (lab, np.full(lab.max(), 0.5), None)})
        write_folder(ws.predictions_dir(name, "test_fold0"),
                     {"s1": (lab, np.full(lab.max(), 0.5), None),
                      "s2": (np.zeros((H, W), np.int32), np.zeros(0), None)})
    cfg = EnsembleConfig(name="e", sources=[SourceConfig(solution=n) for n in srcs],
                         vote=VoteConfig(min_votes=2, min_size=0))
    tables = run_ensemble(cfg, ws, data, ("oof", "test"), log=lambda _: None)
    oof = tables["oof"]
    assert list(oof.index) == ["x", "y", "z", "ensemble"]
    assert oof.loc["x", "score"] == pytest.approx(1.0)
    assert oof.loc["y", "score"] == pytest.approx(0.5)
    assert oof.loc["ensemble", "score"] == pytest.approx(0.5)  # only a has 2 votes
    assert tables["test"].loc["ensemble", "n_images"] == 2
    # submissions: validated, never overwritten
    pred_dir = ws.predictions_dir("ensemble", "test")
    p1 = make_submission(ws, data, pred_dir, "e", log=lambda _: None)
    first = p1.read_bytes()
    # the same submission again (a run killed after writing it, before recording it):
    # the file is reused, not copied to e-2.csv, and not rewritten
    os.utime(p1, (0, 0))
    said = []
    assert make_submission(ws, data, pred_dir, "e", log=said.append) == p1
    assert p1.stat().st_mtime == 0 and "already holds this submission" in said[-2]
    assert sorted(f.name for f in ws.submissions_dir.iterdir()) == ["e.csv"]
    # other predictions: the next free name; the first file is kept as it was
    write_folder(pred_dir, {"s1": (paint(a, b), np.full(2, 0.5), None)})
    p2 = make_submission(ws, data, pred_dir, "e", log=lambda _: None)
    assert p2.name == "e-2.csv" and p1.read_bytes() == first != p2.read_bytes()
    sub = read_submission(p1)
    assert set(sub.ImageId) == {"s1", "s2"} and (sub.EncodedPixels == "").sum() == 1
    assert validate_submission(p1, expected_ids=["s1", "s2"]) == []
    # a missing test prediction is an error naming the folder
    (pred_dir / "s2.npz").unlink()
    with pytest.raises(SubmissionError, match="no prediction"):
        make_submission(ws, data, pred_dir, "e", log=lambda _: None)
    # the CLI end to end (--force rebuilds the merged folders)
    rc = cli.main(["--config", str(Path(cli.__file__).parent / "configs" / "demo.yaml"),
                   "--solutions", "x,y,z", "--work", str(work), "--data", str(data),
                   "--force", "--name", "cli"])
    out = capsys.readouterr().out
    assert rc == 0 and "ensemble" in out and (work / "submissions" / "cli.csv").is_file()
    # --force again: the old submission goes to backup/, never overwritten in place
    first = (work / "submissions" / "cli.csv").read_text()
    rc = cli.main(["--config", str(Path(cli.__file__).parent / "configs" / "demo.yaml"),
                   "--solutions", "x,y,z", "--work", str(work), "--data", str(data),
                   "--force", "--name", "cli"])
    backups = list((work / "backup").rglob("cli.csv"))
    assert rc == 0 and len(backups) == 1 and backups[0].read_text() == first
    # a work folder in use by another process: one line, exit 2
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from common.locks import folder_lock\n"
                               "with folder_lock(sys.argv[1], 'pipeline'):\n print('held', flush=True); time.sleep(60)",
                               str(work.resolve())], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        rc = cli.main(["--work", str(work), "--data", str(data), "--name", "busy"])
        err = capsys.readouterr().err
        assert rc == 2 and f"PID {holder.pid}" in err and len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------------------ review fixes
def test_oof_pixel_merge_uses_each_images_own_fold_params(tmp_path):
    """OOF image a (fold 0) is post-processed with unet-fold0's thresholds, b with fold 1's."""
    from common.predictions import write_folder_summary

    ws = Workspace(tmp_path / "work", tmp_path / "data")
    ws.root.mkdir(parents=True)
    pd.DataFrame({"image_id": ["a", "b"], "fold": [0, 1], "cluster": "x"}).to_csv(ws.folds_csv, index=False)
    oof = ws.predictions_dir("unet", "oof")
    prob = np.zeros((H, W, 1), np.float32)
    prob[box(2, 12, 2, 12)] = 0.3
    for k, (image_id, threshold) in enumerate((("a", 0.5), ("b", 0.2))):
        save_prediction(oof / f"{image_id}.npz", np.zeros((H, W), np.int32), np.zeros(0), prob=prob)
        run = ws.run_dir(f"unet-fold{k}")
        run.mkdir(parents=True)
        (run / "thresholds.json").write_text(json.dumps({"threshold": threshold}))
        write_folder_summary(oof, {"n_images": 1, "seconds": 1.0, "run": str(run)}, fold=k)
    cfg = EnsembleConfig(sources=[SourceConfig(solution="unet")], folds=FoldMergeConfig(mode="pixel"))
    out = ws.predictions_dir("ensemble", "oof")
    for per_fold in (True, False):  # per-fold summaries, then an old single _summary.json
        if not per_fold:
            for p in oof.glob("_summary_fold*.json"):
                p.unlink()
            (oof / "_summary.json").write_text(json.dumps({"run": "unet-fold1"}))
        merge_split(cfg, ws, "oof", postprocess=stub_postprocess, force=True,
                    backup_root=tmp_path / "bak", log=lambda _: None)
        assert load_prediction(out / "a.npz").labels.max() == 0  # 0.3 < fold 0's 0.5
        assert load_prediction(out / "b.npz").labels.max() == 1  # 0.3 > fold 1's 0.2


def test_merge_only_the_selected_folds_and_strict_json(tmp_path):
    ws = unet_workspace(tmp_path)
    stray = ws.predictions_dir("unet", "test_fold7")  # left over from another run
    write_folder(stray, {"img": (np.zeros((H, W), np.int32), np.zeros(0), np.ones((H, W, 1), np.float32))},
                 run="unet-fold7")
    cfg = EnsembleConfig(sources=[SourceConfig(solution="unet")])
    s = merge_split(cfg, ws, "test", postprocess=stub_postprocess, folds=[0, 1], log=lambda _: None)
    assert [Path(f["path"]).name for f in s["inputs"]["units"][0]["folders"]] == ["test_fold0", "test_fold1"]
    assert load_prediction(ws.predictions_dir("ensemble", "test") / "img.npz").labels.max() == 1
    from common.io import write_json
    path = write_json(tmp_path / "x.json", {"v": float("inf"), "w": [float("nan")]})
    assert json.loads(path.read_text()) == {"v": None, "w": [None]}


def test_scoring_counts_missing_predictions_as_empty(tmp_path):
    from ensemble.evaluate import (
        ScoreCache,
        Truth,
        n_missing,
        score_folder,
        score_folders,
    )

    data = tmp_path / "data"
    truth = paint(box(2, 12, 2, 12))
    write_dsb(data, {"t1": truth, "t2": truth}, {"s1": truth})
    folder = tmp_path / "pred"
    write_folder(folder, {"t1": (truth, np.ones(1), None)})
    t = Truth(data, "stage1_train")
    s = score_folder(folder, t)
    assert s.size == 2 and n_missing(s) == 1 and s.mean() == pytest.approx(0.5)
    assert score_folder(folder, t, ids=["t1"]).mean() == pytest.approx(1.0)
    cache = ScoreCache(tmp_path / "cache.json")
    for _ in range(2):  # computed, then read from the cache
        row = score_folders({"x": folder}, t, cache).loc["x"]
        assert row["n_images"] == 1 and row["missing"] == 1 and row["coverage"] == pytest.approx(0.5)
        assert row["score"] == pytest.approx(0.5)


def test_pixel_params_come_from_the_folder_summary_and_are_never_guessed(tmp_path):
    from common.predictions import write_folder_summary
    from ensemble.pixel import load_threshold_params

    folder = tmp_path / "predictions" / "unet" / "test_fold0"
    folder.mkdir(parents=True)
    run = tmp_path / "runs" / "unet-fold0"
    run.mkdir(parents=True)
    write_folder_summary(folder, {"n_images": 1, "run": str(run)})
    with pytest.raises(FileNotFoundError, match="_summary.json.*params"):
        load_threshold_params(folder, tmp_path)
    (run / "thresholds.json").write_text(json.dumps({"mask_threshold": 0.4}))
    assert load_threshold_params(folder, tmp_path) == {"mask_threshold": 0.4}  # older folders
    write_folder_summary(folder, {"n_images": 1, "run": str(run), "params": {"mask_threshold": 0.6}})
    assert load_threshold_params(folder, tmp_path) == {"mask_threshold": 0.6}  # recorded wins
