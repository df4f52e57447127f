"""predict.denoise (common.denoise): a noise estimate and Gaussian smoothing of grainy images
before they are normalised and predicted."""

from __future__ import annotations

import numpy as np
import pytest

from common.denoise import noise_level, noise_sigma, smooth


def _grainy(std: float, shape=(96, 128), seed=0) -> np.ndarray:
    """uint8 [H,W,3]: a ramp from 40 to 200 plus Gaussian noise of ``std`` gray levels."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, shape[1], dtype=np.float32)[None, :].repeat(shape[0], 0)
    gray = np.clip(np.rint(ramp + rng.normal(0, std, shape)), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


@pytest.mark.parametrize("std", [2.0, 5.0, 10.0])
def test_noise_sigma_measures_the_pixel_noise_and_ignores_smooth_gradients(std):
    assert noise_sigma(_grainy(std)[..., 0]) == pytest.approx(std, rel=0.12)
    assert noise_sigma(_grainy(0.0)[..., 0]) < 0.3  # a ramp (rounded to whole levels) is not noise
    assert noise_sigma(np.zeros((2, 9))) == 0.0
    with pytest.raises(ValueError, match=r"\[H,W\]"):
        noise_sigma(_grainy(std))


def test_noise_level_is_judged_on_the_stretched_image_and_smooth_removes_grain():
    grainy, clean = _grainy(8.0), _grainy(0.5)
    assert noise_level(grainy) > 3.0 > noise_level(clean)
    # a dim grainy image (levels 10..50) is as grainy as a bright one once stretched
    dim = (grainy.astype(np.float32) / 4).astype(np.uint8)
    assert noise_level(dim) > 3.0 and noise_sigma(dim[..., 0]) < 3.0
    assert noise_level(grainy.astype(np.uint16) * 200) == pytest.approx(noise_level(grainy), rel=0.05)
    out = smooth(grainy, 2.0)
    assert out.shape == grainy.shape and out.dtype == np.uint8
    assert noise_level(out) < noise_level(grainy) / 3
    with pytest.raises(ValueError, match="must be > 0"):
        smooth(grainy, 0.0)


def _cfg(**denoise_keys):
    from common.config import from_dict
    from solutions.unet.config import UNetConfig

    return from_dict(UNetConfig, {"predict": {"denoise": denoise_keys}})


def test_predict_image_feeds_the_network_the_smoothed_image():
    from solutions.unet.inference import predict_image

    seen = []

    def model(x, training=False):
        x = np.asarray(x, np.float32)
        seen.append(x[0, :96, :128, 0].copy())
        return np.zeros(x.shape[:3] + (3,), np.float32)

    grainy = _grainy(8.0)
    info, view = {}, {}
    predict_image(model, grainy, _cfg(sigma=2.0, above=3.0), "none", info=info, view=view)
    predict_image(model, grainy, _cfg(), "none")
    assert info["denoised"] and noise_sigma(seen[0]) < noise_sigma(seen[1]) / 3
    np.testing.assert_array_equal(view["input"][..., 0], seen[0])  # the smoothed input, as the network saw it
    info = {}
    predict_image(model, _grainy(0.5), _cfg(sigma=2.0, above=3.0), "none", info=info)
    predict_image(model, _grainy(0.5), _cfg(), "none")
    assert info["denoised"] is False
    np.testing.assert_array_equal(seen[2], seen[3])


def test_denoise_config_is_checked():
    from common.config import ConfigError

    for key in ("sigma", "above", "larger_than"):
        with pytest.raises(ConfigError, match="predict.denoise: sigma, above and larger_than must be >= 0"):
            _cfg(**{key: -1.0})
    assert _cfg().predict.denoise.sigma == 0.0


def _grainy_discs(radius: int, std: float = 8.0, seed: int = 0) -> np.ndarray:
    """uint8 [H,W,3]: bright discs of ``radius`` on a dark grainy background."""
    import cv2

    rng = np.random.default_rng(seed)
    gray = np.full((96, 128), 30, np.float32)
    for cx in range(20, 128, 36):
        for cy in (24, 70):
            cv2.circle(gray, (cx, cy), radius, 200, -1)
    gray = np.clip(np.rint(gray + rng.normal(0, std, gray.shape)), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def test_larger_than_smooths_only_images_of_large_nuclei():
    from solutions.unet.inference import predict_image

    def model(x, training=False):
        body = (np.asarray(x, np.float32)[..., :1] > 110).astype(np.float32)
        return np.concatenate([body, np.zeros_like(body), body], axis=-1)

    cfg = _cfg(sigma=1.5, above=3.0, larger_than=2.0)
    info: dict = {}
    predict_image(model, _grainy_discs(12), cfg, "none", target_area=100.0, info=info)
    assert info["noise"] > 3.0 and info["denoise_area"] > 200.0 and info["denoised"]
    info = {}
    predict_image(model, _grainy_discs(4), cfg, "none", target_area=100.0, info=info)
    assert info["noise"] > 3.0 and info["denoise_area"] < 200.0 and info["denoised"] is False
    with pytest.raises(ValueError, match="larger_than needs a target area"):
        predict_image(model, _grainy_discs(12), cfg, "none")
    info = {}  # nothing found at scale 1 (a NaN area): not smoothed
    blank = lambda x, training=False: np.zeros(np.asarray(x).shape[:3] + (3,), np.float32)  # noqa: E731
    predict_image(blank, _grainy_discs(12), cfg, "none", target_area=100.0, info=info)
    assert np.isnan(info["denoise_area"]) and info["denoised"] is False
    info = {}  # a noise exactly at the threshold is not over it
    at = _cfg(sigma=1.5, above=noise_level(_grainy_discs(12)))
    predict_image(model, _grainy_discs(12), at, "none", info=info)
    assert info["denoised"] is False
    info = {}
    predict_image(model, _grainy(0.5), cfg, "none", info=info)  # not noisy: no size pass, no target needed
    assert info == {"noise": info["noise"], "denoised": False}


@pytest.mark.parametrize("tta", ["none", "flip"])
@pytest.mark.parametrize("scale_norm", [{}, {"enabled": True, "estimate": "multiscale"}])
def test_the_size_check_pass_is_reused_only_for_an_image_it_rejects(scale_norm, tta):
    """The size check's pass at scale 1 without TTA is the prediction's own when the image stays
    as loaded: a noisy image of small nuclei puts as many images through the network, with the
    same maps, as with the switch off. An image it smooths is predicted afresh: one image more."""
    from common.config import from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    counted = []

    def model(x, training=False):
        x = np.asarray(x, np.float32)
        counted.append(x.shape[0])
        body = (x[..., :1] > 110).astype(np.float32)
        return np.concatenate([body, np.zeros_like(body), body], axis=-1)

    def run(image: np.ndarray, denoise: dict) -> tuple[np.ndarray, int, dict]:
        counted.clear()
        info: dict = {}
        cfg = from_dict(UNetConfig, {"predict": {"denoise": denoise, "scale_norm": scale_norm}})
        prob = predict_image(model, image, cfg, tta, target_area=100.0, info=info)
        return prob, sum(counted), info

    gate = {"sigma": 1.5, "above": 3.0, "larger_than": 2.0}
    plain, n_plain, _ = run(_grainy_discs(4), {})
    rejected, n_rejected, info = run(_grainy_discs(4), gate)
    assert info["noise"] > 3.0 and "denoise_area" in info and info["denoised"] is False
    assert n_rejected == n_plain
    np.testing.assert_array_equal(rejected, plain)
    plain, n_plain, _ = run(_grainy_discs(12), {})
    smoothed, n_smoothed, info = run(_grainy_discs(12), gate)
    assert info["denoised"] and n_smoothed == n_plain + 1
    assert not np.array_equal(smoothed, plain)


def test_predict_folder_counts_the_images_it_smoothed(tmp_path):
    from common.runs import RunDir
    from solutions.unet.config import default_params
    from solutions.unet.predict import predict_folder

    images = {"grainy": _grainy(8.0), "clean": _grainy(0.5)}

    class Images:
        def load_image(self, image_id):
            return images[image_id]

    def model(x, training=False):
        return np.zeros(np.asarray(x).shape[:3] + (3,), np.float32)

    cfg = _cfg(sigma=2.0, above=3.0)
    summary = predict_folder(model, cfg, Images(), list(images), tmp_path / "out", default_params(cfg), "none",
                             RunDir(tmp_path))
    assert summary["denoise"] == {"n_images": 1}
    off = predict_folder(model, _cfg(), Images(), list(images), tmp_path / "off", default_params(cfg), "none",
                         RunDir(tmp_path))
    assert "denoise" not in off


def test_the_size_check_gets_the_training_median_without_scale_normalisation(tmp_path):
    import json

    from common.runs import RunDir
    from solutions.unet.predict import load_sizes

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    (run.path / "nucleus_size.json").write_text(json.dumps({"target_area": 150.0, "image_areas": [100.0, 200.0]}))
    from common.config import from_dict
    from solutions.unet.config import UNetConfig

    cfg = from_dict(UNetConfig, {"predict": {"denoise": {"sigma": 2.0, "above": 2.5, "larger_than": 1.0}}})
    assert not cfg.predict.scale_norm.enabled
    assert load_sizes(run, cfg) == {"target_area": 150.0, "small_area": 0.0}
    assert load_sizes(run, _cfg(sigma=2.0, above=2.5)) == {"target_area": 0.0, "small_area": 0.0}
    nowhere = RunDir(tmp_path / "nowhere")  # off (sigma 0): no nucleus_size.json needed whatever larger_than says
    assert load_sizes(nowhere, _cfg(larger_than=1.0)) == {"target_area": 0.0, "small_area": 0.0}
