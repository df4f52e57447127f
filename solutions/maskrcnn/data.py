"""Batches for Mask R-CNN: training crops (``keras.utils.PyDataset``) and inference inputs.

Training: each item draws ``batch_size`` random images (normalised by ``data.normalise``,
``common.normalise``), augments them with
``common.augment`` (random crop of ``crop_size`` at native resolution, after an optional
random scale; colour transforms), and builds the fixed-size targets with
``inputs.build_sample``. Every batch has the same shapes, so one graph serves all steps.

Inference: :func:`inference_batch` resizes (optional) and zero-pads images of any size to a
common multiple of 64 at the bottom/right; :class:`ImageMeta` remembers how to undo it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import keras
import numpy as np

from common.augment import build_augmenter, random_crop
from common.normalise import normalise_with
from common.sampling import check_weights
from solutions.maskrcnn.config import PAD_MULTIPLE, MaskRCNNConfig
from solutions.maskrcnn.inputs import build_sample


class TrainSequence(keras.utils.PyDataset):
    """Random augmented crops with Mask R-CNN targets.

    Args:
        dataset: Anything with ``load_image(id)`` and ``load_labels(id)`` (``DSBDataset``).
        ids: Image ids to draw from.
        cfg: The solution config (crop size, batch size, target settings).
        anchors: [A,4] anchors of a ``crop_size x crop_size`` input.
        steps: Batches per epoch (``len()``).
        augment_level: ``common.augment`` level; ``"none"`` gives plain random crops
            (validation).
        seed: Base seed; item ``i`` of epoch ``e`` uses ``(seed, e, i)``, so runs repeat.
        cache: Keep decoded images/labels in memory.
        reshuffle: Draw new crops every epoch (False: the same batches each epoch, for
            validation).
        weights: Optional sampling probability of each of ``ids``
            (``common.sampling.sampling_weights``); None draws uniformly.
        **kwargs: ``workers``/``use_multiprocessing``/``max_queue_size`` for PyDataset.

    Items:
        dict ``image`` float32 [B,S,S,3], ``gt_class_ids`` int32 [B,G], ``gt_boxes``
        float32 [B,G,4], ``gt_masks`` float32 [B,G,56,56], ``rpn_match`` int8 [B,A],
        ``rpn_deltas`` float32 [B,A,4] (``S = crop_size``, ``G = max_gt``).
    """

    def __init__(self, dataset: Any, ids: Sequence[str], cfg: MaskRCNNConfig, anchors: np.ndarray,
                 steps: int, augment_level: str = "default", seed: int = 0, cache: bool = True,
                 batch_size: int | None = None, reshuffle: bool = True, weights: np.ndarray | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not ids:
            raise ValueError("TrainSequence needs at least one image id")
        self.dataset, self.ids, self.cfg = dataset, list(ids), cfg
        self.anchors, self.steps, self.seed = anchors, int(steps), int(seed)
        self.batch_size = int(batch_size or cfg.train.batch_size)
        self.augment_level = augment_level
        self.epoch = 0
        self.reshuffle = reshuffle
        self.weights = check_weights(weights, len(self.ids))
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None
        self._local = threading.local()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self) -> None:
        if self.reshuffle:
            self.epoch += 1

    def _load(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and image_id in self._cache:
            return self._cache[image_id]
        item = (normalise_with(self.dataset.load_image(image_id), self.cfg.data),
                self.dataset.load_labels(image_id))
        if self._cache is not None:
            with self._lock:
                self._cache[image_id] = item
        return item

    def _augmenter(self):
        aug = getattr(self._local, "aug", None)
        if aug is None:
            aug = self._local.aug = build_augmenter(self.cfg.train.crop_size, self.augment_level,
                                                    cytoplasm=self.cfg.data.cytoplasm,
                                                    dim=self.cfg.data.dim_nuclei, grain=self.cfg.data.grain,
                                                    defocus=self.cfg.data.defocus)
        return aug

    def sample(self, image_id: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Targets of one random crop of ``image_id``."""
        image, labels = self._load(image_id)
        size = self.cfg.train.crop_size
        if self.augment_level == "none":
            image, labels = random_crop(image, labels, size, rng)
        else:
            image, labels = self._augmenter()(image, labels, rng_seed=int(rng.integers(2**31)))
        m = self.cfg.model
        return build_sample(image, labels, self.anchors, rng, max_gt=m.max_gt,
                            mini_mask_shape=(m.mini_mask_shape, m.mini_mask_shape),
                            rpn_positive_iou=m.rpn_positive_iou,
                            rpn_negative_iou=m.rpn_negative_iou,
                            rpn_samples_per_image=m.rpn_samples_per_image,
                            rpn_positive_fraction=m.rpn_positive_fraction, std=m.bbox_std,
                            multiple=PAD_MULTIPLE)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return self.batch(self.epoch, index)

    def batch(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        """Batch ``index`` of ``epoch`` (``common.endless.EpochSeeded``)."""
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        picks = rng.integers(0, len(self.ids), size=self.batch_size) if self.weights is None else \
            rng.choice(len(self.ids), size=self.batch_size, p=self.weights)
        samples = [self.sample(self.ids[i], rng) for i in picks]
        return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


# ------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class ImageMeta:
    """How an image was turned into network input.

    Attributes:
        original_hw: ``(H, W)`` of the image as loaded.
        resized_hw: ``(h, w)`` after resizing by the requested scale (before padding).
        scale_yx: ``(sy, sx) = (h / H, w / W)``, the resize factor actually applied along
            each axis (the sides are rounded to whole pixels, so ``sy`` and ``sx`` differ
            slightly from the requested scale and from each other).
    """

    original_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    scale_yx: tuple[float, float]


def _round_up(n: int, multiple: int = PAD_MULTIPLE) -> int:
    return -(-n // multiple) * multiple


def resize_for_network(image: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, ImageMeta]:
    """Resize uint8 [H,W,3] by ``scale`` (no-op at 1.0); the meta holds the per-axis factors."""
    h, w = image.shape[:2]
    if scale == 1.0:
        return image, ImageMeta((h, w), (h, w), (1.0, 1.0))
    rh, rw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return resized, ImageMeta((h, w), (rh, rw), (rh / h, rw / w))


def inference_batch(images: Sequence[np.ndarray], scale: float = 1.0, flip: bool = False
                    ) -> tuple[np.ndarray, list[ImageMeta]]:
    """Stack images of any sizes into one padded batch.

    Args:
        images: uint8 [H_i,W_i,3] each.
        scale: Resize factor applied first.
        flip: Flip each resized image horizontally (before padding, so the padding stays
            at the bottom/right).

    Returns:
        (float32 [B,H',W',3] with ``H', W'`` the largest sides rounded up to 64,
        one :class:`ImageMeta` per image).
    """
    resized, metas = zip(*(resize_for_network(np.asarray(im), scale) for im in images))
    hp = _round_up(max(r.shape[0] for r in resized))
    wp = _round_up(max(r.shape[1] for r in resized))
    batch = np.zeros((len(resized), hp, wp, 3), np.float32)
    for i, r in enumerate(resized):
        batch[i, :r.shape[0], :r.shape[1]] = r[:, ::-1] if flip else r
    return batch, list(metas)
