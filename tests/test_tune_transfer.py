"""bench/bench_tune_transfer.py: thresholds tuned on other folds' images, applied to each fold."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from common.paths import REPO_ROOT
from common.predictions import load_prediction, save_prediction
from tests.test_ensemble import H, W, box, paint, write_dsb

sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_tune_transfer as tt  # noqa: E402

IDS = ["t0", "t1", "t2", "t3"]
FOLD = {"t0": 0, "t1": 0, "t2": 1, "t3": 1}
#: fold 0's network is unsure (body 0.45 on its nuclei), fold 1's sure (0.9)
LEVEL = {0: 0.45, 1: 0.9}
START = {"mask_threshold": 0.5, "min_area": 1, "channels": ["body"], "method": "cc"}


def _case():
    truth = {i: paint(box(2, 12, 2, 12), box(16, 28, 18, 30)) for i in IDS}
    probs = {}
    for i in IDS:
        prob = np.zeros((H, W, 1), np.float32)
        prob[truth[i] > 0] = LEVEL[FOLD[i]]
        probs[i] = prob
    return truth, probs


@pytest.mark.parametrize("mode, fold0, fold1", [("cross", 0.5, 0.3), ("self", 0.3, 0.5)])
def test_each_fold_gets_the_thresholds_of_the_images_it_is_tuned_on(mode, fold0, fold1):
    truth, probs = _case()
    out = tt.transfer(probs, truth, FOLD, START, mode)
    # cross: fold 0 gets fold 1's (sure: the start is already perfect, kept) and stays blind,
    # fold 1 gets the first grid value below fold 0's 0.45 (0.3); self: each fold its own
    assert out[0]["params"]["mask_threshold"] == pytest.approx(fold0)
    assert out[1]["params"]["mask_threshold"] == pytest.approx(fold1)
    assert all(v["tuned_on"] == 2 for v in out.values())
    with pytest.raises(ValueError, match="mode"):
        tt.transfer(probs, truth, FOLD, START, "leak")


def test_main_relabels_into_a_new_folder_and_records_the_thresholds(tmp_path):
    truth, probs = _case()
    data = tmp_path / "data"
    write_dsb(data, truth, {})
    pred = tmp_path / "pred"
    for i in IDS:
        save_prediction(pred / f"{i}.npz", np.zeros((H, W), np.int32), np.zeros(0, np.float32), prob=probs[i])
    folds = tmp_path / "folds_group.csv"
    pd.DataFrame({"image_id": IDS, "fold": [FOLD[i] for i in IDS], "cluster": "fluorescence",
                  "group": [f"g{FOLD[i]}" for i in IDS]}).to_csv(folds, index=False)
    config = REPO_ROOT / "solutions" / "unet" / "configs" / "baseline.yaml"
    args = ["--pred-dir", str(pred), "--folds-csv", str(folds), "--config", str(config), "--data", str(data)]
    assert tt.main([*args, "--mode", "self", "--out-pred", str(tmp_path / "self")]) == 0
    for i in IDS:  # tuned on themselves, every image is found whole
        assert np.array_equal(load_prediction(tmp_path / "self" / f"{i}.npz").labels, truth[i])
        assert np.array_equal(load_prediction(tmp_path / "self" / f"{i}.npz").prob,
                              load_prediction(pred / f"{i}.npz").prob)  # the maps as stored
    record = json.loads((tmp_path / "self" / "tune_transfer.json").read_text())
    assert record["mode"] == "self" and record["folds"]["0"]["params"]["mask_threshold"] == pytest.approx(0.3)
    assert "bench/bench_tune_transfer.py" in record["command"] and record["images"] == 4
    assert record["grid"] == {"mask_threshold": [0.3, 0.4, 0.5, 0.6, 0.7], "min_area": [1, 5, 15, 30]}
    assert tt.main([*args, "--mode", "self", "--grid", "mask_threshold=0.2,0.4", "--out-pred", str(tmp_path / "g")]) == 0
    record = json.loads((tmp_path / "g" / "tune_transfer.json").read_text())
    assert record["grid"]["mask_threshold"] == [0.2, 0.4] and record["folds"]["0"]["params"]["mask_threshold"] == 0.2
    with pytest.raises(SystemExit, match="KEY=V1"):
        tt.main([*args, "--grid", "mask_threshold=low", "--out-pred", str(tmp_path / "g")])
    # fixed: no tuning, the config's params with the --set changes (fold 0's 0.45 maps vanish at 0.5)
    assert tt.main([*args, "--mode", "fixed", "--set", "mask_threshold=0.4", "--out-pred", str(tmp_path / "f")]) == 0
    record = json.loads((tmp_path / "f" / "tune_transfer.json").read_text())
    assert {record["folds"][k]["params"]["mask_threshold"] for k in "01"} == {0.4}
    assert all(np.array_equal(load_prediction(tmp_path / "f" / f"{i}.npz").labels, truth[i]) for i in IDS)
    assert tt.main([*args, "--mode", "fixed", "--out-pred", str(tmp_path / "f0")]) == 0
    assert load_prediction(tmp_path / "f0" / "t0.npz").labels.max() == 0
    with pytest.raises(SystemExit, match="--set KEY=V"):
        tt.main([*args, "--set", "mask_threshold=high", "--out-pred", str(tmp_path / "g")])
    save_prediction(pred / "t3.npz", truth["t3"], np.ones(2, np.float32))  # labels only
    with pytest.raises(SystemExit, match="t3.npz has no prob maps"):
        tt.main([*args, "--out-pred", str(tmp_path / "g")])
    with pytest.raises(SystemExit, match="must differ"):
        tt.main([*args, "--out-pred", str(pred)])
