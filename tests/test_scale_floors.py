"""Post-processing floors in the frame of the scale an image was predicted at
(``common.instances.floors_at_scale``, ``predict.scale_norm.floors_follow_scale``)."""

from __future__ import annotations

import numpy as np
import pytest

from common.instances import floors_at_scale, probs_to_instances


def _three_blobs(shape=(64, 96)):
    """Body/border/centre maps of squares of 16, 100 and 400 px."""
    prob = np.zeros((*shape, 3), np.float32)
    for y, x, side in ((8, 8, 4), (40, 8, 10), (20, 40, 20)):
        prob[y:y + side, x:x + side, 0] = prob[y:y + side, x:x + side, 2] = 1.0
    return prob


def _cfg(**scale_norm):
    from common.config import from_dict
    from solutions.unet.config import UNetConfig

    return from_dict(UNetConfig, {"predict": {"scale_norm": {"enabled": True, "estimate": "multiscale",
                                                            **scale_norm}}})


def test_floors_are_divided_by_the_area_ratio_of_the_scale():
    params = {"min_area": 30, "min_seed_area": 8, "mask_threshold": 0.4}
    assert floors_at_scale(params, 0.5) == {"min_area": 120, "min_seed_area": 32, "mask_threshold": 0.4}
    assert floors_at_scale(params, 2.0) == {"min_area": 8, "min_seed_area": 2, "mask_threshold": 0.4}
    assert floors_at_scale(params, 4.0)["min_seed_area"] == 1  # rounded, never below 1
    assert floors_at_scale(params, 0.67)["min_area"] == round(30 / 0.67 ** 2)
    same = floors_at_scale(params, 1.0)
    assert same == params and same is not params
    assert floors_at_scale({"mask_threshold": 0.5}, 0.5) == {"mask_threshold": 0.5}  # no floor: nothing to scale
    with pytest.raises(ValueError, match="scale"):
        floors_at_scale(params, 0.0)


def test_a_small_nucleus_survives_when_the_image_was_enlarged_and_a_fragment_dies_when_shrunk():
    prob = _three_blobs()
    params = {"min_area": 30, "min_seed_area": 8}
    assert probs_to_instances(prob, params)[0].max() == 2  # the 16-px square is under the floor
    assert probs_to_instances(prob, floors_at_scale(params, 2.0))[0].max() == 3  # floor 8 px: kept
    # predicted at 0.25 (nuclei 16x training's), 400 px is a fragment: floor 480 px
    assert probs_to_instances(prob, floors_at_scale(params, 0.25))[0].max() == 0


def test_image_params_follow_the_chosen_scale_only_when_switched_on():
    from solutions.unet.predict import image_params

    params = {"min_area": 30, "min_seed_area": 8}
    assert image_params(params, _cfg(), 0.5) is params  # off by default
    assert image_params(params, _cfg(floors_follow_scale=True), 0.5) == {"min_area": 120, "min_seed_area": 32}
    assert image_params(params, _cfg(floors_follow_scale=True), 1.0) is params
    off = _cfg(floors_follow_scale=True)
    off.predict.scale_norm.enabled = False  # no scale normalisation: the floors stay in image pixels
    assert image_params(params, off, 0.5) is params


@pytest.mark.parametrize("follow, n_kept", [(False, 2), (True, 1)])
def test_predict_folder_post_processes_each_image_with_its_scales_floors(tmp_path, monkeypatch, follow, n_kept):
    import solutions.unet.inference as inference
    from common.predictions import load_prediction
    from common.runs import RunDir
    from solutions.unet.predict import predict_folder

    class Images:
        def load_image(self, image_id):
            return np.zeros((64, 96, 3), np.uint8)

    def fake_predict(model, image, cfg, tta=None, params=None, target_area=0.0, info=None, timer=None):
        info.update(scale=0.5)  # as if the selection had shrunk the image 2x
        return _three_blobs()

    monkeypatch.setattr(inference, "predict_image", fake_predict)
    cfg = _cfg(floors_follow_scale=follow)
    params = {"min_area": 30, "min_seed_area": 8, "channels": ["body", "border", "centre"]}
    summary = predict_folder(None, cfg, Images(), ["a"], tmp_path / "out", params, "none", RunDir(tmp_path))
    # fixed floors (30 px) keep the 100- and 400-px squares; floors that follow the scale
    # 0.5 (120 px) keep only the 400-px one
    assert summary["n_images"] == 1
    assert load_prediction(tmp_path / "out" / "a.npz").labels.max() == n_kept
