"""Train Mask R-CNN on one fold (command line in ``docs/CONTRACTS.md``).

    python -m solutions.maskrcnn.train --config solutions/maskrcnn/configs/mobilenet.yaml \\
        --fold 0 [--data DIR] [--work DIR] [--run-name NAME] [--set train.all_epochs=2 ...]
        [--verbose 0|1|2]

Arguments come from ``common.cli.add_train_args``; ``--set`` takes several items and may
be repeated; ``--verbose`` is Keras' fit verbosity (default 2 here: one line per epoch).

Writes ``WORK/runs/<run-name>/`` (default ``maskrcnn-<backbone>-fold<K>``): resolved
config, best/last weights, optimizer state, ``history.csv``, TensorBoard logs,
``run_info.json`` and, on success, ``train_summary.json``. Running the same command again
resumes after the last completed epoch, in the stage that epoch belongs to; a finished run
is not retrained. A run folder holding a different config is an error
(``common.runs.RunConflictError``), finished or not; so is one started for another fold.

Schedule: epochs ``[0, heads_epochs)`` train FPN, RPN and heads with the backbone frozen;
the remaining ``all_epochs`` train all layers, the learning rate dropping by
``lr_drop_factor`` at each fraction in ``lr_drops`` of them. SGD with momentum, decoupled
weight decay (not on biases/norm parameters) and gradient clipping (``clipnorm``);
``train.optimizer: adam`` for from-scratch runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Sequence  # noqa: E402

from common.cli import add_train_args, open_train_run  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.folds import get_folds, split_ids  # noqa: E402
from common.io import read_json  # noqa: E402
from common.machine import device_description  # noqa: E402  (re-exported: bench imports it here)
from common.paths import Workspace  # noqa: E402
from common.runs import RunDir, resume  # noqa: E402
from solutions.maskrcnn.config import MaskRCNNConfig, TrainConfig  # noqa: E402

if TYPE_CHECKING:
    from solutions.maskrcnn.model import MaskRCNN

# Keras (and with it TensorFlow, whose start-up log lines TF_CPP_MIN_LOG_LEVEL no longer silences
# in TF 2.21) is imported inside the functions that train: a bad --fold or --set fails at once, in one line.

__all__ = ["main", "train", "build_optimizer", "jit_compile_default", "device_description"]


def jit_compile_default() -> bool:
    """``jit_compile`` for ``model.compile``: True under JAX (one XLA program per step),
    False under TensorFlow (on CPU the plain ``tf.function`` graph was the faster one, see
    the README's speed notes)."""
    import keras

    return keras.backend.backend() == "jax"


def build_optimizer(train_cfg: TrainConfig, model: MaskRCNN, lr: float | None = None):
    """SGD with momentum (or Adam), clipnorm and weight decay (not on 1-D variables)."""
    from common.optimizers import make_optimizer

    return make_optimizer(train_cfg.optimizer, train_cfg.lr if lr is None else lr, momentum=train_cfg.momentum,
                          weight_decay=train_cfg.weight_decay, clipnorm=train_cfg.clipnorm, model=model)


def _stages(cfg: TrainConfig) -> list[tuple[str, int, int]]:
    total = cfg.total_epochs
    return [s for s in (("heads", 0, cfg.heads_epochs), ("all", cfg.heads_epochs, total)) if s[2] > s[1]]


def train(cfg: MaskRCNNConfig, run: RunDir, ws: Workspace, fold: int, verbose: int = 2) -> dict:
    """Train (or resume) one run; returns the train summary written beside it.

    Args:
        cfg: The resolved config (already saved by ``run.prepare``).
        run: The run folder.
        ws: Workspace (data folder, ``folds.csv``).
        fold: Validation fold.
        verbose: Keras ``fit`` verbosity (1: progress bar, 2: one line per epoch).
    """
    import keras

    from common.endless import EndlessEpochs
    from common.sampling import sampling_weights
    from common.training import (TrainingClock, distribution, seed_everything,
                                 set_mixed_precision, training_callbacks, write_train_summary)
    from solutions.maskrcnn.data import TrainSequence
    from solutions.maskrcnn.model import build_model

    tc = cfg.train
    set_mixed_precision(tc.mixed_precision)
    seed_everything(cfg.seed + fold, deterministic=False)
    dataset = DSBDataset(ws.data_dir, "stage1_train")
    folds = get_folds(dataset, ws.folds_csv, cfg.n_folds, cfg.seed)
    train_ids, val_ids = split_ids(folds, fold)
    with distribution(tc.gpus, tc.batch_size) as dist:  # build, compile, resume and fit inside
        model = build_model(cfg.model, tc.loss_weights)
        anchors = model.anchors_np((tc.crop_size, tc.crop_size))
        workers = max(1, tc.workers)
        train_seq = TrainSequence(dataset, train_ids, cfg, anchors, tc.steps_per_epoch, tc.augment_level,
                                  seed=cfg.seed + 1000 * fold, workers=workers, use_multiprocessing=False,
                                  weights=sampling_weights(dataset, train_ids, cfg.data.balance, "[maskrcnn]"))
        val_seq = None
        if tc.val_steps and val_ids:
            val_seq = TrainSequence(dataset, val_ids, cfg, anchors, tc.val_steps, "none",
                                    seed=cfg.seed + 1, workers=workers, reshuffle=False)
        monitor = "val_loss" if val_seq is not None else "loss"
        start = int(run.load_state().get("epoch", 0))
        clock = TrainingClock(run, tc.batch_size, tc.time_budget_s)
        callbacks = training_callbacks(run, monitor=monitor, mode="min", tensorboard=tc.tensorboard, clock=clock)
        callbacks.append(keras.callbacks.LearningRateScheduler(tc.learning_rate))
        device = device_description() + (f"; {dist.describe()}" if dist.replicas > 1 else "")
        print(f"[maskrcnn] {run.path.name}: fold {fold}, {len(train_ids)} train / {len(val_ids)} val "
              f"images, {model.count_params():,} params, start at epoch {start}/{tc.total_epochs}, "
              f"device {device}")
        resumed = False
        for stage, first, last in _stages(tc):
            if last <= start or clock.budget_hit:
                continue
            model.freeze_backbone(stage == "heads")
            model.compile(optimizer=build_optimizer(tc, model, tc.learning_rate(max(start, first))),
                          jit_compile=jit_compile_default())
            if start > 0 and not resumed:
                resume(run, model)
            resumed = True
            print(f"[maskrcnn] stage '{stage}' epochs {max(start, first) + 1}..{last} "
                  f"({len(model.trainable_variables)} trainable tensors)")
            stream = EndlessEpochs(train_seq, start_epoch=max(start, first))  # one input iterator per fit
            model.fit(dist.even_batches(stream), steps_per_epoch=stream.steps_per_epoch, shuffle=False,
                      validation_data=dist.even_batches(val_seq), initial_epoch=max(start, first), epochs=last,
                      callbacks=callbacks, verbose=verbose)
            start = int(run.load_state().get("epoch", start))
            if model.stop_training and not clock.budget_hit:  # early stop by a callback
                break
    return write_train_summary(run, clock, cfg.solution, fold, model.count_params(), device)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The contract's train arguments (``common.cli.add_train_args``)."""
    p = argparse.ArgumentParser(prog="python -m solutions.maskrcnn.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_args(p)
    p.set_defaults(verbose=2)  # one line per epoch: logs stay readable
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg, ws, run = open_train_run(args, MaskRCNNConfig)  # a different config in the folder is an error
    if run.finished and read_json(run.info_path, {}).get("fold", args.fold) == args.fold:
        print(f"[maskrcnn] {run.path} is finished; nothing to do")
        return 0
    run.claim({"solution": cfg.solution, "fold": args.fold, "data_dir": str(ws.data_dir),
               "config": str(Path(args.config).resolve()), "overrides": list(args.overrides)})
    summary = train(cfg, run, ws, args.fold, verbose=args.verbose)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "python -m solutions.maskrcnn.train"))
