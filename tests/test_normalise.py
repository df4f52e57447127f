"""common.normalise: one per-image normalisation shared by training and prediction."""

from __future__ import annotations

import numpy as np
import pytest

from common.config import ConfigError, load_config
from common.normalise import (COLOUR_THRESHOLD, MODES, TOPHAT_RADIUS, bright_background, colourfulness,
                              normalise_image, percentile_stretch, to_gray, white_tophat)
from common.synthetic import render_sample


@pytest.fixture(scope="module", params=["fluorescence", "brightfield", "histology"])
def sample(request):
    return request.param, *render_sample(3, 1, request.param, (96, 128))


def test_none_is_the_image_itself(sample):
    _, image, _ = sample
    out = normalise_image(image, "none")
    assert out is image  # bit-identical, not even a copy
    gray = image[:, :, 0]
    np.testing.assert_array_equal(normalise_image(gray, "none"), np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_uint8_rgb_of_the_same_size(sample, mode):
    _, image, _ = sample
    out = normalise_image(image, mode)
    assert out.dtype == np.uint8 and out.shape == image.shape
    if mode.startswith("gray"):
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()


def test_percentile_stretch_maps_the_percentiles_to_the_ends():
    rng = np.random.default_rng(0)
    image = rng.integers(40, 90, (64, 64, 3)).astype(np.uint8)
    out = normalise_image(image, "percentile")
    assert out.min() == 0 and out.max() == 255
    assert (out == 0).mean() <= 0.05 and (out == 255).mean() <= 0.03  # only the tails clip (50 levels)
    order = np.argsort(image.ravel(), kind="stable")  # monotone: order kept (ties allowed)
    assert (np.diff(out.ravel()[order].astype(int)) >= 0).all()


def test_percentile_takes_16_bit_and_flat_images():
    rng = np.random.default_rng(1)
    image16 = rng.integers(1000, 5000, (40, 50)).astype(np.uint16)
    out = normalise_image(image16, "percentile")
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8 and out.max() == 255
    ref = np.clip(np.rint((image16.astype(np.float64) - np.percentile(image16, 1))
                          * 255 / (np.percentile(image16, 99.8) - np.percentile(image16, 1))), 0, 255)
    assert np.abs(out[..., 0].astype(int) - ref).max() <= 1  # the lookup table = the arithmetic
    assert (normalise_image(np.full((8, 8, 3), 77, np.uint8), "percentile") == 0).all()
    floats = percentile_stretch(image16.astype(np.float32))
    assert np.abs(floats.astype(int) - out[..., 0]).max() <= 1


def test_percentile_channel_evens_out_channels():
    rng = np.random.default_rng(2)
    base = rng.integers(0, 100, (32, 32)).astype(np.float32)
    image = np.stack([base, base * 2, base * 0.5], axis=-1).astype(np.uint8)
    joint = normalise_image(image, "percentile")
    per = normalise_image(image, "percentile_channel")
    assert joint[..., 1].mean() > 2 * joint[..., 2].mean()  # keeps the cast
    assert np.abs(per[..., 0].astype(int) - per[..., 1]).max() <= 3  # evens it out
    assert np.abs(per[..., 0].astype(int) - per[..., 2]).max() <= 3


def test_gray_invert_makes_nuclei_bright_on_dark(sample):
    kind, image, labels = sample
    gray = to_gray(image)
    assert bright_background(gray) == (kind != "fluorescence")
    for mode in ("gray_invert", "gray_invert_percentile"):
        out = normalise_image(image, mode)[..., 0].astype(float)
        assert np.median(out[labels == 0]) < np.median(out[labels > 0])
        assert np.median(out[labels == 0]) < 128
    if kind == "fluorescence":  # nothing to invert
        np.testing.assert_array_equal(normalise_image(image, "gray_invert")[..., 0], gray)


def test_bright_background_edge_cases():
    assert not bright_background(np.full((20, 20), 10, np.uint8))
    assert bright_background(np.full((20, 20), 200, np.uint8))
    # dark nuclei covering most of the image, bright gaps along the border
    img = np.full((64, 64), 60, np.uint8)
    img[:6], img[-6:], img[:, :6], img[:, -6:] = 220, 220, 220, 220
    assert bright_background(img)
    # bright fluorescent nuclei on a dark background with an offset (median > 100)
    fl = np.full((64, 64), 110, np.uint8)
    fl[20:40, 20:40] = 250
    assert not bright_background(fl)


def test_bad_input():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="normalise mode"):
        normalise_image(image, "zscore")
    with pytest.raises(ValueError, match="shape"):
        normalise_image(np.zeros((8, 8, 4), np.uint8), "none")
    with pytest.raises(ValueError, match="uint8"):
        normalise_image(image.astype(np.uint16), "gray_invert")
    with pytest.raises(ValueError, match="percentiles"):
        percentile_stretch(image, 50, 10)


def test_training_and_prediction_share_the_function(tmp_path):
    """load_items (training) and predict_image (prediction) feed the same normalised pixels."""
    from common.data import DSBDataset
    from common.synthetic import generate_dataset
    from solutions.unet.config import UNetConfig
    from solutions.unet.data import load_items
    from solutions.unet.inference import predict_image

    generate_dataset(tmp_path, n_train=3, n_test=0, seed=0, size=(64, 96))
    ds = DSBDataset(tmp_path, "stage1_train")
    raw, _ = load_items(ds, ds.ids, threads=1)
    for image_id, image in zip(ds.ids, raw):  # default: the images as loaded
        np.testing.assert_array_equal(image, ds.load_image(image_id))
    images, _ = load_items(ds, ds.ids, threads=1, normalise="gray_invert")
    cfg = UNetConfig()
    cfg.data.normalise = "gray_invert"
    seen = []

    def model(x, training=False):  # records the network's input, returns it as "body"
        seen.append(np.asarray(x))
        return np.asarray(x)[..., :1] / 255.0

    for image_id, image in zip(ds.ids, images):
        np.testing.assert_array_equal(image, normalise_image(ds.load_image(image_id), "gray_invert"))
        seen.clear()
        out = predict_image(model, ds.load_image(image_id), cfg, "none")
        h, w = image.shape[:2]
        np.testing.assert_array_equal(seen[0][0, :h, :w], image.astype(np.float32))
        np.testing.assert_allclose(out[..., 0], image[..., 0] / 255.0, atol=1e-6)


def test_maskrcnn_training_and_prediction_normalise_alike(tmp_path):
    """Mask R-CNN's training loader and predict_images feed the same data.normalise pixels."""
    from common.data import DSBDataset
    from common.synthetic import generate_dataset
    from solutions.maskrcnn.config import MaskRCNNConfig
    from solutions.maskrcnn.data import TrainSequence
    from solutions.maskrcnn.predict import predict_images

    generate_dataset(tmp_path, n_train=2, n_test=0, seed=0, size=(64, 96))
    ds = DSBDataset(tmp_path, "stage1_train")
    cfg = load_config(MaskRCNNConfig, None, ["data.normalise=gray_invert_percentile"])
    seq = TrainSequence(ds, ds.ids, cfg, np.zeros((1, 4), np.float32), steps=1)
    seen = []

    class Model:  # records the network's input, detects nothing
        def infer(self, batch):
            seen.append(np.asarray(batch))
            b = len(batch)
            return {"boxes": np.zeros((b, 0, 4), np.float32), "scores": np.zeros((b, 0), np.float32),
                    "masks": np.zeros((b, 0, 28, 28), np.float32)}

    for image_id in ds.ids:
        raw = ds.load_image(image_id)
        expected = normalise_image(raw, "gray_invert_percentile")
        assert not np.array_equal(expected, raw)  # the switch does something here
        np.testing.assert_array_equal(seq._load(image_id)[0], expected)
        seen.clear()
        (inst,) = predict_images(Model(), cfg, [raw])
        h, w = raw.shape[:2]
        np.testing.assert_array_equal(seen[0][0, :h, :w], expected.astype(np.float32))
        assert inst.labels.shape == (h, w) and inst.labels.max() == 0
    with pytest.raises(ConfigError, match="data.normalise"):
        load_config(MaskRCNNConfig, None, ["data.normalise=zscore"])


REAL_BRIGHT = {  # ids of common.folds.image_type "brightfield" / "histology" images (bright backgrounds)
    "brightfield": ["08275a5b1c2dfcd739e8c4888a5ee2d29f83eccfa75185404ced1dc0866ea992",
                    "091944f1d2611c916b98c020bd066667e33f4639159b2a92407fe5a40788856d"],
    "histology": ["00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e",
                  # dense: dark nuclei cover most pixels / most of the border
                  "13f2bec0a24c70345372febb14c4352877b1b6c1b01896246048e83c345c0914",
                  "e49fc2b4f1f39d481a6525225ab3f688be5c87f56884456ad54c953315efae83"],
    "fluorescence": ["00071198d059ba7f5914a526d124d28e6d010c92466da21d4a04cd5413362552"],
}


@pytest.mark.realdata
@pytest.mark.parametrize("kind,image_id", [(k, i) for k, ids in REAL_BRIGHT.items() for i in ids])
def test_gray_invert_on_real_images(kind, image_id):
    from common.data import DSBDataset
    from common.paths import SHARED_DSB_DIR

    split = SHARED_DSB_DIR / "stage1_train"
    if not (split / image_id).is_dir():
        pytest.skip(f"{split / image_id} absent")
    ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
    image, labels = ds.load_image(image_id), ds.load_labels(image_id)
    assert bright_background(to_gray(image)) == (kind != "fluorescence")
    out = normalise_image(image, "gray_invert")[..., 0].astype(float)
    background, nuclei = np.median(out[labels == 0]), np.median(out[labels > 0])
    assert background < nuclei and background < 100, (background, nuclei)


def _cell_image() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A gray brightfield-like image: bright background, a wide cell body half as dark as
    its small nucleus. Returns (image, nucleus mask, cell-body mask without the nucleus)."""
    yy, xx = np.mgrid[:160, :160]
    cell = (yy - 80) ** 2 + (xx - 80) ** 2 < 45 ** 2
    nucleus = (yy - 75) ** 2 + (xx - 85) ** 2 < 6 ** 2
    gray = np.where(nucleus, 60, np.where(cell, 150, 225)).astype(np.uint8)
    gray = (gray + np.random.default_rng(0).integers(0, 6, gray.shape)).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2), nucleus, cell & ~nucleus


def test_tophat_removes_the_cell_body_around_a_nucleus():
    image, nucleus, body = _cell_image()
    plain = normalise_image(image, "gray_invert_percentile")[..., 0]
    top = normalise_image(image, "gray_invert_percentile_tophat")[..., 0]
    assert np.median(plain[body]) > 100  # inverted, the cell body is a bright plateau
    assert np.median(top[body]) < 20 and np.median(top[nucleus]) > 200  # only the nucleus stays
    assert white_tophat(image[..., 0], TOPHAT_RADIUS).dtype == np.uint8
    with pytest.raises(ValueError, match="radius"):
        white_tophat(image[..., 0], 0)


def test_tophat_leaves_coloured_and_dark_background_images_alone(sample):
    kind, image, _ = sample
    top = normalise_image(image, "gray_invert_percentile_tophat")
    plain = normalise_image(image, "gray_invert_percentile")
    gray_bright = colourfulness(image) <= COLOUR_THRESHOLD and bright_background(to_gray(image))
    assert np.array_equal(top, plain) != gray_bright, (kind, colourfulness(image))


def test_colourfulness_tells_gray_from_stained():
    image, _, _ = _cell_image()
    assert colourfulness(image) == 0.0 == colourfulness(image[..., 0])
    stained = image.copy()
    stained[..., 2] = np.clip(stained[..., 2].astype(int) + 40, 0, 255)
    assert colourfulness(stained) > COLOUR_THRESHOLD


@pytest.mark.realdata
def test_tophat_on_a_real_brightfield_image():
    from common.data import DSBDataset
    from common.paths import SHARED_DSB_DIR

    image_id = REAL_BRIGHT["brightfield"][0]
    if not (SHARED_DSB_DIR / "stage1_train" / image_id).is_dir():
        pytest.skip(f"{SHARED_DSB_DIR / 'stage1_train' / image_id} absent")
    ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
    image, labels = ds.load_image(image_id), ds.load_labels(image_id)
    plain = normalise_image(image, "gray_invert_percentile")[..., 0].astype(float)
    top = normalise_image(image, "gray_invert_percentile_tophat")[..., 0].astype(float)
    # the brightest tenth outside the nuclei (cell bodies) is half the nuclei's median
    # without the top-hat (120 against 219) and under a third with it (48 against 171, radius 25)
    ratio = [np.percentile(out[labels == 0], 90) / np.median(out[labels > 0]) for out in (plain, top)]
    assert ratio[0] > 0.45 > 0.35 > ratio[1], ratio
