"""Training batches as ``keras.utils.PyDataset`` (no tf.data: runs under any backend).

* :class:`CropDataset`: random augmented crops at native resolution with the
  watershed targets (body, border, centre), for the watershed U-Net.
* :class:`ResizedDataset`: whole images resized to a square, with the semantic mask,
  for the study's baseline.

Each batch is a pure function of ``(seed, epoch, index)``, so runs repeat exactly
and a resumed run sees the batches it would have seen.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence

import cv2
import keras
import numpy as np

from solutions.unet.targets import make_targets

Augmenter = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_items(dataset, ids: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read images (uint8 [H,W,3]) and labels (int32 [H,W]) of ``ids`` into memory."""
    images, labels = [], []
    with warnings.catch_warnings():  # a few real masks overlap by a pixel or two: expected
        warnings.filterwarnings("ignore", message=".*covered by more than one mask")
        for image_id in ids:
            images.append(dataset.load_image(image_id))
            labels.append(dataset.load_labels(image_id))
    return images, labels


def pad_to(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Reflect-pad image [H,W,3] and labels [H,W] so both sides are >= ``size``."""
    h, w = labels.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph == 0 and pw == 0:
        return image, labels
    pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    return np.pad(image, pads + ((0, 0),), mode="reflect"), np.pad(labels, pads, mode="reflect")


def random_crop(image: np.ndarray, labels: np.ndarray, size: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pad if needed, then cut a random ``size`` x ``size`` window."""
    image, labels = pad_to(image, labels, size)
    h, w = labels.shape
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return image[y:y + size, x:x + size], labels[y:y + size, x:x + size]


def centre_crop(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad if needed, then cut the central ``size`` x ``size`` window."""
    image, labels = pad_to(image, labels, size)
    h, w = labels.shape
    y, x = (h - size) // 2, (w - size) // 2
    return image[y:y + size, x:x + size], labels[y:y + size, x:x + size]


def _augment(augmenter: Augmenter, image: np.ndarray, labels: np.ndarray,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply an augmenter to one sample, reseeding it (``rng_seed``) when it supports that."""
    try:
        params = inspect.signature(augmenter).parameters
    except (TypeError, ValueError):
        params = {}
    if "rng_seed" in params:
        image, labels = augmenter(image, labels, rng_seed=seed)
    else:
        image, labels = augmenter(image, labels)
    return np.asarray(image), np.asarray(labels)


class CropDataset(keras.utils.PyDataset):
    """Random augmented crops with watershed targets.

    Args:
        images: uint8 [H,W,3] images (any sizes).
        labels: int [H,W] instance labels, one per image.
        crop_size: Side of the square crops (smaller images are reflect-padded).
        batch_size: Crops per batch.
        steps: Batches per epoch (0: ``ceil(len(images) / batch_size)``).
        channels: Target maps, e.g. ``("body", "border", "centre")``.
        border_width: Width of the border map.
        augmenter: ``(image, labels[, rng_seed]) -> (image, labels)``, e.g.
            ``common.augment.build_augmenter(crop_size, level)``; None: plain random crops.
        seed: Base seed; batch ``i`` of epoch ``e`` uses ``(seed, e, i)``.
        training: Random crops and augmentation (True) or fixed centre crops (False).
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.

    Batches: ``(x float32 [B,S,S,3] in 0..255, y float32 [B,S,S,C])``.
    """

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], crop_size: int,
                 batch_size: int, steps: int = 0, channels: Sequence[str] = ("body", "border", "centre"),
                 border_width: int = 2, augmenter: Augmenter | None = None, seed: int = 0,
                 training: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if not images:
            raise ValueError("CropDataset needs at least one image")
        self.images, self.labels = list(images), list(labels)
        self.crop_size, self.batch_size = crop_size, batch_size
        self.steps = steps or math.ceil(len(self.images) / batch_size)
        self.channels, self.border_width = tuple(channels), border_width
        self.augmenter, self.seed, self.training = augmenter, seed, training
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps if self.training else math.ceil(len(self.images) / self.batch_size)

    def _sample(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, labels = self.images[k], self.labels[k]
        if not self.training:
            return centre_crop(image, labels, self.crop_size)
        # cut a 2x window first (cheap), then augment (scale, crop, flips, colour)
        h, w = labels.shape
        ch, cw = min(h, 2 * self.crop_size), min(w, 2 * self.crop_size)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        image, labels = image[y:y + ch, x:x + cw], labels[y:y + ch, x:x + cw]
        if self.augmenter is not None:
            image, labels = _augment(self.augmenter, image, labels, int(rng.integers(0, 2**31 - 1)))
        return random_crop(image, labels, self.crop_size, rng)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.training:
            picks = rng.integers(0, len(self.images), self.batch_size)
        else:
            picks = range(index * self.batch_size, min(len(self.images), (index + 1) * self.batch_size))
        xs, ys = [], []
        for k in picks:
            image, labels = self._sample(int(k), rng)
            xs.append(image.astype(np.float32))
            ys.append(make_targets(labels, self.channels, self.border_width))
        return np.stack(xs), np.stack(ys)

    def on_epoch_end(self) -> None:
        self.epoch += 1


def resize_pair(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area/linear) and its semantic mask (nearest) to ``size`` x ``size``.

    Returns:
        (uint8 [S,S,3], uint8 [S,S] mask in {0, 1}).
    """
    h, w = labels.shape
    interp = cv2.INTER_AREA if h > size and w > size else cv2.INTER_LINEAR
    img = cv2.resize(image, (size, size), interpolation=interp)
    mask = cv2.resize((labels > 0).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    return img, mask


class ResizedDataset(keras.utils.PyDataset):
    """Whole images resized to ``size`` x ``size`` with their semantic masks (study baseline).

    Args:
        images: uint8 [H,W,3] images.
        labels: int [H,W] instance labels.
        size: Network input side.
        batch_size: Images per batch.
        steps: Batches per epoch (0: one shuffled pass).
        augmenter: Optional ``(image, labels) -> (image, labels)`` applied after resizing.
        seed: Base seed (shuffle of epoch ``e`` uses ``(seed, e)``).
        training: Shuffle and augment.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.

    Batches: ``(x float32 [B,S,S,3] in 0..255, y float32 [B,S,S,1])``.
    """

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], size: int,
                 batch_size: int, steps: int = 0, augmenter: Augmenter | None = None, seed: int = 0,
                 training: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if not images:
            raise ValueError("ResizedDataset needs at least one image")
        pairs = [resize_pair(i, lab, size) for i, lab in zip(images, labels)]
        self.x = np.stack([p[0] for p in pairs])
        self.y = np.stack([p[1] for p in pairs])
        self.size, self.batch_size = size, batch_size
        self.steps = steps if training and steps else math.ceil(len(self.x) / batch_size)
        self.augmenter, self.seed, self.training = augmenter, seed, training
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.x)
        if self.training:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(
                np.tile(np.arange(n), math.ceil(self.steps * self.batch_size / n)))
        else:
            order = np.arange(n)
        picks = order[index * self.batch_size:(index + 1) * self.batch_size]
        xs, ys = self.x[picks], self.y[picks]
        if self.training and self.augmenter is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            out = [_augment(self.augmenter, x, y, int(rng.integers(0, 2**31 - 1))) for x, y in zip(xs, ys)]
            xs = np.stack([np.asarray(o[0]) for o in out])
            ys = np.stack([(np.asarray(o[1]) > 0).astype(np.uint8) for o in out])
        return xs.astype(np.float32), ys[..., None].astype(np.float32)

    def on_epoch_end(self) -> None:
        self.epoch += 1
