"""``predict.adapt``: test-time self-training of the U-Net (``solutions.unet.adapt``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError
from common.predictions import load_prediction

CONFIGS = Path(__file__).resolve().parents[1] / "solutions" / "unet" / "configs"


def test_pick_evenly_keeps_the_order_and_both_ends():
    from solutions.unet.adapt import pick_evenly

    ids = [f"i{k}" for k in range(10)]
    assert pick_evenly(ids, 20) == ids
    picked = pick_evenly(ids, 4)
    assert len(picked) == 4 and picked[0] == "i0" and picked[-1] == "i9"
    assert picked == sorted(picked, key=ids.index)


def _blobs(shape, centres, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, 1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2] = k
    return labels


def test_pseudo_crop_pads_turns_and_keeps_image_and_targets_together():
    from solutions.unet.adapt import pseudo_crop

    labels = _blobs((40, 50), [(10, 10), (25, 35)], 6)
    image = np.repeat((labels * 40).astype(np.uint8)[..., None], 3, axis=-1)
    for seed in range(8):  # every turn and mirror keeps the pair aligned, zero-padded to the crop
        x, y = pseudo_crop(image, labels, 64, ("body", "border", "centre"), 2, np.random.default_rng(seed))
        assert x.shape == (64, 64, 3) and y.shape == (64, 64, 3)
        assert x.dtype == np.float32 and y.dtype == np.float32
        np.testing.assert_array_equal(y[..., 0] > 0.5, x[..., 0] > 0)  # body where the image shows a nucleus
        assert (x[..., 0] > 0).sum() == (labels > 0).sum()  # padding adds nothing, cuts nothing
    a = pseudo_crop(image, labels, 32, ("body",), 2, np.random.default_rng(3))
    b = pseudo_crop(image, labels, 32, ("body",), 2, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].shape == (32, 32, 1)


class _Base:
    """A training dataset of 3 crops a batch, all zeros."""

    def batch(self, epoch, index):
        return np.zeros((3, 16, 16, 3), np.float32), np.zeros((3, 16, 16, 3), np.float32)


def test_mixed_crops_puts_the_pseudo_labelled_crops_last_and_repeats_a_batch():
    from solutions.unet.adapt import MixedCrops

    images, labels = [np.full((20, 20, 3), 7, np.uint8)], [np.ones((20, 20), np.int32)]
    crops = MixedCrops(images, labels, n_pseudo=1, batch_size=4, crop_size=16, steps=3, base=_Base())
    assert len(crops) == 3
    x, y = crops[1]
    assert x.shape == (4, 16, 16, 3) and y.shape == (4, 16, 16, 3)
    assert (x[:3] == 0).all() and (x[3] == 7).all() and (y[3, ..., 0] == 1).all()
    np.testing.assert_array_equal(crops[1][0], x)
    alone = MixedCrops(images, labels, n_pseudo=4, batch_size=4, crop_size=16, steps=1)
    assert (alone[0][0] == 7).all()
    with pytest.raises(ValueError, match="n_pseudo"):
        MixedCrops(images, labels, n_pseudo=2, batch_size=4, crop_size=16, steps=1)  # no training crops
    with pytest.raises(ValueError, match="n_pseudo"):
        MixedCrops([], [], n_pseudo=1, batch_size=4, crop_size=16, steps=1, base=_Base())


def test_pseudo_labels_keep_the_chosen_scale_and_leave_out_images_without_instances(monkeypatch):
    from common.config import load_config
    from solutions.unet import inference
    from solutions.unet.adapt import pseudo_labels
    from solutions.unet.config import UNetConfig, default_params

    cfg = load_config(UNetConfig, CONFIGS / "cpu30.yaml")
    found = _blobs((64, 80), [(20, 20), (40, 56)], 10)

    def fake_predict(model, image, cfg, tta=None, params=None, info=None, view=None, **sizes):
        info["scale"] = 0.5  # the selection chose half size
        view["input"] = image[::2, ::2] + 1  # the network's input at that scale
        body = (found > 0).astype(np.float32) if image.any() else np.zeros(found.shape, np.float32)
        return np.stack([body, np.zeros_like(body), body], axis=-1)

    monkeypatch.setattr(inference, "predict_image", fake_predict)
    images = {"a": np.full((64, 80, 3), 90, np.uint8), "b": np.zeros((64, 80, 3), np.uint8)}

    class Data:
        def load_image(self, image_id):
            return images[image_id]

    inputs, labels, count = pseudo_labels(None, cfg, Data(), ["a", "b"], default_params(cfg), {})
    assert count == 2 and len(inputs) == len(labels) == 1  # "b" has no instance: left out
    assert inputs[0].shape == (32, 40, 3) and inputs[0].dtype == np.uint8 and (inputs[0] == 91).all()
    assert labels[0].shape == (32, 40) and len(np.unique(labels[0])) == 3


@pytest.mark.parametrize("item, match", [("predict.adapt.steps=-1", "steps"), ("predict.adapt.mix=0", "mix"),
                                         ("predict.adapt.lr=0", "lr"), ("predict.adapt.max_images=0", "max_images"),
                                         ("predict.adapt.interpolate=0", "interpolate"),
                                         ("predict.adapt.interpolate=1.5", "interpolate")])
def test_bad_adapt_values_are_refused(item, match):
    from common.config import load_config
    from solutions.unet.config import UNetConfig

    with pytest.raises(ConfigError, match=f"predict.adapt.*{match}"):
        load_config(UNetConfig, CONFIGS / "cpu30.yaml", [item])
    assert not load_config(UNetConfig, CONFIGS / "cpu30.yaml").predict.adapt.enabled  # off as shipped
    with pytest.raises(ConfigError, match="predict.adapt needs the watershed"):
        load_config(UNetConfig, CONFIGS / "baseline.yaml", ["predict.adapt.steps=5"])


def test_predict_adapts_the_network_on_the_images_it_predicts(synthetic_data_dir, tiny_unet_run, capsys):
    from solutions.unet.predict import main as predict

    work, run = tiny_unet_run
    base = ["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir), "--work", str(work),
            "--limit", "2"]
    weights = {p.name: p.stat().st_mtime_ns for p in (run / "weights").iterdir()}
    assert predict(base + ["--solution", "plain", "--set", "post.mask_threshold=0.5"]) == 0
    assert predict(base + ["--solution", "adapted", "--set", "predict.adapt.steps=2"]) == 0
    assert "[adapt] fine-tuned on" in capsys.readouterr().out
    adapted = work / "predictions" / "adapted" / "oof"
    summary = json.loads((adapted / "_summary_fold0.json").read_text())
    n_share = len(json.loads((run / "run_info.json").read_text())["oof_ids"])
    # pseudo-labelled on the fold's whole share, whatever --limit keeps
    assert summary["adapt"]["images"] + summary["adapt"]["without_instances"] == n_share > 2
    assert summary["adapt"]["steps"] == 2
    assert summary["overrides"] == ["predict.adapt.steps=2"]
    plain = work / "predictions" / "plain" / "oof"
    names = sorted(p.name for p in adapted.glob("*.npz"))
    assert names == sorted(p.name for p in plain.glob("*.npz")) and len(names) == 2
    # the network changed: its maps differ from the same run's without adapting
    assert any(not np.allclose(load_prediction(adapted / n).prob, load_prediction(plain / n).prob) for n in names)
    # the run's weights are not touched: the adapted ones go to the predictions folder only
    assert {p.name: p.stat().st_mtime_ns for p in (run / "weights").iterdir()} == weights
    # a predict run again finds every image done: it does not adapt again, and keeps the record
    assert predict(base + ["--solution", "adapted", "--set", "predict.adapt.steps=2"]) == 0
    assert "[adapt]" not in capsys.readouterr().out
    assert json.loads((adapted / "_summary_fold0.json").read_text())["adapt"] == summary["adapt"]
    # the adapted weights stay while the share is not whole (--limit), so a predict resumes with them
    assert (adapted / "_adapt_fold0.weights.h5").exists()
    # without its record the share cannot say how it was made: adapted and predicted again
    (adapted / "_adapt_fold0.json").unlink()
    assert predict(base + ["--solution", "adapted", "--set", "predict.adapt.steps=2"]) == 0
    assert "_adapt_fold0.json is missing" in capsys.readouterr().out
    assert json.loads((adapted / "_summary_fold0.json").read_text())["adapt"]["steps"] == 2
    # the share predicted again without adapting: the record goes with the adapted files
    assert predict(base + ["--solution", "adapted", "--set", "post.mask_threshold=0.5"]) == 0
    assert not (adapted / "_adapt_fold0.json").exists() and not (adapted / "_adapt_fold0.weights.h5").exists()
    assert "adapt" not in json.loads((adapted / "_summary_fold0.json").read_text())


def test_interpolate_weights_moves_the_floating_weights_part_way_and_keeps_the_others():
    from solutions.unet.adapt import interpolate_weights

    original = [np.zeros((2, 3), np.float32), np.array([1.0, 3.0], np.float32), np.array([5, 6], np.uint32)]
    tuned = [np.full((2, 3), 4.0, np.float32), np.array([3.0, -1.0], np.float32), np.array([7, 9], np.uint32)]
    mixed = interpolate_weights(original, tuned, 0.25)
    np.testing.assert_allclose(mixed[0], 1.0)
    np.testing.assert_allclose(mixed[1], [1.5, 2.0])
    assert mixed[0].dtype == np.float32 and mixed[2].dtype == np.uint32
    np.testing.assert_array_equal(mixed[2], [7, 9])  # an integer array: the fine-tuned one
    np.testing.assert_allclose(interpolate_weights(original, tuned, 1.0)[1], tuned[1])
    with pytest.raises(ValueError, match="not of one network"):
        interpolate_weights(original, tuned[:2], 0.5)
    with pytest.raises(ValueError, match="not of one network"):
        interpolate_weights(original, [tuned[0].T, *tuned[1:]], 0.5)


def test_an_interpolation_near_zero_predicts_as_the_network_before_fine_tuning(synthetic_data_dir, tiny_unet_run,
                                                                               capsys):
    from solutions.unet.predict import main as predict

    work, run = tiny_unet_run
    base = ["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir), "--work", str(work)]
    tuned = ["predict.adapt.steps=2", "predict.adapt.lr=0.01"]
    assert predict(base + ["--limit", "3", "--solution", "before", "--set", "post.mask_threshold=0.5"]) == 0
    assert predict(base + ["--limit", "1", "--solution", "whole", "--set", *tuned]) == 0
    before, whole = (work / "predictions" / name / "oof" for name in ("before", "whole"))
    first = sorted(p.name for p in whole.glob("*.npz"))[0]
    moved = np.abs(load_prediction(whole / first).prob - load_prediction(before / first).prob).max()
    assert moved > 1e-3  # all of the fine-tuning's change kept: the maps move
    near0 = work / "predictions" / "near0" / "oof"
    items = ["--solution", "near0", "--set", *tuned, "predict.adapt.interpolate=1e-9"]
    assert predict(base + ["--limit", "2", *items]) == 0
    assert json.loads((near0 / "_adapt_fold0.json").read_text())["interpolate"] == 1e-9
    capsys.readouterr()
    assert predict(base + ["--limit", "3", *items]) == 0  # resumed: the saved (interpolated) weights
    assert "resuming with the network adapted before" in capsys.readouterr().out
    names = sorted(p.name for p in near0.glob("*.npz"))
    assert len(names) == 3 and first in names
    for name in names:  # fine-tuned, but nearly none of the change kept
        np.testing.assert_allclose(load_prediction(near0 / name).prob, load_prediction(before / name).prob,
                                   atol=moved / 100)


def test_without_training_images_it_says_how_to_adapt_on_the_predicted_images_alone(
        synthetic_data_dir, tiny_unet_run, tmp_path):
    from solutions.unet.predict import main as predict

    work, run = tiny_unet_run
    moved = tmp_path / "work" / "runs" / "unet-fold0"
    shutil.copytree(run, moved)
    shutil.copy(work / "folds.csv", tmp_path / "work" / "folds.csv")
    info = json.loads((moved / "run_info.json").read_text())
    (moved / "run_info.json").write_text(json.dumps({**info, "data_dir": str(tmp_path / "gone")}))
    base = ["--run", str(moved), "--split", "oof", "--data", str(synthetic_data_dir), "--work",
            str(tmp_path / "work"), "--limit", "2", "--set", "predict.adapt.steps=1"]
    with pytest.raises(FileNotFoundError, match=r"run_info\.json.*predict\.adapt\.mix=1"):
        predict(base)
    assert predict(base + ["predict.adapt.mix=1"]) == 0


def test_forget_drops_the_compiled_forward_passes_of_a_model(monkeypatch):
    import keras

    from common import engine

    if keras.backend.backend() != "tensorflow":
        pytest.skip("only the TensorFlow engines keep compiled passes (JAX: Keras caches its own jit)")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(1, 1)])
    x = np.ones((1, 8, 8, 3), np.float32)
    compiled, factory = [], engine.ENGINES["keras"]
    monkeypatch.setitem(engine.ENGINES, "keras", lambda m, first: compiled.append(1) or factory(m, first))
    engine.forward_fn(model, "keras")(x)
    engine.forward_fn(model, "keras")(x)
    assert len(compiled) == 1  # the shape's compiled pass is kept with the model
    engine.forget(model)
    engine.forget(model)  # forgetting twice is harmless
    engine.forward_fn(model, "keras")(x)
    assert len(compiled) == 2  # forgotten: compiled again


def test_openvino_serves_new_weights_after_forget():
    import keras

    from common import engine

    if keras.backend.backend() != "tensorflow" or not engine.openvino_available():
        pytest.skip("OpenVINO runs under the TensorFlow backend, when installed")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(1, 1)])
    x = np.ones((1, 8, 8, 3), np.float32)
    before = np.asarray(engine.forward_fn(model, "openvino")(x))
    model.set_weights([w + 1.0 for w in model.get_weights()])
    stale = np.asarray(engine.forward_fn(model, "openvino")(x))
    np.testing.assert_allclose(stale, before)  # the compiled network froze the old weights
    engine.forget(model)
    fresh = np.asarray(engine.forward_fn(model, "openvino")(x))
    np.testing.assert_allclose(fresh, before + 4.0, rtol=1e-5)  # 3 inputs + bias, each weight + 1


def test_a_killed_adapted_predict_resumes_with_the_same_network(synthetic_data_dir, tiny_unet_run, capsys, monkeypatch):
    from solutions.unet import adapt, predict as predict_module

    work, run = tiny_unet_run
    base = ["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir), "--work", str(work),
            "--solution", "resumed", "--set", "predict.adapt.steps=2"]
    out = work / "predictions" / "resumed" / "oof"
    weights, record = out / "_adapt_fold0.weights.h5", out / "_adapt_fold0.json"
    real = predict_module.predict_folder

    def killed(model, cfg, dataset, ids, *args, **kwargs):  # a predict killed after two images
        real(model, cfg, dataset, ids[:2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_module, "predict_folder", killed)
    with pytest.raises(KeyboardInterrupt):
        predict_module.main(base)
    assert weights.exists() and json.loads(record.read_text())["inputs"]["overrides"] == ["predict.adapt.steps=2"]
    first = {p.name: load_prediction(p).prob for p in out.glob("*.npz")}
    assert len(first) == 2
    again = sorted(first)[0]
    (out / again).unlink()  # predicted again on resume: by the same network, the same maps
    monkeypatch.setattr(predict_module, "predict_folder", real)
    monkeypatch.setattr(adapt, "adapt_model", lambda *a, **k: pytest.fail("resumed: must not fine-tune again"))
    capsys.readouterr()
    assert predict_module.main(base) == 0
    assert "resuming with the network adapted before" in capsys.readouterr().out
    np.testing.assert_allclose(load_prediction(out / again).prob, first[again], atol=1e-5)
    n_share = len(json.loads((run / "run_info.json").read_text())["oof_ids"])
    assert len(list(out.glob("*.npz"))) == n_share > 2 and not weights.exists()  # whole: not kept


def test_adapted_weights_of_another_run_or_other_items_are_not_loaded(synthetic_data_dir, tiny_unet_run, monkeypatch):
    from solutions.unet import adapt, predict as predict_module

    work, run = tiny_unet_run
    base = ["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir), "--work", str(work),
            "--solution", "other", "--limit", "1", "--set", "predict.adapt.steps=1"]
    assert predict_module.main(base) == 0  # a part of the share: the weights stay
    out = work / "predictions" / "other" / "oof"
    record = out / "_adapt_fold0.json"
    made = json.loads(record.read_text())
    elsewhere = {**made["inputs"]["trained"], "path": "/elsewhere/unet-fold0/train_summary.json"}
    record.write_text(json.dumps({**made, "inputs": {**made["inputs"], "trained": elsewhere}}))
    calls = []
    real = adapt.adapt_model
    monkeypatch.setattr(adapt, "adapt_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert predict_module.main(base[:-4] + ["--limit", "2", "--set", "predict.adapt.steps=1"]) == 0
    assert calls == [1]  # another run's weights: fine-tuned again
    assert json.loads(record.read_text())["inputs"] == made["inputs"]
