"""bench/bench_gap.py: the stratified − group gap over the images both splits scored."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from common.data import DataError
from common.paths import REPO_ROOT
from common.predictions import save_prediction
from tests.test_ensemble import H, W, box, paint, write_dsb

sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_gap  # noqa: E402

IDS = ["t0", "t1", "t2", "t3"]


def test_the_gap_is_paired_over_the_images_both_splits_scored(tmp_path):
    truth = {i: paint(box(2, 12, 2, 12), box(16, 28, 18, 30)) for i in IDS}
    data = tmp_path / "data"
    write_dsb(data, truth, {})
    folds = tmp_path / "folds_group.csv"
    pd.DataFrame({"image_id": IDS, "fold": [0, 0, 1, 1], "cluster": ["fluorescence", "fluorescence",
                                                                   "histology", "histology"],
                  "group": ["a", "a", "b", "b"]}).to_csv(folds, index=False)
    strat, group = tmp_path / "strat", tmp_path / "group"
    empty = np.zeros((H, W), np.int32)
    for i in ("t0", "t1", "t2"):  # the stratified networks find everything
        save_prediction(strat / f"{i}.npz", truth[i], np.ones(2, np.float32))
    save_prediction(group / "t0.npz", truth["t0"], np.ones(2, np.float32))
    save_prediction(group / "t1.npz", empty, np.zeros(0, np.float32))  # misses all: score 0
    save_prediction(group / "t3.npz", truth["t3"], np.ones(2, np.float32))  # no stratified twin
    stored = tmp_path / "combined.json"
    stored.write_text(json.dumps({"per_image": {"t2": {"c30": 0.5, "other": 0.1}}}))
    args = ["--data", str(data), "--group-folds", str(folds), "--stratified", f"m={strat}",
            "--group", f"m={group}", "--group", f"m={stored}:c30", "--out", str(tmp_path / "out")]
    assert bench_gap.main(args) == 0
    record = json.loads((tmp_path / "out" / "gap.json").read_text())["models"]["m"]["per_image"]
    assert sorted(record) == ["t0", "t1", "t2"]  # t3: group only
    assert record["t1"] == {"stratified": 1.0, "group": 0.0} and record["t2"]["group"] == 0.5
    text = (tmp_path / "out" / "gap.md").read_text()
    assert "+0.500 ± 0.289" in text  # gaps 0, 1, 0.5
    assert "+0.500 ± 0.500" in text and "+0.500 (n=1)" in text  # fold 0 (t0, t1), fold 1 (t2)
    assert "nan" not in text
    with pytest.raises(SystemExit, match="t0 of 'm' is in two sources"):
        bench_gap.main([*args, "--group", f"m={strat}"])
    with pytest.raises(DataError, match="has no scores under 'gone'"):
        bench_gap.main([*args[:-4], "--group", f"m={stored}:gone", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="no model has both"):
        bench_gap.main(["--data", str(data), "--group-folds", str(folds), "--stratified", f"a={strat}",
                        "--group", f"b={group}", "--out", str(tmp_path / "x")])
