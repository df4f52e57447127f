"""data.flatten_background: a dark-background image loses its smooth background before the stretch."""

from __future__ import annotations

import numpy as np
import pytest

from common.config import load_config
from common.normalise import background_surface, flatten_background, normalise_image
from common.synthetic import render_sample


def _fluorescence() -> np.ndarray:
    image = render_sample(3, 1, "fluorescence", (96, 128))[0]
    assert (image[..., 0] == image[..., 2]).all()
    return image[..., 0]


def _ramp(gray: np.ndarray, rise: float) -> np.ndarray:
    glow = np.linspace(0, rise, gray.shape[1], dtype=np.float32)[None, :]
    return np.clip(np.rint(gray.astype(np.float32) + glow), 0, 255).astype(np.uint8)


def _blobs(shape=(128, 160), seed=0) -> np.ndarray:
    """Bright discs (nuclei) on a flat, noisy dark background."""
    rng = np.random.default_rng(seed)
    gray = rng.normal(20, 3, shape)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    for _ in range(25):
        cy, cx, r = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(4, 9)
        gray[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(90, 200)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def test_a_background_ramp_goes_and_the_nuclei_stay():
    gray = _blobs()
    flat = flatten_background(_ramp(gray, 60))
    assert flat.dtype == np.uint8 and flat.shape == gray.shape
    diff = np.abs(flat.astype(int) - gray.astype(int))
    assert diff.mean() < 3 and np.percentile(diff, 95) <= 6  # the ramp (up to 60 levels) is gone
    assert abs(np.median(flat[:, :16]) - np.median(flat[:, -16:])) <= 4


def test_the_same_image_under_two_ramps_comes_out_alike():
    """The synthetic fluorescence has its own uneven background: flattened with or without an
    added ramp, it comes out about the same, up to its level (which the stretch then sets)."""
    gray = _fluorescence()
    diff = flatten_background(gray).astype(int) - flatten_background(_ramp(gray, 60)).astype(int)
    assert np.abs(diff - np.median(diff)).mean() < 3


def test_a_flat_background_is_left_about_as_it_was():
    gray = _blobs(seed=2)
    assert np.abs(flatten_background(gray).astype(int) - gray.astype(int)).mean() < 1.5


def test_nuclei_filling_many_blocks_do_not_lift_the_surface():
    """A bright blob over 30 % of the image is not taken for background."""
    rng = np.random.default_rng(0)
    gray = np.clip(rng.normal(20, 3, (128, 160)), 0, 255)
    yy, xx = np.mgrid[0:128, 0:160]
    gray[(yy - 40) ** 2 + (xx - 50) ** 2 < 45 ** 2] = 180
    gray = gray.astype(np.uint8)
    surface = background_surface(gray)
    assert np.abs(surface - 20).max() < 8
    flat = flatten_background(gray)
    assert abs(float(flat[40, 50]) - 180) < 8


def test_a_large_bright_object_is_not_flattened_away():
    """A bright body over half the image (an embryo) with nuclei on its rim keeps its rim: the
    plane stays under the dark background (a quadratic surface bulged up under the real embryos)."""
    rng = np.random.default_rng(4)
    gray = rng.normal(15, 2, (160, 320))
    yy, xx = np.mgrid[0:160, 0:320]
    inside = ((yy - 70) / 60.0) ** 2 + ((xx - 160) / 140.0) ** 2
    gray[inside < 1] = 70
    gray[(inside > 0.8) & (inside < 1)] = 200  # the rim of nuclei
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    rim = (inside > 0.85) & (inside < 0.95)
    assert abs(float(flatten_background(gray)[rim].mean()) - float(gray[rim].mean())) < 10


@pytest.mark.parametrize("shape", [(256, 320), (520, 696)])
def test_a_bright_region_along_one_side_is_kept(shape):
    """A bright region filling whole blocks along one side (a colony, a tissue edge; about 40 % of
    the image, still a dark background) does not tilt the plane: the fit starts from the darkest
    blocks. Started from all blocks, the plane followed the region and erased it."""
    h, w = shape
    gray = np.full(shape, 8, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    gray[((yy - h / 2) / (h / 2)) ** 2 + ((xx - w) / (0.6 * w)) ** 2 < 1] = 120
    assert 0.35 < (gray == 120).mean() < 0.5
    surface = background_surface(gray)
    assert np.abs(surface - 8).max() < 2
    np.testing.assert_array_equal(flatten_background(gray), gray)
    out = normalise_image(gray, "gray_invert_percentile", "max", flatten=True)[..., 0]
    assert np.median(out[gray == 120]) > 200


@pytest.mark.parametrize("shape", [(1, 1), (8, 400), (20, 30), (40, 60), (17, 1000)])
def test_small_and_thin_images(shape):
    """Few blocks: a plane or a constant, never an error; one block changes nothing."""
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 60, shape).astype(np.uint8)
    flat = flatten_background(gray)
    assert flat.shape == shape and flat.dtype == np.uint8
    if shape[0] < 32 and shape[1] < 32:  # a single block: a constant surface, nothing subtracted
        np.testing.assert_array_equal(flat, gray)
    constant = np.full(shape, 37, np.uint8)
    np.testing.assert_array_equal(flatten_background(constant), constant)


@pytest.mark.parametrize("kind", ["brightfield", "histology"])
def test_bright_backgrounds_are_not_flattened(kind):
    image = render_sample(3, 1, kind, (96, 128))[0]
    for mode in ("gray_invert_percentile", "gray_invert_percentile_tophat"):
        np.testing.assert_array_equal(normalise_image(image, mode, "max", flatten=True),
                                      normalise_image(image, mode, "max"))


def test_normalise_image_flattens_before_the_stretch():
    gray = _blobs(seed=3)
    ramped = np.repeat(_ramp(gray, 60)[..., None], 3, axis=2)
    reference = normalise_image(gray, "gray_invert_percentile").astype(int)
    without = normalise_image(ramped, "gray_invert_percentile").astype(int)
    with_flat = normalise_image(ramped, "gray_invert_percentile", flatten=True).astype(int)
    assert np.abs(with_flat - reference).mean() < np.abs(without - reference).mean() / 3
    np.testing.assert_array_equal(normalise_image(ramped, "percentile", flatten=True),
                                  normalise_image(ramped, "percentile"))  # not a gray mode: untouched


@pytest.mark.parametrize("family", ["unet", "maskrcnn"])
def test_config_key(family):
    """Off in the dataclasses (saved runs); the U-Net's shipped configs flatten, the Mask R-CNN's
    (not measured there) do not."""
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "solutions" / family / "configs"
    if family == "unet":
        from solutions.unet.config import UNetConfig as Config
        shipped = {"watershed.yaml": True, "cpu30.yaml": True, "demo.yaml": True}
    else:
        from solutions.maskrcnn.config import MaskRCNNConfig as Config
        shipped = {"base.yaml": False, "cpu_small.yaml": False}
    assert load_config(Config, None, []).data.flatten_background is False
    assert load_config(Config, None, ["data.flatten_background=true"]).data.flatten_background is True
    for name, expected in shipped.items():
        assert load_config(Config, configs / name, []).data.flatten_background is expected, name
