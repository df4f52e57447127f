"""The one optimizer and learning-rate schedule builder of both solutions.

    opt = make_optimizer("sgd", lr_schedule("cosine", cfg.train.lr, decay_steps=epochs * steps),
                         momentum=0.9, weight_decay=1e-4, clipnorm=5.0, model=model)
    callbacks.append(TimeCosine(clock, cfg.train.lr, cfg.train.time_budget_s))  # "cosine_time"

A learning rate is a number or a ``keras.optimizers.schedules`` schedule (per step);
:class:`TimeCosine` is the wall-clock schedule (over a time budget), and a per-epoch one is
``keras.callbacks.LearningRateScheduler``.
"""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = ["OPTIMIZERS", "make_optimizer", "lr_schedule", "TimeCosine"]

OPTIMIZERS = ("adam", "sgd")


def lr_schedule(kind: str, lr: float, decay_steps: int = 0, alpha: float = 0.01) -> Any:
    """The learning rate an optimizer is built with.

    Args:
        kind: ``"constant"`` (``lr``), ``"cosine"`` (``CosineDecay`` from ``lr`` to
            ``alpha * lr`` over ``decay_steps`` steps), or ``"cosine_time"`` (``lr``: the
            optimizer starts constant and :class:`TimeCosine` sets it during training).
        lr: The initial learning rate.
        decay_steps: Steps of the cosine (``"cosine"`` only).
        alpha: Final fraction of ``lr``.
    """
    if kind in ("constant", "cosine_time"):
        return lr
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=decay_steps, alpha=alpha)
    raise ValueError(f"unknown learning-rate schedule {kind!r}; choose constant, cosine or cosine_time")


def make_optimizer(name: str, learning_rate: Any, momentum: float = 0.0, weight_decay: float = 0.0,
                   clipnorm: float = 0.0, model: keras.Model | None = None) -> keras.optimizers.Optimizer:
    """Adam or SGD (with ``momentum``), optional decoupled weight decay and clipping.

    Args:
        name: ``"adam"`` or ``"sgd"``.
        learning_rate: A number or a Keras schedule (:func:`lr_schedule`).
        momentum: SGD momentum.
        weight_decay: Decoupled weight decay (0: none). With ``model``, its 1-D variables
            (biases, normalisation) are excluded.
        clipnorm: Per-tensor gradient norm clipping (0: none).
        model: The model whose 1-D variables weight decay leaves alone.
    """
    kwargs = dict(learning_rate=learning_rate, weight_decay=weight_decay or None, clipnorm=clipnorm or None)
    if name == "adam":
        opt = keras.optimizers.Adam(**kwargs)
    elif name == "sgd":
        opt = keras.optimizers.SGD(momentum=momentum, **kwargs)
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
    if weight_decay and model is not None:
        opt.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) <= 1])
    return opt


class TimeCosine(keras.callbacks.Callback):
    """Cosine learning rate over wall-clock time: ``lr`` at 0 s down to 1 % at ``seconds``.

    Args:
        clock: The run's ``common.training.TrainingClock`` (its ``elapsed()`` counts
            resumes), which must come before this callback.
        lr: Learning rate at 0 s.
        seconds: Length of the cosine (the run's time budget).
    """

    def __init__(self, clock: Any, lr: float, seconds: float):
        super().__init__()
        self.clock, self.lr, self.seconds = clock, lr, seconds

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        frac = min(1.0, self.clock.elapsed() / self.seconds)
        # set as keras.callbacks.LearningRateScheduler does
        self.model.optimizer.learning_rate = self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
