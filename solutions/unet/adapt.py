"""Test-time self-training (``predict.adapt``): fine-tune a trained U-Net on its own
predictions of the images it is about to predict, then let it predict them again.

A kind of image the network never trained on (another microscope, stain or magnification)
is given whole at test time: the DSB's stage-2 set, or a user's folder. No label of those
images is read, so the step is as fair on out-of-fold images as on a test set.

1. **Pseudo-labels** (:func:`pseudo_labels`): each image (at most ``max_images``, evenly
   spaced) is predicted as the config says (``predict_image``: scale selection, TTA) and
   post-processed with the run's params. The image and its instances are rescaled by the scale
   the selection chose, so the network trains on them at the size it predicted them best, and
   the instances become the training targets (``solutions.unet.targets.make_targets``).
2. **Fine-tuning** (:func:`adapt_model`): ``steps`` batches at a constant Adam ``lr``; in each,
   ``round(mix * batch_size)`` crops come from the pseudo-labelled images with the 8 flips and
   turns only, the rest from the run's training images as training cut them. Through the
   training's colour and scale augmentation the pseudo-labels made the network lose a kind whose
   nuclei it had missed (0.123 -> 0.011); with flips and turns only that kind gained
   (``bench/results/selftrain_cpu_20261207/``).
3. The caller predicts with the changed network (its compiled forward passes are dropped,
   ``common.engine.forget``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import cv2
import keras
import numpy as np

from common.runs import RunDir

__all__ = ["MixedCrops", "adapt_model", "pick_evenly", "pseudo_crop", "pseudo_labels", "training_items"]


def pick_evenly(ids: Sequence[str], most: int) -> list[str]:
    """At most ``most`` of ``ids``, evenly spaced, in their order (all of them when fewer)."""
    ids = list(ids)
    if len(ids) <= most:
        return ids
    return [ids[i] for i in np.linspace(0, len(ids) - 1, most).round().astype(int)]


def pseudo_labels(model, cfg, dataset, ids: Sequence[str], params: dict,
                  sizes: dict) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Normalised images and their targets from the network's own instances.

    Args:
        model: The trained network.
        cfg: The run's :class:`~solutions.unet.config.UNetConfig`.
        dataset: Has ``load_image(id)``.
        ids: The images to pseudo-label.
        params: ``probs_to_instances`` params (the run's thresholds).
        sizes: ``solutions.unet.predict.load_sizes`` of the run.

    Returns:
        ``(images, targets, n_instances)``: uint8 [h,W,3] images at the chosen scale, normalised
        as in training, float32 [h,w,C] targets of ``model.channels``, and the instance count.
    """
    from common.instances import floors_at_scale, probs_to_instances
    from common.normalise import normalise_image
    from solutions.unet.inference import predict_image
    from solutions.unet.predict import floor_scale
    from solutions.unet.targets import make_targets

    images, targets, count = [], [], 0
    for image_id in ids:
        image, info = dataset.load_image(image_id), {}
        prob = predict_image(model, image, cfg, params=params, info=info, **sizes)
        scale = float(info.get("scale", 1.0))
        labels, scores = probs_to_instances(prob, floors_at_scale(params, floor_scale(cfg, scale)))
        count += len(scores)
        if scale != 1.0:
            h, w = labels.shape
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        images.append(normalise_image(image, cfg.data.normalise))
        targets.append(make_targets(labels, cfg.model.channels, cfg.data.border_width).astype(np.float32))
    return images, targets, count


def pseudo_crop(image: np.ndarray, target: np.ndarray, size: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` crop of an image and its targets (reflect-padded when smaller),
    turned by a random multiple of 90 degrees and mirrored half the time.

    Returns:
        (float32 [size,size,3], float32 [size,size,C]).
    """
    h, w = target.shape[:2]
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        target = np.pad(target, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        h, w = target.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    turns = int(rng.integers(4))
    image = np.rot90(image[y:y + size, x:x + size], turns)
    target = np.rot90(target[y:y + size, x:x + size], turns)
    if rng.random() < 0.5:
        image, target = image[:, ::-1], target[:, ::-1]
    return image.astype(np.float32), np.ascontiguousarray(target, dtype=np.float32)


class MixedCrops(keras.utils.PyDataset):
    """``steps`` batches: the last ``n_pseudo`` crops of each from the pseudo-labelled images
    (:func:`pseudo_crop`), the others from ``base`` (a training ``CropDataset``; None when every
    crop is pseudo-labelled). Batch ``i`` is a function of ``seed`` and ``i``."""

    def __init__(self, images: Sequence[np.ndarray], targets: Sequence[np.ndarray], n_pseudo: int,
                 batch_size: int, crop_size: int, steps: int, base=None, seed: int = 0) -> None:
        super().__init__()
        if not images or not 0 < n_pseudo <= batch_size or (base is None and n_pseudo < batch_size):
            raise ValueError(f"MixedCrops needs pseudo-labelled images and 0 < n_pseudo <= batch_size "
                             f"(= without training crops), got {len(images)} images, {n_pseudo} of {batch_size}")
        self.images, self.targets = list(images), list(targets)
        self.n_pseudo, self.batch_size, self.crop_size = n_pseudo, batch_size, crop_size
        self.steps, self.base, self.seed = steps, base, seed

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        crops = [pseudo_crop(self.images[k], self.targets[k], self.crop_size, rng)
                 for k in rng.integers(0, len(self.images), self.n_pseudo)]
        xs, ys = np.stack([c[0] for c in crops]), np.stack([c[1] for c in crops])
        if self.base is None:
            return xs, ys
        bx, by = self.base.batch(0, index)
        keep = self.batch_size - self.n_pseudo
        return np.concatenate([bx[:keep], xs]), np.concatenate([by[:keep], ys])


def training_items(run: RunDir, cfg) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The run's training images (``run_info.json``: ``data_dir``, ``fit_ids``), normalised.

    Raises:
        FileNotFoundError: no ``run_info.json``, or its data folder is gone, naming them and
            the switch that does without (``predict.adapt.mix=1``).
    """
    from common.data import DSBDataset
    from common.images import DataError
    from solutions.unet.data import load_items

    path = run.path / "run_info.json"
    fix = "; predict.adapt.mix=1 adapts on the predicted images alone"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: predict.adapt needs the run's training images{fix}")
    info = json.loads(path.read_text())
    try:
        dataset = DSBDataset(info["data_dir"], "stage1_train")
        return load_items(dataset, info["fit_ids"], normalise=cfg.data.normalise)
    except (OSError, KeyError, DataError) as exc:
        raise FileNotFoundError(f"{path}: the run's training images cannot be read ({exc}){fix}") from exc


def adapt_model(model, cfg, run: RunDir, dataset, ids: Sequence[str], params: dict, sizes: dict) -> dict:
    """Fine-tune ``model`` in place on pseudo-labels of ``ids`` (``cfg.predict.adapt``).

    Returns:
        A summary for the prediction folder: images and instances pseudo-labelled, steps,
        learning rate, mix, seconds and the last loss.
    """
    from common.allocator import KeepFreedMemory
    from common.engine import forget
    from solutions.unet.losses import build_loss

    ad = cfg.predict.adapt
    t0 = time.monotonic()
    picked = pick_evenly(ids, ad.max_images)
    print(f"[adapt] pseudo-labelling {len(picked)} of {len(ids)} images, then {ad.steps} fine-tuning steps "
          f"(predict.adapt)", flush=True)
    images, targets, count = pseudo_labels(model, cfg, dataset, picked, params, sizes)
    batch = cfg.train.batch_size
    n_pseudo = max(1, min(batch, round(ad.mix * batch)))
    base = None
    if n_pseudo < batch:
        from solutions.unet.data import CropDataset
        from solutions.unet.train import training_augmenter

        fit_images, fit_labels = training_items(run, cfg)
        base = CropDataset(fit_images, fit_labels, crop_size=cfg.data.crop_size, batch_size=batch,
                           steps=ad.steps, channels=cfg.model.channels, border_width=cfg.data.border_width,
                           augmenter=training_augmenter(cfg), seed=cfg.seed + 1, training=True)
    crops = MixedCrops(images, targets, n_pseudo, batch, cfg.data.crop_size, ad.steps, base, cfg.seed)
    keras.utils.set_random_seed(cfg.seed)
    model.compile(optimizer=keras.optimizers.Adam(ad.lr), loss=build_loss(cfg.loss))
    history = model.fit(crops, epochs=1, verbose=0, callbacks=[KeepFreedMemory()])
    forget(model)  # an engine that froze the old weights must not serve the new ones
    summary = {"images": len(picked), "instances": count, "steps": ad.steps, "lr": ad.lr, "mix": ad.mix,
               "loss": round(float(history.history["loss"][-1]), 5), "seconds": round(time.monotonic() - t0, 1)}
    print(f"[adapt] fine-tuned on {count} instances of {len(picked)} predicted images, {ad.steps} steps, "
          f"{summary['seconds']} s", flush=True)
    return summary
