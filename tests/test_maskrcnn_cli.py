"""Mask R-CNN command lines: the contract's arguments, a finished run, and train, resume and
predict end to end on synthetic data (slow)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from common.config import load_config
from solutions.maskrcnn.config import MaskRCNNConfig
from tests.test_maskrcnn_model import DEMO, TINY


def test_train_and_predict_parse_the_contract_arguments():
    from solutions.maskrcnn import predict, train

    args = train.parse_args(["--config", "c.yaml", "--fold", "2", "--data", "d", "--work", "w",
                             "--run-name", "r", "--set", "a=1", "b=2", "--set", "c=3"])
    assert (args.config, args.fold, args.data, args.work, args.run_name) == ("c.yaml", 2, "d", "w", "r")
    assert args.overrides == ["a=1", "b=2", "c=3"] and args.verbose == 2
    args = predict.parse_args(["--run", "x", "--split", "test", "--test-split", "stage2_test_final",
                               "--solution", "s", "--set", "predict.scale=0.5", "--set",
                               "predict.tta_flip=true", "predict.batch_size=2"])
    assert (args.run, args.split, args.test_split, args.solution) == ("x", "test", "stage2_test_final", "s")
    assert args.overrides == ["predict.scale=0.5", "predict.tta_flip=true", "predict.batch_size=2"]


def test_rerun_of_finished_run_with_other_config_raises(tmp_path, capsys):
    from common.runs import RunConflictError, RunDir
    from solutions.maskrcnn import train

    base = ["--config", str(DEMO), "--fold", "0", "--data", str(tmp_path / "data"),
            "--work", str(tmp_path), "--run-name", "r"]
    cfg = load_config(MaskRCNNConfig, DEMO, ["train.all_epochs=1"])
    run = RunDir(tmp_path / "runs" / "r")
    run.prepare(cfg)
    (run.path / "run_info.json").write_text(json.dumps({"fold": 0}))
    run.mark_finished()
    assert train.main(base + ["--set", "train.all_epochs=1"]) == 0  # same config: nothing to do
    assert "finished" in capsys.readouterr().out
    with pytest.raises(RunConflictError):
        train.main(base + ["--set", "train.all_epochs=2"])
    with pytest.raises(RunConflictError, match="fold 0"):
        train.main(base[:3] + ["1"] + base[4:] + ["--set", "train.all_epochs=1"])


@pytest.mark.slow
def test_train_resume_predict_cli(synthetic_data_dir, tmp_path, capsys):
    from solutions.maskrcnn import predict, train

    data = tmp_path / "data"
    shutil.copytree(synthetic_data_dir, data)
    work = tmp_path / "work"
    # --set in both forms: several items after one flag, and repeated flags. No validation
    # (each fit would trace it once more, the most of this test's time); the pipeline's
    # --tiny run and the data-parallel tests validate through this CLI.
    args = ["--config", str(DEMO), "--fold", "1", "--data", str(data), "--work", str(work),
            "--set", "train.steps_per_epoch=1", "train.val_steps=0",
            "--set", "train.heads_epochs=1", "--set", "train.all_epochs=1"]
    args += ["--set", *TINY, "train.tensorboard=true", "data.balance=1", "data.cytoplasm=0.5"]
    assert train.main(args) == 0
    assert "[maskrcnn] data.balance=1: " in capsys.readouterr().out  # kind-balanced draws, said in one line
    run = work / "runs" / "maskrcnn-mobilenet-fold1"
    summary = json.loads((run / "train_summary.json").read_text())
    assert {"solution", "fold", "train_seconds", "epochs", "train_images_per_s", "params",
            "device"} <= set(summary)
    assert summary["epochs"] == 2 and summary["fold"] == 1
    assert (run / "weights" / "last.weights.h5").exists() and (run / "config.yaml").exists()
    assert list((run / "logs").rglob("events.out.tfevents.*")), "no TensorBoard logs"
    assert train.main(args) == 0
    assert "finished" in capsys.readouterr().out
    # pretend it was killed after epoch 1: the rerun resumes in the all-layer stage
    state = json.loads((run / "state.json").read_text())
    state.update(epoch=1, finished=False)
    (run / "state.json").write_text(json.dumps(state))
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "stage 'all' epochs 2..2" in out and "stage 'heads'" not in out
    # --run takes the folder or its name; oof writes its fold's summary, test its folder's
    for split, folder, marker, run_arg in (("oof", "oof", "_summary_fold1.json", str(run)),
                                           ("test", "test_fold1", "_summary.json", run.name)):
        assert predict.main(["--run", run_arg, "--split", split, "--data", str(data),
                             "--work", str(work), "--set", "predict.batch_size=2"]) == 0
        out = work / "predictions" / "maskrcnn-mobilenet" / folder
        record = json.loads((out / marker).read_text())
        assert record["n_images"] == len(list(out.glob("*.npz"))) > 0
        assert record["overrides"] == ["predict.batch_size=2"]  # the folder says how it was made
        assert [p.name for p in out.glob("_summary*.json")] == [marker]
        with np.load(next(out.glob("*.npz"))) as npz:
            assert "cand_masks" not in npz.files  # predict.save_candidates is off by default
