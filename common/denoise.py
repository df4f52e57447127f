"""Test-time denoising of grainy images: a noise estimate and a Gaussian smoothing.

Networks trained mostly on clean fluorescence backgrounds miss nuclei on grainy images (the
``fluorescence-512x640`` kind of stage 1, whose nuclei the ``cpu30`` U-Net leaves at a body
probability of 0 even stretched to full brightness; ``bench/results/faint_pass_cpu_20261206/``).
:func:`noise_sigma` estimates an image's pixel noise; :func:`denoise` smooths the image as loaded
before it is normalised, when its noise is above a threshold.

Keras-free (numpy and OpenCV), so either solution family and ``segment`` can use it.

Example::

    image = denoise(image, sigma=2.0, above=3.0)   # uint8 [H,W,3] as loaded, same out
"""

from __future__ import annotations

import cv2
import numpy as np

from common.normalise import percentile_stretch, to_gray

__all__ = ["denoise", "noise_level", "noise_sigma", "smooth"]

# Second-difference kernel of Immerkaer (1996): its response to any locally linear image is 0,
# so what is left is the pixel noise (its response to Gaussian noise of std s has std 6 s).
_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(gray: np.ndarray) -> float:
    """Standard deviation of an image's pixel noise, in its gray levels (Immerkaer's fast
    estimate: ``sqrt(pi / 2) / 6`` times the mean absolute response to a second-difference
    kernel, borders left out). Edges add to it, so it is an upper bound; 0 for images under
    3x3 pixels."""
    g = np.asarray(gray, np.float32)
    if g.ndim != 2:
        raise ValueError(f"noise_sigma needs a [H,W] image, got shape {g.shape}")
    if min(g.shape) < 3:
        return 0.0
    response = cv2.filter2D(g, cv2.CV_32F, _KERNEL, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


def noise_level(image: np.ndarray) -> float:
    """:func:`noise_sigma` of an image's gray levels stretched from the 1st to the 99.8th
    percentile to 0..255, so images of any brightness compare. [H,W] or [H,W,3], any dtype
    ``common.normalise.percentile_stretch`` takes."""
    return noise_sigma(percentile_stretch(to_gray(image)))


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` smoothed by a Gaussian of ``sigma`` (> 0) pixels (OpenCV, reflected borders);
    same shape and dtype."""
    if sigma <= 0:
        raise ValueError(f"smooth: sigma must be > 0, got {sigma}")
    return cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def denoise(image: np.ndarray, sigma: float, above: float = 0.0, info: dict | None = None) -> np.ndarray:
    """``image`` smoothed by a Gaussian of ``sigma`` pixels (:func:`smooth`) when its
    :func:`noise_level` is above ``above``; else ``image`` itself (the same array).

    Args:
        image: [H,W] or [H,W,C] as loaded (uint8, or any dtype OpenCV smooths).
        sigma: Gaussian standard deviation in pixels; 0: never smooth.
        above: Noise threshold in stretched gray levels; 0: smooth every image.
        info: If given, receives ``noise`` (the estimate; only when ``above`` > 0) and
            ``denoised`` (whether it smoothed).
    """
    if sigma < 0 or above < 0:
        raise ValueError(f"denoise: sigma and above must be >= 0, got {sigma} and {above}")
    info = {} if info is None else info
    noisy = sigma > 0
    if noisy and above > 0:
        info["noise"] = round(noise_level(image), 3)
        noisy = info["noise"] > above
    info["denoised"] = noisy
    return smooth(image, sigma) if noisy else image
