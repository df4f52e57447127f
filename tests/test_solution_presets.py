"""Solutions describe themselves: the registry is a lookup over ``presets.py`` modules.

The last test proves that adding a solution needs no pipeline edit: a tiny dummy solution
(Otsu threshold + connected components, no learning) written by a fixture into a temp
folder is registered through ``DSB_SOLUTION_PRESETS`` and run by ``run_all --tiny``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from common.paths import REPO_ROOT
from common.submission import validate_submission
from pipeline.registry import (PRESETS_ENV, UnknownSolution, all_solutions, default_solutions,
                               get_solution)


def test_every_backbone_is_a_maskrcnn_solution_and_presets_are_keras_free():
    code = ("import sys; from pipeline.registry import all_solutions; "
            "names = sorted(all_solutions()); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'Keras imported'; "
            "print(','.join(names))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    names = out.stdout.strip().split(",")
    from common.backbones import list_backbones

    assert sorted(n[len("maskrcnn-"):] for n in names if n.startswith("maskrcnn-")) == list_backbones()
    assert {"unet", "unet-baseline"} <= set(names)


def test_defaults_and_tuning_come_from_the_presets():
    assert default_solutions("demo") == ["unet", "unet-baseline", "maskrcnn-mobilenet"]
    assert default_solutions("full")[:3] == ["unet", "unet-baseline", "maskrcnn-mobilenet"]
    assert get_solution("unet").tune_key == "post.tune"
    assert get_solution("maskrcnn-densenet121").tune_key is None
    assert get_solution("maskrcnn-densenet121").config("full").is_file()
    assert get_solution("maskrcnn-resnet50").family == "maskrcnn"


DUMMY_FILES = {
    "__init__.py": "",
    "presets.py": """
        N_FOLDS_KEY = "n_folds"
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
        import argparse, sys
        from common.cli import add_train_args, open_train_run
        from common.io import write_json
        from dummy_otsu.config import DummyConfig

        def main():
            p = argparse.ArgumentParser()
            add_train_args(p)
            args = p.parse_args()
            cfg, ws, run = open_train_run(args, DummyConfig)
            run.claim({"solution": cfg.solution, "fold": args.fold})
            write_json(run.path / "train_summary.json", {
                "solution": cfg.solution, "fold": args.fold, "train_seconds": 0.01, "epochs": 0,
                "train_images_per_s": 0.0, "params": 0, "device": "CPU"})
            run.mark_finished()
            return 0

        sys.exit(main())
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


@pytest.fixture
def dummy_solution(tmp_path, monkeypatch) -> Path:
    """Writes the package ``dummy_otsu`` into a temp folder and registers its presets."""
    root = tmp_path / "plugins"
    for rel, text in DUMMY_FILES.items():
        path = root / "dummy_otsu" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    monkeypatch.setenv(PRESETS_ENV, "dummy_otsu.presets")
    monkeypatch.syspath_prepend(str(root))
    return root


def test_a_declared_solution_is_found_and_a_broken_one_is_named(dummy_solution, monkeypatch):
    spec = get_solution("dummy-otsu")
    assert spec.package == "dummy_otsu" and spec.train_module() == "dummy_otsu.train"
    assert spec.config("demo") == dummy_solution / "dummy_otsu" / "configs" / "demo.yaml"
    assert "dummy-otsu" in all_solutions() and "dummy-otsu" not in default_solutions("demo")
    monkeypatch.setenv(PRESETS_ENV, "dummy_otsu.presets,no_such_solution.presets")
    with pytest.raises(UnknownSolution, match="no_such_solution"):
        all_solutions()


@pytest.mark.slow
def test_run_all_tiny_runs_a_solution_declared_outside_the_repo(dummy_solution, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE")}
    env.update(DSB_INPUT_DIR=str(tmp_path / "no-input"), KAGGLE_CONFIG_DIR=str(tmp_path / "no-kaggle"),
               DSB_KAGGLE_MOUNT=str(tmp_path / "no-mount"), HOME=str(tmp_path),
               PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{dummy_solution}", CUDA_VISIBLE_DEVICES="-1",
               **{PRESETS_ENV: "dummy_otsu.presets"})
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "pipeline.run_all", "--profile", "demo", "--tiny",
           "--solutions", "dummy-otsu", "--folds", "2", "--work", str(work)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    subs = list((work / "submissions").glob("*.csv"))
    assert len(subs) == 1
    test_ids = sorted(p.name for p in (next((work / "input-demo").iterdir()) / "stage1_test").iterdir())
    assert validate_submission(subs[0], expected_ids=test_ids) == []
    table = pd.read_csv(work / "reports" / "scores.csv", index_col=0)
    assert "dummy-otsu" in table.index and table.loc["dummy-otsu", "oof_score"] > 0
