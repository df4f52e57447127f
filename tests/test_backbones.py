"""Tests for common/backbones.py: pyramid strides, preprocessing, weights, freezing."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

import common.backbones as bb
from common.backbones import (
    BACKBONES,
    LEVELS,
    Preprocess,
    build_backbone,
    get_preprocess,
    list_backbones,
)

# keras.applications module whose preprocess_input each backbone must match.
KERAS_FAMILY = {
    "resnet50": keras.applications.resnet,
    "resnet101": keras.applications.resnet,
    "mobilenet": keras.applications.mobilenet,
    "mobilenet_v2": keras.applications.mobilenet_v2,
    "densenet121": keras.applications.densenet,
    "densenet169": keras.applications.densenet,
    "densenet201": keras.applications.densenet,
}
OFFLINE_MSG = (
    "URL fetch failure on https://storage.googleapis.com/x.h5: None -- "
    "[Errno -2] Name or service not known"
)


def one_per_family() -> list[str]:
    """The first registered backbone of each ``keras.applications`` family (:data:`KERAS_FAMILY`),
    in registry order, so the smallest: resnet50, mobilenet, mobilenet_v2, densenet121.

    The tests of whole models built on a backbone (Mask R-CNN, the U-Net encoder) take these:
    the members of a family differ only in depth, and every backbone's own contract (layer
    names, strides, channels, freezing) is checked here, for each of them.
    """
    first: dict[object, str] = {}
    for name in BACKBONES:  # registration order: shallow before deep within a family
        first.setdefault(KERAS_FAMILY.get(name, name), name)
    return sorted(first.values())


def _images(h: int, w: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    """Random float32 [B,H,W,3] images in 0..255."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, h, w, 3)).astype(np.float32)


def _spatial(feats: dict) -> dict[str, tuple[int, int]]:
    return {k: tuple(int(d) for d in v.shape[1:3]) for k, v in feats.items()}


def test_registry_lists_every_contract_backbone():
    assert list_backbones() == sorted(
        ["resnet50", "resnet101", "mobilenet", "mobilenet_v2",
         "densenet121", "densenet169", "densenet201"]
    )
    assert set(KERAS_FAMILY) == set(list_backbones())
    assert one_per_family() == ["densenet121", "mobilenet", "mobilenet_v2", "resnet50"]


@pytest.mark.parametrize("name", list_backbones())
def test_pyramid_strides_channels_and_freezing(name):
    """Strides and channels from the built graph's static output shapes, for every backbone;
    one backbone per family also runs a forward pass on an image (under JAX an eager pass
    compiles every op it meets, so each deeper member of a family cost seconds more)."""
    spec = BACKBONES[name]
    model = build_backbone(name, input_shape=(128, 128, 3), weights="none")
    out = model.output
    assert set(out) == set(LEVELS)
    assert _spatial(out) == {"P2": (32, 32), "P3": (16, 16), "P4": (8, 8), "P5": (4, 4)}
    assert {k: int(v.shape[-1]) for k, v in out.items()} == dict(spec.channels)
    if name in one_per_family():
        feats = model(_images(128, 128), training=False)
        assert {k: tuple(v.shape) for k, v in feats.items()} == {k: (1, *out[k].shape[1:]) for k in out}
        assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in feats.values())
    assert model.trainable_weights
    model.trainable = False
    assert model.trainable_weights == []
    assert all(not w.trainable for w in model.weights)


def test_dynamic_input_shape():
    model = build_backbone("mobilenet_v2", input_shape=(None, None, 3))
    feats = model(_images(64, 96), training=False)
    assert _spatial(feats) == {"P2": (16, 24), "P3": (8, 12), "P4": (4, 6), "P5": (2, 3)}


def test_fixed_non_square_shape_and_model_name():
    model = build_backbone("mobilenet", input_shape=(128, 192, 3), name="enc")
    assert model.name == "enc"
    shapes = {k: tuple(v.shape[1:3]) for k, v in model.output.items()}
    assert shapes == {"P2": (32, 48), "P3": (16, 24), "P4": (8, 12), "P5": (4, 6)}


@pytest.mark.parametrize("name", list_backbones())
def test_preprocess_matches_keras_applications(name):
    x = _images(8, 8, batch=2, seed=1)
    want = KERAS_FAMILY[name].preprocess_input(x.copy())
    layer = Preprocess(BACKBONES[name].preprocess)
    got_layer = keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(x)))
    got_fn = get_preprocess(name)(x.copy())
    assert isinstance(got_fn, np.ndarray) and got_fn.dtype == np.float32
    np.testing.assert_allclose(got_layer, want, atol=1e-4)
    np.testing.assert_allclose(got_fn, want, atol=1e-4)


def test_preprocess_layer_config_roundtrip():
    layer = Preprocess("torch", name="pp")
    clone = Preprocess.from_config(layer.get_config())
    assert clone.mode == "torch" and clone.name == "pp"
    with pytest.raises(ValueError, match="caffe"):
        Preprocess("bogus")


@pytest.fixture
def offline(monkeypatch):
    """Makes every keras weights download fail as it does without internet."""

    def fail(*args, **kwargs):
        raise Exception(OFFLINE_MSG)  # what keras.utils.get_file raises on URLError

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", fail)


def test_imagenet_offline_falls_back_with_one_line(offline, caplog):
    with caplog.at_level(logging.WARNING, logger=bb.__name__):
        model = build_backbone("mobilenet", input_shape=(128, 128, 3), weights="imagenet")
    records = [r for r in caplog.records if r.name == bb.__name__]
    assert len(records) == 1
    msg = records[0].getMessage()
    assert "\n" not in msg
    assert msg == (
        "[backbones] mobilenet: ImageNet weights unavailable "
        "(offline: [Errno -2] Name or service not known); using random initialisation"
    )
    assert set(model.output) == set(LEVELS)


def test_imagenet_offline_raises_without_fallback(offline):
    with pytest.raises(RuntimeError, match=r"mobilenet.*weights="):
        build_backbone("mobilenet", (128, 128, 3), weights="imagenet",
                       allow_random_fallback=False)


def test_imagenet_non_download_error_is_not_swallowed(monkeypatch):
    def bad(*args, **kwargs):
        raise ValueError("input_shape is invalid")

    monkeypatch.setattr(keras.applications, "MobileNet", bad)
    with pytest.raises(ValueError, match="invalid"):
        build_backbone("mobilenet", (128, 128, 3), weights="imagenet")


def test_missing_weights_file_names_the_path(tmp_path):
    path = tmp_path / "nope" / "resnet50_notop.h5"
    with pytest.raises(FileNotFoundError, match="nope/resnet50_notop.h5"):
        build_backbone("resnet50", (128, 128, 3), weights=str(path))


def test_weights_file_is_loaded(tmp_path):
    src = keras.applications.MobileNet(include_top=False, weights=None,
                                       input_shape=(128, 128, 3))
    path = tmp_path / "mobilenet.weights.h5"
    src.save_weights(path)
    model = build_backbone("mobilenet", (128, 128, 3), weights=str(path))
    got = sorted(float(np.sum(w)) for w in model.get_weights())
    want = sorted(float(np.sum(w)) for w in src.get_weights())
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_unknown_name_lists_available():
    with pytest.raises(KeyError, match="resnet50.*mobilenet_v2|mobilenet_v2.*resnet50"):
        build_backbone("resnet9000")
    with pytest.raises(KeyError, match="densenet121"):
        get_preprocess("vgg")


def test_register_backbone_rejects_duplicates_and_bad_tables(monkeypatch):
    monkeypatch.setattr(bb, "BACKBONES", dict(BACKBONES))
    with pytest.raises(ValueError, match="already registered"):
        bb.register_backbone("resnet50", levels=BACKBONES["resnet50"].levels,
                             channels=BACKBONES["resnet50"].channels,
                             preprocess="caffe")(lambda s, w: None)
    with pytest.raises(ValueError, match="levels"):
        bb.register_backbone("tiny", levels={"P2": "a"}, channels=BACKBONES["resnet50"].channels,
                             preprocess="caffe")(lambda s, w: None)
