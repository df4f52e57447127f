"""The ensemble and the names of the prob maps (``prob_channels``): maps are averaged only
when their folders lay them out alike; voting needs no maps and never checks them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.paths import Workspace
from common.predictions import PredictionError, load_prediction, save_prediction
from ensemble.config import EnsembleConfig, FoldMergeConfig, SourceConfig
from ensemble.merge import merge_split
from ensemble.pixel import merge_params

H = W = 32


def _folders(ws: Workspace, layouts, params: dict | None = None) -> None:
    """One ``unet`` test folder per layout, each holding ``img`` (one nucleus) with its maps."""
    lab = np.zeros((H, W), np.int32)
    lab[2:12, 2:12] = 1
    for k, channels in enumerate(layouts):
        prob = np.zeros((H, W, 2), np.float32)
        body = 0 if channels is None else list(channels).index("body")
        prob[..., body][lab > 0] = 0.9
        folder = ws.predictions_dir("unet", f"test_fold{k}")
        save_prediction(folder / "img.npz", lab, [0.9], prob=prob, channels=channels)
        summary = {"n_images": 1, "run": None}
        if params is not None:
            summary["params"] = params
        (folder / "_summary.json").write_text(json.dumps(summary))


def test_voting_needs_no_common_layout(tmp_path):
    ws = Workspace(tmp_path / "work", tmp_path / "data")
    _folders(ws, (["body", "border"], ["border", "body"]))
    cfg = EnsembleConfig(sources=[SourceConfig(solution="unet")], folds=FoldMergeConfig(mode="vote"))
    merge_split(cfg, ws, "test", log=lambda _: None)
    assert load_prediction(ws.predictions_dir("ensemble", "test") / "img.npz").labels.max() == 1


def test_pixel_averaging_refuses_maps_laid_out_differently(tmp_path):
    params = {"channels": ["body", "border"], "method": "watershed", "min_area": 1, "min_seed_area": 1}
    ws = Workspace(tmp_path / "a", tmp_path / "data")
    _folders(ws, (["body", "border"], ["border", "body"]), params)
    cfg = EnsembleConfig(sources=[SourceConfig(solution="unet")], folds=FoldMergeConfig(mode="pixel"))
    with pytest.raises(ValueError, match="img.*name their prob maps differently"):
        merge_split(cfg, ws, "test", log=lambda _: None)
    # a file without names is read in the default order (body, border): it differs from a reordered one
    ws = Workspace(tmp_path / "b", tmp_path / "data")
    _folders(ws, (None, ["border", "body"]), params)
    with pytest.raises(ValueError, match="name their prob maps differently"):
        merge_split(cfg, ws, "test", log=lambda _: None)
    # alike, but not as the runs' params read them
    ws = Workspace(tmp_path / "c", tmp_path / "data")
    _folders(ws, (["border", "body"], ["border", "body"]), params)
    with pytest.raises(ValueError, match="img: unet.*reads them as"):
        merge_split(cfg, ws, "test", log=lambda _: None)
    ws = Workspace(tmp_path / "d", tmp_path / "data")
    _folders(ws, (["body", "border"], None), params)  # named and unnamed alike: merged
    merge_split(cfg, ws, "test", log=lambda _: None)
    assert load_prediction(ws.predictions_dir("ensemble", "test") / "img.npz").labels.max() == 1


def test_a_relabel_refuses_maps_its_params_would_misread(tmp_path):
    from solutions.unet.predict import relabel

    lab = np.zeros((H, W), np.int32)
    lab[2:12, 2:12] = 1
    save_prediction(tmp_path / "img.npz", lab, [0.9], prob=np.zeros((H, W, 2), np.float32),
                    channels=["border", "body"])
    with pytest.raises(PredictionError, match="img.npz.*border.*body"):
        relabel(tmp_path, ["img"], {"channels": ["body", "border"]})
    with pytest.raises(PredictionError, match="distinct"):
        save_prediction(tmp_path / "dup.npz", lab, [0.9], prob=np.zeros((H, W, 2), np.float32),
                        channels=["body", "body"])


def test_merge_params_votes_on_a_step_that_zero_switches_off():
    """The mean of ``split_solidity`` 0 (off) and 0.9 would be 0.45: neither run's choice."""
    on, off = {"split_solidity": 0.9, "min_area": 30}, {"split_solidity": 0.0, "min_area": 20}
    assert merge_params([on, off]) == {"split_solidity": pytest.approx(0.9), "min_area": 25}
    assert merge_params([off, on, {**on, "split_solidity": 0.8}])["split_solidity"] == pytest.approx(0.85)
    assert merge_params([off, on, off])["split_solidity"] == 0
    assert merge_params([{"centre_threshold": 0.5}, {"centre_threshold": 0.0}])["centre_threshold"] == 0.5
