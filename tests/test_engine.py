"""The inference engines (common/engine.py): same outputs as the eager model, per-shape
caching that lets the model go, and the ``auto`` choice."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

pytestmark = pytest.mark.backend  # runs Keras models under each backend


def _model(channels=3):
    import keras

    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(keras.layers.Rescaling(1 / 255)(x))
    y = keras.layers.UpSampling2D(interpolation="bilinear")(keras.layers.MaxPooling2D()(y))
    return keras.Model(x, keras.layers.Conv2D(channels, 1, activation="sigmoid")(y))


def _engines():
    """The engines this backend and machine can run explicitly."""
    import keras

    from common.engine import openvino_available

    names = ["keras"]
    if keras.backend.backend() == "tensorflow" and openvino_available():
        names.append("openvino")
    return names


@pytest.mark.parametrize("engine", ["keras", "openvino"])
def test_engine_matches_eager_for_several_shapes_and_lets_the_model_go(engine):
    import keras

    from common import engine as eng

    if engine not in _engines():
        pytest.skip(f"{engine} cannot run here (backend {keras.backend.backend()}, "
                    f"openvino installed: {eng.openvino_available()})")
    model = _model()
    run = eng.forward_fn(model, engine)
    for shape in [(1, 32, 48, 3), (3, 64, 64, 3), (1, 32, 48, 3)]:
        x = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
        got = keras.ops.convert_to_numpy(run(x))
        assert got.shape == (*shape[:3], 3)
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-5)
    if engine == "keras" and keras.backend.backend() == "tensorflow":
        assert sorted(k[1] for k in eng._COMPILED[model]) == [(1, 32, 48, 3), (3, 64, 64, 3)]
    gone = weakref.ref(model)
    del model, run
    gc.collect()
    assert gone() is None  # the cache holds the model weakly


def test_the_openvino_outputs_do_not_change_under_the_caller():
    """OpenVINO reuses its output buffer: each call's answer must be a copy."""
    from common.engine import forward_fn

    if "openvino" not in _engines():
        pytest.skip("openvino cannot run here")
    run = forward_fn(_model(), "openvino")
    rng = np.random.default_rng(2)
    a, b = (rng.uniform(0, 255, (1, 32, 32, 3)).astype(np.float32) for _ in range(2))
    first = run(a)
    kept = first.copy()
    run(b)
    np.testing.assert_array_equal(first, kept)


def test_openvino_compiles_in_float32_even_where_the_cpu_has_bfloat16():
    """On an AVX512_BF16/AMX CPU OpenVINO defaults to bfloat16 (maps 0.05 off TensorFlow's)."""
    if "openvino" not in _engines():
        pytest.skip("openvino cannot run here")
    import openvino as ov

    from common.engine_openvino import OPENVINO_CPU_CONFIG

    param = ov.opset13.parameter([1, 4], np.float32)
    net = ov.Model([ov.opset13.relu(param)], [param])
    compiled = ov.Core().compile_model(net, "CPU", OPENVINO_CPU_CONFIG)
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_auto_picks_openvino_only_on_a_tensorflow_cpu_with_openvino(monkeypatch):
    import keras

    from common import engine as eng

    monkeypatch.setattr(eng, "openvino_available", lambda: True)
    monkeypatch.setattr(eng, "_gpu_visible", lambda: False)
    expected = "openvino" if keras.backend.backend() == "tensorflow" else "keras"
    assert eng.resolve_engine("auto") == expected
    monkeypatch.setattr(eng, "_gpu_visible", lambda: True)
    assert eng.resolve_engine("auto") == "keras"
    monkeypatch.setattr(eng, "_gpu_visible", lambda: False)
    monkeypatch.setattr(eng, "openvino_available", lambda: False)
    assert eng.resolve_engine("auto") == "keras"
    assert eng.resolve_engine("keras") == "keras"


def test_openvino_asked_for_where_it_cannot_run_says_why(monkeypatch):
    import keras

    from common import engine as eng

    monkeypatch.setattr(eng, "openvino_available", lambda: False)
    with pytest.raises(eng.EngineError, match="not installed|TensorFlow backend"):
        eng.resolve_engine("openvino")
    with pytest.raises(ValueError, match="predict.engine must be one of"):
        eng.resolve_engine("onnx")
    if keras.backend.backend() != "tensorflow":
        monkeypatch.setattr(eng, "openvino_available", lambda: True)
        with pytest.raises(eng.EngineError, match="TensorFlow backend"):
            eng.resolve_engine("openvino")


def test_unet_predict_image_is_the_same_with_every_engine_and_a_bad_name_is_a_config_error():
    """Through the U-Net's tiling and flip TTA (several input shapes per image)."""
    from common.config import ConfigError, from_dict
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image

    model = _model()
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    outs = []
    for name in _engines():
        cfg = from_dict(UNetConfig, {"predict": {"tile_size": 64, "tile_overlap": 16, "engine": name}})
        outs.append(predict_image(model, image, cfg, "flip"))
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], atol=1e-5)
    with pytest.raises(ConfigError, match="engine"):
        from_dict(UNetConfig, {"predict": {"engine": "onnx"}})


def test_the_cache_keeps_only_the_most_recently_used_shapes(monkeypatch):
    import keras

    from common import engine as eng

    if keras.backend.backend() != "tensorflow":
        pytest.skip("under JAX Keras caches predict_on_batch itself")
    monkeypatch.setattr(eng, "MAX_CACHED_SHAPES", 2)
    model = _model()
    run = eng.forward_fn(model, "keras")
    for side in (16, 32, 16, 48):
        run(np.zeros((1, side, side, 3), np.float32))
    assert [k[1][1] for k in eng._COMPILED[model]] == [16, 48]  # 32 was the least recently used


def test_openvino_serves_every_shape_with_one_network_unless_a_fixed_size_resize_forbids_it():
    import keras

    from common import engine as eng

    if "openvino" not in _engines():
        pytest.skip("openvino cannot run here")
    model = _model()  # max-pool then bilinear up-sampling: an Interpolate to rewrite
    run = eng.forward_fn(model, "openvino")
    for shape in [(1, 32, 48, 3), (2, 64, 32, 3), (1, 96, 96, 3)]:
        x = np.random.default_rng(3).uniform(0, 255, shape).astype(np.float32)
        np.testing.assert_allclose(run(x), keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-5)
    assert list(eng._COMPILED[model]) == [("openvino", None)]

    x = keras.Input((None, None, 3))
    fixed = keras.Model(x, keras.layers.Conv2D(2, 1)(keras.layers.Resizing(16, 16)(x)))
    run = eng.forward_fn(fixed, "openvino")
    for shape in [(1, 32, 32, 3), (1, 64, 48, 3)]:
        x = np.random.default_rng(4).uniform(0, 255, shape).astype(np.float32)
        np.testing.assert_allclose(run(x), keras.ops.convert_to_numpy(fixed(x, training=False)), atol=1e-4)
    assert sorted(k[1] for k in eng._COMPILED[fixed]) == [(1, 32, 32, 3), (1, 64, 48, 3)]


def test_a_dynamic_network_that_disagrees_with_tensorflow_is_not_used(monkeypatch, caplog):
    from common import engine as eng
    from common import engine_openvino

    if "openvino" not in _engines():
        pytest.skip("openvino cannot run here")
    monkeypatch.setattr(engine_openvino, "DYNAMIC_TOLERANCE", -1.0)  # nothing passes the check
    model = _model()
    run = eng.forward_fn(model, "openvino")
    x = np.random.default_rng(5).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    with caplog.at_level("WARNING"):
        run(x)
    assert "one network per input shape" in caplog.text
    assert list(eng._COMPILED[model]) == [("openvino", (1, 32, 32, 3))]
