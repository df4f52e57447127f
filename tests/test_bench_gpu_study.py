"""The GPU study driver (bench/gpu_study.py) on the synthetic set, on CPU."""

from __future__ import annotations

import json
import sys

import pytest


def _module():
    import importlib.util

    from common.paths import REPO_ROOT

    spec = importlib.util.spec_from_file_location("gpu_study", REPO_ROOT / "bench" / "gpu_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_study", module)
    spec.loader.exec_module(module)
    return module


def test_jobs_come_from_the_registry_and_the_cost_from_the_configs():
    gs = _module()
    jobs = {j.solution: j for j in gs.study_jobs(list(gs.STUDY))}
    assert set(jobs) == set(gs.STUDY)
    mr = jobs["maskrcnn-resnet101"]
    assert mr.package == "solutions.maskrcnn" and mr.config.endswith("resnet101.yaml")
    assert "model.backbone=resnet101" in mr.train_set and "train.optimizer=adam" in mr.train_set
    assert jobs["unet"].config.endswith("gpu_time.yaml")
    cost = gs.full_profile_cost("maskrcnn-resnet101", train_ips=10.0, infer_ips=20.0)
    assert cost["train_images_per_fold"] == (20 + 40) * 500 * 2  # resnet101.yaml's schedule
    assert cost["total_s"] == pytest.approx(5 * 6000 + (664 + 5 * 3019) / 20, abs=0.2)


def test_deadline_zero_still_writes_the_table(synthetic_data_dir, tmp_path):
    gs = _module()
    out, work = tmp_path / "out", tmp_path / "work"
    assert gs.main(["--data", str(synthetic_data_dir), "--work", str(work), "--out", str(out),
                    "--solutions", "unet-baseline,maskrcnn-mobilenet", "--deadline", "0"]) == 0
    table = (out / "study.md").read_text()
    assert "| unet-baseline | random | n/a |" in table and "GPU-hours" in table
    data = json.loads((out / "study.json").read_text())
    assert data["models"]["maskrcnn-mobilenet"]["state"] == "stopped"


@pytest.mark.slow
def test_a_tiny_study_trains_predicts_scores_and_costs(synthetic_data_dir, tmp_path):
    gs = _module()
    out, work = tmp_path / "out", tmp_path / "work"
    assert gs.main(["--data", str(synthetic_data_dir), "--work", str(work), "--out", str(out),
                    "--solutions", "unet-baseline,maskrcnn-mobilenet", "--tiny", "--budget", "60",
                    "--deadline", "900", "--every", "5"]) == 0
    data = json.loads((out / "study.json").read_text())["models"]
    for name in ("unet-baseline", "maskrcnn-mobilenet"):
        row = data[name]
        assert row["state"] == "done", (out / "progress.txt").read_text()
        assert row["train_images_per_s"] > 0 and row["inference_images_per_s"] > 0
        assert 0.0 <= row["fold0_dsb"] <= 1.0 and row["cost"]["total_s"] > 0
