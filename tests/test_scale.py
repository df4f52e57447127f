"""common.scale (nucleus size, rescale and map back) and the U-Net's predict.scale_norm."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from common.io import read_json
from common.scale import (NUCLEUS_SIZE_FILE, choose_scale, equivalent_diameter, estimate_nucleus_size, instance_areas,
                          map_certainty, nucleus_area_stats, rescale, resize_to, save_nucleus_size,
                          scale_factor, select_scale)
from common.synthetic import render_sample


@pytest.fixture(scope="module")
def sample():
    return render_sample(0, 4, "fluorescence", (96, 128))


def _zoom(image, labels, factor):
    h, w = labels.shape
    size = (round(w * factor), round(h * factor))
    return (cv2.resize(image, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(labels.astype(np.uint16), size, interpolation=cv2.INTER_NEAREST).astype(np.int32))


def test_areas_and_size_from_labels():
    labels = np.zeros((20, 20), np.int32)
    labels[0:2, 0:2] = 1   # 4
    labels[5:8, 5:8] = 3   # 9
    labels[10:14, 10:14] = 4  # 16
    assert sorted(instance_areas(labels).tolist()) == [4, 9, 16]
    assert sorted(instance_areas(labels, min_area=5).tolist()) == [9, 16]
    assert estimate_nucleus_size(labels, min_area=1) == 9.0
    assert math.isnan(estimate_nucleus_size(np.zeros((5, 5), np.int32)))
    assert equivalent_diameter(math.pi) == pytest.approx(2.0)


def test_size_from_probability_maps(sample):
    _, labels = sample
    prob = np.stack([(labels > 0).astype(np.float32), np.zeros(labels.shape, np.float32)], axis=-1)
    # connected components of the body: touching nuclei merge, so >= the instance median
    assert estimate_nucleus_size(prob) >= estimate_nucleus_size(labels) * 0.99
    assert estimate_nucleus_size(prob[..., 0]) == estimate_nucleus_size(prob)


def test_scaled_3x_image_has_9x_the_nucleus_area(sample):
    image, labels = sample
    _, big = _zoom(image, labels, 3.0)
    ratio = estimate_nucleus_size(big) / estimate_nucleus_size(labels)
    assert ratio == pytest.approx(9.0, rel=0.1)
    # the factor that undoes it, and the round trip of the image
    f = scale_factor(estimate_nucleus_size(big), estimate_nucleus_size(labels))
    assert f == pytest.approx(1 / 3, rel=0.05)
    zoomed, _ = _zoom(image, labels, 3.0)
    back = rescale(zoomed, f)
    assert abs(back.shape[0] - image.shape[0]) <= 1 and abs(back.shape[1] - image.shape[1]) <= 1
    back = resize_to(back, image.shape[:2])
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.abs(back.astype(float) - image).mean() < 6.0


def test_scale_factor_rules():
    assert scale_factor(100, 110) == 1.0  # within the tolerance
    assert scale_factor(100, 400) == pytest.approx(2.0)
    assert scale_factor(1000, 10) == 0.25  # clamped
    assert scale_factor(1, 10000) == 4.0
    assert scale_factor(float("nan"), 100) == 1.0 and scale_factor(0, 100) == 1.0
    assert scale_factor(100, 400, shape=(1000, 1000), max_pixels=1_440_000) == pytest.approx(1.2)


@pytest.mark.parametrize("channels", [0, 1, 3, 6])
def test_resize_to_keeps_channels(channels):
    shape = (30, 40) + ((channels,) if channels else ())
    maps = np.random.default_rng(0).random(shape).astype(np.float32)
    up = rescale(maps, 2.5)
    assert up.shape[:2] == (75, 100) and up.shape[2:] == shape[2:] and up.dtype == np.float32
    assert resize_to(up, (30, 40)).shape == shape
    assert resize_to(maps, (30, 40)) is maps


def test_training_stats_saved_in_the_run_folder(tmp_path, sample):
    _, labels = sample
    _, big = _zoom(labels.astype(np.uint8), labels, 2.0)
    stats = save_nucleus_size(tmp_path, [labels, big, np.zeros((4, 4), np.int32)])
    assert stats["n_images"] == 2 and stats["n_nuclei"] == len(instance_areas(labels)) + len(instance_areas(big))
    median_small, median_big = estimate_nucleus_size(labels, min_area=1), estimate_nucleus_size(big, min_area=1)
    assert stats["target_area"] == pytest.approx((median_small + median_big) / 2)
    assert read_json(tmp_path / NUCLEUS_SIZE_FILE) == stats
    with pytest.raises(ValueError, match="no nucleus"):
        nucleus_area_stats([np.zeros((4, 4), np.int32)])


# ------------------------------------------------------------------ predict.scale_norm
def _size_model():
    """A 'network' that finds nuclei only at the training size: body where the gray input
    is bright, but nuclei larger than ~400 px are cut into vertical stripes."""

    def model(x, training=False):
        x = np.asarray(x, np.float32)
        body = (x[..., :1] > 60).astype(np.float32)
        stripes = (np.arange(x.shape[2]) % 12 == 0)[None, None, :, None]
        out = np.concatenate([body, np.zeros_like(body), body], axis=-1)
        big = np.zeros_like(body, dtype=bool)
        for b in range(x.shape[0]):
            n, cc, stats, _ = cv2.connectedComponentsWithStats(body[b, ..., 0].astype(np.uint8))
            big[b, ..., 0] = (stats[:, cv2.CC_STAT_AREA] > 400)[cc] & (cc > 0)
        out[..., 1:2] = np.where(big & stripes, 1.0, 0.0)  # a border map that splits big nuclei
        return out

    return model


def _cfg(**scale_norm):
    from common.config import from_dict
    from solutions.unet.config import UNetConfig

    return from_dict(UNetConfig, {"predict": {"scale_norm": {"enabled": True, **scale_norm}}})


def test_scale_norm_predicts_at_the_training_size(sample):
    from solutions.unet.inference import predict_image

    image, labels = sample
    big_image, big_labels = _zoom(image, labels, 3.0)
    target = estimate_nucleus_size(labels)
    info: dict = {}
    prob = predict_image(_size_model(), big_image, _cfg(), "none", target_area=target, info=info)
    assert prob.shape == big_image.shape[:2] + (3,) and prob.dtype == np.float32
    # the first pass cuts the big nuclei, so its instances underestimate the size: the
    # image shrinks, though not all the way to 1/3 (the body map's components do)
    assert 0.3 < info["scale"] < 0.7
    from common.instances import probs_to_instances

    plain = predict_image(_size_model(), big_image, _cfg(enabled=False), "none")
    n_true = len(instance_areas(big_labels))
    n_plain = int(probs_to_instances(plain, {})[0].max())
    n_scaled = int(probs_to_instances(prob, {})[0].max())
    assert n_plain > 1.5 * n_true  # the big nuclei get cut at the native size
    assert abs(n_scaled - n_true) < abs(n_plain - n_true)
    info = {}
    predict_image(_size_model(), big_image, _cfg(estimate="body"), "none", target_area=target, info=info)
    assert info["scale"] == pytest.approx(1 / 3, rel=0.2)
    # an image whose first pass already has the target size is predicted once, unchanged
    once = predict_image(_size_model(), image, _cfg(enabled=False), "none")
    info = {}
    first_pass_area = estimate_nucleus_size(probs_to_instances(once, {})[0]) * 1.1
    same = predict_image(_size_model(), image, _cfg(), "none", target_area=first_pass_area, info=info)
    assert info["scale"] == 1.0
    np.testing.assert_array_equal(same, once)


def test_scale_norm_needs_a_target_and_the_watershed_net(sample):
    from common.config import ConfigError, from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    def no_pass(x, training=False):
        raise AssertionError("a forward pass ran before the missing target was reported")

    with pytest.raises(ValueError, match=r"^predict\.scale_norm needs a target area"):
        predict_image(no_pass, sample[0], _cfg(), "none")
    info = {}
    predict_image(_size_model(), sample[0], _cfg(target_area=10000.0, estimate="body"), "none", info=info)
    assert info["scale"] > 1.0
    with pytest.raises(ConfigError, match="scale_norm"):
        from_dict(UNetConfig, {"model": {"kind": "baseline"}, "loss": {"name": "dice"},
                               "predict": {"scale_norm": {"enabled": True}}})
    with pytest.raises(ConfigError, match="min_scale"):
        _cfg(min_scale=2.0)


def test_predict_reads_or_measures_the_target_area(tmp_path):
    from common.runs import RunDir
    from common.synthetic import generate_dataset
    from solutions.unet.predict import load_target_area

    data = generate_dataset(tmp_path / "data", n_train=3, n_test=0, seed=0, size=(64, 96))
    from common.data import DSBDataset

    ds = DSBDataset(data, "stage1_train")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    assert load_target_area(run, _cfg(enabled=False)) == 0.0
    assert load_target_area(run, _cfg(target_area=55.0)) == 55.0
    with pytest.raises(FileNotFoundError, match="nucleus_size.json"):
        load_target_area(run, _cfg())
    run.claim({"fold": 0, "data_dir": str(data), "fit_ids": ds.ids[:2]}, keys=("fold",))
    measured = load_target_area(run, _cfg())  # measured from the training labels, then saved
    expected = nucleus_area_stats(ds.load_labels(i) for i in ds.ids[:2])["target_area"]
    assert measured == pytest.approx(expected) and read_json(run.path / NUCLEUS_SIZE_FILE)["target_area"] == pytest.approx(expected)


@pytest.mark.parametrize("renormalise", [False, True])
def test_renormalise_normalises_in_the_rescaled_frame(sample, monkeypatch, renormalise):
    import solutions.unet.inference as inference
    from common.config import from_dict
    from common.normalise import normalise_image
    from common.scale import rescale
    from solutions.unet.config import UNetConfig

    image, labels = sample
    # brightfield-like: gray, dark nuclei on a bright background, 3x the training size, so
    # the top-hat's disc (25 px) is narrower than the nuclei at the native size
    gray = 255 - image.mean(axis=2).astype(np.uint8)
    big = _zoom(np.repeat(gray[..., None], 3, axis=2), labels, 3.0)[0]
    mode = "gray_invert_percentile_tophat"
    cfg = from_dict(UNetConfig, {"data": {"normalise": mode}, "predict": {"scale_norm": {
        "enabled": True, "estimate": "body", "renormalise": renormalise}}})
    seen = []
    real = inference.predict_views

    def spy(model, view, *args, **kwargs):
        seen.append(view)
        return real(model, view, *args, **kwargs)

    monkeypatch.setattr(inference, "predict_views", spy)
    info, view = {}, {}
    inference.predict_image(_size_model(), big, cfg, "none", target_area=estimate_nucleus_size(labels), info=info,
                            view=view)
    assert info["scale"] < 0.7 and len(seen) == 2 and view["input"] is seen[1]
    native = normalise_image(big, mode)
    np.testing.assert_array_equal(seen[0], native)
    in_frame = normalise_image(rescale(big, info["scale"]), mode)
    expected, other = (in_frame, rescale(native, info["scale"]))[::1 if renormalise else -1]
    np.testing.assert_array_equal(seen[1], expected)
    assert np.abs(seen[1].astype(int) - other.astype(int)).mean() > 1.0  # the two orders differ here


# ------------------------------------------------------------------ estimate: multiscale
def test_certainty_and_the_most_certain_scale():
    body = np.array([[0.0, 1.0], [0.5, 0.75]], np.float32)
    certainty, cover = map_certainty(np.stack([body, 1 - body], axis=-1))  # channel 0 is the body
    assert certainty == pytest.approx((1 + 1 + 0 + 0.5) / 4) and cover == pytest.approx(0.5)
    assert map_certainty(body) == (certainty, cover)
    with pytest.raises(ValueError, match="shape"):
        map_certainty(np.zeros((2, 2, 2, 1), np.float32))
    # the most certain scale wins; ties keep the larger scale (1.0 first)
    assert select_scale({1.0: (0.90, 0.2), 0.5: (0.95, 0.2), 0.33: (0.93, 0.2)}) == 0.5
    assert select_scale({1.0: (0.95, 0.2), 0.5: (0.95, 0.2)}) == 1.0
    # a scale at which most of the nuclei vanish is not a candidate, however certain
    assert select_scale({1.0: (0.90, 0.2), 0.5: (0.99, 0.05)}) == 1.0
    assert select_scale({1.0: (0.90, 0.2), 0.5: (0.99, 0.05)}, min_cover=0.2) == 0.5
    # with a margin, a candidate must beat scale 1 by more than it
    assert select_scale({1.0: (0.90, 0.2), 0.5: (0.92, 0.2)}, margin=0.03) == 1.0
    assert select_scale({1.0: (0.90, 0.2), 0.5: (0.92, 0.2)}, margin=0.01) == 0.5
    with pytest.raises(ValueError, match="scale 1.0"):
        select_scale({0.5: (0.9, 0.1)})


def test_choose_scale_runs_the_other_candidates_only_when_a_probe_wins():
    ran = []
    table = {1.0: (0.90, 0.2), 0.67: (0.91, 0.2), 0.5: (0.95, 0.2), 0.33: (0.97, 0.2)}

    def measure(scale):
        ran.append(scale)
        return table[scale]

    # no probe: every candidate once, in order, and select_scale's choice
    assert choose_scale(measure, [1.0, 0.67, 0.5, 0.33]) == (0.33, table) and ran == [1.0, 0.67, 0.5, 0.33]
    ran.clear()
    chosen, measures = choose_scale(measure, [1.0, 0.67, 0.5, 0.33], probe=[0.5])
    assert chosen == 0.33 and ran == [1.0, 0.5, 0.67, 0.33] and measures == table  # the probe won
    ran.clear()
    chosen, measures = choose_scale(measure, [1.0, 0.67, 0.5, 0.33], probe=[0.5], margin=0.06)
    assert chosen == 1.0 and ran == [1.0, 0.5] and set(measures) == {1.0, 0.5}  # 0.33 never ran
    for candidates, probe in (([0.5, 0.33], ()), ([1.0, 0.5], [0.67]), ([1.0, 0.5], [1.0])):
        with pytest.raises(ValueError, match="choose_scale"):
            choose_scale(measure, candidates, probe)


def _unsure_model():
    """A 'network' sure of nuclei up to 1000 px only: larger ones get a body of 0.6."""

    def model(x, training=False):
        x = np.asarray(x, np.float32)
        fg = (x[..., :1] > 60).astype(np.uint8)
        body = fg.astype(np.float32)
        for b in range(x.shape[0]):
            _, cc, stats, _ = cv2.connectedComponentsWithStats(fg[b, ..., 0])
            big = (stats[:, cv2.CC_STAT_AREA] > 1000)[cc] & (cc > 0)
            body[b, ..., 0][big] = 0.6
        return np.concatenate([body, np.zeros_like(body), body], axis=-1)

    return model


def test_multiscale_predicts_at_the_scale_the_network_is_sure_of(sample, monkeypatch):
    import solutions.unet.inference as inference

    image, labels = sample
    big_image = _zoom(image, labels, 3.0)[0]
    cfg = _cfg(estimate="multiscale", candidates=[1.0, 0.5, 0.33])
    calls, seen, inputs = [], [], []
    real = inference.predict_views
    monkeypatch.setattr(inference, "predict_views",
                        lambda model, view, c, tta, timer=None, identity=None: calls.append((view.shape[:2], tta))
                        or inputs.append(view) or real(model, view, c, tta, timer, identity))
    unsure = _unsure_model()

    def counted(x, training=False):  # the images that go through the network
        seen.extend(v.shape[:2] for v in np.asarray(x))
        return unsure(x, training)

    info, view = {}, {}
    prob = inference.predict_image(counted, big_image, cfg, "hflip", info=info, view=view)  # no target needed
    assert prob.shape == big_image.shape[:2] + (3,) and prob.dtype == np.float32
    assert info["scale"] == 0.33 and info["certainty"][info["scale"]] > info["certainty"][1.0]
    assert [t for _, t in calls] == ["none", "none", "none", "hflip"]  # 3 candidates, then TTA once
    assert calls[-1][0] == rescale(big_image, info["scale"]).shape[:2]
    assert view["input"] is inputs[-1]  # the input of the TTA at the chosen scale
    # 3 candidate passes and the mirrored view: the candidate pass at the chosen scale is the
    # TTA's identity view, not run again
    assert len(seen) == 4 and seen.count(seen[-1]) == 2
    plain = inference.predict_image(unsure, big_image, _cfg(enabled=False), "none")
    unsure_px = (np.abs(plain[..., 0] - 0.6) < 0.01).mean()
    assert unsure_px > 0.05 and (np.abs(prob[..., 0] - 0.6) < 0.01).mean() < 0.5 * unsure_px  # surer maps, mapped back
    # at the native size every scale is as sure: the image is not rescaled, and without TTA
    # the candidate pass at scale 1 is the prediction (no further pass)
    calls.clear()
    seen.clear()
    info = {}
    once = inference.predict_image(counted, image, cfg, "none", info=info)
    assert info["scale"] == 1.0 and len(seen) == 3
    np.testing.assert_array_equal(once, inference.predict_image(unsure, image, _cfg(enabled=False), "none"))
    # with TTA, the prediction at scale 1 is exactly the plain TTA prediction
    for tta in ("hflip", "flip"):
        seen.clear()
        with_tta = inference.predict_image(counted, image, cfg, tta, info=info)
        assert len(seen) == 3 + len(inference._VIEWS[tta]) - 1
        np.testing.assert_array_equal(with_tta, inference.predict_image(unsure, image, _cfg(enabled=False), tta))


def test_multiscale_probe_skips_the_other_candidates_at_native_size(sample):
    import solutions.unet.inference as inference

    image, labels = sample
    unsure, seen = _unsure_model(), []

    def counted(x, training=False):
        seen.extend(v.shape[:2] for v in np.asarray(x))
        return unsure(x, training)

    cfg = _cfg(estimate="multiscale", candidates=[1.0, 0.67, 0.5, 0.33], probe=[0.5])
    info: dict = {}
    native = inference.predict_image(counted, image, cfg, "none", info=info)
    assert info["scale"] == 1.0 and set(info["certainty"]) == {1.0, 0.5} and len(seen) == 2
    full = _cfg(estimate="multiscale", candidates=[1.0, 0.67, 0.5, 0.33])
    np.testing.assert_array_equal(native, inference.predict_image(unsure, image, full, "none"))
    seen.clear()
    info = {}
    big = _zoom(image, labels, 3.0)[0]  # the probe wins: every candidate runs, as without it
    probed = inference.predict_image(counted, big, cfg, "none", info=info)
    assert set(info["certainty"]) == {1.0, 0.67, 0.5, 0.33} and len(seen) == 4 and info["scale"] < 1.0
    np.testing.assert_array_equal(probed, inference.predict_image(unsure, big, full, "none"))


def test_multiscale_config_and_target():
    from common.config import ConfigError
    from common.runs import RunDir
    from solutions.unet.predict import load_target_area

    with pytest.raises(ConfigError, match="candidates"):
        _cfg(estimate="multiscale", candidates=[0.5, 0.33])  # no scale 1
    with pytest.raises(ConfigError, match="candidates"):
        _cfg(estimate="multiscale", candidates=[1.0, 2.0], max_scale=1.0)
    with pytest.raises(ConfigError, match="min_cover"):
        _cfg(estimate="multiscale", min_cover=1.5)
    with pytest.raises(ConfigError, match="probe"):
        _cfg(estimate="multiscale", candidates=[1.0, 0.5], probe=[0.67])
    assert load_target_area(RunDir("/nowhere"), _cfg(estimate="multiscale")) == 0.0  # no nucleus_size.json needed
