"""Tests for common.runs and common.training: run folders, checkpoints, resume, early stopping."""

from dataclasses import dataclass

import keras
import numpy as np
import pytest

from common.runs import RunConflictError, RunDir, resume, seed_everything, training_callbacks


@dataclass
class Cfg:
    lr: float = 0.01
    epochs: int = 4


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((16, 3)).astype("float32")
    return x, x.sum(1, keepdims=True)


def test_prepare_refuses_a_different_config(tmp_path):
    run = RunDir(tmp_path / "r")
    run.prepare(Cfg())
    run.prepare(Cfg())  # same config: fine
    with pytest.raises(RunConflictError, match="config.yaml"):
        run.prepare(Cfg(lr=0.1))


def test_claim_refuses_another_fold_and_fold_reads_back(tmp_path):
    run = RunDir(tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="run_info.json"):
        _ = run.fold
    run.path.mkdir()
    run.claim({"fold": 2, "fit_ids": ["a", "b"]}, keys=("fold", "fit_ids"))
    assert run.fold == 2
    run.claim({"fold": 2, "fit_ids": ["a", "b"], "note": "resumed"}, keys=("fold", "fit_ids"))  # same: fine
    for other in ({"fold": 3, "fit_ids": ["a", "b"]}, {"fold": 2, "fit_ids": ["a"]}):
        with pytest.raises(RunConflictError, match="run_info.json"):
            run.claim(other, keys=("fold", "fit_ids"))
    assert run.fold == 2  # nothing overwritten by the refused claims


def test_predict_target_oof_and_test(synthetic_data_dir, tmp_path):
    from common.cli import predict_target
    from common.paths import Workspace

    ws = Workspace.from_args(str(tmp_path / "work"), str(synthetic_data_dir))
    run = RunDir(tmp_path / "work" / "runs" / "s-fold1")
    run.path.mkdir(parents=True)
    run.claim({"fold": 1})
    oof = predict_target(ws, run, "s", "oof", n_folds=3, seed=0)
    folds = __import__("pandas").read_csv(ws.folds_csv)
    assert oof.ids == sorted(folds.loc[folds["fold"] == 1, "image_id"]) and oof.summary_fold == 1
    assert oof.out_dir == ws.predictions_dir("s", "oof")
    test = predict_target(ws, run, "s", "test", "stage1_test")
    assert test.ids and test.summary_fold is None and test.out_dir == ws.predictions_dir("s", "test_fold1")
    with pytest.raises(ValueError, match="split"):
        predict_target(ws, run, "s", "val")


def test_resume_continues_from_last_epoch(tmp_path):
    seed_everything(0)
    x, y = _data()
    run = RunDir(tmp_path / "r")
    run.prepare(Cfg())
    model = _model()
    # Stops after 2 of 4 epochs, as if killed.
    model.fit(x, y, epochs=2, verbose=0, callbacks=training_callbacks(run, "loss", tensorboard=False))
    assert run.load_state()["epoch"] == 2
    saved = [w.copy() for w in model.get_weights()]

    fresh = _model()
    start = resume(run, fresh)
    assert start == 2
    for a, b in zip(fresh.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    history = fresh.fit(x, y, initial_epoch=start, epochs=4, verbose=0,
                        callbacks=training_callbacks(run, "loss", tensorboard=False))
    assert len(history.history["loss"]) == 2
    assert run.load_state()["epoch"] == 4
    assert run.best_weights.exists() and run.last_weights.exists()
    assert run.history_csv.read_text().count("\n") == 5  # header + 4 epochs


def test_a_kill_between_the_history_row_and_the_commit_leaves_one_row_per_epoch(tmp_path, monkeypatch):
    """The epoch's history row and clock counts are committed with its state.json write: a kill
    after the row but before the commit loses the epoch whole, and it is trained again once."""
    from common.training import TrainingClock

    x, y = _data()
    run = RunDir(tmp_path / "r")
    run.prepare(Cfg())
    clock = TrainingClock(run, batch_size=32)
    _model().fit(x, y, epochs=1, verbose=0, callbacks=training_callbacks(run, "loss", tensorboard=False, clock=clock))
    committed = run.load_state()
    assert committed["epoch"] == 1 and committed["train_images"] == 32  # one step of a batch of 32

    def killed(state):
        raise KeyboardInterrupt("kill before the commit")

    monkeypatch.setattr(run, "save_state", killed)
    clock = TrainingClock(run, batch_size=32)
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, initial_epoch=1, epochs=2, verbose=0,
                     callbacks=training_callbacks(run, "loss", tensorboard=False, clock=clock))
    assert run.history_csv.read_text().count("\n") == 3  # the row was written, the epoch not committed
    assert run.load_state() == committed  # nor the clock's counts of the lost epoch
    monkeypatch.undo()

    model = _model()
    start = resume(run, model)
    clock = TrainingClock(run, batch_size=32)
    assert start == 1 and clock.images == 32
    model.fit(x, y, initial_epoch=start, epochs=2, verbose=0,
              callbacks=training_callbacks(run, "loss", tensorboard=False, clock=clock))
    rows = run.history_csv.read_text().splitlines()
    assert rows[0].startswith("epoch,loss") and [r.split(",")[0] for r in rows[1:]] == ["0", "1"]
    assert run.load_state()["epoch"] == 2 and run.load_state()["train_images"] == 64


def test_early_stopping_marks_finished(tmp_path):
    x, y = _data()
    run = RunDir(tmp_path / "r")
    run.prepare(Cfg())
    model = _model()  # the loss falls every epoch, so in "max" mode it never improves (an lr of 0
    # is not enough: JAX's loss mean wobbles in the last float bit from epoch to epoch)
    model.fit(x, y, epochs=10, verbose=0,
              callbacks=training_callbacks(run, "loss", mode="max", patience=2, tensorboard=False))
    state = run.load_state()
    assert state["finished"] and state["epoch"] == 3
    assert run.finished


def test_tensorboard_logs_written(tmp_path):
    x, y = _data()
    run = RunDir(tmp_path / "r")
    run.prepare(Cfg())
    _model().fit(x, y, epochs=1, verbose=0, callbacks=training_callbacks(run, "loss"))
    assert any(run.logs_dir.rglob("events.out.tfevents.*"))


def test_run_main_turns_expected_errors_into_one_line(capsys):
    from common.cli import run_main

    def conflict():
        raise RunConflictError("/w/runs/r/run_info.json: this run was started with other ['fold']")

    assert run_main(conflict, "prog") == 2
    assert capsys.readouterr().err.strip() == ("prog: error: /w/runs/r/run_info.json: "
                                               "this run was started with other ['fold']")
    assert run_main(lambda: 0, "prog") == 0

    def bug():
        raise KeyError("unexpected")

    with pytest.raises(KeyError):  # a bug keeps its traceback
        run_main(bug, "prog")


def test_a_run_saved_before_a_key_existed_still_resumes(tmp_path):
    """A config.yaml without a key added since is read with its default: no false conflict."""
    from dataclasses import dataclass, field

    import yaml

    from common.runs import RunConflictError, RunDir

    @dataclass
    class Train:
        epochs: int = 3
        gpus: int = 0  # the key "added since"

    @dataclass
    class Cfg:
        name: str = "x"
        train: Train = field(default_factory=Train)

        def validate(self):
            pass

    run = RunDir(tmp_path / "run")
    run.weights_dir.mkdir(parents=True)
    run.config_path.write_text(yaml.safe_dump({"name": "x", "train": {"epochs": 3}}))
    run.prepare(Cfg())  # same config but for the new key's default
    assert "gpus" not in run.config_path.read_text()  # the old file is left as it was
    with pytest.raises(RunConflictError, match="train"):
        run.prepare(Cfg(train=Train(epochs=4)))


class _Killed(BaseException):
    """Stands for a kill -9 at one moment of a checkpoint."""


@pytest.mark.parametrize("kill_in, resumes_at", [("save_state", 2), ("settle", 3)])
def test_a_kill_inside_a_checkpoint_resumes_with_the_weights_state_json_names(tmp_path, kill_in, resumes_at):
    """Epoch 3's weights are staged, then state.json records epoch 3, then they are renamed
    into place. Killed before the record, the run resumes after epoch 2 with epoch 2's
    weights; killed after it, after epoch 3 with epoch 3's: never one epoch's weights with
    another's count."""
    seed_everything(0)
    x, y = _data()
    run = RunDir(tmp_path / "r")
    run.prepare(Cfg())
    model, weights = _model(), {}

    class Remember(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    real = getattr(run, kill_in)

    def kill_at_epoch_3(*args, **kwargs):
        if len(weights) == 3:
            raise _Killed
        return real(*args, **kwargs)

    setattr(run, kill_in, kill_at_epoch_3)
    with pytest.raises(_Killed):
        model.fit(x, y, epochs=4, verbose=0,
                  callbacks=[Remember(), *training_callbacks(run, "loss", tensorboard=False)])
    assert run.staged_weights("last", 3).exists()  # what the kill left

    again = RunDir(tmp_path / "r")
    # inference only reads: committed weights not yet renamed are used where they are
    committed = again.staged_weights("best", 3) if kill_in == "settle" else again.best_weights
    assert again.weights_for_inference() == committed and run.staged_weights("last", 3).exists()
    fresh = _model()
    assert resume(again, fresh) == resumes_at == again.load_state()["epoch"]
    for a, b in zip(fresh.get_weights(), weights[resumes_at]):
        np.testing.assert_array_equal(a, b)
    again.settle()  # the writer's settle drops an uncommitted epoch
    assert sorted(p.name for p in again.weights_dir.iterdir()) == ["best.weights.h5", "last.weights.h5"]


@dataclass
class NetCfg:
    units: int = 1


def _net(cfg: NetCfg):
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(cfg.units)])


def test_load_trained_loads_the_weights_and_names_overrides_that_do_not_fit(tmp_path):
    from common.runs import load_trained

    run = RunDir(tmp_path / "r")
    run.prepare(NetCfg())
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_trained(run.path, NetCfg, _net)
    trained = _net(NetCfg())
    trained.layers[0].kernel.assign(np.full((3, 1), 0.5, "float32"))
    run.weights_dir.mkdir(parents=True, exist_ok=True)
    trained.save_weights(run.best_weights)

    cfg, model = load_trained(run.path, NetCfg, _net)
    assert cfg == NetCfg()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), 0.5)

    # a predict-time item that changes the network's shape: one error naming the file and the item
    with pytest.raises(ValueError, match=r"best\.weights\.h5.*--set units=2 \(keys that shape the network"):
        load_trained(run.path, NetCfg, _net, ["units=2"])
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        load_trained(tmp_path / "nothing", NetCfg, _net)
