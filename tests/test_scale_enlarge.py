"""predict.scale_norm.enlarge_below: the multiscale selection enlarges an image it keeps at
scale 1 when its nuclei are smaller than in nearly every training image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.scale import estimate_nucleus_size, instance_areas, nucleus_area_stats, rescale, small_area
from tests.test_scale import _cfg, _unsure_model, _zoom


@pytest.fixture(scope="module")
def small_sample():
    from common.synthetic import render_sample

    image, labels = render_sample(0, 4, "fluorescence", (128, 160))
    return image, labels, _zoom(image, labels, 0.5)[0]


def _counted():
    unsure, seen = _unsure_model(), []

    def model(x, training=False):
        seen.extend(v.shape[:2] for v in np.asarray(x))
        return unsure(x, training)

    return model, seen


def test_small_nuclei_are_enlarged_towards_the_training_size(small_sample):
    from solutions.unet.inference import predict_image

    image, labels, small = small_sample
    cfg = _cfg(estimate="multiscale", candidates=[1.0, 0.5], enlarge_below=0.1, enlarge_max=2.0)
    target = estimate_nucleus_size(labels)
    model, seen = _counted()
    info: dict = {}
    prob = predict_image(model, small, cfg, "hflip", target_area=target, small_area=target / 2, info=info)
    assert prob.shape == small.shape[:2] + (3,) and prob.dtype == np.float32
    assert info["area"] < target / 2 and info["scale"] > 1.4
    assert info["scale"] == pytest.approx(np.sqrt(target / info["area"]))
    big = rescale(small, info["scale"]).shape[:2]
    # two candidate passes at scale 1 and 0.5, then both TTA views at the enlarged size (padded)
    assert len(seen) == 4 and seen[2] == seen[3] and seen[2][0] >= big[0] > seen[0][0]
    # nuclei the training already has: the multiscale prediction, unchanged and not rerun
    seen.clear()
    info = {}
    kept = predict_image(model, small, cfg, "hflip", target_area=target, small_area=info_area(small, cfg) / 2,
                         info=info)
    assert info["scale"] == 1.0 and len(seen) == 3
    plain = _cfg(estimate="multiscale", candidates=[1.0, 0.5])
    np.testing.assert_array_equal(kept, predict_image(_unsure_model(), small, plain, "hflip"))
    # at most enlarge_max
    info = {}
    predict_image(model, small, _cfg(estimate="multiscale", candidates=[1.0, 0.5], enlarge_below=0.1,
                                     enlarge_max=1.5), "none", target_area=target, small_area=target, info=info)
    assert info["area"] < target / 2.25 and info["scale"] == 1.5


def info_area(image, cfg) -> float:
    """The median instance area of ``image``'s pass at scale 1 (what the rule compares)."""
    from solutions.unet.inference import predict_image

    info: dict = {}
    predict_image(_unsure_model(), image, cfg, "none", target_area=1e6, small_area=1e6, info=info)
    return info["area"]


def test_enlarging_needs_a_target_and_the_multiscale_selection(small_sample):
    from common.config import ConfigError
    from solutions.unet.inference import predict_image

    cfg = _cfg(estimate="multiscale", enlarge_below=0.1)
    with pytest.raises(ValueError, match=r"^predict\.scale_norm\.enlarge_below needs a target area"):
        predict_image(_unsure_model(), small_sample[2], cfg, "none", small_area=50.0)
    # the size rule ignores it (watershed.yaml sets it, and --set estimate=instances must load)
    from common.runs import RunDir
    from solutions.unet.predict import load_sizes

    sizes = load_sizes(RunDir("/nowhere"), _cfg(estimate="instances", enlarge_below=0.1, target_area=80.0))
    assert sizes == {"target_area": 80.0, "small_area": 0.0}
    info: dict = {}  # an image over max_pixels is never shrunk by the enlarging rule's cap
    capped = _cfg(estimate="multiscale", candidates=[1.0, 0.5], enlarge_below=0.1, max_pixels=100)
    predict_image(_unsure_model(), small_sample[2], capped, "none", target_area=1e6, small_area=1e6, info=info)
    assert info["scale"] == 1.0
    for bad in ({"enlarge_below": 1.0}, {"enlarge_below": -0.1}, {"enlarge_max": 0.5}):
        with pytest.raises(ConfigError, match="enlarge_"):
            _cfg(estimate="multiscale", **bad)


def test_small_area_is_a_quantile_of_the_training_images(tmp_path, capsys):
    from common.data import DSBDataset
    from common.runs import RunDir
    from common.synthetic import generate_dataset
    from solutions.unet.predict import load_sizes

    data = generate_dataset(tmp_path / "data", n_train=4, n_test=0, seed=1, size=(64, 96))
    ds = DSBDataset(data, "stage1_train")
    stats = nucleus_area_stats(ds.load_labels(i) for i in ds.ids[:3])
    per_image = [float(np.median(instance_areas(ds.load_labels(i)))) for i in ds.ids[:3]]
    assert stats["image_areas"] == sorted(per_image)
    assert small_area(stats, 0.0) == min(per_image) and small_area(stats, 0.5) == stats["target_area"]
    assert small_area({"target_area": 1.0}, 0.1) is None  # a file written before image_areas
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    off = _cfg(estimate="multiscale")
    assert load_sizes(run, off) == {"target_area": 0.0, "small_area": 0.0}  # no nucleus_size.json needed
    old = {"target_area": 123.0, "median_area": 1.0, "n_images": 3, "n_nuclei": 9}
    (run.path / "nucleus_size.json").write_text(json.dumps(old))
    cfg = _cfg(estimate="multiscale", enlarge_below=0.25)
    # nothing to measure it from: predicts without enlarging and says why in one line
    assert load_sizes(run, cfg) == {"target_area": 0.0, "small_area": 0.0}
    assert "enlarge_below is off for run" in capsys.readouterr().out
    load_sizes(run, cfg, remedy="do this")  # the caller's fix ends the line
    assert capsys.readouterr().out.rstrip().endswith("; do this")
    moved = RunDir(tmp_path / "moved")  # its training data is gone: no enlarging, one line why
    moved.path.mkdir()
    moved.claim({"fold": 0, "data_dir": str(tmp_path / "gone"), "fit_ids": ds.ids[:3]}, keys=("fold",))
    assert load_sizes(moved, cfg) == {"target_area": 0.0, "small_area": 0.0}
    assert "enlarge_below is off for moved" in capsys.readouterr().out
    run.claim({"fold": 0, "data_dir": str(data), "fit_ids": ds.ids[:3]}, keys=("fold",))
    sizes = load_sizes(run, cfg)  # measured from the training labels and written
    assert sizes == {"target_area": pytest.approx(stats["target_area"]),
                     "small_area": pytest.approx(float(np.quantile(per_image, 0.25)))}
    assert json.loads((run.path / "nucleus_size.json").read_text())["image_areas"] == sorted(per_image)
    pinned = _cfg(estimate="multiscale", enlarge_below=0.25, target_area=500.0)
    assert load_sizes(run, pinned)["target_area"] == 500.0
    assert capsys.readouterr().out.count("measuring") == 1  # once: the file now holds image_areas


def test_enlarge_over_shrink_overrides_a_shrinking_selection(small_sample):
    """The selection shrinks large nuclei; with enlarge_over_shrink the size rule is asked
    first wherever it chose, so nuclei it calls small are never shrunk further."""
    from solutions.unet.inference import predict_image

    image, labels, _ = small_sample
    big = _zoom(image, labels, 3.0)[0]  # nuclei 9x the area: the unsure model shrinks it
    base = {"estimate": "multiscale", "candidates": [1.0, 0.5, 0.33], "enlarge_below": 0.1}
    info: dict = {}
    predict_image(_unsure_model(), big, _cfg(**base), "none", target_area=1e5, small_area=1e5, info=info)
    assert info["scale"] < 1.0 and "area" not in info  # enlarge_below looks only at images kept at 1
    info = {}
    over = _cfg(**base, enlarge_over_shrink=True)
    prob = predict_image(_unsure_model(), big, over, "none", target_area=1e5, small_area=1e5, info=info)
    assert info["area"] < 1e5 and info["scale"] == 2.0 and prob.shape == big.shape[:2] + (3,)
    info = {}  # nuclei not small: the selection's shrink stands
    predict_image(_unsure_model(), big, over, "none", target_area=1e5, small_area=1.0, info=info)
    assert info["scale"] < 1.0 and info["area"] > 1.0
