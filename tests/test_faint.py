"""predict.faint_pass (common.faint): a second pass on the image without the nuclei found,
stretched again, brings back nuclei several times fainter than their neighbours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from common.faint import found_region, merge_second_look, residual_image


def _discs(levels, size=(96, 128), radius=7, background=10):
    """uint8 [H,W,3] gray image with one disc per level in a row, and its labels."""
    h, w = size
    image = np.full((h, w), background, np.uint8)
    labels = np.zeros((h, w), np.int32)
    for k, level in enumerate(levels, 1):
        centre = (16 + 30 * (k - 1), h // 2)
        cv2.circle(image, centre, radius, int(level), -1)
        cv2.circle(labels, centre, radius, k, -1)
    return np.repeat(image[:, :, None], 3, axis=2), labels


def test_residual_paints_over_the_found_nuclei_and_stretches_the_faint_ones():
    image, labels = _discs([240, 240, 60, 60])
    first = np.where(labels <= 2, labels, 0)  # the first pass found the two bright ones
    residual, gain = residual_image(image, first)
    assert residual.shape == image.shape and residual.dtype == np.uint8
    assert (residual[..., 0] == residual[..., 2]).all()
    assert gain == pytest.approx((240 - 10) / (60 - 10), rel=0.05)
    faint = labels >= 3
    assert residual[..., 0][faint].min() >= 250  # now the brightest objects
    assert residual[..., 0][labels == 1].max() == 0  # painted with the background, stretched to 0
    grown = found_region(first, 0.3)
    assert grown.sum() > (first > 0).sum() and not (grown & faint).any()


def test_no_second_pass_without_a_brighter_kind_or_with_only_noise_left():
    image, labels = _discs([200, 200, 200])
    # everything found: nothing but a flat background is left
    assert residual_image(image, labels)[0] is None
    # nothing found: nothing to paint over
    assert residual_image(image, np.zeros_like(labels)) == (None, 1.0)
    # the faint ones were found and the bright ones not: painting takes away little of the range
    image2, labels2 = _discs([240, 240, 60, 60])
    residual, gain = residual_image(image2, np.where(labels2 >= 3, labels2, 0))
    assert residual is None and gain < 1.5
    # only noise is left: amplifying it more than max_gain times is refused
    rng = np.random.default_rng(0)
    noisy = np.clip(image.astype(int) + rng.integers(0, 4, image.shape[:2])[..., None], 0, 255).astype(np.uint8)
    residual, gain = residual_image(noisy, labels)
    assert residual is None and gain > 8.0
    with pytest.raises(ValueError, match="min_gain"):
        residual_image(image, labels, min_gain=3.0, max_gain=2.0)
    with pytest.raises(ValueError, match="do not match"):
        residual_image(image, labels[:-1])


def test_merge_takes_the_surer_second_pass_outside_the_found_nuclei_only():
    first = np.zeros((4, 4, 3), np.float32)
    first[0, 0] = [0.9, 0.1, 0.8]
    second = np.full((4, 4, 3), 0.5, np.float32)
    second[0, 0] = [1.0, 0.0, 1.0]
    found = np.zeros((4, 4), bool)
    found[0, :2] = True
    out = merge_second_look(first, second, found)
    np.testing.assert_array_equal(out[0, :2], first[0, :2])  # inside the found region: the first pass
    np.testing.assert_array_equal(out[1:], second[1:])  # elsewhere the higher body, all channels
    lower = second.copy()
    lower[..., 0] = 0.0
    np.testing.assert_array_equal(merge_second_look(first, lower, found), first)
    with pytest.raises(ValueError, match="differ"):
        merge_second_look(first, second[:3], found)


def _bright_only_model():
    """A 'network' that sees only pixels over 150 as nuclei: body, border 0, centre."""

    def model(x, training=False):
        body = (np.asarray(x, np.float32)[..., :1] > 150).astype(np.float32)
        return np.concatenate([body, np.zeros_like(body), body], axis=-1)

    return model


def _cfg(**faint_pass):
    from common.config import from_dict
    from solutions.unet.config import UNetConfig

    return from_dict(UNetConfig, {"post": {"min_area": 10, "min_seed_area": 5},
                                  "predict": {"faint_pass": {"enabled": True, **faint_pass}}})


def test_predict_image_finds_the_faint_nuclei_with_a_second_look():
    from common.instances import probs_to_instances
    from solutions.unet.config import default_params
    from solutions.unet.inference import predict_image

    image, labels = _discs([240, 240, 60, 60])
    cfg = _cfg()
    params = default_params(cfg)
    plain = predict_image(_bright_only_model(), image, _cfg(enabled=False), "none")
    assert probs_to_instances(plain, params)[0].max() == 2
    info: dict = {}
    prob = predict_image(_bright_only_model(), image, cfg, "none", info=info)
    assert info["faint_pass"] and 4 < info["faint_gain"] < 5
    found = probs_to_instances(prob, params)[0]
    assert found.max() == 4 and all(found[labels == k].min() > 0 for k in range(1, 5))
    # evenly bright nuclei: no second pass, the maps of one pass
    even, _ = _discs([240, 240, 240])
    info = {}
    np.testing.assert_array_equal(predict_image(_bright_only_model(), even, cfg, "none", info=info),
                                  predict_image(_bright_only_model(), even, _cfg(enabled=False), "none"))
    assert info["faint_pass"] is False


def test_faint_pass_config_is_checked():
    from common.config import ConfigError, from_dict
    from solutions.unet.config import UNetConfig

    with pytest.raises(ConfigError, match="min_gain"):
        _cfg(min_gain=4.0, max_gain=2.0)
    with pytest.raises(ConfigError, match="margin"):
        _cfg(margin=-1.0)
    with pytest.raises(ConfigError, match="faint_pass needs the watershed"):
        from_dict(UNetConfig, {"model": {"kind": "baseline"}, "predict": {"faint_pass": {"enabled": True}}})
    assert _cfg(enabled=False).predict.faint_pass.tta == "none"


def test_predict_folder_counts_the_images_its_second_pass_ran_on(tmp_path):
    from common.predictions import load_prediction
    from common.runs import RunDir
    from solutions.unet.config import default_params
    from solutions.unet.predict import predict_folder

    images = {"uneven": _discs([240, 240, 60, 60])[0], "even": _discs([240, 240, 240])[0]}

    class Images:
        def load_image(self, image_id):
            return images[image_id]

    cfg = _cfg()
    summary = predict_folder(_bright_only_model(), cfg, Images(), list(images), tmp_path / "out",
                             default_params(cfg), "none", RunDir(tmp_path))
    assert summary["faint_pass"] == {"n_images": 1}
    assert load_prediction(tmp_path / "out" / "uneven.npz").labels.max() == 4
    assert load_prediction(tmp_path / "out" / "even.npz").labels.max() == 3
    off = predict_folder(_bright_only_model(), _cfg(enabled=False), Images(), list(images), tmp_path / "off",
                         default_params(cfg), "none", RunDir(tmp_path))
    assert "faint_pass" not in off and load_prediction(tmp_path / "off" / "uneven.npz").labels.max() == 2
