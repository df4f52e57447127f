"""A tiny solution package written by a fixture: Otsu threshold + connected components.

It learns nothing and needs no Keras, so pipeline tests (registration through presets,
locking, kill-and-resume) run in seconds. ``DSB_DUMMY_TRAIN_SLEEP=S`` makes its training
take S seconds (with the run folder locked), for tests that kill a task mid-way;
``DSB_DUMMY_TRAIN_FAIL=K`` makes fold K's training exit with status 1. Its train and predict follow the CLI contract of
``docs/CONTRACTS.md`` through ``common.cli`` like the real solutions.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from common.paths import REPO_ROOT
from pipeline.registry import PRESETS_ENV

DUMMY_FILES = {
    "__init__.py": "",
    "presets.py": """
        CONFIG_CLASS = "dummy_otsu.config:DummyConfig"
        PRESETS = {"dummy-otsu": {"configs": {"demo": "demo.yaml", "full": "demo.yaml"},
                                  "overrides": ("solution=dummy-otsu",), "tiny": ("offset=0",),
                                  "tune_key": None}}
    """,
    "configs/demo.yaml": "solution: dummy-otsu\nn_folds: 2\nseed: 42\noffset: 0\n",
    "config.py": """
        from dataclasses import dataclass

        @dataclass
        class DummyConfig:
            solution: str = "dummy-otsu"
            n_folds: int = 2
            seed: int = 42
            offset: int = 0

            def validate(self):
                pass
    """,
    "train.py": """
        import argparse, os, sys, time
        from common.cli import add_train_args, open_train_run, run_main
        from common.io import write_json
        from dummy_otsu.config import DummyConfig

        def main():
            p = argparse.ArgumentParser()
            add_train_args(p)
            args = p.parse_args()
            cfg, ws, run = open_train_run(args, DummyConfig)
            run.claim({"solution": cfg.solution, "fold": args.fold})
            time.sleep(float(os.environ.get("DSB_DUMMY_TRAIN_SLEEP", "0")))  # "training" to kill
            if os.environ.get("DSB_DUMMY_TRAIN_FAIL") == str(args.fold):
                print("dummy training failed on purpose", file=sys.stderr)
                return 1
            write_json(run.path / "train_summary.json", {
                "solution": cfg.solution, "fold": args.fold, "train_seconds": 0.01, "epochs": 0,
                "train_images_per_s": 0.0, "params": 0, "device": "CPU"})
            run.mark_finished()
            return 0

        sys.exit(run_main(main, "python -m dummy_otsu.train"))
    """,
    "predict.py": """
        import argparse, sys
        import numpy as np
        from skimage.filters import threshold_otsu
        from skimage.measure import label
        from common.cli import add_predict_args, predict_target, resolve_run, workspace
        from common.config import load_config
        from common.predictions import save_prediction, write_folder_summary
        from common.runs import RunDir
        from dummy_otsu.config import DummyConfig

        def main():
            p = argparse.ArgumentParser()
            add_predict_args(p)
            args = p.parse_args()
            ws = workspace(args)
            run = RunDir(resolve_run(args.run, ws))
            cfg = load_config(DummyConfig, run.config_path)
            t = predict_target(ws, run, args.solution or cfg.solution, args.split, args.test_split,
                               cfg.n_folds, cfg.seed)
            for image_id in t.ids:
                gray = t.dataset.load_image(image_id).mean(axis=2)
                mask = gray > threshold_otsu(gray) if gray.max() > gray.min() else gray > 0
                labels = label(mask).astype(np.int32)
                save_prediction(t.out_dir / f"{image_id}.npz", labels,
                                np.ones(int(labels.max()), np.float32))
            write_folder_summary(t.out_dir, {"n_images": len(t.ids), "seconds": 0.01,
                                             "run": str(run.path)}, fold=t.summary_fold)
            return 0

        sys.exit(main())
    """,
}


def write_dummy_package(root: Path) -> Path:
    """Writes the package ``dummy_otsu`` under ``root`` (for a subprocess's ``PYTHONPATH``); ``root``."""
    for rel, text in DUMMY_FILES.items():
        path = root / "dummy_otsu" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture
def dummy_solution(tmp_path, monkeypatch) -> Path:
    """Writes the package ``dummy_otsu`` into a temp folder and registers its presets."""
    root = write_dummy_package(tmp_path / "plugins")
    monkeypatch.setenv(PRESETS_ENV, "dummy_otsu.presets")
    monkeypatch.syspath_prepend(str(root))
    return root


def pipeline_env(tmp_path: Path, plugins: Path) -> dict[str, str]:
    """Environment for a ``run_all`` subprocess that sees the dummy solution, no real data,
    no Kaggle credentials and no GPU."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE")}
    env.update(DSB_INPUT_DIR=str(tmp_path / "no-input"), KAGGLE_CONFIG_DIR=str(tmp_path / "no-kaggle"),
               DSB_KAGGLE_MOUNT=str(tmp_path / "no-mount"), HOME=str(tmp_path),
               PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{plugins}", CUDA_VISIBLE_DEVICES="-1",
               PYTHONUNBUFFERED="1",  # a killed pipeline's log shows the stage it was in
               **{PRESETS_ENV: "dummy_otsu.presets"})
    return env
