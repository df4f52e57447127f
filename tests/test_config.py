"""Tests for common.config: YAML + _base_ inheritance, validation, overrides."""

from dataclasses import dataclass, field

import pytest
import yaml

from common.config import ConfigError, load_config, save_config


@dataclass
class Train:
    epochs: int = 2
    lr: float = 1e-3
    scales: tuple[int, ...] = (8, 16)


@dataclass
class Cfg:
    name: str = "demo"
    optimizer: str = "adam"
    weights: str | None = None
    train: Train = field(default_factory=Train)

    def validate(self):
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"optimizer must be adam or sgd, got {self.optimizer!r}")


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_and_overrides():
    cfg = load_config(Cfg, None, ["train.epochs=5", "train.scales=[1,2,3]", "weights=w.h5"])
    assert cfg.train.epochs == 5 and cfg.train.scales == (1, 2, 3) and cfg.weights == "w.h5"
    assert cfg.train.lr == 1e-3


def test_base_inheritance_merges_deeply(tmp_path):
    write(tmp_path / "base.yaml", {"name": "base", "train": {"epochs": 10, "lr": 0.1}})
    (tmp_path / "sub").mkdir()
    child = write(tmp_path / "sub" / "child.yaml", {"_base_": "../base.yaml", "train": {"lr": 0.01}})
    cfg = load_config(Cfg, child)
    assert (cfg.name, cfg.train.epochs, cfg.train.lr) == ("base", 10, 0.01)


def test_base_list_later_wins(tmp_path):
    write(tmp_path / "a.yaml", {"name": "a", "optimizer": "sgd"})
    write(tmp_path / "b.yaml", {"name": "b"})
    child = write(tmp_path / "c.yaml", {"_base_": ["a.yaml", "b.yaml"]})
    cfg = load_config(Cfg, child)
    assert (cfg.name, cfg.optimizer) == ("b", "sgd")


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path / "bad.yaml", {"train": {"epochz": 3}})
    with pytest.raises(ConfigError, match=r"bad\.yaml.*epochz"):
        load_config(Cfg, path)


def test_exponent_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 loads 1e-4 as a string; a float field takes it, a str field keeps it
    assert load_config(Cfg, None, ["train.lr=1e-4"]).train.lr == 1e-4
    (tmp_path / "e.yaml").write_text("train:\n  lr: 2E+3\n")
    assert load_config(Cfg, tmp_path / "e.yaml").train.lr == 2000.0
    assert load_config(Cfg, None, ["weights=1e-4"]).weights == "1e-4"
    with pytest.raises(ConfigError, match="train.lr: expected a number"):
        load_config(Cfg, None, ["train.lr=1e"])


def test_wrong_type_and_validate(tmp_path):
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(Cfg, write(tmp_path / "t.yaml", {"train": {"epochs": "many"}}))
    with pytest.raises(ConfigError, match="optimizer"):
        load_config(Cfg, write(tmp_path / "v.yaml", {"optimizer": "rmsprop"}))


def test_loop_and_missing_file(tmp_path):
    write(tmp_path / "x.yaml", {"_base_": "y.yaml"})
    write(tmp_path / "y.yaml", {"_base_": "x.yaml"})
    with pytest.raises(ConfigError, match="loops"):
        load_config(Cfg, tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(Cfg, tmp_path / "nope.yaml")


def test_save_round_trip(tmp_path):
    cfg = load_config(Cfg, None, ["train.scales=[4,8]"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(Cfg, path) == cfg


@dataclass
class Moved:
    """A config whose ``train.seed`` and ``name`` moved (``RENAMED_KEYS``)."""

    RENAMED_KEYS = {"train.seed": "seed", "train.folds_seed": "seed", "name": None}
    seed: int = 42
    train: Train = field(default_factory=Train)




def test_renamed_keys_are_read_at_their_new_place_with_a_warning(tmp_path):
    old = write(tmp_path / "old.yaml", {"name": "x", "train": {"seed": 7, "folds_seed": 7, "epochs": 3}})
    with pytest.warns(FutureWarning, match=r"old.yaml: config key train.seed is deprecated \(write seed"):
        cfg = load_config(Moved, old)
    assert (cfg.seed, cfg.train.epochs) == (7, 3)
    with pytest.warns(FutureWarning, match="train.seed"):
        assert load_config(Moved, None, ["train.seed=9"]).seed == 9
    # a child file's old key overrides its base's new key
    write(tmp_path / "base.yaml", {"seed": 1})
    child = write(tmp_path / "child.yaml", {"_base_": "base.yaml", "train": {"seed": 2}})
    with pytest.warns(FutureWarning):
        assert load_config(Moved, child).seed == 2


def test_renamed_keys_that_disagree_name_both(tmp_path):
    bad = write(tmp_path / "bad.yaml", {"seed": 1, "train": {"seed": 2}})
    with pytest.warns(FutureWarning), pytest.raises(ConfigError, match=r"bad.yaml: train.seed .* and seed"):
        load_config(Moved, bad)
