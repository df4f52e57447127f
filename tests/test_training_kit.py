"""The shared training kit: TrainingClock (seconds/images over resumes, time budget),
write_train_summary, and common.optimizers (one builder, schedules)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from common.optimizers import TimeCosine, lr_schedule, make_optimizer
from common.runs import RunDir
from common.training import TrainingClock, training_callbacks, write_train_summary

CONTRACT_KEYS = {"solution", "fold", "train_seconds", "epochs", "train_images_per_s", "params", "device"}


def _model(optimizer="adam"):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _data(n=16):
    x = np.random.default_rng(0).random((n, 3)).astype("float32")
    return x, x.sum(1, keepdims=True)


def _fit(run, model, clock, epochs, initial_epoch=0, extra=()):
    x, y = _data()
    callbacks = training_callbacks(run, "loss", tensorboard=False, clock=clock) + list(extra)
    model.fit(x, y, batch_size=4, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)


def test_clock_counts_over_resumes_and_the_summary_has_the_contract_keys(tmp_path):
    run = RunDir(tmp_path / "r")
    run.weights_dir.mkdir(parents=True)
    clock = TrainingClock(run, batch_size=4)
    _fit(run, _model(), clock, epochs=1)
    state = run.load_state()
    assert state["train_images"] == 16 and state["epoch"] == 1  # 4 steps of 4
    assert 0 < state["step_seconds"] <= state["train_seconds"]
    again = TrainingClock(run, batch_size=4)  # a resumed process reads the counts back
    assert (again.images, again.seconds) == (16, state["train_seconds"])
    _fit(run, _model(), again, epochs=2, initial_epoch=1)
    assert run.load_state()["train_images"] == 32 and again.seconds > state["train_seconds"]
    summary = write_train_summary(run, again, "s", 3, params=4, device="CPU", extra_key=1)
    assert CONTRACT_KEYS <= set(summary) and summary["epochs"] == 2 and summary["extra_key"] == 1
    assert summary["train_images_per_s"] == round(32 / again.step_seconds, 3)
    assert json.loads((run.path / "train_summary.json").read_text()) == summary and run.finished


def test_clock_reads_the_counts_of_older_runs(tmp_path):
    unet = RunDir(tmp_path / "unet")  # U-Net runs wrote train_progress.json
    unet.path.mkdir()
    (unet.path / "train_progress.json").write_text(json.dumps({"seconds": 10.0, "step_seconds": 8.0, "images": 40}))
    clock = TrainingClock(unet, 4, budget_s=12.0)
    assert (clock.seconds, clock.step_seconds, clock.images, clock.remaining()) == (10.0, 8.0, 40, 2.0)
    mrcnn = RunDir(tmp_path / "mrcnn")  # Mask R-CNN runs kept seconds and images in state.json
    mrcnn.path.mkdir()
    mrcnn.save_state({"epoch": 2, "train_seconds": 6.0, "train_images": 12})
    clock = TrainingClock(mrcnn, 2)
    assert (clock.seconds, clock.step_seconds, clock.images, clock.remaining()) == (6.0, 6.0, 12, None)


def test_time_budget_stops_in_the_first_step_and_says_so(tmp_path, capsys):
    run = RunDir(tmp_path / "r")
    run.weights_dir.mkdir(parents=True)
    clock = TrainingClock(run, batch_size=4, budget_s=1e-6)
    _fit(run, _model(), clock, epochs=5)
    assert clock.budget_hit and run.load_state()["epoch"] == 1 and clock.images == 4
    assert "time budget" in capsys.readouterr().out


def test_time_cosine_sets_the_rate_from_the_clock(tmp_path):
    run = RunDir(tmp_path / "r")
    run.weights_dir.mkdir(parents=True)
    run.save_state({"epoch": 0, "train_seconds": 100.0})  # the whole budget already spent
    model = _model(keras.optimizers.SGD(0.5))
    clock = TrainingClock(run, batch_size=4)
    _fit(run, model, clock, epochs=1, extra=[TimeCosine(clock, 0.5, seconds=100.0)])
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.005)


def test_one_optimizer_builder():
    model = _model()
    sgd = make_optimizer("sgd", 0.1, momentum=0.9, weight_decay=1e-4, clipnorm=5.0, model=model)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9 and sgd.clipnorm == 5.0
    bias = [v for v in model.trainable_variables if len(v.shape) == 1][0]
    kernel = [v for v in model.trainable_variables if len(v.shape) == 2][0]
    assert not sgd._use_weight_decay(bias) and sgd._use_weight_decay(kernel)
    adam = make_optimizer("adam", lr_schedule("cosine", 0.01, decay_steps=10))
    assert isinstance(adam, keras.optimizers.Adam) and adam.weight_decay is None and adam.clipnorm is None
    assert float(adam.learning_rate) == pytest.approx(0.01)  # step 0 of the cosine
    assert lr_schedule("cosine_time", 0.3) == lr_schedule("constant", 0.3) == 0.3
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", 0.1)
