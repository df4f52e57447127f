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


def test_the_floor_scale_is_the_chosen_scale_only_when_switched_on():
    from solutions.unet.predict import floor_scale

    assert floor_scale(_cfg(), 0.5) == 1.0  # off by default: the image's own pixels
    assert floor_scale(_cfg(floors_follow_scale=True), 0.5) == 0.5
    off = _cfg(floors_follow_scale=True)
    off.predict.scale_norm.enabled = False  # no scale normalisation: nothing to follow
    assert floor_scale(off, 0.5) == 1.0


def test_prediction_files_carry_the_floor_scale(tmp_path):
    from common.predictions import PredictionError, load_prediction, save_prediction

    labels, scores = np.zeros((8, 8), np.int32), np.zeros(0, np.float32)
    save_prediction(tmp_path / "a.npz", labels, scores, floor_scale=0.5)
    save_prediction(tmp_path / "b.npz", labels, scores)
    assert load_prediction(tmp_path / "a.npz").floor_scale == 0.5
    assert load_prediction(tmp_path / "b.npz").floor_scale == 1.0
    with np.load(tmp_path / "b.npz") as data:
        assert "floor_scale" not in data.files  # files of other solutions stay as they were
    with pytest.raises(PredictionError, match="c.npz.*floor_scale"):
        save_prediction(tmp_path / "c.npz", labels, scores, floor_scale=0.0)


@pytest.mark.parametrize("follow, n_kept", [(False, 2), (True, 1)])
def test_predict_folder_and_relabel_post_process_each_image_in_its_scale(tmp_path, monkeypatch, follow, n_kept):
    import solutions.unet.inference as inference
    from common.predictions import load_prediction
    from common.runs import RunDir
    from solutions.unet.predict import predict_folder, relabel

    class Images:
        def load_image(self, image_id):
            return np.zeros((64, 96, 3), np.uint8)

    sizes = []

    def fake_predict(model, image, cfg, tta=None, params=None, target_area=0.0, info=None, timer=None, small_area=0.0):
        sizes.append((target_area, small_area))
        info.update(scale=0.5)  # as if the selection had shrunk the image 2x
        return _three_blobs()

    monkeypatch.setattr(inference, "predict_image", fake_predict)
    cfg = _cfg(floors_follow_scale=follow)
    params = {"min_area": 30, "min_seed_area": 8, "channels": ["body", "border", "centre"]}
    out = tmp_path / "out"
    summary = predict_folder(None, cfg, Images(), ["a"], out, params, "none", RunDir(tmp_path),
                             target_area=300.0, small_area=70.0)
    assert sizes == [(300.0, 70.0)]  # enlarge_below's areas reach predict_image
    # fixed floors (30 px) keep the 100- and 400-px squares; floors that follow the scale
    # 0.5 (120 px) keep only the 400-px one
    assert summary["n_images"] == 1
    pred = load_prediction(out / "a.npz")
    assert pred.labels.max() == n_kept and pred.floor_scale == (0.5 if follow else 1.0)
    # relabelling (after tuning) keeps the file's scale: floors 10 -> 40 px with it
    relabel(out, ["a"], {**params, "min_area": 10})
    pred = load_prediction(out / "a.npz")
    assert pred.labels.max() == (2 if follow else 3) and pred.floor_scale == (0.5 if follow else 1.0)


def test_tuning_scores_each_image_with_its_floor_scale():
    from solutions.unet.tune import score_params

    prob = _three_blobs()
    truth = {"a": probs_to_instances(prob, {"min_area": 1})[0]}  # all three squares are nuclei
    params = {"min_area": 30, "min_seed_area": 1}
    assert score_params({"a": prob}, truth, params, threads=1) < 1.0  # the 16-px one is dropped
    assert score_params({"a": prob}, truth, params, threads=1, floor_scales={"a": 2.0}) == 1.0  # floor 8 px


def test_the_pixel_ensemble_and_segment_apply_the_floor_scale():
    from ensemble.pixel import pixel_merge
    from segment.models import PixelModel
    from segment.segmenter import Segmenter

    prob, params = _three_blobs(), {"min_area": 30, "min_seed_area": 1}
    assert pixel_merge([prob, prob], [1, 1], params)[0].max() == 2
    assert pixel_merge([prob, prob], [1, 1], params, floor_scale=2.0)[0].max() == 3

    def model(scale):
        return PixelModel(f"x{scale}", "unet", lambda image, tta: (prob, scale), params,
                          ("body", "border", "centre"))

    image = np.zeros((64, 96, 3), np.uint8)
    assert model(2.0).prob(image).shape == prob.shape
    assert Segmenter([model(1.0)]).predict_whole(image)[0].max() == 2
    assert Segmenter([model(2.0)]).predict_whole(image)[0].max() == 3
    # two members: the floors in their median scale (1.5: floor 13 px, the 16-px square stays)
    assert Segmenter([model(1.0), model(2.0)]).predict_whole(image)[0].max() == 3


def test_the_shipped_configs_keep_the_floors_at_the_chosen_scale():
    from common.config import load_config
    from common.paths import REPO_ROOT
    from solutions.unet.config import UNetConfig

    for name in ("watershed.yaml", "cpu30.yaml", "gpu_time.yaml"):
        sn = load_config(UNetConfig, REPO_ROOT / "solutions" / "unet" / "configs" / name).predict.scale_norm
        assert sn.enabled and sn.floors_follow_scale and sn.enlarge_below == 0.1 and sn.enlarge_over_shrink, name
