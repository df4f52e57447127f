"""Solutions describe themselves: the registry is a lookup over ``presets.py`` modules.

The last test proves that adding a solution needs no pipeline edit: a tiny dummy solution
(Otsu threshold + connected components, no learning) written by a fixture into a temp
folder is registered through ``DSB_SOLUTION_PRESETS`` and run by ``run_all --tiny``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from common.paths import REPO_ROOT
from common.submission import validate_submission
from pipeline.registry import (PRESETS_ENV, UnknownSolution, all_solutions, default_solutions,
                               get_solution)
from tests.dummy_solution import dummy_solution, pipeline_env  # noqa: F401 (fixture)


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
    assert default_solutions("demo") == ["unet"]  # the others miss their floors there (README, The demo)
    assert default_solutions("full")[:3] == ["unet", "unet-baseline", "maskrcnn-mobilenet"]
    assert get_solution("unet").tune_key == "post.tune"
    assert get_solution("maskrcnn-densenet121").tune_key is None
    assert get_solution("maskrcnn-densenet121").config("full").is_file()
    assert get_solution("maskrcnn-resnet50").family == "maskrcnn"


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
    env = pipeline_env(tmp_path, dummy_solution)
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
