"""data.fluorescence_gray: how a gray normalisation mode makes a dark-background image gray."""

from __future__ import annotations

import numpy as np
import pytest

from common.config import ConfigError, load_config
from common.normalise import FLUORESCENCE_GRAY, MODES, max_channel, normalise_image, to_gray
from common.synthetic import render_sample

GRAY_MODES = [m for m in MODES if m.startswith("gray")]


def _sample(kind: str) -> np.ndarray:
    return render_sample(3, 1, kind, (96, 128))[0]


def _false_colour(gray: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    """One gray channel shown in the colour of ``channels`` (2: blue, (0, 2): magenta)."""
    out = np.zeros((*gray.shape, 3), np.uint8)
    out[..., list(channels)] = gray[..., None]
    return out


@pytest.mark.parametrize("mode", GRAY_MODES)
@pytest.mark.parametrize("kind", ["fluorescence", "brightfield", "histology"])
def test_max_changes_nothing_on_gray_or_bright_background_images(kind, mode):
    """Gray images (every dark-background image of stage1_train) and bright backgrounds
    (the coloured histology included) give the same array under both choices."""
    image = _sample(kind)
    np.testing.assert_array_equal(normalise_image(image, mode, "max"), normalise_image(image, mode, "luminance"))


def test_max_channel_is_the_luminance_of_a_gray_image():
    image = _sample("fluorescence")
    assert (image[..., 0] == image[..., 2]).all()  # the synthetic fluorescence is gray
    np.testing.assert_array_equal(max_channel(image), to_gray(image))
    np.testing.assert_array_equal(max_channel(image[..., 0]), image[..., 0])
    rgb = np.array([[[10, 200, 30], [0, 0, 77]]], np.uint8)
    np.testing.assert_array_equal(max_channel(rgb), [[200, 77]])


@pytest.mark.parametrize("channels", [(2,), (0,), (1,), (0, 2), (0, 1)], ids=["blue", "red", "green", "magenta",
                                                                             "yellow"])
@pytest.mark.parametrize("mode", ["gray_invert_percentile", "gray_invert_percentile_tophat"])
def test_false_colour_fluorescence_is_normalised_as_its_gray_image(channels, mode):
    gray = _sample("fluorescence")[..., 0]
    coloured = _false_colour(gray, channels)
    reference = normalise_image(gray, mode)
    np.testing.assert_array_equal(normalise_image(coloured, mode, "max"), reference)
    if channels == (2,):  # the luminance keeps 0.114 of a blue stain's range: few gray levels survive
        lum = normalise_image(coloured, mode, "luminance")
        assert not np.array_equal(lum, reference)
        assert len(np.unique(lum)) < len(np.unique(reference)) / 3


def test_a_dim_blue_image_keeps_its_levels():
    """A dim stain shown blue: the luminance leaves a handful of levels, the brightest channel all."""
    gray = (_sample("fluorescence")[..., 0] // 4).astype(np.uint8)  # at most 64 levels
    coloured = _false_colour(gray, (2,))
    assert len(np.unique(to_gray(coloured))) <= 10
    np.testing.assert_array_equal(normalise_image(coloured, "gray_invert_percentile", "max"),
                                  normalise_image(gray, "gray_invert_percentile"))


def test_bad_value_names_the_choice():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="fluorescence_gray"):
        normalise_image(image, "gray_invert", "brightest")
    assert FLUORESCENCE_GRAY == ("luminance", "max")


@pytest.mark.parametrize("family", ["unet", "maskrcnn"])
def test_config_key_checked_and_shipped(family):
    """Both families check the key; a run saved without it means luminance; the shipped configs set max."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "solutions"
    if family == "unet":
        from solutions.unet.config import UNetConfig as Config
        shipped = [root / "unet/configs/watershed.yaml", root / "unet/configs/cpu30.yaml"]
    else:
        from solutions.maskrcnn.config import MaskRCNNConfig as Config
        shipped = [root / "maskrcnn/configs/base.yaml", root / "maskrcnn/configs/cpu_small.yaml"]
    assert load_config(Config, None, []).data.fluorescence_gray == "luminance"
    for path in shipped:
        assert load_config(Config, path, []).data.fluorescence_gray == "max", path
    with pytest.raises(ConfigError, match="data.fluorescence_gray"):
        load_config(Config, None, ["data.fluorescence_gray=brightest"])


def test_unet_training_and_prediction_feed_the_same_pixels(tmp_path):
    """load_items (training) and predict_image (prediction) both take the brightest channel."""
    import cv2

    from common.data import DSBDataset
    from common.synthetic import generate_dataset
    from solutions.unet.config import UNetConfig
    from solutions.unet.data import load_items
    from solutions.unet.inference import predict_image

    generate_dataset(tmp_path, n_train=2, n_test=0, seed=0, size=(64, 96))
    ds = DSBDataset(tmp_path, "stage1_train")
    gray_ids = [i for i in ds.ids if (ds.load_image(i)[..., 0] == ds.load_image(i)[..., 2]).all()
                and ds.load_image(i).mean() < 128]
    assert gray_ids, "the synthetic set has a gray dark-background image"
    image_id = gray_ids[0]
    path = next((tmp_path / "stage1_train" / image_id / "images").glob("*.png"))
    gray = ds.load_image(image_id)[..., 0]
    cv2.imwrite(str(path), _false_colour(gray, (2,))[..., ::-1])  # shown blue, written BGR
    cfg = load_config(UNetConfig, None, ["data.normalise=gray_invert_percentile", "data.fluorescence_gray=max"])
    (image,), _ = load_items(ds, [image_id], threads=1, normalise=cfg.data)
    np.testing.assert_array_equal(image, normalise_image(gray, "gray_invert_percentile"))
    seen = []

    def model(x, training=False):  # records the network's input
        seen.append(np.asarray(x))
        return np.asarray(x)[..., :1] / 255.0

    predict_image(model, ds.load_image(image_id), cfg, "none")
    h, w = image.shape[:2]
    np.testing.assert_array_equal(seen[0][0, :h, :w], image.astype(np.float32))
