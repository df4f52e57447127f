"""Training run folders: resolved config, checkpoints, history and resume.

Layout of ``runs/<run_name>/``::

    config.yaml              the resolved config (written once; a different one is an error)
    state.json               last completed epoch, best monitored value, early-stop counter
    weights/last.weights.h5  weights (and optimizer state) after the last completed epoch
    weights/best.weights.h5  weights of the best epoch by the monitored value
    history.csv              one row per epoch (appended on resume)
    logs/                    TensorBoard
    run_info.json            what the run trains on (fold, ...), see ``RunDir.claim``

A run killed at any point (even ``kill -9``) resumes from its last completed epoch
when the same command runs again: every file is written to a temp name and renamed,
and ``state.json`` is written last.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.config import save_config, to_dict
from common.io import atomic_write, atomic_write_text, read_json, write_json


class RunConflictError(RuntimeError):
    """The run folder holds a different config; refusing to overwrite it."""


class RunDir:
    """One training run's folder.

    Args:
        path: The run folder (created on :meth:`prepare`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- files -------------------------------------------------------------
    config_path = property(lambda self: self.path / "config.yaml")
    state_path = property(lambda self: self.path / "state.json")
    weights_dir = property(lambda self: self.path / "weights")
    last_weights = property(lambda self: self.weights_dir / "last.weights.h5")
    best_weights = property(lambda self: self.weights_dir / "best.weights.h5")
    history_csv = property(lambda self: self.path / "history.csv")
    logs_dir = property(lambda self: self.path / "logs")
    thresholds_path = property(lambda self: self.path / "thresholds.json")
    info_path = property(lambda self: self.path / "run_info.json")

    def prepare(self, cfg: Any) -> None:
        """Create the folder and save ``cfg``; refuse a folder made with another config.

        Raises:
            RunConflictError: ``config.yaml`` exists and differs from ``cfg``.
        """
        import yaml

        self.weights_dir.mkdir(parents=True, exist_ok=True)
        if self.config_path.exists():
            old = yaml.safe_load(self.config_path.read_text())
            new = yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=False))
            if old != new:
                diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                raise RunConflictError(
                    f"{self.config_path} was written with a different config (differs in {diff}); "
                    "use another run name, or delete the folder to start over")
            return
        save_config(cfg, self.config_path)

    def claim(self, info: dict, keys: Sequence[str] = ("fold",)) -> None:
        """Write ``run_info.json``; refuse a folder started for something else.

        Args:
            info: JSON-able facts of the run (fold, image ids, data folder, ...).
            keys: Entries that must equal those of an existing ``run_info.json``: a
                resumed run has to train the same fold on the same images.

        Raises:
            RunConflictError: naming the file and the entries that differ.
        """
        old = read_json(self.info_path)
        if old is not None:
            diff = [k for k in keys if old.get(k) != info.get(k)]
            if diff:
                raise RunConflictError(f"{self.info_path}: this run was started with other {diff} "
                                       f"(fold {old.get('fold')}); use another --run-name")
        write_json(self.info_path, info)

    @property
    def fold(self) -> int:
        """The validation fold the run trained for (``run_info.json``, else ``train_summary.json``).

        Raises:
            FileNotFoundError: neither file holds a fold.
        """
        for name in ("run_info.json", "train_summary.json"):
            data = read_json(self.path / name)
            if data is not None and "fold" in data:
                return int(data["fold"])
        raise FileNotFoundError(f"{self.path}: no run_info.json or train_summary.json with the run's fold "
                                "(was the run made by a solution's train command?)")

    def load_state(self) -> dict:
        """The saved state, or an empty one (``epoch`` 0) for a new run."""
        if not self.state_path.exists():
            return {"epoch": 0, "best": None, "wait": 0, "finished": False}
        try:
            return json.loads(self.state_path.read_text())
        except json.JSONDecodeError as exc:
            raise RunConflictError(f"{self.state_path} is corrupt ({exc}); delete it to restart") from exc

    def save_state(self, state: dict) -> None:
        atomic_write_text(self.state_path, json.dumps(state, indent=2))

    @property
    def finished(self) -> bool:
        return bool(self.load_state().get("finished"))

    def mark_finished(self) -> None:
        state = self.load_state()
        state["finished"] = True
        self.save_state(state)

    def weights_for_inference(self) -> Path:
        """Best weights if saved, else last. Raises FileNotFoundError naming the run."""
        for path in (self.best_weights, self.last_weights):
            if path.exists():
                return path
        raise FileNotFoundError(f"no weights in {self.weights_dir}: train this run first")


def resume(run: RunDir, model: Any) -> int:
    """Load the last checkpoint of ``run`` into a compiled ``model``.

    Returns:
        The epoch to start from (0 for a new run).
    """
    state = run.load_state()
    epoch = int(state.get("epoch", 0))
    if epoch == 0 or not run.last_weights.exists():
        return 0
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)  # so load_weights restores its state too
    model.load_weights(run.last_weights)
    print(f"[runs] resuming {run.path.name} after epoch {epoch}")
    return epoch


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class ResumableCheckpoint(_keras_callback_base()):
    """Save last/best weights (with optimizer state) and run state after every epoch; early stopping.

    Args:
        run: The run folder.
        monitor: Log key to watch (e.g. ``"val_loss"``); falls back to ``"loss"``.
        mode: ``"min"`` or ``"max"``.
        patience: Stop after this many epochs without improvement (``None``: never).
    """

    def __init__(self, run: RunDir, monitor: str = "val_loss", mode: str = "min",
                 patience: int | None = None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.run, self.monitor, self.mode, self.patience = run, monitor, mode, patience

    def _improved(self, value: float, best: float | None) -> bool:
        if best is None or math.isnan(best):
            return True
        return value < best if self.mode == "min" else value > best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        state = self.run.load_state()
        atomic_write(self.run.last_weights, self.model.save_weights, suffix=".weights.h5")
        if value is not None and self._improved(float(value), state.get("best")):
            state["best"], state["best_epoch"], state["wait"] = float(value), epoch + 1, 0
            atomic_write(self.run.best_weights, lambda tmp: shutil.copyfile(self.run.last_weights, tmp),
                         suffix=".weights.h5")
        else:
            state["wait"] = int(state.get("wait", 0)) + 1
        state["epoch"] = epoch + 1
        state["monitor"] = self.monitor
        if self.patience is not None and state["wait"] >= self.patience:
            print(f"[runs] early stop: {self.monitor} did not improve for {self.patience} epochs")
            state["finished"] = True
            self.model.stop_training = True
        self.run.save_state(state)


def training_callbacks(run: RunDir, monitor: str = "val_loss", mode: str = "min",
                       patience: int | None = None, tensorboard: bool = True) -> list:
    """The standard callbacks: checkpoint/resume, CSV history, TensorBoard."""
    import keras

    callbacks = [ResumableCheckpoint(run, monitor, mode, patience),
                 keras.callbacks.CSVLogger(str(run.history_csv), append=True)]
    if tensorboard:
        import importlib.util

        missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
        if missing:  # Keras' TensorBoard writer needs both
            print(f"[runs] TensorBoard logs skipped: {' and '.join(missing)} not installed "
                  f"(backend {keras.backend.backend()})")
        else:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.logs_dir), write_graph=False))
    return callbacks


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and the backend; make TF ops deterministic on CPU."""
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # noqa: BLE001 - not fatal: only affects bitwise repeatability
            pass


def distribution_strategy(gpus: int | None = None):
    """``MirroredStrategy`` when several GPUs are visible (TF backend), else the default."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    visible = tf.config.list_logical_devices("GPU")
    if gpus is not None:
        visible = visible[:gpus]
    if len(visible) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in visible])
    return tf.distribute.get_strategy()


def set_mixed_precision(enabled: bool) -> None:
    """Switch Keras' global dtype policy between ``mixed_float16`` and ``float32``."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")


class TimeBudget(_keras_callback_base()):
    """Stop training once ``seconds`` of wall-clock time have passed (checked every batch).

    The epoch in progress is cut short, then ``on_epoch_end`` callbacks still run,
    so the last checkpoint holds the weights at the deadline.
    """

    def __init__(self, seconds: float | None):
        super().__init__()
        self.seconds = seconds
        self.start: float | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        import time

        self.start = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        import time

        if self.seconds is not None and time.monotonic() - self.start >= self.seconds:
            self.model.stop_training = True
