"""Test-time denoising of grainy images: a noise estimate and a Gaussian smoothing.

Networks trained mostly on clean fluorescence backgrounds miss nuclei on grainy images (the
``fluorescence-512x640`` kind of stage 1, whose nuclei the ``cpu30`` U-Net leaves at a body
probability of 0 even stretched to full brightness; ``bench/results/faint_pass_cpu_20261206/``).
:func:`noise_level` estimates an image's pixel noise and :func:`smooth` smooths the image as
loaded; the U-Net's ``predict.denoise`` (``solutions.unet.inference``) smooths an image before it
is normalised when its noise is above a threshold and its nuclei are large enough.

Keras-free (numpy and OpenCV), so either solution family and ``segment`` can use it.

Example::

    if noise_level(image) > 2.5:                   # uint8 [H,W,3] as loaded
        image = smooth(image, 2.0)
"""

from __future__ import annotations

import cv2
import numpy as np

from common.normalise import percentile_stretch, to_gray

__all__ = ["noise_level", "noise_sigma", "smooth"]

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
    percentile to 0..255, so images of any brightness compare. uint8 or uint16, [H,W] or
    [H,W,3] RGB."""
    return noise_sigma(percentile_stretch(to_gray(image)))


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` smoothed by a Gaussian of ``sigma`` (> 0) pixels (OpenCV, reflected borders);
    same shape and dtype."""
    if sigma <= 0:
        raise ValueError(f"smooth: sigma must be > 0, got {sigma}")
    return cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
