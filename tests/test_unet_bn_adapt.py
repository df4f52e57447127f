"""``predict.bn_adapt``: batch-norm statistics re-estimated on the images predicted (``solutions.unet.bn_adapt``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError
from common.predictions import load_prediction

CONFIGS = Path(__file__).resolve().parents[1] / "solutions" / "unet" / "configs"


def _net(dropout: float = 0.0):
    """conv -> [dropout] -> BN -> relu -> conv -> BN, with moving statistics far from any image's."""
    import keras

    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.BatchNormalization(name="bn1", momentum=0.9)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(2, 3, padding="same", name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2", momentum=0.9)(x)
    model = keras.Model(inputs, x)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(np.full(n, 5.0, np.float32))
            layer.moving_variance.assign(np.full(n, 9.0, np.float32))
    return model


def _views():
    rng = np.random.default_rng(1)
    return [rng.normal(0.3, 1.0, (12, 16, 3)).astype(np.float32), rng.normal(-0.5, 2.0, (20, 8, 3)).astype(np.float32)]


def _first_layer_truth(model, views):
    """The pooled mean and variance of bn1's input (the first conv's output) over the views' pixels."""
    import keras

    conv = keras.Model(model.input, model.get_layer("c1").output)
    pixels = np.concatenate([keras.ops.convert_to_numpy(conv(v[None])).reshape(-1, 4) for v in views])
    return pixels.mean(0), pixels.var(0)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_view_statistics_pool_the_inputs_of_a_layer_over_all_pixels_and_leave_the_network_as_it_was(dropout):
    import keras

    from solutions.unet.bn_adapt import batch_norm_layers, view_statistics

    model = _net(dropout)
    views = _views()
    x = np.random.default_rng(2).normal(size=(1, 8, 8, 3)).astype(np.float32)
    before = keras.ops.convert_to_numpy(model(x, training=False))
    stats, n = view_statistics(model, iter(views))
    assert n == 2 and len(stats) == 2 == len(batch_norm_layers(model))
    mean, var = _first_layer_truth(model, views)  # of both views together, not the mean of their variances
    np.testing.assert_allclose(stats[0][0], mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats[0][1], var, rtol=1e-3, atol=1e-5)
    assert stats[1][0].shape == (2,) and np.all(stats[1][1] > 0)
    # weights, momenta and dropout as before: the network predicts as it did
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), before, rtol=1e-6)
    assert all(layer.momentum == 0.9 for layer in batch_norm_layers(model))
    assert all(layer.rate == dropout for layer in model.layers if isinstance(layer, keras.layers.Dropout))


def test_between_views_and_after_an_error_the_network_is_as_trained():
    import keras

    from solutions.unet.bn_adapt import batch_norm_layers, view_statistics

    model = _net()
    bn1 = batch_norm_layers(model)[0]
    bn1.trainable = False  # a frozen layer is measured too, and stays frozen
    seen = []

    def views(fail: bool):
        for v in _views():  # what runs between two views (the chosen view's selection) sees the trained network
            seen.append(keras.ops.convert_to_numpy(bn1.moving_mean).copy())
            yield v
        if fail:
            raise OSError("unreadable image")

    stats, n = view_statistics(model, views(False))
    assert n == 2 and len(seen) == 2 and all(np.allclose(m, 5.0) for m in seen)
    np.testing.assert_allclose(stats[0][0], _first_layer_truth(model, _views())[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(OSError, match="unreadable"):
        view_statistics(model, views(True))
    assert bn1.trainable is False and bn1.momentum == 0.9
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn1.moving_mean), 5.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn1.moving_variance), 9.0)


def test_set_statistics_blends_by_weight_and_says_how_far_they_moved():
    import keras

    from solutions.unet.bn_adapt import batch_norm_layers, set_statistics

    model = _net()
    stats = [(np.full(4, 1.0), np.full(4, 1.0)), (np.full(2, 3.0), np.full(2, 4.0))]
    moved = set_statistics(model, stats, 0.25)
    bn1, bn2 = batch_norm_layers(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn1.moving_mean), 4.0)  # 0.75 * 5 + 0.25 * 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn1.moving_variance), 7.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn2.moving_mean), 4.5)
    # |4 - 5| / 3 on 4 channels, |4.5 - 5| / 3 on 2: the mean over the 6 channels
    assert moved == pytest.approx((4 * 1 / 3 + 2 * 0.5 / 3) / 6, rel=1e-3)
    with pytest.raises(ValueError, match="2 batch-norm layers"):
        set_statistics(model, stats[:1], 1.0)


def test_weight_one_normalises_the_first_layer_with_the_images_own_statistics():
    import keras

    from solutions.unet.bn_adapt import set_statistics, view_statistics

    model = _net()
    views = _views()
    set_statistics(model, view_statistics(model, views)[0], 1.0)
    bn1 = keras.Model(model.input, model.get_layer("bn1").output)
    out = np.concatenate([keras.ops.convert_to_numpy(bn1(v[None], training=False)).reshape(-1, 4) for v in views])
    gamma_beta = model.get_layer("bn1")  # gamma 1, beta 0 as built: the output is standardised
    assert np.allclose(keras.ops.convert_to_numpy(gamma_beta.gamma), 1.0)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-2)


def test_measure_crop_cuts_to_the_stride_and_the_pixel_cap_and_pads_a_thin_view():
    from solutions.unet.bn_adapt import measure_crop

    x = np.arange(50 * 70).reshape(50, 70, 1)
    c = measure_crop(x, 16, 1 << 30)
    assert c.shape == (48, 64, 1) and c[0, 0, 0] == x[1, 3, 0]
    assert measure_crop(x, 16, 32 * 32).shape[:2] == (16, 32)  # both sides shrunk by sqrt(1024 / 3500), to the stride
    assert measure_crop(x, 1, 25 * 35).shape[:2] == (25, 35)
    thin = measure_crop(x[:10], 16, 1 << 30)  # reflect-padded to multiples of the stride, as prediction pads
    assert thin.shape == (16, 80, 1) and thin[9, 0, 0] == x[9, 0, 0] and thin[10, 0, 0] == x[8, 0, 0]


def test_a_network_without_batch_norm_or_no_image_is_refused():
    import keras

    from solutions.unet.bn_adapt import view_statistics

    plain = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 1)])
    with pytest.raises(ValueError, match="no batch-norm layer"):
        view_statistics(plain, _views())
    with pytest.raises(ValueError, match="no image"):
        view_statistics(_net(), [])


@pytest.mark.parametrize("item, match", [("predict.bn_adapt.weight=-0.1", "weight"),
                                         ("predict.bn_adapt.weight=1.5", "weight"),
                                         ("predict.bn_adapt.max_images=0", "max_images"),
                                         ("predict.bn_adapt.at=middle", r"bn_adapt\.at")])
def test_bad_bn_adapt_values_are_refused(item, match):
    from common.config import load_config
    from solutions.unet.config import UNetConfig

    with pytest.raises(ConfigError, match=match):
        load_config(UNetConfig, CONFIGS / "cpu30.yaml", [item])
    assert not load_config(UNetConfig, CONFIGS / "cpu30.yaml").predict.bn_adapt.enabled  # off as shipped
    with pytest.raises(ConfigError, match="predict.bn_adapt needs the watershed"):
        load_config(UNetConfig, CONFIGS / "baseline.yaml", ["predict.bn_adapt.weight=1"])
    with pytest.raises(ConfigError, match="needs model.batch_norm"):
        load_config(UNetConfig, CONFIGS / "cpu30.yaml", ["predict.bn_adapt.weight=1", "model.batch_norm=false"])
    with pytest.raises(ConfigError, match="at=chosen needs predict.scale_norm"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["predict.bn_adapt.weight=1", "predict.bn_adapt.at=chosen"])


@pytest.mark.parametrize("at", ["native", "chosen"])
def test_predict_measures_the_whole_share_and_records_it(synthetic_data_dir, tiny_unet_run, capsys, at):
    from solutions.unet.predict import main as predict

    work, run = tiny_unet_run
    base = ["--run", str(run), "--split", "oof", "--data", str(synthetic_data_dir), "--work", str(work),
            "--limit", "2"]
    weights = {p.name: p.stat().st_mtime_ns for p in (run / "weights").iterdir()}
    assert predict(base + ["--solution", f"bn_plain_{at}", "--set", "post.mask_threshold=0.5"]) == 0
    # chosen: with demo.yaml's scale selection off there would be no other scale to choose
    items = ["predict.bn_adapt.weight=1", f"predict.bn_adapt.at={at}",
             *(["predict.scale_norm.enabled=true"] if at == "chosen" else [])]
    assert predict(base + ["--solution", f"bn_{at}", "--set", *items]) == 0
    assert "[bn_adapt] batch-norm statistics of" in capsys.readouterr().out
    out = work / "predictions" / f"bn_{at}" / "oof"
    record = json.loads((out / "_summary_fold0.json").read_text())["bn_adapt"]
    n_share = len(json.loads((run / "run_info.json").read_text())["oof_ids"])
    assert record["images"] == n_share > 2 and record["weight"] == 1 and record["at"] == at  # the share, not --limit
    assert record["moved_sd"] > 0
    plain = work / "predictions" / f"bn_plain_{at}" / "oof"
    names = sorted(p.name for p in out.glob("*.npz"))
    assert len(names) == 2
    assert any(not np.allclose(load_prediction(out / n).prob, load_prediction(plain / n).prob) for n in names)
    assert {p.name: p.stat().st_mtime_ns for p in (run / "weights").iterdir()} == weights  # the run is not touched
    # every image done: nothing is measured, and the summary keeps the record
    assert predict(base + ["--solution", f"bn_{at}", "--set", *items]) == 0
    assert "[bn_adapt]" not in capsys.readouterr().out
    assert json.loads((out / "_summary_fold0.json").read_text())["bn_adapt"] == record
    # an image left to predict: measured again on the whole share, the same statistics
    next(out.glob("*.npz")).unlink()
    assert predict(base + ["--solution", f"bn_{at}", "--set", *items]) == 0
    assert "[bn_adapt] batch-norm statistics of" in capsys.readouterr().out
    again = json.loads((out / "_summary_fold0.json").read_text())["bn_adapt"]
    assert again["moved_sd"] == record["moved_sd"] and again["images"] == n_share
