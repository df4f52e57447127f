"""The report's section on how the OOF predictions fail (``pipeline.report.error_lines``):
an image without a prediction finds nothing, and each image's counts are cached."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from tests.test_ensemble import box, paint, write_dsb, write_folder


def test_error_lines_count_an_image_without_a_prediction_as_finding_nothing(tmp_path):
    from pipeline.report import error_lines

    class Labels:  # the part of ensemble.evaluate.Truth that error_lines uses
        def get(self, ids):
            return {i: truth for i in ids}

    truth = paint(box(2, 12, 2, 12))
    write_folder(tmp_path / "oof", {"a": (truth, np.ones(1), None)})
    clusters = pd.Series({"a": "histology", "b": "histology"})
    lines = error_lines(tmp_path / "oof", Labels(), ["a", "b"], clusters, "unet")
    row = [c.strip() for c in next(x for x in "\n".join(lines).splitlines()
                                   if x.startswith("| histology")).split("|")[1:-1]]
    assert row[1:5] == ["2", "2", "1", "0.0"] and row[6] == "50.0"  # b: its nucleus missed
    assert error_lines(tmp_path / "oof", Labels(), [], clusters, "unet") == []


def test_error_lines_keep_each_images_counts_in_the_score_cache(tmp_path, monkeypatch):
    import ensemble.evaluate as evaluate
    from ensemble.evaluate import ScoreCache, Truth
    from pipeline.report import error_lines

    truth = paint(box(2, 12, 2, 12))
    write_dsb(tmp_path / "data", {"a": truth, "b": truth}, {})
    t, clusters = Truth(tmp_path / "data", "stage1_train"), pd.Series({"a": "histology", "b": "histology"})
    write_folder(tmp_path / "oof", {"a": (truth, np.ones(1), None)})
    first = error_lines(tmp_path / "oof", t, ["a", "b"], clusters, "unet", ScoreCache(tmp_path / "c.json"))
    calls = []
    real = evaluate.error_counts_folder
    monkeypatch.setattr(evaluate, "error_counts_folder", lambda *a: calls.append(a) or real(*a))
    assert error_lines(tmp_path / "oof", t, ["a", "b"], clusters, "unet", ScoreCache(tmp_path / "c.json")) == first
    assert not calls  # read back from the file
    time.sleep(0.01)
    write_folder(tmp_path / "oof", {"a": (truth, np.ones(1), None), "b": (truth, np.ones(1), None)})
    again = error_lines(tmp_path / "oof", t, ["a", "b"], clusters, "unet", ScoreCache(tmp_path / "c.json"))
    assert len(calls) == 1 and again != first  # the folder changed: counted again (b found now)
