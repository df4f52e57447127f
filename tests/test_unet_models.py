"""U-Net networks, losses and configs: shapes, the study's parameter count, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.config import ConfigError, load_config
from solutions.unet.config import UNetConfig
from tests.test_backbones import one_per_family

CONFIGS = Path(__file__).resolve().parents[1] / "solutions" / "unet" / "configs"


def test_baseline_has_the_study_parameter_count():
    from solutions.unet.model_baseline import build_baseline_unet

    assert build_baseline_unet((8, 16, 32, 64), 128).count_params() == 485_817


def test_baseline_config_builds_the_study_network():
    from solutions.unet.model_watershed import build_model

    cfg = load_config(UNetConfig, CONFIGS / "baseline.yaml")
    assert cfg.data.input_size == 256 and cfg.train.patience == 5 and cfg.loss.name == "dice"
    assert cfg.train.optimizer == "adam" and cfg.train.lr == pytest.approx(1e-3)
    assert build_model(cfg).count_params() == 485_817


@pytest.mark.parametrize("config", ["baseline.yaml", "demo.yaml"])
def test_models_run_on_a_64x96_input(config):
    from solutions.unet.model_watershed import build_model

    cfg = load_config(UNetConfig, CONFIGS / config)
    model = build_model(cfg)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, 64, 96, cfg.n_outputs)
    assert np.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_plain_watershed_unet_runs_on_64x96():
    from solutions.unet.model_watershed import build_plain_unet

    model = build_plain_unet(n_channels=3, base_filters=4, depth=4)
    assert model(np.zeros((1, 64, 96, 3), "float32")).shape == (1, 64, 96, 3)


@pytest.mark.slow
@pytest.mark.parametrize("encoder", one_per_family())
def test_backbone_encoder_builds_at_64x64(encoder):
    from solutions.unet.model_watershed import build_backbone_unet

    model = build_backbone_unet(encoder, n_channels=3, decoder_filters=(16, 8, 8, 8, 8))
    y = model(np.full((1, 64, 64, 3), 128.0, "float32"), training=False)
    assert tuple(y.shape) == (1, 64, 64, 3)


def test_every_config_loads():
    paths = sorted(CONFIGS.glob("*.yaml")) + sorted((CONFIGS / "study").glob("*.yaml"))
    names = {p.name for p in paths}
    assert {"baseline.yaml", "watershed.yaml", "demo.yaml", "demo_baseline.yaml"} <= names
    assert len(list((CONFIGS / "study").glob("*.yaml"))) >= 10
    for path in paths:
        cfg = load_config(UNetConfig, path)
        assert cfg.solution in ("unet", "unet-baseline"), path


def test_config_rejects_inconsistent_settings():
    with pytest.raises(ConfigError, match="crop_size"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["data.crop_size=100"])
    with pytest.raises(ConfigError, match="encoder"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["model.encoder=vgg99"])
    with pytest.raises(ConfigError, match="channel_weights"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["loss.channel_weights=[1.0]"])
    with pytest.raises(ConfigError, match="cosine_time"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["train.lr_schedule=cosine_time"])
    for key in ("dim_nuclei", "grain", "defocus"):
        with pytest.raises(ConfigError, match="data.defocus are probabilities in"):
            load_config(UNetConfig, CONFIGS / "demo.yaml", [f"data.{key}=1.5"])


@pytest.mark.parametrize("mode", ["dice", "iou", "bce", "bce_dice"])
def test_losses_prefer_the_truth(mode):
    from solutions.unet.losses import SegmentationLoss

    rng = np.random.default_rng(0)
    y = (rng.uniform(size=(2, 16, 16, 3)) > 0.5).astype("float32")
    loss = SegmentationLoss(mode, channel_weights=(1.0, 1.0, 0.5))
    good = float(loss(y, np.clip(y, 0.05, 0.95)))
    bad = float(loss(y, 1.0 - np.clip(y, 0.05, 0.95)))
    assert np.isfinite(good) and good < bad
    clone = SegmentationLoss.from_config(loss.get_config())
    assert float(clone(y, np.clip(y, 0.05, 0.95))) == pytest.approx(good)


def test_image_only_augment_keys_reach_the_unet_training_augmenter():
    """data.grain, data.dim_nuclei, data.cytoplasm and data.defocus set what training (and
    predict.adapt) augments with; all off in the demo config."""
    from solutions.unet.train import training_augmenter

    sets = ["data.grain=0.75", "data.dim_nuclei=0.5", "data.cytoplasm=0.25", "data.defocus=0.3"]
    aug = training_augmenter(load_config(UNetConfig, CONFIGS / "demo.yaml", sets))
    assert (aug.grain, aug.dim, aug.cytoplasm, aug.defocus) == (0.75, 0.5, 0.25, 0.3)
    off = training_augmenter(load_config(UNetConfig, CONFIGS / "demo.yaml"))
    assert (off.grain, off.dim, off.cytoplasm, off.defocus) == (0.0, 0.0, 0.0, 0.0)
