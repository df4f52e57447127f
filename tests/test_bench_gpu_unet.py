"""The 5-fold GPU driver (bench/gpu_unet.py), run on the synthetic set on CPU."""

import json
import sys
import tarfile

import pytest


def _main():
    import importlib.util

    from common.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("gpu_unet", REPO_ROOT / "bench" / "gpu_unet.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_unet", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.main


def test_deadline_starts_nothing_late_and_still_reports(synthetic_data_dir, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--data", str(synthetic_data_dir), "--work", str(work), "--out", str(out),
            "--solution", "unet=solutions/unet/configs/demo.yaml", "--folds", "0", "--study-rows", "--deadline", "0"]
    assert _main()(argv) == 0
    scores = json.loads((out / "oof_scores.json").read_text())
    assert scores == {"unet": {"folds": [], "n_images": 0}}
    assert "unet-fold0" in (out / "progress.txt").read_text() and "stopped" in (out / "progress.txt").read_text()
    assert not (work / "runs").exists()  # nothing was started after the deadline
    with tarfile.open(out / "logs.tgz"):
        pass
    (work / "runs" / "unet-fold0").mkdir(parents=True)  # an earlier invocation's models
    with pytest.raises(SystemExit):
        _main()(argv)


@pytest.mark.slow
def test_one_fold_trains_predicts_and_is_scored(synthetic_data_dir, tmp_path):
    import pandas as pd

    out, work = tmp_path / "out", tmp_path / "work"
    rc = _main()(["--data", str(synthetic_data_dir), "--work", str(work), "--out", str(out),
                  "--solution", "unet=solutions/unet/configs/demo.yaml", "--folds", "0", "--study-rows",
                  "--budget", "60", "--deadline", "600", "--every", "5",
                  "--set", "train.epochs=1", "train.steps_per_epoch=2", "predict.tile_size=64",
                  "predict.tile_overlap=16", "predict.pad_multiple=64", "predict.batch_size=4", "predict.static_batch=true"])
    assert rc == 0
    folds = pd.read_csv(work / "folds.csv")
    scores = json.loads((out / "oof_scores.json").read_text())["unet"]
    assert scores["folds"] == [0] and scores["n_images"] == int((folds["fold"] == 0).sum())
    assert 0.0 <= scores["score"] <= 1.0
    assert "| unet | [0] |" in (out / "oof_scores.md").read_text()
    with tarfile.open(out / "results.tgz") as tar:
        names = tar.getnames()
    assert "runs/unet-fold0/config.yaml" in names and "oof_per_image_unet.csv" in names
