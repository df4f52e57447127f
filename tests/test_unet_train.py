"""U-Net train / predict / tune command lines on the synthetic data (1-2 tiny steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.predictions import list_predictions, load_prediction

CONFIGS = Path(__file__).resolve().parents[1] / "solutions" / "unet" / "configs"
TINY = ["train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=2", "data.crop_size=64",
        "model.base_filters=4", "model.depth=2"]
#: The shared run (:func:`tiny_work`): one step, two loader workers (the seed test repeats it).
SHARED = [s for s in TINY if not s.startswith("train.steps")] + ["train.steps_per_epoch=1", "train.workers=2"]


def _train(data: Path, work: Path, config: str = "demo.yaml", sets=TINY, run_name=None,
           repeat_set: bool = False) -> int:
    from solutions.unet.train import main

    argv = ["--config", str(CONFIGS / config), "--fold", "0", "--data", str(data), "--work", str(work),
            "--verbose", "2"]
    argv += [a for s in sets for a in ("--set", s)] if repeat_set else ["--set", *sets]
    return main(argv + (["--run-name", run_name] if run_name else []))


@pytest.fixture(scope="module")
def tiny_work(synthetic_data_dir, tmp_path_factory) -> Path:
    """A work folder holding one finished run, ``runs/unet-fold0`` (``SHARED`` set as
    ``--set a=1 b=2``), trained once per module; tests may add predictions, not retrain it."""
    work = tmp_path_factory.mktemp("unet_tiny_work")
    assert _train(synthetic_data_dir, work, sets=SHARED) == 0
    return work


def test_train_writes_the_run_and_does_not_retrain(synthetic_data_dir, tiny_work, capsys):
    run = tiny_work / "runs" / "unet-fold0"
    for name in ("config.yaml", "weights/best.weights.h5", "weights/last.weights.h5", "train_summary.json",
                 "history.csv", "run_info.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "train_summary.json").read_text())
    assert {"solution", "fold", "train_seconds", "epochs", "train_images_per_s", "params", "device"} <= set(summary)
    assert summary["epochs"] == 1 and summary["solution"] == "unet" and summary["params"] > 0
    assert (tiny_work / "folds.csv").is_file()
    stamp = (run / "weights" / "last.weights.h5").stat().st_mtime_ns
    capsys.readouterr()
    assert _train(synthetic_data_dir, tiny_work, sets=SHARED) == 0
    assert "not retraining" in capsys.readouterr().out
    assert (run / "weights" / "last.weights.h5").stat().st_mtime_ns == stamp

    # predict the out-of-fold images, tune thresholds, relabel
    from solutions.unet.predict import main as predict

    assert predict(["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir),
                    "--work", str(tiny_work)]) == 0
    out = tiny_work / "predictions" / "unet" / "oof"
    info = json.loads((run / "run_info.json").read_text())
    files = list_predictions(out)
    assert sorted(files) == sorted(info["oof_ids"]) and files
    for image_id, path in files.items():
        pred = load_prediction(path)
        h, w = pred.labels.shape
        assert pred.prob is not None and pred.prob.shape == (h, w, 3)
        assert (h, w) == _image_shape(synthetic_data_dir, image_id)
    assert not (out / "_summary.json").exists()  # oof/ is shared by the folds: one summary per fold
    oof_summary = json.loads((out / "_summary_fold0.json").read_text())
    assert oof_summary["n_images"] == len(files) and oof_summary["fold"] == 0
    assert oof_summary["run"] == str(run.resolve()) and {"seconds", "images_per_s", "device"} <= set(oof_summary)
    thresholds = json.loads((run / "thresholds.json").read_text())
    assert "mask_threshold" in thresholds and "_oof_score" in thresholds
    # the fold's "done" marker comes after tuning and relabelling
    marker_time = (out / "_summary_fold0.json").stat().st_mtime_ns
    assert marker_time >= (run / "thresholds.json").stat().st_mtime_ns
    assert all(marker_time >= path.stat().st_mtime_ns for path in files.values())

    assert predict(["--run", str(run), "--split", "test", "--data", str(synthetic_data_dir),
                    "--work", str(tiny_work), "--tta", "flip", "--limit", "2"]) == 0
    test_dir = tiny_work / "predictions" / "unet" / "test_fold0"
    assert len(list_predictions(test_dir)) == 2
    test_summary = json.loads((test_dir / "_summary.json").read_text())
    assert test_summary["n_images"] == 2 and test_summary["fold"] == 0 and test_summary["tta"] == "flip"

    # --only: just the listed images of the split, in the split's order (other ids skipped)
    from common.data import load_split

    test_ids = list(load_split(synthetic_data_dir, "stage1_test").ids)
    listed = tiny_work / "only.txt"
    listed.write_text(f"# two test images and one that is not\n{test_ids[-1]}\nnot-an-image\n{test_ids[0]}\n")
    assert predict(["--run", str(run), "--split", "test", "--data", str(synthetic_data_dir),
                    "--work", str(tiny_work), "--only", str(listed), "--solution", "unet_only"]) == 0
    only_dir = tiny_work / "predictions" / "unet_only" / "test_fold0"
    assert sorted(list_predictions(only_dir)) == sorted([test_ids[0], test_ids[-1]])


def _image_shape(data: Path, image_id: str):
    from common.data import DSBDataset

    return DSBDataset(data, "stage1_train").image_shape(image_id)


def test_a_crashed_run_resumes_after_its_last_epoch(synthetic_data_dir, tmp_path, monkeypatch):
    from common.training import ResumableCheckpoint

    sets = [s for s in TINY if not s.startswith("train.epochs")] + ["train.epochs=2", "train.lr_schedule=constant"]
    original = ResumableCheckpoint.on_epoch_end

    def crash_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)  # epoch 1 committed
        raise KeyboardInterrupt("simulated kill after epoch 1")

    monkeypatch.setattr(ResumableCheckpoint, "on_epoch_end", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        _train(synthetic_data_dir, tmp_path, sets=sets)
    run = tmp_path / "runs" / "unet-fold0"
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and not state.get("finished")
    assert not (run / "train_summary.json").exists()

    monkeypatch.setattr(ResumableCheckpoint, "on_epoch_end", original)
    assert _train(synthetic_data_dir, tmp_path, sets=sets) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and state["finished"]
    history = (run / "history.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["0", "1"]  # epoch 0 once, then 1


def test_a_different_config_in_the_same_run_folder_is_refused(synthetic_data_dir, tiny_work):
    from common.runs import RunConflictError

    with pytest.raises(RunConflictError):
        _train(synthetic_data_dir, tiny_work, sets=SHARED + ["train.lr=0.5"])


def test_fixed_seed_gives_identical_weights(synthetic_data_dir, tiny_work, tmp_path):
    import h5py

    # the shared run had --set a=1 b=2; this one --set a=1 --set b=2, in a fresh folder
    assert _train(synthetic_data_dir, tmp_path, sets=SHARED, run_name="b", repeat_set=True) == 0

    def weights(path):
        arrays = []
        with h5py.File(path / "weights" / "last.weights.h5", "r") as f:
            f.visititems(lambda key, obj: arrays.append((key, obj[()])) if isinstance(obj, h5py.Dataset) else None)
        return arrays

    a, b = weights(tiny_work / "runs" / "unet-fold0"), weights(tmp_path / "runs" / "b")
    assert len(a) == len(b) > 0
    for (ka, va), (kb, vb) in zip(a, b):
        assert ka == kb
        np.testing.assert_array_equal(va, vb, err_msg=ka)


def test_study_baseline_trains_and_predicts(synthetic_data_dir, tmp_path, capsys):
    from solutions.unet.predict import main as predict

    # with kind-balanced sampling (data.balance), which says what it draws in one line
    sets = ["train.epochs=1", "train.steps_per_epoch=1", "train.batch_size=2", "data.balance=1"]
    assert _train(synthetic_data_dir, tmp_path, config="demo_baseline.yaml", sets=sets) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("[unet] data.balance=1:"))
    assert "kinds; expected share of draws:" in line and "fluorescence-" in line
    run = tmp_path / "runs" / "unet-baseline-fold0"
    assert json.loads((run / "train_summary.json").read_text())["params"] == 485_817
    assert predict(["--run", "unet-baseline-fold0", "--split", "oof", "--data", str(synthetic_data_dir),
                    "--work", str(tmp_path)]) == 0
    files = list_predictions(tmp_path / "predictions" / "unet-baseline" / "oof")
    assert files
    for path in files.values():
        assert load_prediction(path).prob.shape[-1] == 1
    # the demo baseline tunes its mask threshold on OOF (the study's baseline.yaml does not)
    assert "mask_threshold" in json.loads((run / "thresholds.json").read_text())


def test_time_budget_stops_training_early(synthetic_data_dir, tmp_path):
    sets = [s for s in TINY if not s.startswith("train.epochs")] + [
        "train.epochs=5", "train.time_budget_s=0.001", "train.lr_schedule=cosine_time"]
    assert _train(synthetic_data_dir, tmp_path, sets=sets) == 0
    run = tmp_path / "runs" / "unet-fold0"
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs"] == 1  # stopped after the first step of epoch 1, checkpointed
    assert json.loads((run / "state.json").read_text())["finished"]


def test_the_touch_channel_trains_predicts_and_splits_seeds(synthetic_data_dir, tmp_path):
    from solutions.unet.predict import main as predict

    channels = ["body", "border", "centre", "touch"]
    sets = [s for s in TINY if not s.startswith("train.steps")] + [
        "train.steps_per_epoch=1", f"model.channels=[{','.join(channels)}]",
        "loss.channel_weights=[1.0,1.0,0.5,2.0]", "post.tune=false"]
    assert _train(synthetic_data_dir, tmp_path, sets=sets) == 0
    assert predict(["--run", "unet-fold0", "--split", "oof", "--data", str(synthetic_data_dir),
                    "--work", str(tmp_path)]) == 0
    out = tmp_path / "predictions" / "unet" / "oof"
    files = list_predictions(out)
    assert files and all(load_prediction(p).prob.shape[-1] == 4 for p in files.values())
    assert all(load_prediction(p).channels == tuple(channels) for p in files.values())  # each file names its maps
    # the folder records the channel names, which is how the ensemble post-processes its maps
    assert json.loads((out / "_summary_fold0.json").read_text())["params"]["channels"] == channels


def test_predict_set_overrides_the_run_config_and_redoes_a_share_made_otherwise(synthetic_data_dir, tiny_work, capsys):
    from common.config import ConfigError
    from solutions.unet.predict import main as predict

    run = tiny_work / "runs" / "unet-fold0"
    tuned = run / "thresholds.json"
    before = tuned.stat().st_mtime_ns if tuned.exists() else None
    out = tiny_work / "predictions" / "unet_set" / "oof"
    base = ["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir), "--work", str(tiny_work),
            "--solution", "unet_set", "--limit", "3"]

    assert predict(base + ["--set", "post.mask_threshold=0.45", "data.normalise=none"]) == 0
    summary = json.loads((out / "_summary_fold0.json").read_text())
    assert summary["params"]["mask_threshold"] == 0.45  # the item wins over thresholds.json
    assert summary["overrides"] == ["post.mask_threshold=0.45", "data.normalise=none"]
    assert "not tuning" in capsys.readouterr().out
    assert (tuned.stat().st_mtime_ns if tuned.exists() else None) == before  # the run's thresholds stay
    stamps = {i: p.stat().st_mtime_ns for i, p in list_predictions(out).items()}
    assert len(stamps) == 3

    # the same items again: a resume keeps every image
    assert predict(base + ["--set", "post.mask_threshold=0.45", "data.normalise=none"]) == 0
    assert {i: p.stat().st_mtime_ns for i, p in list_predictions(out).items()} == stamps
    # other items: the share is predicted again, and it says so
    capsys.readouterr()
    assert predict(base + ["--set", "post.mask_threshold=0.55"]) == 0
    assert "predicting all 3 images again" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns != stamps[i] for i, p in list_predictions(out).items())
    assert json.loads((out / "_summary_fold0.json").read_text())["params"]["mask_threshold"] == 0.55
    # --tta other than the config's own is one more item: the share is predicted again, and the same
    # --tta resumes; the config's own TTA named on the command line is no change
    stamps = {i: p.stat().st_mtime_ns for i, p in list_predictions(out).items()}
    own = json.loads((out / "_summary_fold0.json").read_text())["tta"]
    assert predict(base + ["--tta", own, "--set", "post.mask_threshold=0.55"]) == 0
    assert {i: p.stat().st_mtime_ns for i, p in list_predictions(out).items()} == stamps
    other = "hflip" if own != "hflip" else "flip"
    assert predict(base + ["--tta", other, "--set", "post.mask_threshold=0.55"]) == 0
    assert "predicting all 3 images again" in capsys.readouterr().out
    summary = json.loads((out / "_summary_fold0.json").read_text())
    assert summary["tta"] == other and summary["overrides"] == ["post.mask_threshold=0.55", f"predict.tta={other}"]
    stamps = {i: p.stat().st_mtime_ns for i, p in list_predictions(out).items()}
    assert predict(base + ["--tta", other, "--set", "post.mask_threshold=0.55"]) == 0
    assert {i: p.stat().st_mtime_ns for i, p in list_predictions(out).items()} == stamps
    # a part of that share with yet other items would mix two ways in one folder: refused, and the
    # share's summary (the pipeline's "fold done" marker) stays
    with pytest.raises(ValueError, match="1 other images of this share"):
        predict([*base[:-1], "2", "--set", "post.mask_threshold=0.5"])
    assert json.loads((out / "_summary_fold0.json").read_text())["params"]["mask_threshold"] == 0.55

    with pytest.raises(ConfigError, match="nonsense"):
        predict(base + ["--set", "post.nonsense=1"])
    # a key that shapes the network: one line naming the weights and the item, not Keras' alone
    with pytest.raises(ValueError, match=r"weights\.h5.*--set model\.base_filters=5 \(keys that shape"):
        predict(base + ["--set", "model.base_filters=5"])
