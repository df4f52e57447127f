"""Train a U-Net on the training folds of one fold split.

Usage::

    python -m solutions.unet.train --config solutions/unet/configs/watershed.yaml --fold 0 \\
        [--data DIR] [--work DIR] [--run-name NAME] [--set train.epochs=3 ...] [--verbose 1|2]

Writes ``WORK/runs/<run-name>/`` (default ``<solution>-fold<K>``): ``config.yaml``,
``run_info.json`` (fold and image ids), weights, ``state.json``, ``history.csv``,
TensorBoard ``logs/`` and, at the end, ``train_summary.json``. Running the same command
again resumes after the last completed epoch; a finished run is not retrained.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from common.cli import add_train_args, open_train_run
from common.data import DSBDataset
from common.folds import get_folds, split_ids
from common.io import read_json
from common.machine import device_description
from common.runs import RunDir, resume
from solutions.unet.config import UNetConfig

# Keras (and with it TensorFlow, whose start-up log lines TF_CPP_MIN_LOG_LEVEL no longer silences
# in TF 2.21) is imported inside the functions that train: a bad --fold or --set fails at once, in one line.



def inner_split(ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Hold out ``fraction`` of ``ids`` for validation (deterministic for a seed).

    Returns:
        ``(fit_ids, val_ids)``, each sorted; ``val_ids`` is empty when ``fraction`` is 0.
    """
    ids = sorted(ids)
    if fraction <= 0 or len(ids) < 2:
        return ids, []
    n_val = min(len(ids) - 1, max(1, round(fraction * len(ids))))
    order = np.random.default_rng(seed).permutation(len(ids))
    val = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(val)), val


def _optimizer(cfg: UNetConfig, steps_per_epoch: int):
    from common.optimizers import lr_schedule, make_optimizer

    t = cfg.train
    lr = lr_schedule(t.lr_schedule, t.lr, decay_steps=t.epochs * steps_per_epoch)
    return make_optimizer(t.optimizer, lr, momentum=t.momentum)


def training_augmenter(cfg: UNetConfig, size: int | None = None):
    """The training augmentation of ``cfg`` (``data.augment`` and its extras) for crops of
    ``size`` (default ``data.crop_size``); also what ``predict.adapt`` cuts training crops with."""
    from common.augment import build_augmenter

    d = cfg.data
    return build_augmenter(d.crop_size if size is None else size, d.augment, seed=cfg.seed,
                           scale_range=d.scale_range or None, stain=d.stain_augment, blur_noise=d.blur_noise,
                           cytoplasm=d.cytoplasm, dim=d.dim_nuclei, grain=d.grain,
                           defocus=d.defocus)


def _datasets(cfg: UNetConfig, dataset: DSBDataset, fit_ids: list[str], val_ids: list[str]):
    from common.sampling import sampling_weights
    from solutions.unet.data import CropDataset, ResizedDataset, load_items

    kw = {"workers": cfg.train.workers, "use_multiprocessing": False}
    fit_images, fit_labels = load_items(dataset, fit_ids, normalise=cfg.data)
    val_images, val_labels = load_items(dataset, val_ids, normalise=cfg.data)
    weights = sampling_weights(dataset, fit_ids, cfg.data.balance, "[unet]")
    if cfg.model.kind == "baseline":
        size = cfg.data.input_size
        aug = None if cfg.data.augment == "none" else training_augmenter(cfg, size)
        train = ResizedDataset(fit_images, fit_labels, size, cfg.train.batch_size, cfg.train.steps_per_epoch,
                               aug, cfg.seed, training=True, weights=weights, **kw)
        val = ResizedDataset(val_images, val_labels, size, cfg.train.batch_size, training=False, **kw) \
            if val_ids else None
        return train, val
    aug = training_augmenter(cfg)
    common = dict(crop_size=cfg.data.crop_size, batch_size=cfg.train.batch_size, channels=cfg.model.channels,
                  border_width=cfg.data.border_width, seed=cfg.seed)
    train = CropDataset(fit_images, fit_labels, steps=cfg.train.steps_per_epoch, augmenter=aug,
                        training=True, weights=weights, **common, **kw)
    val = CropDataset(val_images, val_labels, training=False, **common, **kw) if val_ids else None
    return train, val


def build_compiled_model(cfg: UNetConfig, steps_per_epoch: int = 1):
    """Build and compile the configured network.

    For ``train.gpus`` > 1 call it inside ``common.training.distribution`` (as
    :func:`train_run` does), so that the variables are made on every replica.
    """
    from solutions.unet.losses import build_loss, build_metrics
    from solutions.unet.model_watershed import build_model

    model = build_model(cfg)
    model.compile(optimizer=_optimizer(cfg, steps_per_epoch), loss=build_loss(cfg.loss),
                  metrics=build_metrics(cfg.loss))
    return model


def train_run(cfg: UNetConfig, run: RunDir, dataset: DSBDataset, fit_ids: list[str], val_ids: list[str],
              fold: int, verbose: int = 1) -> dict:
    """Train (or resume) one run and write ``train_summary.json``.

    Args:
        cfg: The resolved config (already saved by ``run.prepare``).
        run: The run folder.
        dataset: The training split.
        fit_ids: Images to train on.
        val_ids: Images for validation / early stopping (may be empty).
        fold: Fold number, for the summary.
        verbose: Keras ``fit`` verbosity (1: progress bar, 2: one line per epoch).

    Returns:
        The train summary dict.
    """
    summary_path = run.path / "train_summary.json"
    if run.finished and summary_path.exists():
        print(f"[unet] {run.path} is finished; not retraining")
        return read_json(summary_path)
    from common.endless import EndlessEpochs
    from common.optimizers import TimeCosine
    from common.training import (TrainingClock, distribution, seed_everything, set_mixed_precision,
                                 training_callbacks, write_train_summary)

    seed_everything(cfg.seed)
    set_mixed_precision(cfg.train.mixed_precision)
    train_ds, val_ds = _datasets(cfg, dataset, fit_ids, val_ids)
    if cfg.model.kind != "baseline":  # the fold's nucleus size, for predict.scale_norm
        from common.scale import save_nucleus_size

        save_nucleus_size(run.path, train_ds.labels)
    with distribution(cfg.train.gpus, cfg.train.batch_size) as dist:
        model = build_compiled_model(cfg, len(train_ds))
        initial_epoch = resume(run, model)
        stream = EndlessEpochs(train_ds, start_epoch=initial_epoch)  # one input iterator per fit
        clock = TrainingClock(run, cfg.train.batch_size, cfg.train.time_budget_s)
        callbacks = training_callbacks(run, monitor="val_loss" if val_ds is not None else "loss", mode="min",
                                       patience=cfg.train.patience or None, tensorboard=cfg.train.tensorboard,
                                       clock=clock)
        if cfg.train.lr_schedule == "cosine_time":
            callbacks.append(TimeCosine(clock, cfg.train.lr, cfg.train.time_budget_s))
        remaining = clock.remaining()
        device = device_description() + (f"; {dist.describe()}" if dist.replicas > 1 else "")
        if not run.finished and initial_epoch < cfg.train.epochs and (remaining is None or remaining > 0):
            print(f"[unet] training {run.path.name}: {len(fit_ids)} images, {len(val_ids)} validation, "
                  f"{model.count_params():,} params, epochs {initial_epoch}->{cfg.train.epochs}, "
                  f"{len(train_ds)} steps/epoch, device {device}", flush=True)
            model.fit(dist.even_batches(stream), steps_per_epoch=stream.steps_per_epoch, shuffle=False,
                      validation_data=dist.even_batches(val_ds), epochs=cfg.train.epochs,
                      initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose)
    summary = write_train_summary(run, clock, cfg.solution, fold, model.count_params(), device)
    print(f"[unet] finished {run.path.name}: {summary}", flush=True)
    return summary


def prepare_fold(cfg: UNetConfig, ws, fold: int) -> tuple[DSBDataset, list[str], list[str], list[str]]:
    """The training split, and its fit / validation / out-of-fold ids for ``fold``."""
    dataset = DSBDataset(ws.data_dir, "stage1_train")
    folds = get_folds(dataset, ws.folds_csv, n_folds=cfg.n_folds, seed=cfg.seed)
    train_ids, oof_ids = split_ids(folds, fold)
    fit_ids, val_ids = inner_split(train_ids, cfg.data.val_fraction, cfg.seed)
    if cfg.data.max_train_images:
        keep = np.random.default_rng(cfg.seed + 1).permutation(len(fit_ids))[:cfg.data.max_train_images]
        fit_ids = sorted(fit_ids[i] for i in keep)
    return dataset, fit_ids, val_ids, oof_ids


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m solutions.unet.train", description=__doc__.split("\n")[0])
    add_train_args(parser)
    args = parser.parse_args(argv)
    cfg, ws, run = open_train_run(args, UNetConfig)
    dataset, fit_ids, val_ids, oof_ids = prepare_fold(cfg, ws, args.fold)
    run.claim({"fold": args.fold, "solution": cfg.solution, "data_dir": str(ws.data_dir),
               "fit_ids": fit_ids, "val_ids": val_ids, "oof_ids": oof_ids}, keys=("fold", "fit_ids"))
    train_run(cfg, run, dataset, fit_ids, val_ids, args.fold, args.verbose)
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "python -m solutions.unet.train"))
