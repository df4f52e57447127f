"""Per-image-type source weights in the ensemble (``by_type``) and ``python -m ensemble.by_type``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from common.config import ConfigError, load_config
from common.folds import save_folds
from common.paths import Workspace
from common.predictions import list_predictions, load_prediction
from ensemble.by_type import choose, crossfit_choice, main, type_table
from ensemble.config import EnsembleConfig, SourceConfig, VoteConfig
from ensemble.merge import EnsembleError, merge_split
from tests.test_ensemble import H, W, box, paint, write_dsb, write_folder

A, B = box(2, 12, 2, 12), box(20, 30, 20, 30)
FPS = (box(14, 18, 14, 18), box(2, 6, 20, 24), box(24, 28, 2, 6))  # false positives
FLUO, BRIGHT = ["f0", "f1", "f2", "f3"], ["b0", "b1", "b2", "b3"]


def _cfg(**kw) -> EnsembleConfig:
    kw.setdefault("vote", VoteConfig(min_votes=2, min_size=0))
    cfg = EnsembleConfig(name="e", sources=[SourceConfig(solution="x"), SourceConfig(solution="y")], **kw)
    cfg.validate()
    return cfg


def test_by_type_is_validated_and_follows_the_selected_solutions():
    cfg = _cfg(by_type={"brightfield": {"y": 1, "x": 0}})
    assert cfg.by_type == {"brightfield": {"y": 1.0, "x": 0.0}}
    for by_type, match in (({"phase": {"x": 1}}, "'phase' is not an image type"),
                           ({"histology": {"z": 1}}, "'z' is no source of this ensemble"),
                           ({"histology": {"x": -1}}, "a weight is a finite number >= 0"),
                           ({"histology": {"x": 0, "y": 0}}, "positive sum"),
                           ({"histology": {"x": float("nan")}}, "finite number"),
                           ({"histology": {}}, "expected a mapping")):
        with pytest.raises(ConfigError, match=match):
            _cfg(by_type=by_type)
    mine = {"histology": {"x": 1}}
    _cfg(by_type=mine)
    assert mine == {"histology": {"x": 1}} and isinstance(mine["histology"]["x"], int)  # left as it was
    with pytest.raises(ConfigError, match="1 source.* vote on this type but vote.min_votes=2"):
        _cfg(by_type={"histology": {"x": 0}}, clamp_min_votes=False)
    grouped = EnsembleConfig(sources=[SourceConfig(solution="x", pixel_group="u"),
                                      SourceConfig(solution="y", pixel_group="u"), SourceConfig(solution="z")],
                             by_type={"histology": {"group:u": 0.0}})
    grouped.validate()  # a pixel group is one unit, named group:<name>
    assert grouped.unit_weights() == {"group:u": 2.0, "z": 1.0}
    assert cfg.with_solutions(["x", "y"]).by_type == cfg.by_type
    assert cfg.with_solutions(["x"]).by_type == {}  # y alone on brightfield: gone with y


def test_load_config_reads_by_type(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("sources:\n  - {solution: x}\n  - {solution: y}\nby_type:\n  histology: {x: 0, y: 1}\n")
    assert load_config(EnsembleConfig, path).by_type == {"histology": {"x": 0.0, "y": 1.0}}


@pytest.fixture
def two_kinds(tmp_path):
    """Four fluorescence and four brightfield training images, each with nuclei A and B; source x
    finds both everywhere but adds three false positives on brightfield, source y finds A only."""
    data = tmp_path / "data"
    truth = paint(A, B)
    write_dsb(data, {i: truth for i in FLUO + BRIGHT}, {})
    for i in BRIGHT:  # gray on a bright background: image_type says brightfield
        cv2.imwrite(str(data / "stage1_train" / i / "images" / f"{i}.png"), 255 - ((truth > 0) * 200).astype(np.uint8))
    ws = Workspace(tmp_path / "work", data)
    x = {i: (paint(A, B, *FPS) if i in BRIGHT else paint(A, B)) for i in FLUO + BRIGHT}
    write_folder(ws.predictions_dir("x", "oof"), {i: (lab, np.full(lab.max(), 0.5), None) for i, lab in x.items()})
    write_folder(ws.predictions_dir("y", "oof"), {i: (paint(A), np.full(1, 0.5), None) for i in FLUO + BRIGHT})
    save_folds(pd.DataFrame({"image_id": FLUO + BRIGHT, "fold": [0, 1, 0, 1] * 2,
                             "cluster": ["fluorescence"] * 4 + ["brightfield"] * 4}), ws.folds_csv)
    return ws, data


def _merged(cfg: EnsembleConfig, ws: Workspace) -> dict[str, np.ndarray]:
    merge_split(cfg, ws, "oof", force=True, log=lambda _: None)
    return {i: load_prediction(p).labels > 0 for i, p in list_predictions(ws.predictions_dir("ensemble", "oof")).items()}


def test_merge_takes_each_types_weights(two_kinds):
    ws, _ = two_kinds
    cfg = _cfg(vote=VoteConfig(min_votes=1, min_fraction=0.0, min_size=0), by_type={"brightfield": {"x": 0.0}})
    merged = _merged(cfg, ws)
    for i in BRIGHT:  # y alone: A only (the plain vote's union would hold B and the false positives)
        np.testing.assert_array_equal(merged[i], paint(A) > 0)
    for i in FLUO:  # both vote with min_votes 1: the union, A and B
        np.testing.assert_array_equal(merged[i], paint(A, B) > 0)
    summary = json.loads((ws.predictions_dir("ensemble", "oof") / "_summary.json").read_text())
    assert summary["inputs"]["config"]["by_type"] == {"brightfield": {"x": 0.0}}  # a change re-merges
    # a source of weight 0 that by_type switches on votes on that type only
    only = EnsembleConfig(sources=[SourceConfig(solution="x"), SourceConfig(solution="y", weight=0.0)],
                          vote=VoteConfig(min_votes=1, min_fraction=0.0, min_size=0),
                          by_type={"brightfield": {"x": 0.0, "y": 1.0}})
    only.validate()
    merged = _merged(only, ws)
    assert all((merged[i] == (paint(A) > 0)).all() for i in BRIGHT)
    assert all((merged[i] == (paint(A, B) > 0)).all() for i in FLUO)  # x alone there


def test_min_votes_is_clamped_to_the_sources_voting_on_the_type(two_kinds):
    ws, _ = two_kinds
    write_folder(ws.predictions_dir("z", "oof"), {i: (paint(A), np.full(1, 0.5), None) for i in FLUO + BRIGHT})
    cfg = EnsembleConfig(sources=[SourceConfig(solution=n) for n in "xyz"],
                         vote=VoteConfig(min_votes=3, min_size=0), by_type={"brightfield": {"y": 0.0}})
    cfg.validate()
    merged = _merged(cfg, ws)
    for i in BRIGHT:  # x and z vote, min_votes 3 clamped to 2: A (both), not B (x only)
        np.testing.assert_array_equal(merged[i], paint(A) > 0)
    missing = EnsembleConfig(sources=[SourceConfig(solution="x"), SourceConfig(solution="gone")],
                             by_type={"histology": {"x": 0.0}})
    missing.validate()
    with pytest.raises(EnsembleError, match="by_type.histology: no source that votes on histology images has oof"):
        merge_split(missing, ws, "oof", log=lambda _: None)


def test_choose_and_crossfit_on_a_score_table():
    ids = [f"i{k}" for k in range(8)]
    scores = pd.DataFrame({"x": [0.9, 0.8, 0.9, 0.8, 0.1, 0.2, 0.1, 0.2], "y": [0.1] * 4 + [0.6, 0.7, 0.6, 0.7],
                           "ensemble": [0.85, 0.75, 0.85, 0.75, 0.3, 0.3, 0.3, 0.3]}, index=ids)
    types = pd.Series(["fluorescence"] * 4 + ["brightfield"] * 4, index=ids)
    folds = pd.Series([0, 1] * 4, index=ids)
    assert choose(scores, types, min_images=4) == {"fluorescence": "x", "brightfield": "y"}
    assert choose(scores, types, min_images=5) == {}  # too few images of each type
    picked, per_fold = crossfit_choice(scores, types, folds, min_images=2)
    assert per_fold[0] == {"fluorescence": "x", "brightfield": "y"}
    assert picked.tolist() == [0.9, 0.8, 0.9, 0.8, 0.6, 0.7, 0.6, 0.7]
    # the held-out fold never makes its own choice: on brightfield x beats y on fold 0 only, and
    # y wins over both folds (a choice on all folds would give fold 1 y's 0.7, not x's 0.25)
    scores.loc[["i5", "i7"], "x"] = 0.25  # fold 1's brightfield: x below the ensemble
    scores.loc[["i4", "i6"], "x"] = 0.8   # fold 0's: above y
    assert choose(scores, types, min_images=2)["brightfield"] == "y"
    picked, per_fold = crossfit_choice(scores, types, folds, min_images=2)
    assert per_fold[0]["brightfield"] == "y" and per_fold[1]["brightfield"] == "x"
    assert picked[["i4", "i6"]].tolist() == [0.6, 0.6] and picked[["i5", "i7"]].tolist() == [0.25, 0.25]
    table = type_table(scores, types)
    assert table.loc["brightfield", "y − ensemble"] == pytest.approx(0.35)
    assert table.loc["all", "images"] == 8 and table["images"].dtype == int


def test_cli_measures_the_choice_cross_fitted(two_kinds, capsys):
    ws, data = two_kinds
    (ws.root / "cfg.yaml").write_text("name: e\nsources:\n  - {solution: x}\n  - {solution: y}\n"
                                      "vote: {min_votes: 2, min_size: 0}\n")
    args = ["--config", str(ws.root / "cfg.yaml"), "--work", str(ws.root), "--data", str(data), "--min-images", "2"]
    with pytest.raises(FileNotFoundError, match="no merged OOF predictions"):
        main(args)
    merge_split(load_config(EnsembleConfig, ws.root / "cfg.yaml"), ws, "oof", log=lambda _: None)
    with pytest.raises(ConfigError, match="already has by_type weights"):
        main([*args, "--set", "by_type.histology.x=1"])
    (ws.predictions_dir("y", "oof") / "f0.npz").unlink()  # y did not predict f0: f0 is left out
    assert main(args) == 0
    record = json.loads((ws.reports_dir / "ensemble_by_type.json").read_text())
    # the vote keeps A only (2 votes, DSB 0.5): x alone scores 1 on fluorescence but 0.4 on
    # brightfield (3 false positives); y alone is the vote
    assert record["choice"] == {"fluorescence": "x"} and record["images"] == 7 and record["left_out"] == 1
    assert record["crossfit"]["by_type"] > record["crossfit"]["ensemble"]
    assert "fluorescence: {x: 1.0, y: 0.0}" in capsys.readouterr().out


def test_cli_reads_a_group_work_folder(two_kinds):
    """``--work WORK/split-group`` (or ``--work WORK --split-by group``) reads folds_group.csv."""
    ws, data = two_kinds
    group = Workspace.from_args(ws.root, data, "group")
    group.root.mkdir(parents=True)
    for name in ("predictions", "folds.csv"):
        (ws.root / name).rename(group.root / (name if name != "folds.csv" else group.folds_csv.name))
    (group.root / "cfg.yaml").write_text("name: e\nsources:\n  - {solution: x}\n  - {solution: y}\n"
                                         "vote: {min_votes: 2, min_size: 0}\n")
    cfg = load_config(EnsembleConfig, group.root / "cfg.yaml")
    merge_split(cfg, group, "oof", log=lambda _: None)
    for work in (["--work", str(group.root)], ["--work", str(ws.root), "--split-by", "group"]):
        assert main(["--config", str(group.root / "cfg.yaml"), *work, "--data", str(data), "--min-images", "2"]) == 0
        record = json.loads((group.reports_dir / "ensemble_by_type.json").read_text())
        assert record["choice"] == {"fluorescence": "x"} and record["images"] == 8
    with pytest.raises(ValueError, match="folds.csv: folds file is missing"):  # told stratified
        main(["--config", str(group.root / "cfg.yaml"), "--work", str(group.root), "--split-by", "stratified",
              "--data", str(data), "--min-images", "2"])


def test_ensemble_cli_scores_a_group_folds_images(two_kinds, capsys):
    """``python -m ensemble --work WORK/split-group --folds 0`` scores fold 0 of folds_group.csv."""
    from ensemble.__main__ import main as ensemble_main

    ws, data = two_kinds
    group = Workspace.from_args(ws.root, data, "group")
    group.root.mkdir(parents=True)
    (ws.root / "predictions").rename(group.root / "predictions")
    save_folds(pd.DataFrame({"image_id": FLUO + BRIGHT, "fold": [0, 0, 0, 1, 1, 1, 1, 1],
                             "cluster": ["fluorescence"] * 4 + ["brightfield"] * 4}), group.folds_csv)
    (group.root / "cfg.yaml").write_text("name: e\nsources:\n  - {solution: x}\n  - {solution: y}\n")
    args = ["--config", str(group.root / "cfg.yaml"), "--data", str(data), "--splits", "oof", "--folds", "0"]
    assert ensemble_main([*args, "--work", str(group.root)]) == 0
    assert "3 expected images" in capsys.readouterr().out  # fold 0 of folds_group.csv, not all 8
    assert ensemble_main([*args, "--work", str(ws.root), "--split-by", "group", "--force"]) == 0
    assert "3 expected images" in capsys.readouterr().out
