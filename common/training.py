"""The Keras side of training, shared by the solutions: callbacks, seeding, precision, devices.

``common.runs`` owns the run folder and stays Keras-free; this module holds what needs
Keras (and re-exports nothing else)::

    seed_everything(cfg.seed)
    set_mixed_precision(cfg.train.mixed_precision)
    with distribution(cfg.train.gpus, cfg.train.batch_size) as dist:
        model = build(cfg)                       # variables created on every replica
        model.compile(optimizer=common.optimizers.make_optimizer(...), loss=...)
        start = resume(run, model)
        clock = TrainingClock(run, cfg.train.batch_size, cfg.train.time_budget_s)
        stream = common.endless.EndlessEpochs(train_ds, start_epoch=start)
        model.fit(dist.even_batches(stream), steps_per_epoch=stream.steps_per_epoch, shuffle=False,
                  validation_data=dist.even_batches(val_ds), initial_epoch=start,
                  callbacks=training_callbacks(run, clock=clock), ...)
    write_train_summary(run, clock, cfg.solution, fold, model.count_params(), device)

``distribution(gpus)``: 0 or 1 trains on one device (the backend's default); N > 1 is
data parallel over the first N GPUs (-1: every visible GPU), with
``tf.distribute.MirroredStrategy`` under TensorFlow and ``keras.distribution.DataParallel``
under JAX. The global batch is split between the replicas, so it must be divisible by N.
Tests may use CPU devices as replicas with ``DSB_ALLOW_CPU_REPLICAS=1``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras

from common.devices import ENV_CPU_REPLICAS, DeviceError, check_replicas
from common.io import atomic_write, read_json, write_json
from common.runs import RunDir

__all__ = ["ResumableCheckpoint", "TrainingClock", "write_train_summary", "training_callbacks", "seed_everything",
           "set_mixed_precision", "Distribution", "distribution", "replica_devices",
           "EvenBatches"]


class ResumableCheckpoint(keras.callbacks.Callback):
    """Save last/best weights (with optimizer state), the epoch's ``history.csv`` row and the
    run state after every epoch; early stopping.

    One ``state.json`` write commits the epoch: its weights, its history row and the
    ``clock``'s counts (``common.runs``), so a kill at any point leaves all or none of them.

    Args:
        run: The run folder.
        monitor: Log key to watch (e.g. ``"val_loss"``); falls back to ``"loss"``.
        mode: ``"min"`` or ``"max"``.
        patience: Stop after this many epochs without improvement (``None``: never).
        clock: The run's :class:`TrainingClock`, whose counts the commit records (it must
            come before this callback in the list, as :func:`training_callbacks` puts it).
    """

    def __init__(self, run: RunDir, monitor: str = "val_loss", mode: str = "min",
                 patience: int | None = None, clock: TrainingClock | None = None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.run, self.monitor, self.mode, self.patience = run, monitor, mode, patience
        self.clock = clock

    def _improved(self, value: float, best: float | None) -> bool:
        if best is None or math.isnan(best):
            return True
        return value < best if self.mode == "min" else value > best

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.run.settle()  # this callback is the run's writer: drop what a kill left uncommitted

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        state = self.run.load_state()
        # staged under the epoch's name; state.json commits them (common.runs: RunDir.settle)
        last = self.run.staged_weights("last", epoch + 1)
        atomic_write(last, self.model.save_weights, suffix=".weights.h5")
        if value is not None and self._improved(float(value), state.get("best")):
            state["best"], state["best_epoch"], state["wait"] = float(value), epoch + 1, 0
            atomic_write(self.run.staged_weights("best", epoch + 1), lambda tmp: shutil.copyfile(last, tmp),
                         suffix=".weights.h5")
        else:
            state["wait"] = int(state.get("wait", 0)) + 1
        state["epoch"] = epoch + 1
        state["monitor"] = self.monitor
        if self.clock is not None:
            state.update(self.clock.counts())
        self.run.append_history(epoch, logs)
        if self.patience is not None and state["wait"] >= self.patience:
            print(f"[runs] early stop: {self.monitor} did not improve for {self.patience} epochs")
            state["finished"] = True
            self.model.stop_training = True
        self.run.save_state(state)  # the commit: from here on, epoch + 1 is the checkpoint
        self.run.settle()


class TrainingClock(keras.callbacks.Callback):
    """Training seconds and images over resumes, in the run's ``state.json``; time budget.

    It counts ``train_seconds`` (wall time inside ``fit``, validation included),
    ``step_seconds`` (time in training steps) and ``train_images`` (:meth:`counts`), which
    the :class:`ResumableCheckpoint` it is given to records in ``state.json`` with each
    epoch (:func:`training_callbacks` wires both), so a resumed run goes on counting from the
    last committed epoch. With ``budget_s`` it stops training once ``train_seconds`` reaches
    it (checked every batch; the cut-short epoch still ends, so the last checkpoint holds the
    weights at the deadline) and sets ``budget_hit``. Runs of older versions resume with
    their counts: a U-Net's ``train_progress.json``, a Mask R-CNN's state without
    ``step_seconds``.

    Args:
        run: The run folder.
        batch_size: Images per training step (the global batch).
        budget_s: Time budget in seconds over all resumes (0: none).
    """

    def __init__(self, run: RunDir, batch_size: int, budget_s: float = 0.0):
        super().__init__()
        self.run, self.batch_size, self.budget_s = run, batch_size, budget_s
        state = run.load_state()
        old = read_json(run.path / "train_progress.json", {})  # U-Net runs before this clock
        self.seconds = float(state.get("train_seconds", old.get("seconds", 0.0)))
        self.step_seconds = float(state.get("step_seconds", old.get("step_seconds", self.seconds)))
        self.images = int(state.get("train_images", old.get("images", 0)))
        self.budget_hit = False
        self._t0: float | None = None
        self._base = self._tb = 0.0

    def elapsed(self) -> float:
        """Training seconds so far, over resumes, the running ``fit`` included."""
        return self._base + (time.monotonic() - self._t0 if self._t0 is not None else 0.0)

    def remaining(self) -> float | None:
        """Seconds left of the budget (``None``: no budget)."""
        return self.budget_s - self.seconds if self.budget_s else None

    def images_per_s(self) -> float | None:
        return round(self.images / self.step_seconds, 3) if self.step_seconds else None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._t0, self._base = time.monotonic(), self.seconds

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._tb = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step_seconds += time.monotonic() - self._tb
        self.images += self.batch_size
        if self.budget_s and self.elapsed() >= self.budget_s:
            if not self.budget_hit:
                print(f"[train] time budget of {self.budget_s:g} s reached; stopping", flush=True)
            self.budget_hit = True
            self.model.stop_training = True

    def counts(self) -> dict:
        """The ``state.json`` entries of the counts so far (over resumes)."""
        return {"train_seconds": self.seconds, "step_seconds": self.step_seconds, "train_images": self.images}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds = self.elapsed()  # before the checkpoint records it

    def on_train_end(self, logs: dict | None = None) -> None:
        self.seconds, self._t0 = self.elapsed(), None


def write_train_summary(run: RunDir, clock: TrainingClock, solution: str, fold: int, params: int,
                        device: str, **extra: Any) -> dict:
    """Write the run's ``train_summary.json`` (keys of ``docs/CONTRACTS.md``), then mark it finished.

    Args:
        run: The run folder.
        clock: The run's clock (seconds and images over resumes).
        solution: Solution name.
        fold: Validation fold.
        params: The model's parameter count.
        device: Where it trained (``common.machine.device_description()``, plus the
            distribution when data parallel).
        **extra: Solution-specific entries, appended.

    Returns:
        The summary: ``solution``, ``fold``, ``train_seconds``, ``epochs`` (completed, from
        ``state.json``), ``train_images_per_s`` (images / step seconds), ``params``,
        ``device``, ``stopped_by_time_budget`` and ``extra``.
    """
    summary = {"solution": solution, "fold": fold, "train_seconds": round(clock.seconds, 2),
               "epochs": int(run.load_state().get("epoch", 0)), "train_images_per_s": clock.images_per_s(),
               "params": int(params), "device": device, "stopped_by_time_budget": clock.budget_hit, **extra}
    write_json(run.path / "train_summary.json", summary)
    run.mark_finished()
    return summary


def training_callbacks(run: RunDir, monitor: str = "val_loss", mode: str = "min",
                       patience: int | None = None, tensorboard: bool = True,
                       clock: TrainingClock | None = None) -> list:
    """The standard callbacks: the ``clock`` (when given), checkpoint/resume with the
    history rows, ``common.allocator``, TensorBoard."""
    from common.allocator import KeepFreedMemory

    callbacks = [*([clock] if clock is not None else []),
                 ResumableCheckpoint(run, monitor, mode, patience, clock=clock), KeepFreedMemory()]
    if tensorboard:
        missing = [m for m in ("tensorflow", "tensorboard") if importlib.util.find_spec(m) is None]
        if missing:  # Keras' TensorBoard writer needs both
            print(f"[runs] TensorBoard logs skipped: {' and '.join(missing)} not installed "
                  f"(backend {keras.backend.backend()})")
        else:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.logs_dir), write_graph=False))
    return callbacks


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and the backend; make TF ops deterministic on CPU."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # noqa: BLE001 - not fatal: only affects bitwise repeatability
            pass


def set_mixed_precision(enabled: bool) -> None:
    """Switch Keras' global dtype policy between ``mixed_float16`` and ``float32``."""
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")


# ----------------------------------------------------------------------------- devices
def replica_devices(backend: str | None = None) -> tuple[list, str]:
    """The devices data parallelism may use, and their kind.

    Returns:
        ``(devices, kind)``: the backend's GPUs (TensorFlow logical devices or JAX
        devices) and ``"GPU"``; without a GPU and with ``DSB_ALLOW_CPU_REPLICAS=1``
        (tests), the CPU devices and ``"CPU"``; else ``([], "GPU")``.
    """
    backend = backend or keras.backend.backend()
    allow_cpu = os.environ.get(ENV_CPU_REPLICAS, "") == "1"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if gpus or not allow_cpu:
            return gpus, "GPU"
        return tf.config.list_logical_devices("CPU"), "CPU"
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")]
        if gpus or not allow_cpu:
            return gpus, "GPU"
        return jax.devices("cpu"), "CPU"
    return [], "GPU"


@dataclass
class Distribution:
    """How a model trains: on one device, or data parallel over several.

    Attributes:
        backend: The Keras backend.
        replicas: Number of devices the global batch is split over (1: no distribution).
        devices: Their names (empty for one device: the backend's default).
        strategy: The ``tf.distribute`` strategy (TensorFlow), else ``None``.
    """

    backend: str
    replicas: int = 1
    devices: list[str] = field(default_factory=list)
    strategy: Any = None

    def describe(self) -> str:
        """E.g. ``"data parallel over 2 GPUs (MirroredStrategy)"``, or ``"one device"``."""
        if self.replicas <= 1:
            return "one device"
        how = "MirroredStrategy" if self.backend == "tensorflow" else "keras.distribution.DataParallel"
        return f"data parallel over {self.replicas} devices {self.devices} ({how})"

    def even_batches(self, dataset):
        """``dataset`` as is, or wrapped so that every batch splits evenly over the replicas.

        JAX shards each batch over the devices and refuses a short last batch (5 images
        over 2 devices); TensorFlow's ``MirroredStrategy`` fails on a replica left with no
        rows (a 1-image batch over 2 devices). See :class:`EvenBatches`.
        """
        if dataset is None or self.replicas <= 1:
            return dataset
        return EvenBatches(dataset, self.replicas)


class EvenBatches(keras.utils.PyDataset):
    """A ``PyDataset`` whose short batches are filled up to a multiple of ``replicas``.

    Rows are repeated from the start of the same batch, so a few images of a short last
    (validation) batch count twice in its loss. Full batches pass through unchanged.

    Args:
        dataset: The wrapped ``keras.utils.PyDataset`` yielding arrays with the batch
            first, in tuples or dicts (nested).
        replicas: The number of devices.
    """

    def __init__(self, dataset, replicas: int):
        super().__init__(workers=getattr(dataset, "workers", 1),
                         use_multiprocessing=getattr(dataset, "use_multiprocessing", False),
                         max_queue_size=getattr(dataset, "max_queue_size", 10))
        self.dataset, self.replicas = dataset, replicas

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_batches(self) -> int | None:
        """The wrapped dataset's (None: endless, e.g. ``common.endless.EndlessEpochs``)."""
        return self.dataset.num_batches

    def __getitem__(self, index: int):
        import numpy as np

        batch = self.dataset[index]
        first = batch
        while isinstance(first, (tuple, list, dict)):
            first = next(iter(first.values())) if isinstance(first, dict) else first[0]
        n = len(first)
        want = -(-n // self.replicas) * self.replicas
        if want == n:
            return batch
        take = np.arange(want) % n

        def fill(part):
            if isinstance(part, dict):
                return {k: fill(v) for k, v in part.items()}
            if isinstance(part, (tuple, list)):
                return tuple(fill(v) for v in part)
            return np.asarray(part)[take]

        return fill(batch)

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


@contextlib.contextmanager
def distribution(gpus: int = 0, batch_size: int | None = None,
                 setting: str = "train.gpus") -> Iterator[Distribution]:
    """Build, compile and fit a model inside this block to train on ``gpus`` devices.

    Args:
        gpus: 0 or 1: one device; N > 1: data parallel over the first N GPUs; -1: over
            every visible GPU.
        batch_size: The global batch size, checked to be divisible by the replica count.
        setting: How the user set ``gpus``, for error messages.

    Yields:
        The :class:`Distribution` in force (its ``strategy`` scope is entered under
        TensorFlow; the global Keras distribution is set under JAX and restored after).

    Raises:
        DeviceError: fewer GPUs than asked for (a :class:`common.config.ConfigError`).
        common.config.ConfigError: the batch size does not split over the replicas.
    """
    backend = keras.backend.backend()
    if gpus in (0, 1):
        yield Distribution(backend)
        return
    found, kind = replica_devices(backend)
    names = [getattr(d, "name", None) or f"{d.platform}:{d.id}" for d in found]
    n = check_replicas(gpus, len(found), backend, batch_size, setting, kind)
    if n <= 1:
        yield Distribution(backend)
        return
    names = names[:n]
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(names)
        with strategy.scope():
            yield Distribution(backend, n, names, strategy)
        return
    if backend != "jax":
        raise DeviceError(f"{setting}={gpus}: data parallel training needs KERAS_BACKEND tensorflow or jax, "
                          f"not {backend}")
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found[:n]))
    try:
        yield Distribution(backend, n, names)
    finally:
        keras.distribution.set_distribution(previous)
