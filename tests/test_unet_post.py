"""U-Net targets, post-processing (watershed) and whole-image inference."""

from __future__ import annotations

import numpy as np
import pytest

from common.predictions import Prediction, validate
from common.instances import probs_to_instances
from solutions.unet.targets import make_targets


def two_touching_discs(shape=(64, 80), r=10, gap=17):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    cy, cx = shape[0] // 2, shape[1] // 2
    labels[(yy - cy) ** 2 + (xx - cx + gap // 2) ** 2 < r * r] = 1
    second = (yy - cy) ** 2 + (xx - cx - gap + gap // 2) ** 2 < r * r
    labels[second & (labels == 0)] = 2
    return labels


def test_targets_are_sane_on_synthetic_labels():
    from common.synthetic import render_sample

    _, labels = render_sample(0, 0, "fluorescence", (96, 128))
    t = make_targets(labels, ("body", "border", "centre"), border_width=2)
    assert t.shape == labels.shape + (3,) and t.dtype == np.float32
    body, border, centre = t[..., 0], t[..., 1], t[..., 2]
    np.testing.assert_array_equal(body, labels > 0)
    assert set(np.unique(border)) <= {0.0, 1.0}
    assert (border <= body).all() and 0 < border.sum() < body.sum()
    assert (centre[labels == 0] == 0).all() and (centre > 0).sum() == (labels > 0).sum()
    assert centre.max() == pytest.approx(1.0) and centre.min() >= 0
    for k in np.unique(labels)[1:]:  # every nucleus peaks at 1
        assert centre[labels == k].max() == pytest.approx(1.0)


def test_border_separates_touching_nuclei():
    labels = two_touching_discs()
    t = make_targets(labels, ("body", "border"), border_width=1)
    touching = (labels == 1) & (np.roll(labels, -1, axis=1) == 2)
    assert touching.any() and (t[..., 1][touching] == 1).all()


def test_touch_marks_only_where_two_nuclei_meet():
    from solutions.unet.config import KNOWN_CHANNELS
    from solutions.unet.targets import touch_map

    labels = two_touching_discs()
    assert make_targets(labels, KNOWN_CHANNELS).shape == labels.shape + (len(KNOWN_CHANNELS),)
    alone = np.zeros_like(labels)
    alone[5:15, 5:15] = 1
    alone[40:50, 5:15] = 2  # far apart: no contact
    assert touch_map(alone, 2).sum() == 0 and touch_map(np.zeros((8, 8), np.int32)).sum() == 0
    t = make_targets(labels, ("body", "touch"), border_width=2)[..., 1]
    contact = (labels == 1) & (np.roll(labels, -1, axis=1) == 2)
    assert contact.any() and (t[contact] == 1).all()
    ys, xs = np.nonzero(t)
    assert xs.max() - xs.min() <= 2 * 2 + 1  # a band about the contact, not whole contours
    assert t[labels == 0].sum() > 0  # the gaps beside the contact count too
    # any ids: far above 65535, above 2**53 (where a float loses them), not consecutive
    for big in (10**6, 2**60):
        assert (touch_map(labels.astype(np.int64) * big + (labels > 0), 2) == t).all()


def test_touch_map_splits_what_a_missing_border_would_merge():
    labels = two_touching_discs()
    prob = make_targets(labels, ("body", "border", "centre", "touch"))
    prob[..., 1] = 0  # the border map missed the contact ...
    prob[..., 2] = 1  # ... and the centre map is flat
    params = {"channels": ["body", "border", "centre", "touch"]}
    assert probs_to_instances(prob, params)[0].max() == 2  # the touch map still splits them
    assert probs_to_instances(prob[..., :3], {})[0].max() == 1


def test_watershed_splits_two_touching_discs():
    labels = two_touching_discs()
    assert ((labels == 1) & (np.roll(labels, -1, axis=1) == 2)).any()  # they touch
    prob = make_targets(labels)
    pred, scores = probs_to_instances(prob, {})
    assert pred.max() == 2 and scores.shape == (2,)
    # connected components alone would merge them
    merged, _ = probs_to_instances(prob, {"method": "cc"})
    assert merged.max() == 1


def test_watershed_on_soft_maps_and_orphans():
    labels = two_touching_discs()
    rng = np.random.default_rng(0)
    prob = np.clip(make_targets(labels) * 0.8 + rng.uniform(0, 0.15, labels.shape + (3,)), 0, 1)
    prob[3:7, 3:9, 0] = 0.9  # a blob with no marker (all border) still becomes an instance
    prob[3:7, 3:9, 1] = 0.9
    pred, scores = probs_to_instances(prob, {"min_area": 4})
    assert pred.max() == 3
    assert ((scores > 0.5) & (scores <= 1)).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_postprocess_obeys_the_prediction_contract(channels, tmp_path):
    from common.predictions import load_prediction, save_prediction

    prob = make_targets(two_touching_discs())[..., :channels]
    prob[0:3, 0:3, 0] = 1.0  # tiny: dropped by min_area
    labels, scores = probs_to_instances(prob, {"min_area": 20, "_oof_score": 0.5})
    validate(Prediction(labels, scores, prob))
    assert labels.dtype == np.int32 and scores.dtype == np.float32
    assert labels.max() == scores.shape[0] and labels[0:3, 0:3].max() == 0
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))
    save_prediction(tmp_path / "x.npz", labels, scores, prob=prob)
    assert load_prediction(tmp_path / "x.npz").labels.max() == labels.max()


def test_empty_probabilities_give_no_instances():
    labels, scores = probs_to_instances(np.zeros((32, 48, 3), np.float32), {})
    assert labels.shape == (32, 48) and labels.max() == 0 and scores.shape == (0,)


def _pointwise_model(channels=3):
    import keras

    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(channels, 1, activation="sigmoid", kernel_initializer="ones",
                            bias_initializer=keras.initializers.Constant(-1.0))(keras.layers.Rescaling(1 / 255)(x))
    return keras.Model(x, y)


def test_tiles_pad_and_tta_give_the_whole_image_answer():
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image, predict_native

    model = _pointwise_model()
    image = np.random.default_rng(0).integers(0, 255, (75, 150, 3), dtype=np.uint8)
    whole = predict_native(model, image, stride=16, tile_size=512)
    tiled = predict_native(model, image, stride=16, tile_size=64, overlap=16)
    assert whole.shape == (75, 150, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    cfg = UNetConfig()
    from solutions.unet.config import TTA_MODES
    from solutions.unet.inference import _VIEWS

    assert tuple(_VIEWS) == TTA_MODES  # every config name has its views
    for tta in ("hflip", "flip", "d4"):
        np.testing.assert_allclose(predict_image(model, image, cfg, tta), whole, atol=1e-5)


def test_baseline_inference_resizes_back():
    from common.config import from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    cfg = from_dict(UNetConfig, {"model": {"kind": "baseline"}, "loss": {"name": "dice"},
                                 "data": {"input_size": 64}})
    out = predict_image(_pointwise_model(1), np.zeros((50, 70, 3), np.uint8), cfg)
    assert out.shape == (50, 70, 1)


def test_static_batch_feeds_one_shape_and_matches_unbatched():
    from common.config import from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    inner = _pointwise_model()
    shapes = []

    class Recording:  # records the input shape of every forward pass
        def __call__(self, x, training=False):
            shapes.append(tuple(x.shape))
            return inner(x, training=training)

        def predict_on_batch(self, x):
            shapes.append(tuple(x.shape))
            return inner.predict_on_batch(x)

    rng = np.random.default_rng(1)
    fixed = from_dict(UNetConfig, {"predict": {"tile_size": 64, "tile_overlap": 16, "pad_multiple": 64,
                                               "batch_size": 4, "static_batch": True}})
    loose = from_dict(UNetConfig, {"predict": {"tile_size": 512, "batch_size": 1}})
    for hw in [(40, 50), (64, 64), (75, 150), (130, 70)]:
        image = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
        for tta in ("none", "hflip", "flip", "d4"):
            shapes.clear()
            out = predict_image(Recording(), image, fixed, tta)
            assert set(shapes) == {(4, 64, 64, 3)}, (hw, tta, set(shapes))
            np.testing.assert_allclose(out, predict_image(inner, image, loose, tta), atol=1e-5)
    bad = None
    try:
        from_dict(UNetConfig, {"predict": {"batch_size": 0}})
    except Exception as exc:  # ConfigError
        bad = str(exc)
    assert bad and "predict.batch_size" in bad


def test_batch_pixels_caps_the_pass_size():
    from common.config import from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import chunk_size, predict_image

    assert chunk_size(16, 1 << 20, 256, 256) == 16 and chunk_size(16, 1 << 20, 1024, 1024) == 1
    assert chunk_size(16, 1 << 20, 2048, 2048) == 1 and chunk_size(4, 0, 1024, 1024) == 4
    inner = _pointwise_model()
    shapes = []

    def model(x, training=False):
        shapes.append(tuple(x.shape))
        return inner(x, training=training)

    image = np.random.default_rng(2).integers(0, 255, (150, 140, 3), dtype=np.uint8)
    capped = from_dict(UNetConfig, {"predict": {"tile_size": 64, "tile_overlap": 16, "batch_size": 8,
                                                "batch_pixels": 3 * 64 * 64, "static_batch": True}})
    out = predict_image(model, image, capped, "flip")
    assert set(shapes) == {(3, 64, 64, 3)}
    whole = from_dict(UNetConfig, {"predict": {"tile_size": 512}})
    np.testing.assert_allclose(out, predict_image(inner, image, whole, "flip"), atol=1e-5)


def test_min_area_rel_drops_what_is_small_for_this_image_only():
    from common.instances import probs_to_instances

    big = np.zeros((64, 64), np.float32)
    big[4:24, 4:24] = big[30:50, 30:50] = big[40:44, 4:8] = 1.0  # two 400-px nuclei and a 16-px speck
    small = np.zeros((64, 64), np.float32)
    small[4:8, 4:8] = small[20:24, 20:24] = small[40:44, 40:44] = 1.0  # three 16-px nuclei
    for prob, n_off, n_on in ((big, 3, 2), (small, 3, 3)):
        assert probs_to_instances(prob, {"min_area": 1})[0].max() == n_off
        # a fixed min_area of 30 would delete every nucleus of the small image
        labels, scores = probs_to_instances(prob, {"min_area": 1, "min_area_rel": 0.2})
        assert labels.max() == n_on and len(scores) == n_on


def test_min_area_rel_is_a_post_key_and_checked():
    from common.config import ConfigError, load_config
    from common.paths import CONFIGS
    from solutions.unet.config import UNetConfig, default_params

    cfg = load_config(UNetConfig, CONFIGS["unet"] / "watershed.yaml", ["post.min_area_rel=0.2"])
    assert default_params(cfg)["min_area_rel"] == 0.2
    with pytest.raises(ConfigError, match="min_area_rel"):
        load_config(UNetConfig, CONFIGS["unet"] / "watershed.yaml", ["post.min_area_rel=1.5"])


def test_merge_weak_contacts_joins_pieces_that_meet_inside_a_nucleus():
    from common.instances import merge_weak_contacts

    labels = np.zeros((8, 12), np.int32)
    labels[:, 0:3], labels[:, 3:6], labels[:, 6:9], labels[:, 10:12] = 1, 2, 3, 4  # 4 touches nothing
    border = np.zeros((8, 12), np.float32)
    border[:, 5:7] = 0.9  # the 2|3 contact is a real border; 1|2 is not
    out = merge_weak_contacts(labels, border, 0.3)
    assert set(np.unique(out[:, 0:6])) == {1} and set(np.unique(out[:, 6:9])) == {3}
    assert set(np.unique(out[:, 10:12])) == {4} and (out[:, 9] == 0).all()
    chain = merge_weak_contacts(labels, np.zeros_like(border), 0.3)  # 1-2 and 2-3 weak: one label
    assert set(np.unique(chain[:, 0:9])) == {1}
    assert (merge_weak_contacts(labels, border, 0.0) == labels).all()  # 0: off


def test_merge_border_rejoins_a_large_nucleus_and_keeps_touching_neighbours():
    from common.instances import probs_to_instances

    yy, xx = np.mgrid[:96, :96]
    big = ((yy - 48) ** 2 + (xx - 30) ** 2 < 22 ** 2)  # one nucleus with two centre peaks
    centre = np.maximum(np.exp(-((yy - 48) ** 2 + (xx - 22) ** 2) / 60.0),
                        np.exp(-((yy - 48) ** 2 + (xx - 38) ** 2) / 60.0)) * big
    left = (yy - 20) ** 2 + (xx - 72) ** 2 < 9 ** 2  # two real nuclei touching at x = 81/82
    right = (yy - 20) ** 2 + (xx - 90) ** 2 < 9 ** 2
    body = (big | left | right).astype(np.float32)
    border = np.zeros_like(body)
    border[10:31, 80:84] = 0.9 * body[10:31, 80:84]  # the neighbours' shared border
    for disk, (cy, cx) in ((left, (20, 72)), (right, (20, 90))):
        centre = np.maximum(centre, np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 20.0) * disk)
    prob = np.stack([body, border, centre.astype(np.float32)], -1)
    params = {"min_area": 1, "min_seed_area": 1, "seed_threshold": 0.5, "centre_threshold": 0.5}
    split, _ = probs_to_instances(prob, params)
    assert len(np.unique(split[big])) == 2  # the large nucleus is cut in two
    merged, scores = probs_to_instances(prob, {**params, "merge_border": 0.3})
    assert len(np.unique(merged[big])) == 1 and merged.max() == 3 and len(scores) == 3
    assert merged[20, 72] != merged[20, 90]  # the touching neighbours stay two


def test_merge_border_is_a_post_key_and_checked():
    from common.config import ConfigError, load_config
    from common.paths import CONFIGS
    from solutions.unet.config import UNetConfig, default_params

    cfg = load_config(UNetConfig, CONFIGS["unet"] / "watershed.yaml", ["post.merge_border=0.3"])
    assert default_params(cfg)["merge_border"] == 0.3
    with pytest.raises(ConfigError, match="merge_border"):
        load_config(UNetConfig, CONFIGS["unet"] / "watershed.yaml", ["post.merge_border=2"])


def _two_discs(gap: int = 16, r: int = 9) -> np.ndarray:
    yy, xx = np.mgrid[:48, :64]
    one = ((yy - 24) ** 2 + (xx - 20) ** 2 < r ** 2) | ((yy - 24) ** 2 + (xx - 20 - gap) ** 2 < r ** 2)
    return one


def test_split_by_shape_cuts_two_round_nuclei_drawn_as_one_and_keeps_a_round_one():
    from common.instances import split_by_shape

    labels = _two_discs().astype(np.int32)  # one blob, two nuclei
    yy, xx = np.mgrid[:48, :64]
    labels[(yy - 40) ** 2 + (xx - 54) ** 2 < 6 ** 2] = 7  # a round one: solid, untouched
    out = split_by_shape(labels, solidity=0.95, depth=0.2)
    pieces = np.unique(out[labels == 1])
    assert len(pieces) == 2 and 0 not in pieces and 7 not in pieces
    assert out[24, 20] != out[24, 36]  # one piece per disc centre
    assert (out == 7).sum() == (labels == 7).sum()
    assert (out[labels == 0] == 0).all()  # nothing grows
    # below the blob's solidity (~0.94): left whole; a deep depth asks for deeper necks
    assert len(np.unique(split_by_shape(labels, 0.9)[labels == 1])) == 1
    assert len(np.unique(split_by_shape(labels, 0.95, depth=0.8)[labels == 1])) == 1


def test_split_by_shape_never_crosses_into_a_touching_instance():
    from common.instances import split_by_shape

    blob = _two_discs()
    labels = blob.astype(np.int32)
    labels[:, 40:] = np.where(blob[:, 40:], 2, 0)  # the right disc's far side is another instance
    out = split_by_shape(labels, solidity=1.0)
    for lab in (1, 2):
        inside = np.unique(out[labels == lab])
        assert 0 not in inside and not set(inside) & set(np.unique(out[labels != lab]))


def test_split_solidity_is_a_post_key_and_checked():
    from common.config import ConfigError, load_config
    from common.paths import CONFIGS
    from solutions.unet.config import UNetConfig, default_params

    cfg = load_config(UNetConfig, CONFIGS["unet"] / "watershed.yaml", ["post.split_solidity=0.9"])
    assert default_params(cfg)["split_solidity"] == 0.9 and default_params(cfg)["split_depth"] == 0.2
    body = _two_discs().astype(np.float32)
    prob = np.stack([body, np.zeros_like(body), body], -1)
    params = {"min_area": 1, "min_seed_area": 1}
    assert probs_to_instances(prob, params)[0].max() == 1
    labels, scores = probs_to_instances(prob, {**params, "split_solidity": 0.95})
    assert labels.max() == 2 and len(scores) == 2  # consecutive ids, one score each
    for bad in ("post.split_solidity=1.5", "post.split_depth=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0].split(".")[1]):
            load_config(UNetConfig, CONFIGS["unet"] / "watershed.yaml", [bad])


def test_tuning_picks_the_shape_split_where_the_network_draws_touching_nuclei_as_one():
    from solutions.unet.tune import GRID_WATERSHED, tune_params

    assert 0.0 in GRID_WATERSHED["split_solidity"]  # off stays a candidate
    truth = np.zeros((64, 64), np.int32)
    yy, xx = np.mgrid[:64, :64]
    for k, (cy, cx) in enumerate(((16, 16), (16, 35), (35, 16)), 1):  # three touching nuclei in an L
        truth[((yy - cy) ** 2 + (xx - cx) ** 2 < 121) & (truth == 0)] = k
    body = (truth > 0).astype(np.float32)  # no border between them: one blob, solidity ~0.86
    prob = np.stack([body, np.zeros_like(body), body], -1)
    start = {"min_area": 1, "min_seed_area": 1, "channels": ["body", "border", "centre"]}
    best, score, start_score = tune_params({"a": prob}, {"a": truth}, start,
                                           grid={"split_solidity": GRID_WATERSHED["split_solidity"]},
                                           verbose=False)
    assert start_score == 0.0 and best.get("split_solidity", 0) > 0.86 and score == 1.0


def test_split_by_shape_keeps_a_ring_whole_and_splits_several_blobs_at_the_image_edge():
    from common.instances import split_by_shape

    yy, xx = np.mgrid[:64, :64]
    rr, angle = np.hypot(yy - 36, xx - 36), np.arctan2(yy - 36, xx - 36)
    ring = (rr < 16 + 2 * np.cos(4 * angle)) & (rr >= 6)  # a lobed nucleus whose body map has a hole
    labels = ring.astype(np.int32) * 3  # (without filling the hole, each lobe became a piece)
    for k, cy in ((1, 0), (2, 63)):  # two-disc blobs cut by the top and bottom edges
        blob = ((yy - cy) ** 2 + (xx - 10) ** 2 < 64) | ((yy - cy) ** 2 + (xx - 24) ** 2 < 64)
        labels[blob & (labels == 0)] = k
    out = split_by_shape(labels, solidity=1.0, depth=0.2)
    assert set(np.unique(out[labels == 3])) == {3} and (out[labels == 0] == 0).all()  # the hole stays empty
    ids = [set(np.unique(out[labels == k])) for k in (1, 2)]
    assert all(len(i) == 2 for i in ids) and not ids[0] & ids[1]  # each blob in two, ids unique
    assert (out > 0).sum() == (labels > 0).sum()  # no pixel lost
    for k in np.unique(out[out > 0]):  # every piece is one 8-connected component
        from skimage.measure import label

        assert label(out == k, connectivity=2).max() == 1


def test_split_by_shape_leaves_a_piece_under_min_area_on_its_neighbour():
    from common.instances import split_by_shape

    yy, xx = np.mgrid[:48, :64]  # two discs and a small knob on a stalk: three maxima
    blob = (((yy - 24) ** 2 + (xx - 14) ** 2 < 81) | ((yy - 24) ** 2 + (xx - 30) ** 2 < 81)
            | ((yy - 24) ** 2 + (xx - 45) ** 2 < 30) | ((abs(yy - 24) < 2) & (xx > 30) & (xx < 45)))
    areas = [np.sort(np.bincount(split_by_shape(blob.astype(np.int32), 1.0, 0.2, min_area=m).ravel())[1:])
             for m in (1, 120)]
    assert len(areas[0][areas[0] > 0]) == 3 and areas[0].min() < 120
    assert list(areas[1][areas[1] > 0]) == [249, 340]  # the knob joins the disc it hangs on; no pixel lost
    prob = np.stack([blob.astype(np.float32), np.zeros(blob.shape, np.float32), blob.astype(np.float32)], -1)
    labels, _ = probs_to_instances(prob, {"min_area": 120, "min_seed_area": 1, "split_solidity": 1.0})
    assert labels.max() == 2 and (labels > 0).sum() == blob.sum()  # before: the knob was deleted
