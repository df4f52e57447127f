"""bench/bench_normalise.py --combine: variants pooled over folds, paired per image."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from common.paths import REPO_ROOT
from common.predictions import save_prediction
from tests.test_ensemble import H, W, box, paint, write_dsb

sys.path.insert(0, str(REPO_ROOT))
from bench import bench_normalise  # noqa: E402

IDS = ["t0", "t1", "t2", "t3"]


def test_combine_pairs_the_variants_on_the_listed_held_out_images(tmp_path):
    truth = {i: paint(box(2, 12, 2, 12), box(16, 28, 18, 30)) for i in IDS}
    data, work = tmp_path / "data", tmp_path / "work"
    write_dsb(data, truth, {})
    for variant, misses in (("a", set()), ("b", {"t1", "t3"})):
        root = work / variant / "split-group"
        pd.DataFrame({"image_id": IDS, "fold": [0, 0, 1, 1], "cluster": "fluorescence",
                      "group": ["g0", "g0", "g1", "g1"]}).to_csv(root.mkdir(parents=True) or root / "folds_group.csv",
                                                                  index=False)
        for i in IDS:
            labels = np.zeros((H, W), np.int32) if i in misses else truth[i]
            save_prediction(root / "predictions" / "unet" / "oof" / f"{i}.npz", labels,
                            np.ones(int(labels.max()), np.float32))
    (work / "a" / "split-group" / "predictions" / "unet" / "oof" / "t2.npz").unlink()  # not listed: not needed
    listed = tmp_path / "ids.txt"
    listed.write_text("t0\nt1\nt3\n")
    args = ["--work", str(work), "--data", str(data), "--combine", "--folds", "0", "1", "--ids", str(listed),
            "--variants", "a", "b", "--out", str(tmp_path / "out")]
    assert bench_normalise.main(args) == 0
    record = json.loads((tmp_path / "out" / "combined.json").read_text())
    assert sorted(record["per_image"]) == ["t0", "t1", "t3"]
    assert record["per_image"]["t1"] == {"a": 1.0, "b": 0.0}
    assert "-0.667 ± 0.333" in (tmp_path / "out" / "combined.md").read_text()
    with pytest.raises(SystemExit, match="t2.npz"):  # without the list every held-out image is needed
        bench_normalise.main([a for a in args if a not in ("--ids", str(listed))])
