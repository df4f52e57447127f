"""Mask R-CNN config: every shipped YAML loads, inconsistent settings raise, the schedule,
and configs of older versions (saved runs) still load and resume."""

from __future__ import annotations

import pytest
import yaml

from common.config import ConfigError, load_config, to_dict
from common.paths import CONFIGS
from solutions.maskrcnn.config import MaskRCNNConfig

DEMO = CONFIGS["maskrcnn"] / "demo.yaml"


def test_every_config_loads():
    for path in sorted(CONFIGS["maskrcnn"].glob("*.yaml")):
        cfg = load_config(MaskRCNNConfig, path)
        assert cfg.solution == f"maskrcnn-{cfg.model.backbone}"


@pytest.mark.parametrize("override", [
    "model.anchor_scales=[8,16,32,64]",        # one scale per level P2..P6
    "model.roi_positive_fraction=0",
    "model.rpn_positive_fraction=1.5",
    "train.crop_size=100",                      # not a multiple of 64
    "model.backbone=vgg99",
    "model.mask_shape=20",                      # must be 2 x mask_pool_size
    "model.rpn_negative_iou=0.8",               # above the positive threshold
    "train.lr_drops=[0.75,0.5]",
    "train.loss_weights={mask: 1, foo: 2}",
])
def test_inconsistent_config_raises(override):
    with pytest.raises(ConfigError):
        load_config(MaskRCNNConfig, DEMO, [override])


def test_schedule_stages_and_lr_drops():
    tc = load_config(MaskRCNNConfig, DEMO, ["train.heads_epochs=2", "train.all_epochs=8",
                                            "train.lr=1.0", "train.lr_drops=[0.5,0.75]"]).train
    assert [tc.stage(e) for e in (0, 1, 2, 9)] == ["heads", "heads", "all", "all"]
    lrs = [tc.learning_rate(e) for e in range(10)]
    assert lrs[:6] == [1.0] * 6                  # heads + first half of all-layer epochs
    assert lrs[6:8] == pytest.approx([0.1, 0.1])  # 50 %
    assert lrs[8:] == pytest.approx([0.01, 0.01])  # 75 %


def test_a_run_saved_with_the_old_key_places_still_loads_and_resumes(tmp_path):
    """``train.seed``/``train.folds_seed``/``train.n_folds`` and ``name`` of runs saved before
    ``seed``/``n_folds``/``solution`` moved to the top level: read there, no run conflict."""
    from common.runs import RunDir

    cfg = load_config(MaskRCNNConfig, DEMO, ["n_folds=3", "seed=7"])
    old = to_dict(cfg)
    del old["solution"], old["seed"], old["n_folds"]
    old = {"name": "maskrcnn", **old, "train": {**old["train"], "n_folds": 3, "folds_seed": 7, "seed": 7}}
    run = RunDir(tmp_path / "run")
    run.weights_dir.mkdir(parents=True)
    run.config_path.write_text(yaml.safe_dump(old, sort_keys=False))
    with pytest.warns(FutureWarning, match="train.n_folds is deprecated"):
        saved = load_config(MaskRCNNConfig, run.config_path)
        run.prepare(cfg)  # same config, old spelling: resumes, no RunConflictError
    assert (saved.seed, saved.n_folds, saved.solution) == (7, 3, "maskrcnn-mobilenet")
    assert "folds_seed" in run.config_path.read_text()  # the saved file is left as it was


def test_backbone_is_checked_against_presets_and_the_registry():
    """Shipped presets validate without Keras; other names are looked up in the registry."""
    with pytest.raises(ConfigError, match=r"model.backbone: unknown backbone 'vgg'.*resnet50"):
        load_config(MaskRCNNConfig, DEMO, ["model.backbone=vgg"])
    assert load_config(MaskRCNNConfig, DEMO, ["model.backbone=densenet121"]).model.backbone == "densenet121"


def test_image_only_augment_keys_reach_the_training_augmenter():
    """data.cytoplasm, data.dim_nuclei, data.grain and data.defocus, the U-Net's keys, set the Mask R-CNN's
    augmenter too."""
    import numpy as np

    from solutions.maskrcnn.data import TrainSequence

    cfg = load_config(MaskRCNNConfig, DEMO, ["data.cytoplasm=0.25", "data.dim_nuclei=0.5", "data.grain=0.75",
                                                 "data.defocus=0.3"])
    aug = TrainSequence(None, ["a"], cfg, np.zeros((1, 4), np.float32), steps=1)._augmenter()
    assert (aug.cytoplasm, aug.dim, aug.grain, aug.defocus) == (0.25, 0.5, 0.75, 0.3)
    off = TrainSequence(None, ["a"], load_config(MaskRCNNConfig, DEMO), np.zeros((1, 4), np.float32), steps=1)
    unset = off._augmenter()
    assert (unset.cytoplasm, unset.dim, unset.grain, unset.defocus) == (0.0, 0.0, 0.0, 0.0)
    for key in ("cytoplasm", "dim_nuclei", "grain", "defocus"):
        with pytest.raises(ConfigError, match=f"data.{key} is a probability in"):
            load_config(MaskRCNNConfig, DEMO, [f"data.{key}=1.5"])
