"""Per-image input normalisation: the one function training and prediction share.

Every solution calls :func:`normalise_image` on an image as loaded (``load_image``:
uint8 [H,W,3]) before anything else: before augmentation when training, before TTA
when predicting. The mode is a config key (U-Net: ``data.normalise``) saved with the
run's resolved config, so a run always predicts as it trained.

Modes:

* ``none``: the image unchanged (the same array object; bit-identical to no call).
* ``percentile``: one linear stretch of all channels together mapping the image's
  ``1`` and ``99.8`` percentiles to 0 and 255 (keeps the hue).
* ``percentile_channel``: the same stretch per channel (also evens out colour casts).
* ``gray``: luminance (``cv2.COLOR_RGB2GRAY``) copied to three channels.
* ``gray_invert``: ``gray``, inverted when the background is bright
  (:func:`bright_background`), so nuclei are bright on a dark background as in
  fluorescence images.
* ``gray_invert_percentile``: ``gray_invert`` followed by the ``percentile`` stretch.
* ``gray_invert_percentile_tophat``: ``gray_invert_percentile``; on a *gray* image with a
  bright background (brightfield: :func:`colourfulness` at most :data:`COLOUR_THRESHOLD`)
  a white top-hat of radius :data:`TOPHAT_RADIUS` comes before the stretch. Inverted, the
  cell bodies around brightfield nuclei are a broad plateau half as bright as the nuclei, and
  a network trained on fluorescence outlines the whole cells; the top-hat keeps only what is
  narrower than the disc. On the 16 held-out brightfield images of the group folds it took
  the 30-minute U-Net from 0.110 to 0.203 (0.084 to 0.096 on them magnified 2x); on the 107
  held-out histology images (coloured, dense tissue) every radius tried lost (0.226 to
  0.156-0.206), so coloured images skip it (``bench/results/tophat_cpu_20261204/``). Nuclei
  much wider than the disc lose their middle: the radius is in pixels of the image as loaded
  (magnified 3x, the 16 scored 0.020; ``bench/results/tophat_scale_cpu_20261205/``).

The gray modes take one more choice, ``fluorescence_gray`` (the config key
``data.fluorescence_gray``): how an image with a dark background becomes gray. ``luminance``
(the default here, what runs saved before the key was trained with) treats it as every other
image; ``max`` takes its brightest channel. On a gray image (equal channels, every image of
stage1_train with a dark background) both are the same array. On fluorescence in false colour
(a nucleus stain shown blue, red, magenta) the luminance keeps a fraction of the range (blue:
0.114 of it, 29 gray levels of 256) and the stretch cannot bring the lost levels back; the
brightest channel keeps them all. Images with a bright background (histology, brightfield) keep
the luminance, as measured there (``bench/results/histology_gray_cpu_20261205/``). A composite of
a nucleus stain and another stain needs the nucleus channel alone (``segment --channel K``).

``flatten_background`` (the config key ``data.flatten_background``; off here, what runs saved
before the key were trained with): with a gray mode, an image with a dark background loses a smooth
background before the stretch (:func:`flatten_background`: a plane fitted to the darkest blocks
of the image, its rise above its lowest point subtracted). A background that glows
more on one side (out-of-focus light, autofluorescence) is otherwise stretched with the nuclei and
taken for them; a flat background is left about as it was.

Example::

    x = normalise_image(dataset.load_image(image_id), "gray_invert")  # uint8 [H,W,3]

Keras-free (numpy and OpenCV), so Mask R-CNN, the ensemble and a ``segment`` tool
can use it too.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["COLOUR_THRESHOLD", "FLUORESCENCE_GRAY", "MODES", "TOPHAT_RADIUS", "background_surface",
           "bright_background", "check_fluorescence_gray", "check_mode", "colourfulness", "flatten_background",
           "max_channel", "normalise_image", "normalise_with", "percentile_stretch", "to_gray", "white_tophat"]

MODES = ("none", "percentile", "percentile_channel", "gray", "gray_invert", "gray_invert_percentile",
         "gray_invert_percentile_tophat")
#: How a gray mode makes an image with a dark background gray (module docstring).
FLUORESCENCE_GRAY = ("luminance", "max")
#: Mean absolute deviation of a pixel's channels from their mean (:func:`colourfulness`)
#: above which an image counts as coloured (real gray images have exactly 0; stained ones > 4).
COLOUR_THRESHOLD = 2.0
#: Disc radius (pixels) of ``gray_invert_percentile_tophat``'s white top-hat. On the 16
#: held-out brightfield images (30-minute U-Net, ``bench/results/tophat_cpu_20261204/``) radius
#: 10/15/20/25/35 scored 0.218/0.260/0.226/0.203/0.166 against 0.110 without, but magnified 2x
#: (nuclei 4x the area) 15 and 20 lost (0.044, 0.074 against 0.084) and 25 still gained (0.096):
#: 25 is the radius that helps at both scales.
TOPHAT_RADIUS = 25


def check_mode(mode: str, key: str = "data.normalise") -> None:
    """The one check of a config's normalisation mode (both solution families' ``data.normalise``).

    Raises:
        common.config.ConfigError: ``mode`` is not one of :data:`MODES` (names ``key``).
    """
    from common.config import ConfigError

    if mode not in MODES:
        raise ConfigError(f"{key} must be one of {list(MODES)}, got {mode!r}")


def check_fluorescence_gray(value: str, key: str = "data.fluorescence_gray") -> None:
    """The one check of a config's ``data.fluorescence_gray`` (both solution families).

    Raises:
        common.config.ConfigError: ``value`` is not one of :data:`FLUORESCENCE_GRAY` (names ``key``).
    """
    from common.config import ConfigError

    if value not in FLUORESCENCE_GRAY:
        raise ConfigError(f"{key} must be one of {list(FLUORESCENCE_GRAY)}, got {value!r}")


#: Default percentiles of the stretch (low, high).
PERCENTILES = (1.0, 99.8)
#: Most pixels sampled (strided) to estimate percentiles; bounds time on large images.
_SAMPLE_PIXELS = 1 << 20


def _sample(image: np.ndarray) -> np.ndarray:
    """A strided subsample of at most ~``_SAMPLE_PIXELS`` pixels of [H,W(,C)]."""
    h, w = image.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / _SAMPLE_PIXELS))))
    return image[::step, ::step]


def colourfulness(image: np.ndarray) -> float:
    """Mean absolute deviation of the channels from their mean, on a ~256x256 strided sample
    (0 for a gray image, and for [H,W]); :data:`COLOUR_THRESHOLD` tells gray from stained."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        return 0.0
    step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / 65536)))
    pixels = pixels[::step, ::step]
    return float(np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean())


def white_tophat(gray: np.ndarray, radius: int | None = None) -> np.ndarray:
    """``gray`` minus its opening by a disc of ``radius`` pixels (default
    :data:`TOPHAT_RADIUS`; OpenCV): the bright structures narrower than the disc, on a zero
    background. Same shape and dtype."""
    radius = TOPHAT_RADIUS if radius is None else int(radius)
    if radius < 1:
        raise ValueError(f"top-hat radius must be >= 1 pixel, got {radius}")
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.morphologyEx(np.ascontiguousarray(gray), cv2.MORPH_TOPHAT, disc)


def percentile_stretch(image: np.ndarray, low: float = PERCENTILES[0], high: float = PERCENTILES[1],
                       per_channel: bool = False) -> np.ndarray:
    """Map the image's ``low`` and ``high`` percentiles linearly to 0 and 255, clipped.

    Args:
        image: [H,W] or [H,W,C], any integer or float dtype (e.g. 16-bit microscopy).
        low: Lower percentile (0..100).
        high: Upper percentile (> ``low``).
        per_channel: One stretch per channel (True) or one for all channels together.

    Returns:
        uint8, same shape. A flat image (``high`` percentile == ``low`` one) maps to 0.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
    x = np.asarray(image)
    sample = _sample(x).astype(np.float32)
    if per_channel and x.ndim == 3:
        lo, hi = np.percentile(sample.reshape(-1, x.shape[2]), [low, high], axis=0)  # [C] each
    else:
        lo, hi = (np.float32(v) for v in np.percentile(sample, [low, high]))
    scale = np.where(hi > lo, 255.0 / np.maximum(hi - lo, 1e-12), 0.0).astype(np.float32)
    lo = np.asarray(lo, np.float32)
    if x.dtype in (np.uint8, np.uint16):  # lookup table: exact and no float copy of the image
        levels = np.arange(np.iinfo(x.dtype).max + 1, dtype=np.float32)
        lut = np.clip(np.rint((levels[:, None] - lo.reshape(1, -1)) * scale.reshape(1, -1)), 0, 255)
        lut = lut.astype(np.uint8)  # [levels, 1 or C]
        if lut.shape[1] == 1:
            return lut[:, 0][x]
        return np.stack([lut[:, c][x[..., c]] for c in range(x.shape[2])], axis=-1)
    out = (x.astype(np.float32) - lo) * scale
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance of uint8 [H,W,3] RGB (or [H,W] already gray) as uint8 [H,W]."""
    x = np.asarray(image)
    return x if x.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2GRAY)


def max_channel(image: np.ndarray) -> np.ndarray:
    """The brightest channel of each pixel of uint8 [H,W,3] (or [H,W] already gray) as uint8
    [H,W]; on a gray image (equal channels) the same values as :func:`to_gray`."""
    x = np.asarray(image)
    return x if x.ndim == 2 else np.ascontiguousarray(x.max(axis=2))


#: :func:`flatten_background`: block side (pixels), the block percentile taken as its background
#: level, and the share of blocks (the lowest residuals) each refit keeps. The surface is a plane: a
#: quadratic one bulged under a large bright embryo and erased the nuclei on its rim
#: (``bench/results/flat_background_cpu_20261207/``, commit ``b63a286``); a plane cannot bulge.
FLATTEN_BLOCK, FLATTEN_PERCENTILE, FLATTEN_KEEP = 16, 20.0, 0.5


def background_surface(gray: np.ndarray, block: int = FLATTEN_BLOCK, percentile: float = FLATTEN_PERCENTILE,
                       keep: float = FLATTEN_KEEP, iterations: int = 3) -> np.ndarray:
    """A smooth background of a dark-background image: float32 [H,W].

    The image is cut into ``block`` x ``block`` blocks; each block's ``percentile`` is its level.
    A plane (a constant below 6 blocks) is fitted by least squares to the ``keep`` share of darkest
    levels, then refitted ``iterations`` times to the ``keep`` share of blocks lying lowest above
    it, so blocks filled by nuclei do not lift it. (Started from all blocks instead, a bright object
    filling one side of the image tilted the first fit towards it, and the refits kept following it.)
    """
    g = np.asarray(gray, np.float32)
    h, w = g.shape
    bh, bw = max(1, h // block), max(1, w // block)
    sy, sx = h // bh, w // bw
    blocks = g[:bh * sy, :bw * sx].reshape(bh, sy, bw, sx).transpose(0, 2, 1, 3).reshape(bh * bw, sy * sx)
    k = int(round(percentile / 100.0 * (sy * sx - 1)))  # the block's percentile, to the nearest pixel
    levels = np.partition(blocks, k, axis=1)[:, k].astype(np.float64)
    yc, xc = np.meshgrid((np.arange(bh) + 0.5) * sy / h * 2 - 1, (np.arange(bw) + 0.5) * sx / w * 2 - 1,
                         indexing="ij")
    design = np.stack([np.ones(levels.size), xc.ravel(), yc.ravel()], axis=1)[:, :3 if levels.size >= 6 else 1]
    use = levels <= np.quantile(levels, keep)  # start from the darkest blocks: a bright side cannot tilt it
    for _ in range(iterations + 1):
        coef = np.linalg.lstsq(design[use], levels[use], rcond=None)[0]
        residual = levels - design @ coef
        use = residual <= np.quantile(residual, keep)
        if use.sum() < design.shape[1]:
            break
    c0, cx, cy = (np.float32(c) for c in (*coef, 0.0, 0.0)[:3])
    y = ((np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1)[:, None]
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1)[None, :]
    return (c0 + cx * x + cy * y).astype(np.float32)  # [H,W] by broadcasting, no full-size term arrays


def flatten_background(gray: np.ndarray) -> np.ndarray:
    """uint8 [H,W] ``gray`` minus the rise of its :func:`background_surface` above the surface's
    lowest point, clipped to 0..255: a gradient of the background goes, its level stays."""
    surface = background_surface(gray)
    out = np.asarray(gray, np.float32) - (surface - surface.min())
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def bright_background(gray: np.ndarray) -> bool:
    """Whether an image's background is brighter than its objects (brightfield, H&E).

    The rule, on the gray levels' 1st/50th/99th percentiles ``lo, med, hi`` and the
    median ``edge`` of a frame of width ``min(H, W) // 32`` (>= 2) along the borders:

    * nearly flat images (``hi - lo < 16``): bright when ``med > 127``;
    * otherwise bright when ``med`` lies in the upper half of ``[lo, hi]`` (most
      pixels, the background, are bright), or when the frame is brighter than the
      median by more than ``max(0.1 (hi - lo), 4)`` (dense tissue where dark nuclei
      cover most of the image but not the whole border).

    On the 664 stage-1 training images it agrees with ``common.folds.image_type``
    (16 brightfield and 107 histology images bright, 541 fluorescence dark) without
    its absolute threshold, so dim brightfield and offset fluorescence are judged
    by their contrast.

    Args:
        gray: [H,W] gray levels (any real dtype).
    """
    g = np.asarray(gray, np.float32)
    lo, med, hi = np.percentile(_sample(g), [1.0, 50.0, 99.0])
    if hi - lo < 16:
        return bool(med > 127)
    w = max(2, min(g.shape) // 32)
    frame = np.concatenate([g[:w].ravel(), g[-w:].ravel(), g[w:-w, :w].ravel(), g[w:-w, -w:].ravel()])
    edge = float(np.median(frame)) if frame.size else med
    return bool(med > (lo + hi) / 2 or edge - med > max(0.1 * (hi - lo), 4.0))


def normalise_image(image: np.ndarray, mode: str = "none", fluorescence_gray: str = "luminance",
                    flatten: bool = False) -> np.ndarray:
    """Normalise one image for the network; see the module docstring for the modes.

    Args:
        image: uint8 [H,W,3] RGB (or [H,W] gray). The percentile modes also take
            16-bit or float images.
        mode: One of :data:`MODES`.
        fluorescence_gray: One of :data:`FLUORESCENCE_GRAY`: with a gray mode, an image whose
            background is dark (judged on the luminance) becomes gray by its luminance or by its
            brightest channel (``max``). No effect on the other modes or on bright backgrounds.
        flatten: With a gray mode, a dark-background image loses its smooth background
            (:func:`flatten_background`) before the stretch. No effect on bright backgrounds.

    Returns:
        uint8 [H,W,3]; for ``"none"`` with a uint8 [H,W,3] input, that same array.

    Raises:
        ValueError: unknown mode or ``fluorescence_gray``, or a shape/dtype the mode cannot take.
    """
    if mode not in MODES:
        raise ValueError(f"normalise mode must be one of {MODES}, got {mode!r}")
    if fluorescence_gray not in FLUORESCENCE_GRAY:
        raise ValueError(f"fluorescence_gray must be one of {FLUORESCENCE_GRAY}, got {fluorescence_gray!r}")
    x = np.asarray(image)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3):
        raise ValueError(f"image must be [H,W] or [H,W,3], got shape {x.shape}")
    if not mode.startswith("percentile") and x.dtype != np.uint8:
        raise ValueError(f"normalise mode {mode!r} needs a uint8 image, got {x.dtype}")
    if mode == "none":
        return x if x.ndim == 3 else np.repeat(x[:, :, None], 3, axis=2)
    if mode.startswith("percentile"):
        out = percentile_stretch(x, per_channel=mode == "percentile_channel")
        return out if out.ndim == 3 else np.repeat(out[:, :, None], 3, axis=2)
    gray = to_gray(x)
    dark_options = fluorescence_gray == "max" or flatten  # choices for dark backgrounds, even in "gray" mode
    bright = (mode != "gray" or dark_options) and bright_background(gray)
    if bright and mode != "gray":
        gray = 255 - gray
    elif not bright:
        gray = max_channel(x) if fluorescence_gray == "max" else gray
        gray = flatten_background(gray) if flatten else gray
    if mode == "gray_invert_percentile_tophat" and bright and colourfulness(x) <= COLOUR_THRESHOLD:
        gray = white_tophat(gray)
    if mode.startswith("gray_invert_percentile"):
        gray = percentile_stretch(gray)
    return np.repeat(gray[:, :, None], 3, axis=2)


def normalise_with(image: np.ndarray, data) -> np.ndarray:
    """:func:`normalise_image` as a config's ``data`` section says (either family's): its
    ``normalise`` mode, ``fluorescence_gray`` and ``flatten_background``."""
    return normalise_image(image, data.normalise, data.fluorescence_gray, data.flatten_background)
