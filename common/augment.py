"""Augmentation of an image with its instance labels, shared by U-Net and Mask R-CNN.

Geometric transforms move image and labels together; labels are resampled with
nearest-neighbour interpolation and padded with 0, so they stay integer instance ids
and the ids that come out are a subset of the ids that went in (a crop or a
down-scale may drop some). Colour transforms (brightness, contrast, gamma, hue and
saturation, channel shuffle, inversion, gray) make fluorescence, brightfield and
histology images look like each other.

Options beyond the level (all off by default, so a level means what it always meant):

* ``scale_range=(lo, hi)``: the random-scale factors (e.g. ``(0.5, 2.0)``, the range of
  nucleus sizes met at test time) instead of the level's; shrinking and enlarging are
  equally likely (each uniform on its side of 1).
* ``stain=p``: with probability ``p`` a stain/colour jitter: H&E stain-matrix jitter
  (``HEStain``), HSV jitter or colour jitter (one of them).
* ``blur_noise=p``: Gaussian blur with probability ``p`` and Gaussian noise with
  probability ``p`` (the ``strong`` level already has both at 0.2 / 0.3).
* ``grain=p``: with probability ``p``, camera grain: Gaussian noise drawn at half the
  resolution with a std of 3–10 % of the range and interpolated bilinearly, so it is
  correlated over about 2 pixels (about 2–6 % per pixel). The grainy fluorescence of stage 1
  (``fluorescence-512x640``, stretched to full range from a dim exposure) has grain of this
  kind; the white noise of ``blur_noise`` and of the ``strong`` level is pixel-wise.
* ``defocus=p``: with probability ``p``, a Gaussian blur of ``DEFOCUS_SIGMA`` (0.5–2.5 px, the
  kernel sized from the sigma): an out-of-focus image. The ``strong`` level's blur (p 0.2) is a
  3- or 5-tap kernel, a spread of at most about 1.4 px; with it alone held-out fluorescence blurred
  by 1.5 px lost 0.179 (``bench/results/shift_cpu_20261207/``).
* ``cytoplasm=p``: with probability ``p``, :func:`synthetic_cytoplasm` paints unlabelled
  cell bodies around the nuclei (after every other transform). Brightfield and
  histology images, inverted to nuclei-bright (``common.normalise``), show their
  cytoplasm as mid-gray regions around the nuclei; a network trained on fluorescence
  alone segments those whole cells as nuclei.
* ``dim=p``: with probability ``p``, :func:`dim_nuclei` dims each nucleus by its own random
  factor, so a crop holds bright and faint nuclei side by side: out-of-focus or weakly
  stained nuclei beside bright ones are still nuclei, for a network that standardises each
  input by its mean and spread.

Example::

    aug = build_augmenter(crop_size=256, level="default")
    image, labels = aug(image, labels, rng_seed=7)   # uint8 [256,256,3], int32 [256,256]
    wide = build_augmenter(128, "strong", scale_range=(0.5, 2.0), stain=0.3, blur_noise=0.2)
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check on import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["DEFOCUS_SIGMA", "LEVELS", "Augmenter", "build_augmenter", "dim_nuclei", "random_crop",
           "synthetic_cytoplasm"]

LEVELS = ("none", "default", "strong")
DEFOCUS_SIGMA = (0.5, 2.5)  # ``defocus``: the blur's sigma range, pixels


def _random_scale(lo: float, hi: float, p: float) -> A.BasicTransform:
    """Scale by a factor in ``[lo, hi]``: down or up with equal chance when the range spans 1."""
    def one(a: float, b: float, prob: float = 1.0) -> A.RandomScale:
        return A.RandomScale(scale_limit=(a - 1.0, b - 1.0), interpolation=cv2.INTER_LINEAR,
                             mask_interpolation=cv2.INTER_NEAREST, p=prob)

    if lo < 1.0 < hi:
        return A.OneOf([one(lo, 1.0), one(1.0, hi)], p=p)
    return one(lo, hi, p)


def _geometric(crop_size: int | None, level: str,
               scale_range: tuple[float, float] | None = None) -> list[A.BasicTransform]:
    transforms: list[A.BasicTransform] = []
    if level != "none":
        p = 0.5 if level == "default" else 0.7
        if scale_range:
            transforms.append(_random_scale(float(scale_range[0]), float(scale_range[1]), p))
        else:
            limit = (-0.25, 0.33) if level == "default" else (-0.4, 0.6)  # factor 1 + limit
            transforms.append(
                A.RandomScale(scale_limit=limit, interpolation=cv2.INTER_LINEAR,
                              mask_interpolation=cv2.INTER_NEAREST, p=p)
            )
    if crop_size is not None:
        transforms += [
            A.PadIfNeeded(min_height=crop_size, min_width=crop_size, position="random",
                          border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
            A.RandomCrop(height=crop_size, width=crop_size),
        ]
    if level != "none":
        transforms.append(A.D4(p=1.0))  # the 8 flips and 90-degree rotations
    return transforms


def _colour(level: str) -> list[A.BasicTransform]:
    if level == "none":
        return []
    strong = level == "strong"
    return [
        A.RandomBrightnessContrast(brightness_limit=0.3 if strong else 0.2,
                                   contrast_limit=0.3 if strong else 0.2, p=0.5),
        A.RandomGamma(gamma_limit=(70, 140) if strong else (80, 120), p=0.3),
        A.OneOf(
            [
                A.HueSaturationValue(hue_shift_limit=30 if strong else 15,
                                     sat_shift_limit=40 if strong else 25, val_shift_limit=15),
                A.ChannelShuffle(),
                A.ToGray(num_output_channels=3),
            ],
            p=0.5 if strong else 0.3,
        ),
        A.InvertImg(p=0.3 if strong else 0.15),
        *(
            [A.GaussNoise(std_range=(0.01, 0.05), p=0.3), A.GaussianBlur(blur_limit=(3, 5), p=0.2)]
            if strong
            else []
        ),
    ]


def _defocus(p: float) -> list[A.BasicTransform]:
    """The out-of-focus blur (``defocus``), before the colour transforms: the optics blur what the
    camera then adds noise to. ``blur_limit=0``: the kernel follows the sigma (the level's 5-tap
    kernel caps its own blur near 1.4 px)."""
    return [A.GaussianBlur(blur_limit=0, sigma_limit=DEFOCUS_SIGMA, p=p)] if p > 0 else []


def _extra_colour(stain: float, blur_noise: float, grain: float = 0.0) -> list[A.BasicTransform]:
    """Stain/colour jitter, blur/noise and grain, each applied with its own probability (0: off)."""
    out: list[A.BasicTransform] = []
    if stain > 0:
        out.append(A.OneOf([
            A.HEStain(method="random_preset", intensity_scale_range=(0.7, 1.3),
                      intensity_shift_range=(-0.2, 0.2), augment_background=False),
            A.HueSaturationValue(hue_shift_limit=20, sat_shift_limit=30, val_shift_limit=20),
            A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.3, hue=0.05),
        ], p=stain))
    if blur_noise > 0:
        out += [A.GaussianBlur(blur_limit=(3, 5), p=blur_noise),
                A.GaussNoise(std_range=(0.01, 0.05), p=blur_noise)]
    if grain > 0:  # the same noise on every channel: a gray input stays gray
        out.append(A.GaussNoise(std_range=(0.03, 0.10), per_channel=False, noise_scale_factor=0.5, p=grain))
    return out


def _seed_streams(transform: A.Compose, seed: int | None) -> None:
    """Give every transform of ``transform`` one shared random stream, seeded by ``seed``.

    albumentations' ``Compose.set_random_seed`` (and ``Compose(seed=...)``) gives each transform its
    own generator with the same seed, so every transform's first draw (whether it applies) is the same
    number: transforms of one probability fired together and those of smaller ones only with them
    (until 2026-12-07 every inverted crop also got the noise and the gamma, and no other crop got
    noise). One shared generator draws them one after another, independently."""
    import random

    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


class Augmenter:
    """Callable ``(image, labels, rng_seed=None) -> (image, labels)``.

    Attributes:
        crop_size: Output side length, or ``None`` to keep the (possibly scaled) size.
        level: ``"none"``, ``"default"`` or ``"strong"``.
        scale_range: ``(lo, hi)`` random-scale factors, or ``None`` for the level's.
        stain: Probability of a stain/colour jitter (0: off).
        blur_noise: Probability of blur, and of noise (0: off).
        grain: Probability of correlated camera grain (0: off).
        defocus: Probability of an out-of-focus blur (0: off).
        cytoplasm: Probability of :func:`synthetic_cytoplasm` (0: off).
        dim: Probability of :func:`dim_nuclei` (0: off).
        transform: The underlying ``albumentations.Compose``.
    """

    def __init__(self, crop_size: int | None, level: str, seed: int | None = None,
                 scale_range: tuple[float, float] | None = None, stain: float = 0.0,
                 blur_noise: float = 0.0, cytoplasm: float = 0.0, dim: float = 0.0, grain: float = 0.0,
                 defocus: float = 0.0) -> None:
        if level not in LEVELS:
            raise ValueError(f"augmentation level must be one of {LEVELS}, got {level!r}")
        if crop_size is not None and crop_size < 1:
            raise ValueError(f"crop_size must be a positive int or None, got {crop_size}")
        scale_range = tuple(scale_range) if scale_range else None
        if scale_range is not None and (len(scale_range) != 2 or not 0 < scale_range[0] < scale_range[1]):
            raise ValueError(f"scale_range must be (lo, hi) with 0 < lo < hi, got {scale_range}")
        if not all(0.0 <= v <= 1.0 for v in (stain, blur_noise, cytoplasm, dim, grain, defocus)):
            raise ValueError(f"stain, blur_noise, cytoplasm, dim, grain and defocus are probabilities in [0, 1], "
                             f"got {stain}, {blur_noise}, {cytoplasm}, {dim}, {grain}, {defocus}")
        self.crop_size = crop_size
        self.level = level
        self.scale_range, self.stain, self.blur_noise, self.cytoplasm = scale_range, stain, blur_noise, cytoplasm
        self.dim, self.grain, self.defocus = dim, grain, defocus
        self._rng = np.random.default_rng(seed)
        colour = _defocus(defocus) + _colour(level) + _extra_colour(stain, blur_noise, grain) if level != "none" else []
        self.transform = A.Compose(_geometric(crop_size, level, scale_range) + colour)
        _seed_streams(self.transform, seed)

    def __call__(
        self, image: np.ndarray, labels: np.ndarray, rng_seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one sample.

        Args:
            image: uint8 [H,W,3].
            labels: int [H,W] instance ids, 0 = background.
            rng_seed: Reseed the augmenter first (same seed and input, same output);
                ``None`` continues its random stream.

        Returns:
            ``(image uint8 [h,w,3], labels int32 [h,w])``; ``h = w = crop_size`` when set.
        """
        image, labels = _check(image, labels)
        if rng_seed is not None:
            _seed_streams(self.transform, int(rng_seed))
        # uint16 resamples exactly with nearest interpolation in every cv2 routine
        out = self.transform(image=image, mask=labels.astype(np.uint16))
        image, labels = np.ascontiguousarray(out["image"], dtype=np.uint8), out["mask"].astype(np.int32)
        # image-only options after the transforms, each with its own stream (a fixed id per option)
        for p, stream, paint in ((self.dim, 2, dim_nuclei), (self.cytoplasm, 1, synthetic_cytoplasm)):
            if p > 0 and self.level != "none":
                rng = np.random.default_rng([int(rng_seed), stream]) if rng_seed is not None else self._rng
                if rng.random() < p:
                    image = paint(image, labels, rng)
        return image, labels

    def __repr__(self) -> str:
        return (f"Augmenter(crop_size={self.crop_size}, level={self.level!r}, scale_range={self.scale_range}, "
                f"stain={self.stain}, blur_noise={self.blur_noise}, cytoplasm={self.cytoplasm}, dim={self.dim}, "
                f"grain={self.grain}, defocus={self.defocus})")


def build_augmenter(crop_size: int | None, level: str = "default", seed: int | None = None,
                    scale_range: tuple[float, float] | None = None, stain: float = 0.0,
                    blur_noise: float = 0.0, cytoplasm: float = 0.0, dim: float = 0.0,
                    grain: float = 0.0, defocus: float = 0.0) -> Augmenter:
    """Build the shared augmentation pipeline.

    Args:
        crop_size: Side of the random crop taken at native resolution (after an
            optional random scale); images smaller than it are zero-padded
            (labels padded with 0). ``None``: no crop.
        level: ``"none"`` (crop/pad only), ``"default"`` or ``"strong"``.
        seed: Initial seed of the random stream (``None``: random).
        scale_range: ``(lo, hi)`` random-scale factors instead of the level's (e.g.
            ``(0.5, 2.0)``); ignored for level ``"none"``.
        stain: Probability of a stain/colour jitter (HEStain, HSV or colour jitter).
        blur_noise: Probability of a Gaussian blur, and of Gaussian noise.
        cytoplasm: Probability of :func:`synthetic_cytoplasm`.
        dim: Probability of :func:`dim_nuclei`.
        grain: Probability of correlated camera grain (Gaussian noise drawn at half resolution,
            std 3–10 % of the range, interpolated: about 2–6 % per pixel).
        defocus: Probability of an out-of-focus Gaussian blur (sigma ``DEFOCUS_SIGMA``).

    Returns:
        An :class:`Augmenter`.
    """
    return Augmenter(crop_size, level, seed, scale_range, stain, blur_noise, cytoplasm, dim, grain, defocus)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: int, lo: float, hi: float) -> np.ndarray:
    """A smooth random field on ``shape``: uniform ``[lo, hi]`` values on a grid of ``cell``
    pixels, interpolated (float32)."""
    h, w = shape
    grid = rng.uniform(lo, hi, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def synthetic_cytoplasm(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint unlabelled cell bodies around the nuclei of a nuclei-bright image.

    Every background pixel within a random reach of a nucleus (1 to 6 typical nucleus
    radii, log-uniform, modulated by a smooth random field so the outlines are irregular and
    neighbouring cells merge) is raised to a textured level of 25-65 % of the nuclei's
    median brightness. The nuclei and the labels are unchanged, so the network learns
    that a nucleus is the compact bright body, not the mid-gray region around it.

    Args:
        image: uint8 [H,W,3], nuclei brighter than the background.
        labels: int [H,W] instance ids (0 = background).
        rng: The random stream.

    Returns:
        uint8 [H,W,3] (the input itself when there is no nucleus).
    """
    nuclei = labels > 0
    if not nuclei.any():
        return image
    areas = np.bincount(labels[nuclei].ravel())
    radius = float(np.sqrt(np.median(areas[areas > 0]) / np.pi))
    dist = cv2.distanceTransform((~nuclei).astype(np.uint8), cv2.DIST_L2, 5)
    shape = labels.shape
    reach = radius * np.exp(rng.uniform(0.0, np.log(6.0))) * _smooth_field(rng, shape, max(8, int(2 * radius)),
                                                                           0.5, 1.5)
    body = (dist > 0) & (dist < reach)
    if not body.any():
        return image
    gray = image.astype(np.float32).mean(axis=2)
    level = float(np.median(gray[nuclei])) * rng.uniform(0.25, 0.65)
    value = level * _smooth_field(rng, shape, max(4, int(radius // 2)), 0.75, 1.25)
    out = image.astype(np.float32)
    out[body] = np.maximum(out[body], value[body, None])
    return np.clip(out, 0, 255).astype(np.uint8)


def dim_nuclei(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
               lowest: float = 0.2) -> np.ndarray:
    """Dim each nucleus by its own random factor: move it towards the background.

    Each instance (and a 2-pixel rim, for its blurred edge) gets a factor uniform in
    ``[lowest, 1]``; the factor map is smoothed (Gaussian, sigma 1.5 px) and scales the
    contrast to the background level (the median of the unlabelled pixels, of the
    image inverted first when its nuclei are darker than their surroundings, as after a
    random inversion). Labels are unchanged: a faint nucleus is still a nucleus.

    Args:
        image: uint8 [H,W,3].
        labels: int [H,W] instance ids (0 = background).
        rng: The random stream.
        lowest: The smallest factor (0 < lowest <= 1).

    Returns:
        uint8 [H,W,3] (the input itself when there is no nucleus, or no background to dim towards).
    """
    from skimage.segmentation import expand_labels

    if not 0.0 < lowest <= 1.0:
        raise ValueError(f"dim_nuclei: lowest is the smallest factor, in (0, 1], got {lowest}")
    image, labels = _check(image, labels)
    background = labels == 0
    if background.all() or not background.any():
        return image
    ids, compact = np.unique(labels, return_inverse=True)  # ids[0] == 0: any id, compact indices
    factor = np.ones(len(ids), np.float32)
    factor[1:] = rng.uniform(lowest, 1.0, len(ids) - 1)
    compact = compact.reshape(labels.shape).astype(np.int32)
    scale = cv2.GaussianBlur(factor[expand_labels(compact, 2)], (0, 0), 1.5)[..., None]
    pixels = image.astype(np.float32)
    dark = np.median(pixels[~background]) < np.median(pixels[background])
    if dark:
        pixels = 255.0 - pixels
    level = float(np.median(pixels[background]))
    out = np.where(pixels > level, level + (pixels - level) * scale, pixels)
    out = np.clip(np.rint(255.0 - out if dark else out), 0, 255)
    return out.astype(np.uint8)


def _check(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    labels = np.asarray(labels)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H,W,3], got {image.dtype} {image.shape}")
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels shape {labels.shape} differs from image shape {image.shape[:2]}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max):
        raise ValueError(f"label ids must lie in 0..65535, got {labels.min()}..{labels.max()}")
    return image, labels


def random_crop(
    image: np.ndarray,
    labels: np.ndarray | None,
    size: int,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A random ``size x size`` window without augmentation (zero padding if smaller).

    Args:
        image: [H,W,C] (any dtype).
        labels: [H,W] or ``None``.
        size: Output side length.
        rng: Generator or seed; deterministic for a given seed.

    Returns:
        ``(image [size,size,C], labels [size,size] or None)``, same dtypes as the input.
    """
    rng = np.random.default_rng(rng)
    h, w = image.shape[:2]
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    if pad_h or pad_w:
        top, left = int(rng.integers(0, pad_h + 1)), int(rng.integers(0, pad_w + 1))
        pads = ((top, pad_h - top), (left, pad_w - left))
        image = np.pad(image, pads + ((0, 0),) * (image.ndim - 2))
        labels = None if labels is None else np.pad(labels, pads)
        h, w = image.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    crop = image[y : y + size, x : x + size]
    return crop, None if labels is None else labels[y : y + size, x : x + size]
