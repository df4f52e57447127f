"""bench/bench_magnify.py: magnified held-out images, scored per factor and prediction variant."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd
import pytest

from common.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_magnify as bm  # noqa: E402


def _labels() -> np.ndarray:
    lab = np.zeros((40, 60), np.int32)
    lab[5:15, 5:15] = 3          # 100 px
    lab[20:22, 30:32] = 7        # 4 px: gone when shrunk by 4
    return lab


def test_magnify_resizes_image_and_keeps_label_ids():
    image = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    lab = _labels()
    img2, lab2 = bm.magnify(image, lab, 2.0)
    assert img2.shape == (80, 120, 3) and img2.dtype == np.uint8 and lab2.shape == (80, 120)
    assert set(np.unique(lab2)) == {0, 3, 7}                       # nearest: no new ids
    assert (lab2 == 3).sum() == 400 and (lab2 == 7).sum() == 16     # areas x4
    same = bm.magnify(image, lab, 1.0)
    assert same[0] is image and same[1] is lab
    small = bm.magnify(image, lab, 0.25)[1]
    assert small.shape == (10, 15) and set(np.unique(small)) <= {0, 3, 7} and (small == 3).any()


def test_parse_variant():
    assert bm.parse_variant("off:") == ("off", [])
    assert bm.parse_variant("sn:a.b=1,c=x") == ("sn", ["a.b=1", "c=x"])
    assert bm.parse_variant("u:a=[2.0,1.5],b=3") == ("u", ["a=[2.0,1.5]", "b=3"])  # a list value keeps its commas
    with pytest.raises(argparse.ArgumentTypeError, match="NAME"):
        bm.parse_variant(":a=1")


def test_report_pairs_each_variant_with_the_first_per_factor_and_type():
    rows = []
    for v, bonus in (("off", 0.0), ("sn", 0.1)):
        for f in (1.0, 2.0):
            for i, base in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
                rows.append({"image_id": i, "factor": f, "variant": v, "seconds": 1.0,
                             "score": base - (0.2 if f == 2.0 else 0) + (bonus if f == 2.0 else 0),
                             "scale": 0.5 if (v == "sn" and f == 2.0) else 1.0})
    md = bm.report(pd.DataFrame(rows), ["off", "sn"], {"a": "fluorescence", "b": "fluorescence", "c": "histology"},
                   ["# t"])
    assert "| x1 | all (3) | 0.333 | 0.333 (+0.000 ± 0.000) |" in md
    assert "| x2 | all (3) | 0.133 | 0.233 (+0.100 ± 0.000) |" in md
    assert "| x2 | histology (1) | 0.000 | 0.100 |" in md           # one image: no error to show
    assert "| x2 | 1.00 s, 0/3 | 1.00 s, 3/3 |" in md


@pytest.mark.slow
@pytest.mark.backend
def test_main_scores_a_trained_run_on_magnified_images(synthetic_data_dir, tmp_path):
    from solutions.unet.train import main as train

    config = REPO_ROOT / "solutions" / "unet" / "configs" / "demo.yaml"
    work = tmp_path / "work"
    assert train(["--config", str(config), "--fold", "0", "--data", str(synthetic_data_dir), "--work", str(work),
                  "--verbose", "0", "--set", "train.epochs=1", "train.steps_per_epoch=1", "train.batch_size=2",
                  "data.crop_size=64", "model.base_filters=4", "model.depth=2", "post.tune=false"]) == 0
    ids = sorted(p.name for p in (synthetic_data_dir / "stage1_train").iterdir())[:2]
    (tmp_path / "ids.txt").write_text("# two\n" + "\n".join(ids) + "\n")
    out = tmp_path / "out"
    assert bm.main(["--run", str(work / "runs" / "unet-fold0"), "--data", str(synthetic_data_dir),
                    "--ids", str(tmp_path / "ids.txt"), "--factors", "1", "2", "--variant", "off:",
                    "--variant", "sn:predict.scale_norm.enabled=true,predict.scale_norm.tolerance=0",
                    "--out", str(out)]) == 0
    rows = pd.DataFrame(json.loads((out / "magnify.json").read_text())["rows"])
    assert len(rows) == 2 * 2 * 2 and set(rows["variant"]) == {"off", "sn"}
    assert rows["score"].between(0, 1).all() and (rows.loc[rows["variant"] == "off", "scale"] == 1.0).all()
    # sn selects the scale (watershed.yaml's estimate: multiscale): its certainty at scale 1
    # (mean |2 body - 1|) is kept; off selects nothing
    assert rows.loc[rows["variant"] == "sn", "certainty_1"].between(0, 1).all()
    assert rows.loc[rows["variant"] == "off", "certainty_1"].isna().all()
    assert "| x2 | all (2) |" in (out / "magnify.md").read_text()


@pytest.mark.backend
def test_maskrcnn_predictor_reports_the_scale_it_chose(monkeypatch):
    import solutions.maskrcnn.predict as mp
    from common.config import load_config
    from solutions.maskrcnn.config import MaskRCNNConfig
    from tests.test_maskrcnn_model import SizeSureModel

    cfg = load_config(MaskRCNNConfig, None, ["predict.scale_select.candidates=[1.0,0.5]"])
    model = SizeSureModel(lambda side: 0.95 if side <= 64 else 0.6)  # sure only of a small input
    monkeypatch.setattr(mp, "load_run", lambda run, sets: (cfg, model))
    labels, info = bm.PREDICTORS["maskrcnn"]("a-run", [])(np.full((128, 128, 3), 40, np.uint8))
    assert info == {"scale": 0.5} and labels.shape == (128, 128) and labels.max() == 1


def test_main_rejects_bad_arguments(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("# nothing\n")
    base = ["--run", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit):
        bm.main([*base, "--ids", str(ids)])                                   # no id listed
    with pytest.raises(SystemExit):
        bm.main([*base, "--ids", str(ids), "--factors", "0"])
    with pytest.raises(SystemExit):
        bm.main([*base, "--ids", str(ids), "--variant", "a:", "--variant", "a:x=1"])
