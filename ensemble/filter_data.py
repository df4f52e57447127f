"""Instance tables for the instance filter: features and IoU labels of saved predictions.

:func:`collect_instances` reads a predictions folder (``docs/CONTRACTS.md``: labels, scores
and, for the U-Net, ``prob``), the images and (when labelled) the ground truth, and returns
one row per predicted instance. :func:`crossfit` evaluates a filter honestly: for each fold,
a filter fitted on the *other* folds' instances (threshold tuned there) is applied to this
fold's, so no image scores a filter that saw it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from common.instance_features import FEATURES, instance_features
from common.predictions import list_predictions, load_prediction
from ensemble.instance_filter import InstanceFilter, best_iou, dsb_scores

__all__ = ["collect_instances", "crossfit"]


def _one(image_id: str, path: Path, dataset, with_truth: bool) -> tuple[pd.DataFrame, int]:
    pred = load_prediction(path)
    image = dataset.load_image(image_id)
    if image.shape[:2] != pred.labels.shape:
        raise ValueError(f"{path}: labels {pred.labels.shape} but the image is {image.shape}")
    feats = instance_features(pred.labels, pred.prob, image, pred.scores, channels=pred.channels)
    feats.insert(0, "image_id", image_id)
    n_true = -1
    if with_truth:
        true = dataset.load_labels(image_id)
        iou = best_iou(true, pred.labels)  # ascending label ids, as the feature rows
        feats.insert(1, "iou", iou if len(feats) else np.zeros(0))
        n_true = int(np.unique(true[true > 0]).size)
    return feats.reset_index(), n_true


def collect_instances(pred_dir: str | Path, dataset, ids: Sequence[str] | None = None,
                      with_truth: bool = True, workers: int = 2,
                      log: Callable[[str], None] = print) -> tuple[pd.DataFrame, pd.Series]:
    """The instance table of a predictions folder.

    Args:
        pred_dir: Folder of ``<image_id>.npz`` predictions.
        dataset: ``common.data.DSBDataset`` with the images (and labels when ``with_truth``).
        ids: Images to read (default every prediction in the folder).
        with_truth: Add ``iou`` (best IoU with a true nucleus) and count the nuclei.
        workers: Threads.
        log: Progress printer.

    Returns:
        ``(table, n_true)``: table rows = instances, columns ``label``, ``image_id``, ``iou``
        (with truth) and :data:`common.instance_features.FEATURES`; ``n_true`` the nuclei per
        image (index: every image read, also those without instances; -1 without truth).

    Raises:
        FileNotFoundError: an id has no prediction in ``pred_dir`` (names the folder).
    """
    files = list_predictions(pred_dir)
    ids = sorted(files) if ids is None else list(ids)
    absent = [i for i in ids if i not in files]
    if absent:
        raise FileNotFoundError(f"{pred_dir}: no prediction for {len(absent)} image(s), "
                                f"e.g. {absent[:3]}")
    with ThreadPoolExecutor(max(1, workers)) as pool:
        parts = list(pool.map(lambda i: _one(i, files[i], dataset, with_truth), ids))
    log(f"[filter] {pred_dir}: {sum(len(p[0]) for p in parts)} instances in {len(ids)} images")
    cols = ["label", "image_id"] + (["iou"] if with_truth else []) + list(FEATURES)
    frames = [p[0] for p in parts if len(p[0])]
    table = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    return table, pd.Series([p[1] for p in parts], index=pd.Index(ids, name="image_id"),
                            name="n_true")


def crossfit(table: pd.DataFrame, n_true: pd.Series, image_folds: Mapping[str, int],
             features: Sequence[str] = FEATURES, mode: str = "drop",
             seed: int = 0) -> tuple[pd.DataFrame, dict[int, InstanceFilter]]:
    """Cross-fitted evaluation: fold k is filtered by a filter fitted on the other folds.

    Args:
        table: :func:`collect_instances` table (with ``iou``).
        n_true: Its nuclei per image.
        image_folds: image id -> fold; every image of ``n_true`` must have one.
        features: Features the filters use.
        mode: Filter mode (the scores do not change the DSB score of one model).
        seed: Classifier random state.

    Returns:
        ``(per_image, filters)``: per image (index image id) ``fold``, ``unfiltered`` and
        ``filtered`` DSB scores, ``n_pred``, ``n_kept``, ``threshold`` (of its fold's filter);
        and fold -> the filter applied to it.
    """
    folds = pd.Series({i: image_folds[i] for i in n_true.index}, dtype=int)
    inst_fold = folds.reindex(table["image_id"]).to_numpy()
    ids, iou = table["image_id"].to_numpy(), table["iou"].to_numpy()
    keep = np.ones(len(table), bool)
    p = np.full(len(table), np.nan)
    thresholds, filters = {}, {}
    for k in sorted(folds.unique()):
        train_imgs = folds.index[folds != k]
        tr = inst_fold != k
        filt = InstanceFilter.fit(table[tr], n_true[train_imgs], features, mode, seed,
                                  meta={"crossfit_fold": int(k)})
        te = ~tr
        p[te] = filt.proba(table[te])
        keep[te] = p[te] >= filt.threshold
        thresholds[int(k)], filters[int(k)] = filt.threshold, filt
    out = pd.DataFrame({"fold": folds})
    out["unfiltered"] = dsb_scores(ids, iou, np.ones(len(table), bool), n_true)
    out["filtered"] = dsb_scores(ids, iou, keep, n_true)
    out["n_pred"] = pd.Series(ids).value_counts().reindex(out.index).fillna(0).astype(int)
    out["n_kept"] = pd.Series(ids[keep]).value_counts().reindex(out.index).fillna(0).astype(int)
    out["threshold"] = out["fold"].map(thresholds)
    return out, filters
