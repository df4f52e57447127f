"""Training batches as ``keras.utils.PyDataset`` (no tf.data: runs under any backend).

* :class:`CropDataset`: random augmented crops at native resolution with the
  watershed targets (body, border, centre), for the watershed U-Net.
* :class:`ResizedDataset`: whole images resized to a square, with the semantic mask,
  for the study's baseline.

Each batch is a pure function of ``(seed, epoch, index)``, so runs repeat exactly
and a resumed run sees the batches it would have seen, also with ``workers > 1``:
each data thread augments with its own copy of the augmenter, reseeded per sample.
"""

from __future__ import annotations

import copy
import inspect
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import keras
import numpy as np

from common.sampling import check_weights
from solutions.unet.targets import make_targets

Augmenter = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_items(dataset, ids: Sequence[str], threads: int = 0,
               normalise: Any = "none") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read images (uint8 [H,W,3]) and labels (int32 [H,W]) of ``ids`` into memory.

    Args:
        dataset: Has ``load_image(id)`` and ``load_labels(id)``.
        ids: Image ids, in the order returned.
        threads: Reader threads (0: ``common.machine.worker_threads(8)``); PNG decoding releases the GIL.
        normalise: A ``common.normalise.normalise_image`` mode, or a config's ``data`` section
            (``common.normalise.normalise_with``: its mode, gray choice and flattening), applied to
            each whole image as it is read (before any crop or augmentation).
    """
    from concurrent.futures import ThreadPoolExecutor

    from common.machine import worker_threads
    from common.normalise import normalise_image, normalise_with

    def one(image_id: str) -> tuple[np.ndarray, np.ndarray]:
        image = dataset.load_image(image_id)
        image = normalise_image(image, normalise) if isinstance(normalise, str) else normalise_with(image, normalise)
        return image, dataset.load_labels(image_id)

    with warnings.catch_warnings():  # a few real masks overlap by a pixel or two: expected
        warnings.filterwarnings("ignore", message=".*covered by more than one mask")
        with ThreadPoolExecutor(threads or worker_threads(8)) as pool:
            pairs = list(pool.map(one, ids))
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _copy_index(n_padded: int, before: int, size: int) -> np.ndarray:
    """Which reflected copy each position of a reflect-padded axis lies in.

    Args:
        n_padded: Length after padding.
        before: Padding before the original.
        size: Original length.

    Returns:
        int [n_padded]: 0 on the original, -1, -2, ... before it, 1, 2, ... after it.
    """
    p = np.arange(n_padded) - before  # position relative to the original's start
    if size < 2:
        return p
    period = size - 1  # "reflect" does not repeat the edge pixel
    return np.where(p < 0, -((-p + period - 1) // period),
                    np.where(p > size - 1, (p - size + period) // period, 0))


def pad_to(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Reflect-pad image [H,W,3] and labels [H,W] so both sides are >= ``size``.

    Mirrored nuclei get ids of their own (a nucleus on the image edge and its mirror
    image would otherwise merge into one instance across the edge), so the border and
    centre targets of the padded crop treat every copy as a separate nucleus.
    """
    h, w = labels.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph == 0 and pw == 0:
        return image, labels
    pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    padded = np.pad(labels, pads, mode="reflect")
    ky = _copy_index(padded.shape[0], pads[0][0], h)
    kx = _copy_index(padded.shape[1], pads[1][0], w)
    n_kx = int(kx.max() - kx.min()) + 1
    copy_id = (ky - ky.min())[:, None] * n_kx + (kx - kx.min())[None, :]  # [H',W'] one id per copy
    centre_id = int(-ky.min()) * n_kx + int(-kx.min())
    copy_id = np.where(copy_id == centre_id, 0, np.where(copy_id > centre_id, copy_id, copy_id + 1))
    n = max(int(labels.max(initial=0)), 1)
    padded = np.where(padded > 0, padded + copy_id * n, 0).astype(np.int32)
    return np.pad(image, pads + ((0, 0),), mode="reflect"), padded


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


class _PerThread:
    """One copy of an augmenter per data thread.

    ``keras.utils.PyDataset`` with ``workers > 1`` calls ``__getitem__`` from several
    threads; a shared augmenter that is reseeded before each sample could be reseeded by
    another thread between the reseed and the call. Each thread therefore gets its own
    deep copy (made on first use); an augmenter that cannot be copied is called under a lock.
    """

    def __init__(self, augmenter: Augmenter) -> None:
        self.prototype = augmenter
        self.local = threading.local()
        self.lock = threading.Lock()
        try:
            params = inspect.signature(augmenter).parameters
        except (TypeError, ValueError):
            params = {}
        self.takes_seed = "rng_seed" in params

    def _own(self) -> Augmenter | None:
        aug = getattr(self.local, "augmenter", None)
        if aug is None:
            try:
                aug = copy.deepcopy(self.prototype)
            except Exception:  # noqa: BLE001 - fall back to the shared one under the lock
                aug = False
            self.local.augmenter = aug
        return aug or None

    def __call__(self, image: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Augment one sample, reseeding the augmenter (``rng_seed``) when it supports that."""
        own = self._own()
        kwargs = {"rng_seed": seed} if self.takes_seed else {}
        if own is not None:
            image, labels = own(image, labels, **kwargs)
        else:
            with self.lock:
                image, labels = self.prototype(image, labels, **kwargs)
        return np.asarray(image), np.asarray(labels)

    def __getstate__(self) -> dict:  # threading objects do not pickle (multiprocessing workers)
        return {"prototype": self.prototype}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["prototype"])


class CropDataset(keras.utils.PyDataset):
    """Random augmented crops with watershed targets.

    Args:
        images: uint8 [H,W,3] images (any sizes).
        labels: int [H,W] instance labels, one per image.
        crop_size: Side of the square crops (smaller images are reflect-padded, see :func:`pad_to`).
        batch_size: Crops per batch.
        steps: Batches per epoch (0: ``ceil(len(images) / batch_size)``).
        channels: Target maps, e.g. ``("body", "border", "centre")``.
        border_width: Width of the border map.
        augmenter: ``(image, labels[, rng_seed]) -> (image, labels)``, e.g.
            ``common.augment.build_augmenter(crop_size, level)``; None: plain random crops.
        seed: Base seed; batch ``i`` of epoch ``e`` uses ``(seed, e, i)``.
        training: Random crops and augmentation (True) or fixed centre crops (False).
        weights: Optional sampling probability of each image in training (e.g.
            ``common.sampling.balanced_weights``); None draws uniformly.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.

    Batches: ``(x float32 [B,S,S,3] in 0..255, y float32 [B,S,S,C])``.
    """

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], crop_size: int,
                 batch_size: int, steps: int = 0, channels: Sequence[str] = ("body", "border", "centre"),
                 border_width: int = 2, augmenter: Augmenter | None = None, seed: int = 0,
                 training: bool = True, weights: np.ndarray | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not images:
            raise ValueError("CropDataset needs at least one image")
        self.images, self.labels = list(images), list(labels)
        self.weights = check_weights(weights, len(self.images))
        self.crop_size, self.batch_size = crop_size, batch_size
        self.steps = steps or math.ceil(len(self.images) / batch_size)
        self.channels, self.border_width = tuple(channels), border_width
        self.augmenter, self.seed, self.training = augmenter, seed, training
        self._augment = _PerThread(augmenter) if augmenter is not None else None
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
        if self._augment is not None:
            image, labels = self._augment(image, labels, int(rng.integers(0, 2**31 - 1)))
        return random_crop(image, labels, self.crop_size, rng)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch(self.epoch, index)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of ``epoch`` (``common.endless.EpochSeeded``)."""
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.training:
            picks = rng.integers(0, len(self.images), self.batch_size) if self.weights is None else \
                rng.choice(len(self.images), size=self.batch_size, p=self.weights)
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
        weights: Optional sampling probability of each image in training (draws with
            replacement); None: shuffled passes over every image.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.

    Batches: ``(x float32 [B,S,S,3] in 0..255, y float32 [B,S,S,1])``.
    """

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], size: int,
                 batch_size: int, steps: int = 0, augmenter: Augmenter | None = None, seed: int = 0,
                 training: bool = True, weights: np.ndarray | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not images:
            raise ValueError("ResizedDataset needs at least one image")
        self.weights = check_weights(weights, len(images))
        pairs = [resize_pair(i, lab, size) for i, lab in zip(images, labels)]
        self.x = np.stack([p[0] for p in pairs])
        self.y = np.stack([p[1] for p in pairs])
        self.size, self.batch_size = size, batch_size
        self.steps = steps if training and steps else math.ceil(len(self.x) / batch_size)
        self.augmenter, self.seed, self.training = augmenter, seed, training
        self._augment = _PerThread(augmenter) if augmenter is not None else None
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch(self.epoch, index)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of ``epoch`` (``common.endless.EpochSeeded``)."""
        n = len(self.x)
        if self.training and self.weights is not None:
            order = np.random.default_rng([self.seed, epoch]).choice(
                n, size=self.steps * self.batch_size, p=self.weights)
        elif self.training:
            order = np.random.default_rng([self.seed, epoch]).permutation(
                np.tile(np.arange(n), math.ceil(self.steps * self.batch_size / n)))
        else:
            order = np.arange(n)
        picks = order[index * self.batch_size:(index + 1) * self.batch_size]
        xs, ys = self.x[picks], self.y[picks]
        if self.training and self._augment is not None:
            rng = np.random.default_rng([self.seed, epoch, index, 1])
            out = [self._augment(x, y, int(rng.integers(0, 2**31 - 1))) for x, y in zip(xs, ys)]
            xs = np.stack([np.asarray(o[0]) for o in out])
            ys = np.stack([(np.asarray(o[1]) > 0).astype(np.uint8) for o in out])
        return xs.astype(np.float32), ys[..., None].astype(np.float32)

    def on_epoch_end(self) -> None:
        self.epoch += 1
