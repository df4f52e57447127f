"""Test-time self-training (``predict.adapt``): fine-tune a trained U-Net on its own
predictions of the images it is about to predict, then let it predict them again.

A kind of image the network never trained on (another microscope, stain or magnification)
is given whole at test time: the DSB's stage-2 set, or a user's folder. No label of those
images is read, so the step is as fair on out-of-fold images as on a test set.

1. **Pseudo-labels** (:func:`pseudo_labels`): each image (at most ``max_images``, evenly
   spaced) is predicted as the config says (``predict_image``: scale selection, TTA) and
   post-processed with the run's params. The network's input at the scale the selection chose
   (``predict_image``'s ``view``: smoothed too when ``predict.denoise`` smoothed it) and the
   instances at that scale are kept, so the network trains on them at the size it predicted them
   best. An image with no instance is left out: it would teach a kind the network missed that it
   holds no nucleus.
2. **Fine-tuning** (:func:`adapt_model`): ``steps`` batches at a constant Adam ``lr``; in each,
   ``max(1, round(mix * batch_size))`` crops come from the pseudo-labelled images with the 8
   flips and turns only, and their targets are made from the cropped instances as in training
   (``solutions.unet.targets.make_targets``); the rest come from the run's training images with
   the training's augmentation (drawn uniformly: ``data.balance`` is not applied). Cut with the
   training's augmentation (and drawn by weight), the pseudo-labels made the network lose a kind
   whose nuclei it had missed (0.123 -> 0.011); cut with flips and turns only, a fixed share of
   each batch, they did not (``bench/results/selftrain_cpu_20261207/``).
3. With ``interpolate`` below 1 only that share of the fine-tuning's change is kept
   (:func:`interpolate_weights`; weight interpolation, as WiSE-FT does for robust fine-tuning).
4. The caller predicts with the changed network (its compiled forward passes are dropped,
   ``common.engine.forget``). :func:`adapt_share` does this once per share of a predictions
   folder and keeps the adapted weights there until the share is whole, so a killed predict goes
   on with the same network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import keras
import numpy as np

from common.runs import RunDir

__all__ = ["MixedCrops", "adapt_model", "adapt_share", "interpolate_weights", "pick_evenly", "pseudo_crop",
           "pseudo_labels", "training_items"]


def pick_evenly(ids: Sequence[str], most: int) -> list[str]:
    """At most ``most`` of ``ids``, evenly spaced, in their order (all of them when fewer)."""
    ids = list(ids)
    if len(ids) <= most:
        return ids
    return [ids[i] for i in np.linspace(0, len(ids) - 1, most).round().astype(int)]


def pseudo_labels(model, cfg, dataset, ids: Sequence[str], params: dict, sizes: dict,
                  tta: str | None = None) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """The network's inputs and its own instances, at the scale it chose per image.

    Args:
        model: The trained network.
        cfg: The run's :class:`~solutions.unet.config.UNetConfig`.
        dataset: Has ``load_image(id)``.
        ids: The images to pseudo-label.
        params: ``probs_to_instances`` params (the run's thresholds).
        sizes: ``solutions.unet.predict.load_sizes`` of the run.
        tta: As ``predict_image`` (default ``cfg.predict.tta``).

    Returns:
        ``(inputs, labels, n_instances)``: uint8 [h,w,3] network inputs (normalised) and int32
        [h,w] instances of the images with at least one instance, and the instance count.
    """
    from common.instances import floors_at_scale, probs_to_instances
    from solutions.unet.inference import predict_image
    from solutions.unet.predict import floor_scale

    inputs, labels, count = [], [], 0
    for image_id in ids:
        info, view = {}, {}
        prob = predict_image(model, dataset.load_image(image_id), cfg, tta, params=params, info=info, view=view,
                             **sizes)
        scale = float(info.get("scale", 1.0))
        found, scores = probs_to_instances(prob, floors_at_scale(params, floor_scale(cfg, scale)))
        if len(scores) == 0:
            continue
        count += len(scores)
        x = view["input"]
        if x.shape[:2] != found.shape:
            found = cv2.resize(found, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
        inputs.append(x)
        labels.append(found)
    return inputs, labels, count


def pseudo_crop(image: np.ndarray, labels: np.ndarray, size: int, channels: Sequence[str], border_width: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` crop of an image and its instances (zero-padded at a random place
    when smaller, as training pads), turned by a random multiple of 90 degrees and mirrored half
    the time; its targets made from the cropped instances as in training.

    Returns:
        (float32 [size,size,3], float32 [size,size,C]).
    """
    from common.augment import random_crop
    from solutions.unet.targets import make_targets

    image, labels = random_crop(image, labels, size, rng)
    turns = int(rng.integers(4))
    image, labels = np.rot90(image, turns), np.rot90(labels, turns)
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    targets = make_targets(np.ascontiguousarray(labels), channels, border_width)
    return image.astype(np.float32), np.asarray(targets, dtype=np.float32)


class MixedCrops(keras.utils.PyDataset):
    """``steps`` batches: the last ``n_pseudo`` crops of each from the pseudo-labelled images
    (:func:`pseudo_crop`), the first ``batch_size - n_pseudo`` from ``base`` (a training
    ``CropDataset`` of that batch size; None when every crop is pseudo-labelled). Batch ``i`` is
    a function of ``seed`` and ``i``."""

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], n_pseudo: int,
                 batch_size: int, crop_size: int, steps: int, base=None, seed: int = 0,
                 channels: Sequence[str] = ("body", "border", "centre"), border_width: int = 2) -> None:
        super().__init__()
        if not images or not 0 < n_pseudo <= batch_size or (base is None and n_pseudo < batch_size):
            raise ValueError(f"MixedCrops needs pseudo-labelled images and 0 < n_pseudo <= batch_size "
                             f"(= without training crops), got {len(images)} images, {n_pseudo} of {batch_size}")
        self.images, self.labels = list(images), list(labels)
        self.n_pseudo, self.batch_size, self.crop_size = n_pseudo, batch_size, crop_size
        self.steps, self.base, self.seed = steps, base, seed
        self.channels, self.border_width = tuple(channels), border_width

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        crops = [pseudo_crop(self.images[k], self.labels[k], self.crop_size, self.channels, self.border_width, rng)
                 for k in rng.integers(0, len(self.images), self.n_pseudo)]
        xs, ys = np.stack([c[0] for c in crops]), np.stack([c[1] for c in crops])
        if self.base is None:
            return xs, ys
        bx, by = self.base.batch(0, index)
        return np.concatenate([bx, xs]), np.concatenate([by, ys])


def training_items(run: RunDir, cfg) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The run's training images (``RunDir.training_set``), normalised, and their labels.

    Raises:
        FileNotFoundError: ``run_info.json`` does not list them, or its data folder cannot be
            read, naming them and the switch that does without (``predict.adapt.mix=1``).
    """
    from common.data import DSBDataset
    from common.images import DataError
    from solutions.unet.data import load_items

    fix = "; predict.adapt.mix=1 adapts on the predicted images alone"
    try:
        data_dir, fit_ids = run.training_set()
        return load_items(DSBDataset(data_dir, "stage1_train"), fit_ids, normalise=cfg.data)
    except (OSError, DataError) as exc:
        raise FileNotFoundError(f"{run.info_path}: predict.adapt cannot read the run's training images "
                                f"({exc}){fix}") from exc


def interpolate_weights(original: Sequence[np.ndarray], tuned: Sequence[np.ndarray],
                        share: float) -> list[np.ndarray]:
    """``original + share * (tuned - original)`` per weight array, in its dtype
    (``predict.adapt.interpolate``); an integer or boolean array (none in the U-Net's weights
    today) is taken from ``tuned``.

    Raises:
        ValueError: The two lists do not pair array for array (not the same network).
    """
    if len(original) != len(tuned) or any(a.shape != b.shape for a, b in zip(original, tuned)):
        raise ValueError("interpolate_weights: the original and fine-tuned weights are not of one network")
    exact = (np.integer, np.bool_)  # not np.floating: bfloat16 is not one of numpy's floating types
    return [b if any(np.issubdtype(b.dtype, t) for t in exact)
            else (a.astype(np.float64) + share * (b.astype(np.float64) - a.astype(np.float64))).astype(b.dtype)
            for a, b in zip(original, tuned)]


def adapt_model(model, cfg, run: RunDir, dataset, ids: Sequence[str], params: dict, sizes: dict) -> dict:
    """Fine-tune ``model`` in place on pseudo-labels of ``ids`` (``cfg.predict.adapt``), predicted
    with the config's TTA (``--tta`` reaches it as the item ``predict.tta``).

    The run's training images are read first, so a run without them fails before the pass.

    Returns:
        A record for the prediction folder: images pseudo-labelled (and left out, with no
        instance), instances, steps, learning rate, mix, the last loss, the share of the change
        kept (``interpolate``) and seconds.
    """
    from common.allocator import KeepFreedMemory
    from common.engine import forget
    from common.training import seed_everything
    from solutions.unet.losses import build_loss

    ad = cfg.predict.adapt
    t0 = time.monotonic()
    batch = cfg.train.batch_size
    n_pseudo = max(1, min(batch, round(ad.mix * batch)))
    base = None
    if n_pseudo < batch:
        from solutions.unet.data import CropDataset
        from solutions.unet.train import training_augmenter

        fit_images, fit_labels = training_items(run, cfg)
        base = CropDataset(fit_images, fit_labels, crop_size=cfg.data.crop_size, batch_size=batch - n_pseudo,
                           steps=ad.steps, channels=cfg.model.channels, border_width=cfg.data.border_width,
                           augmenter=training_augmenter(cfg), seed=cfg.seed + 1, training=True)
    picked = pick_evenly(ids, ad.max_images)
    print(f"[adapt] pseudo-labelling {len(picked)} of {len(ids)} images, then {ad.steps} fine-tuning steps "
          f"(predict.adapt)", flush=True)
    inputs, labels, count = pseudo_labels(model, cfg, dataset, picked, params, sizes)
    record = {"images": len(inputs), "without_instances": len(picked) - len(inputs), "instances": count,
              "steps": ad.steps, "lr": ad.lr, "mix": ad.mix}
    if not inputs:
        print("[adapt] no instance found in any image: the network is left as it was", flush=True)
        return {**record, "steps": 0, "loss": None, "interpolate": ad.interpolate,
                "seconds": round(time.monotonic() - t0, 1)}
    crops = MixedCrops(inputs, labels, n_pseudo, batch, cfg.data.crop_size, ad.steps, base, cfg.seed,
                       cfg.model.channels, cfg.data.border_width)
    seed_everything(cfg.seed, deterministic=False)  # the later inference keeps its fast kernels
    original = model.get_weights() if ad.interpolate < 1 else None
    model.compile(optimizer=keras.optimizers.Adam(ad.lr), loss=build_loss(cfg.loss))
    history = model.fit(crops, epochs=1, verbose=0, callbacks=[KeepFreedMemory()])
    if original is not None:
        model.set_weights(interpolate_weights(original, model.get_weights(), ad.interpolate))
    forget(model)  # an engine that froze the old weights must not serve the new ones
    record.update(loss=round(float(history.history["loss"][-1]), 5), interpolate=ad.interpolate,
                  seconds=round(time.monotonic() - t0, 1))
    print(f"[adapt] fine-tuned on {count} instances of {len(inputs)} predicted images, {ad.steps} steps, "
          f"{record['seconds']} s", flush=True)
    return record


def adapt_share(model, cfg, run: RunDir, dataset, share: Sequence[str], ids: Sequence[str], todo: Sequence[str],
                out_dir: str | os.PathLike, fold: int | None, params: dict, sizes: dict,
                overrides: Sequence[str] = ()) -> tuple[dict, list[str]]:
    """``predict.adapt`` for one share of a predictions folder: the network the share's images
    are predicted with, adapted once per share (on all of ``share``; ``ids``: the part this
    predict covers, ``todo``: those still to predict, ``common.predictions.pending_ids``;
    ``overrides``: its ``--set`` items).

    * Nothing to predict: the share's record (``common.predictions.adapt_path``) is returned;
      without one the share cannot say how it was made, so it is adapted and every id of
      ``ids`` predicted again.
    * Adapted weights kept (``adapted_weights_path``) whose record's ``inputs`` are this run's
      training (``common.io.file_fingerprint`` of its ``train_summary.json``), these
      ``overrides`` and this share (``common.io.ids_digest``), by ``common.io.unchanged``:
      they are loaded, so a killed predict (or another ``--only`` part of the share) goes on
      with the same network.
    * Otherwise :func:`adapt_model`; its weights are written whole, then its record.

    Returns:
        ``(record, todo)``.
    """
    from common.engine import forget
    from common.io import atomic_write, file_fingerprint, ids_digest, read_json, unchanged, write_json
    from common.predictions import adapt_path, adapted_weights_path

    record_path, weights = adapt_path(out_dir, fold), adapted_weights_path(out_dir, fold)
    record, todo = read_json(record_path), list(todo)
    if not todo and record is not None:
        return record, todo
    if not todo:
        print(f"[predict] {record_path.name} is missing: adapting and predicting all {len(ids)} images again")
        todo = list(ids)
    inputs = {"trained": file_fingerprint(Path(run.path).resolve() / "train_summary.json"),
              "overrides": [str(o) for o in overrides], "share": ids_digest(share)}
    if unchanged(record, inputs) and weights.exists():
        model.load_weights(weights)
        forget(model)
        print(f"[adapt] resuming with the network adapted before ({weights}); not fine-tuned again", flush=True)
        return record, todo
    record_path.unlink(missing_ok=True)  # a kill before the new record must not pair the old one with new weights
    record = {**adapt_model(model, cfg, run, dataset, share, params, sizes), "inputs": inputs}
    atomic_write(weights, model.save_weights, suffix=".weights.h5")
    write_json(record_path, record)
    return record, todo
