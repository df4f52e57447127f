"""Training run folders: resolved config, checkpoints, history and resume.

Layout of ``runs/<run_name>/``::

    config.yaml              the resolved config (written once; a different one is an error)
    state.json               last completed epoch, best monitored value, early-stop counter
    weights/last.weights.h5  weights (and optimizer state) after the last completed epoch
    weights/best.weights.h5  weights of the best epoch by the monitored value
    history.csv              one row per committed epoch (appended on resume)
    logs/                    TensorBoard
    run_info.json            what the run trains on (fold, ...), see ``RunDir.claim``

A run killed at any point (even ``kill -9``) resumes from its last completed epoch
when the same command runs again: every file is written to a temp name and renamed. An
epoch's checkpoint is committed by ``state.json``: its weights are first written as
``weights/<last|best>-epoch<N>.weights.h5``, then ``state.json`` records epoch N, then
they are renamed into place, so the weights loaded on resume are always those of the
epoch ``state.json`` names (:meth:`RunDir.settle` finishes or undoes a checkpoint a kill
interrupted). An epoch's ``history.csv`` row is appended before that commit, and a row of an
epoch ``state.json`` does not name is dropped on resume, so every epoch has exactly one row.

This module does not import Keras. The training callbacks, seeding, mixed precision and
multi-device set-up are in :mod:`common.training` (still importable from here by name).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.config import ConfigError, load_config, save_config, to_dict
from common.io import atomic_write_text, read_json, write_json


#: The checkpoints a run keeps (``weights/<kind>.weights.h5``).
WEIGHT_KINDS = ("last", "best")


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

        A ``config.yaml`` written before a key existed is read with that key's default (the
        file itself is left as it is), so a newer version resumes or skips older runs.

        Raises:
            RunConflictError: ``config.yaml`` exists and differs from ``cfg``.
        """
        import yaml

        self.weights_dir.mkdir(parents=True, exist_ok=True)
        if self.config_path.exists():
            old = yaml.safe_load(self.config_path.read_text())
            new = yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=False))
            if old != new and dataclasses.is_dataclass(cfg):
                try:  # the saved config completed with the defaults of keys added since
                    old = yaml.safe_load(yaml.safe_dump(
                        to_dict(load_config(type(cfg), self.config_path)), sort_keys=False))
                except (ConfigError, OSError, ValueError):
                    pass  # e.g. a key removed since: compare as saved
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

    def training_set(self) -> tuple[str, list[str]]:
        """``(data_dir, fit_ids)`` from ``run_info.json``: where the run's training images are.

        Raises:
            FileNotFoundError: no ``run_info.json``, or it does not list them (naming the file).
            ValueError: the file is not valid JSON (naming it).
        """
        info = read_json(self.info_path)
        if not info or "fit_ids" not in info or "data_dir" not in info:
            raise FileNotFoundError(f"{self.info_path} does not list the run's training images")
        return str(info["data_dir"]), list(info["fit_ids"])

    def staged_weights(self, kind: str, epoch: int) -> Path:
        """Where the ``kind`` (``last`` or ``best``) weights of ``epoch`` wait until
        ``state.json`` records that epoch (then :meth:`settle` renames them into place)."""
        if kind not in WEIGHT_KINDS:
            raise ValueError(f"kind must be one of {WEIGHT_KINDS}, got {kind!r}")
        return self.weights_dir / f"{kind}-epoch{int(epoch)}.weights.h5"

    def settle(self, drop_uncommitted: bool = True) -> None:
        """Finish or undo the checkpoint a kill interrupted.

        Staged weights (:meth:`staged_weights`) of the epoch ``state.json`` records replace
        ``last``/``best``; those of any other epoch (the kill came before ``state.json``
        recorded it) are deleted with ``drop_uncommitted``, and so are ``history.csv`` rows of
        epochs past it. Only the run's writer (holding its folder,
        ``common.cli.open_train_run``) may drop: a living trainer's staged file would go too.
        """
        epoch = int(self.load_state().get("epoch", 0))
        if drop_uncommitted:
            self._drop_history_after(epoch)
        if not self.weights_dir.is_dir():
            return
        for staged in sorted(self.weights_dir.glob("*-epoch*.weights.h5")):
            kind, _, n = staged.name[:-len(".weights.h5")].rpartition("-epoch")
            if staged.name.startswith(".") or kind not in WEIGHT_KINDS or not n.isdigit():
                continue  # a temp file (common.io.remove_stale_temps) or not ours
            if int(n) == epoch:
                try:
                    os.replace(staged, self.weights_dir / f"{kind}.weights.h5")
                except FileNotFoundError:
                    pass  # another process settled it first
            elif drop_uncommitted:
                staged.unlink(missing_ok=True)

    def _drop_history_after(self, epoch: int) -> None:
        """Keep the ``history.csv`` rows of the first ``epoch`` epochs (its ``epoch`` column
        counts from 0); the file is rewritten only when a row goes."""
        try:
            lines = self.history_csv.read_text().splitlines(keepends=True)
        except FileNotFoundError:
            return
        firsts = [ln.split(",", 1)[0] for ln in lines[1:]]
        keep = lines[:1] + [ln for ln, n in zip(lines[1:], firsts) if not n.isdigit() or int(n) < epoch]
        if len(keep) < len(lines):
            atomic_write_text(self.history_csv, "".join(keep))

    def append_history(self, epoch: int, logs: dict) -> None:
        """Append epoch ``epoch``'s row (0-based, as Keras counts) to ``history.csv``: the
        columns of its header (``epoch`` then the first epoch's log keys, sorted), flushed to
        disk before the checkpoint commits the epoch."""
        try:
            with self.history_csv.open(newline="") as f:
                header = next(csv.reader(f), None)
        except FileNotFoundError:
            header = None
        new = not header
        header = header or ["epoch", *sorted(logs)]
        row = {k: logs.get(k, "NA") for k in header}
        row["epoch"] = epoch
        with self.history_csv.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())

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
        """Best weights if saved, else last. Raises FileNotFoundError naming the run.

        Read-only: weights a killed checkpoint committed but did not rename yet are
        returned where they are (the run folder may be a read-only mount).
        """
        try:
            epoch = int(self.load_state().get("epoch", 0))
        except (RunConflictError, OSError, ValueError, AttributeError):
            epoch = None  # an unreadable state.json: the weights in place are all there is
        for kind, path in (("best", self.best_weights), ("last", self.last_weights)):
            staged = self.staged_weights(kind, epoch) if epoch else None
            for candidate in (staged, path):
                if candidate is not None and candidate.exists():
                    return candidate
        raise FileNotFoundError(f"no weights in {self.weights_dir}: train this run first")


def load_trained(run_dir: str | os.PathLike, config_cls: type, build: Callable[[Any], Any],
                 overrides: Sequence[str] = ()) -> tuple[Any, Any]:
    """A trained run's resolved config (plus predict-time ``overrides``) and its network with
    best/last weights (:meth:`RunDir.weights_for_inference`): the one loader every solution's
    predict uses.

    Args:
        run_dir: The run folder.
        config_cls: The solution's config dataclass.
        build: Builds the network from the loaded config (it may adjust the config, e.g. to
            skip downloading backbone weights the checkpoint replaces).
        overrides: ``KEY=VALUE`` items (``predict --set``); a bad key fails naming it.

    Raises:
        FileNotFoundError: no ``config.yaml`` or no weights, naming the run.
        ValueError: the weights do not fit the network the config builds (naming the weights
            file and, when there are overrides, the items: keys that shape the network must
            stay as trained).
    """
    run = RunDir(run_dir)
    if not run.config_path.exists():
        raise FileNotFoundError(f"{run.config_path} not found: not a training run folder")
    cfg = load_config(config_cls, run.config_path, overrides)
    model = build(cfg)
    weights = run.weights_for_inference()
    try:
        model.load_weights(weights)
    except ValueError as exc:
        items = (f" with --set {' '.join(overrides)} (keys that shape the network must stay as trained)"
                 if overrides else "")
        raise ValueError(f"{weights}: the weights do not fit the network built from {run.config_path}"
                         f"{items}: {exc}") from exc
    return cfg, model


def resume(run: RunDir, model: Any) -> int:
    """Load the last checkpoint of ``run`` into a compiled ``model``.

    Returns:
        The epoch to start from (0 for a new run).
    """
    run.settle(drop_uncommitted=False)
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


# The Keras side (callbacks, seeding, precision, devices) lives in common.training; the old
# names stay importable from here, loaded on first use so that importing this module never
# imports Keras.
_MOVED_TO_TRAINING = ("ResumableCheckpoint", "training_callbacks", "seed_everything",
                      "set_mixed_precision")


def __getattr__(name: str):
    if name in _MOVED_TO_TRAINING:
        from common import training

        return getattr(training, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
