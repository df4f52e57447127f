"""bench/score_sources.py and bench/bench_paired.py: per-image scores from folders or stored
JSON, and A/Bs paired over the images every source scored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.data import DataError
from common.paths import REPO_ROOT
from common.predictions import save_prediction
from tests.test_ensemble import H, W, box, paint, write_dsb

sys.path.insert(0, str(REPO_ROOT))
from bench import bench_paired  # noqa: E402
from bench.score_sources import named_source, source_scores, split_source, stored_rows, stored_scores  # noqa: E402

IDS = ["t0", "t1", "t2", "t3"]


@pytest.fixture
def dsb(tmp_path):
    from common.data import DSBDataset

    truth = {i: paint(box(2, 12, 2, 12), box(16, 28, 18, 30)) for i in IDS}
    write_dsb(tmp_path / "data", truth, {})
    return tmp_path / "data", DSBDataset(tmp_path / "data", "stage1_train"), truth


def _folder(path: Path, labels: dict[str, np.ndarray]) -> Path:
    for i, lab in labels.items():
        save_prediction(path / f"{i}.npz", lab, np.ones(int(lab.max()), np.float32))
    return path


def test_split_and_name_a_source():
    assert split_source("a/b") == (Path("a/b"), "")
    assert split_source("r/gap.json:cpu30/group") == (Path("r/gap.json"), "cpu30/group")
    assert split_source("r/x.json:a:b") == (Path("r/x.json"), "a:b")  # a key may hold ':'
    assert named_source("base=x/y") == ("base", "x/y")
    assert named_source("x/y", "ref") == ("ref", "x/y")
    assert named_source("runs/lr=0.1/oof", "ref") == ("ref", "runs/lr=0.1/oof")  # a path, not a name
    assert named_source("b=runs/lr=0.1/oof") == ("b", "runs/lr=0.1/oof")
    with pytest.raises(DataError, match="NAME=PATH"):
        named_source("=x")


def test_stored_scores_read_both_layouts_and_name_the_file(tmp_path):
    combined = tmp_path / "combined.json"
    combined.write_text(json.dumps({"per_image": {"a": {"v": 0.5, "w": 0.1}, "b": {"w": 0.2}}}))
    assert stored_scores(combined, "v").to_dict() == {"a": 0.5}
    gap = tmp_path / "gap.json"
    gap.write_text(json.dumps({"models": {"m": {"per_image": {"a": {"group": 0.3, "stratified": None}}}}}))
    assert stored_scores(gap, "group").to_dict() == {"a": 0.3}
    assert stored_scores(gap, "m/group").to_dict() == {"a": 0.3}
    with pytest.raises(DataError, match="no scores under 'stratified'"):  # null is no score
        stored_scores(gap, "stratified")
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"models": {"m": {"per_image": {}}, "n": {"per_image": {}}}}))
    with pytest.raises(DataError, match=r"two.json holds models \['m', 'n'\]: name one as MODEL/group"):
        stored_scores(two, "group")
    with pytest.raises(DataError, match="no per-image scores of model 'x'"):
        stored_scores(two, "x/group")
    with pytest.raises(DataError, match="needs a key"):
        stored_scores(combined, "")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"summary": {}}))
    with pytest.raises(DataError, match="bad.json: no stored per-image scores"):
        stored_scores(bad, "v")
    for text, match in (('{"per_image": {"a": {"v": NaN}, "b": {"v": 0.4}}}', None),
                        ('{"per_image": {"a": {"v": "high"}}}', "score of a is not a number"),
                        ('{"per_image": [1, 2]}', "per_image is not a table"),
                        ("[1, 2]", "not a JSON object"), ("{oops", "invalid JSON")):
        bad.write_text(text)
        if match is None:  # a NaN an older bench stored is no score, not a row that skews the means
            assert stored_scores(bad, "v").to_dict() == {"b": 0.4}
        else:
            with pytest.raises(DataError, match=match):
                stored_scores(bad, "v")


def test_stored_scores_read_magnify_rows_by_variant_and_factor(tmp_path):
    rows = [{"image_id": i, "variant": v, "factor": f, "score": s, "seconds": 0.1}
            for i, v, f, s in (("a", "plain", 1.0, 0.5), ("b", "plain", 1.0, 0.6), ("a", "plain", 3.0, 0.2),
                               ("a", "boxes", 3.0, 0.3))]
    mag = tmp_path / "magnify.json"
    mag.write_text(json.dumps({"command": "c", "rows": rows}))
    assert stored_scores(mag, "plain/x1").to_dict() == {"a": 0.5, "b": 0.6}
    assert stored_scores(mag, "plain/x3").to_dict() == {"a": 0.2}
    assert stored_scores(mag, "boxes").to_dict() == {"a": 0.3}  # its one factor
    with pytest.raises(DataError, match=r"magnify.json holds factors \[1.0, 3.0\] of 'plain': name one as plain/x"):
        stored_scores(mag, "plain")
    with pytest.raises(DataError, match=r"no variant 'masks' \(it has \['boxes', 'plain'\]\)"):
        stored_scores(mag, "masks/x1")
    with pytest.raises(DataError, match="has no factor 2"):
        stored_scores(mag, "plain/x2")
    with pytest.raises(DataError, match="factor in 'plain/xtwo' is not a number"):
        stored_scores(mag, "plain/xtwo")
    for bad_rows in ([{"variant": "plain", "factor": 1.0}], [{"image_id": "a", "variant": "plain"}], [3]):
        mag.write_text(json.dumps({"rows": bad_rows}))
        with pytest.raises(DataError, match="magnify.json: rows is not a list of per-image records"):
            stored_scores(mag, "plain")


def test_stored_rows_keep_every_column_of_one_variant_and_factor(tmp_path):
    rows = [{"image_id": i, "variant": v, "factor": f, "score": s, "n_pred": n, "scale": c}
            for i, v, f, s, n, c in (("a", "enl", 1.0, 0.5, 7, 0.5), ("b", "enl", 1.0, 0.6, 9, 1.0),
                                     ("a", "enl", 2.0, 0.2, 3, 1.0), ("a", "off", 1.0, 0.4, 8, 1.0))]
    mag = tmp_path / "magnify.json"
    mag.write_text(json.dumps({"command": "c", "rows": rows}))
    table = stored_rows(mag, "enl/x1")
    assert sorted(table.index) == ["a", "b"]
    assert table.loc["a", "n_pred"] == 7 and table.loc["b", "scale"] == 1.0
    assert table.loc["a", "score"] == stored_scores(mag, "enl/x1")["a"]
    assert stored_rows(mag, "off").loc["a", "n_pred"] == 8  # its one factor
    with pytest.raises(DataError, match=r"holds factors \[1.0, 2.0\] of 'enl'"):
        stored_rows(mag, "enl")
    with pytest.raises(DataError, match="needs a key"):
        stored_rows(mag, "")
    paired = tmp_path / "paired.json"
    paired.write_text(json.dumps({"per_image": {"a": {"v": 0.5}}}))
    with pytest.raises(DataError, match="paired.json: per-image rows are stored only by bench_magnify.py"):
        stored_rows(paired, "v")
    paired.write_text("[1]")
    with pytest.raises(DataError, match="paired.json: per-image rows are stored only by bench_magnify.py"):
        stored_rows(paired, "v")
    mag.write_text(json.dumps({"rows": rows + [dict(rows[0], score=0.9)]}))  # bench_magnify.py --factors 1 1
    for read in (stored_rows, stored_scores):
        with pytest.raises(DataError, match="magnify.json: image 'a' appears twice under 'enl/x1'"):
            read(mag, "enl/x1")


def test_a_predictions_folder_is_scored_on_its_images(dsb, tmp_path):
    _, ds, truth = dsb
    empty = np.zeros((H, W), np.int32)
    folder = _folder(tmp_path / "p", {"t0": truth["t0"], "t1": empty})
    scores = source_scores(str(folder), ds)
    assert scores.to_dict() == {"t0": 1.0, "t1": 0.0}
    assert source_scores(str(folder), ds, ["t1", "t3"]).to_dict() == {"t1": 0.0}
    with pytest.raises(DataError, match="no predictions"):
        source_scores(str(folder), ds, ["t3"])
    with pytest.raises(DataError, match="gone: no such predictions folder or scores file"):
        source_scores(str(tmp_path / "gone"), ds)


def test_paired_over_common_images_writes_a_reusable_record(dsb, tmp_path):
    data, _, truth = dsb
    half = {i: np.where(truth[i] == 2, 0, truth[i]) for i in IDS}  # finds one of two nuclei
    ref = _folder(tmp_path / "ref", {i: half[i] for i in ("t0", "t1", "t2")})
    new = _folder(tmp_path / "new", {i: truth[i] for i in ("t0", "t1", "t3")})  # t3: no reference
    out = tmp_path / "out"
    assert bench_paired.main([f"base={ref}", f"bal={new}", "--data", str(data), "--out", str(out)]) == 0
    record = json.loads((out / "paired.json").read_text())
    assert sorted(record["per_image"]) == ["t0", "t1"]
    assert record["per_image"]["t0"] == {"base": 0.5, "bal": 1.0}
    text = (out / "paired.md").read_text()
    assert "+0.500 ± 0.000" in text and "bal − base" in text and "## per image type" in text
    # the record is itself a source: the folder's scores outlive it
    again = tmp_path / "again"
    assert bench_paired.main([f"{out / 'paired.json'}:bal", str(ref), "--data", str(data), "--out", str(again)]) == 0
    assert json.loads((again / "paired.json").read_text())["per_image"]["t1"] == {"ref": 1.0, "new": 0.5}
    with pytest.raises(DataError, match="paired.md exists"):  # nothing written is overwritten
        bench_paired.main([str(ref), str(new), "--data", str(data), "--out", str(out)])
    (again / "paired.json").unlink()  # a half-written --out (a crash between the two files)
    md = (again / "paired.md").read_text()
    with pytest.raises(DataError, match="again/paired.md exists"):
        bench_paired.main([str(ref), str(new), "--data", str(data), "--out", str(again)])
    assert (again / "paired.md").read_text() == md
    ids = tmp_path / "ids.txt"
    ids.write_text("t2  # ref only\nt3  # new only\n")
    with pytest.raises(DataError, match="no image is scored by every source"):
        bench_paired.main([str(ref), str(new), "--data", str(data), "--ids", str(ids)])
    with pytest.raises(DataError, match="every source has the name 'a'"):
        bench_paired.main([f"a={ref}", f"a={new}", "--data", str(data)])
    groups = tmp_path / "folds_group.csv"
    groups.write_text("image_id,fold,group\nt0,0,kind-a\nt1,1,kind-b\n")
    kinds = tmp_path / "kinds"
    args = [str(ref), str(new), "--data", str(data), "--groups", str(groups), "--out", str(kinds)]
    assert bench_paired.main(args) == 0
    text = (kinds / "paired.md").read_text()
    assert "## per image kind (group)" in text and "| kind-a | 1 |" in text and "| kind-b | 1 |" in text
    assert "## over folds" not in text  # only with --folds: these two are one training each
    groups.write_text("image_id,fold\nt0,0\n")
    with pytest.raises(DataError, match="folds_group.csv: not a folds_group.csv"):
        bench_paired.main([str(ref), str(new), "--data", str(data), "--groups", str(groups)])


def test_a_name_given_twice_is_the_union_of_its_sources(dsb, tmp_path):
    """Held-out images of several folds, each fold's predictions its own source."""
    data, _, truth = dsb
    half = {i: np.where(truth[i] == 2, 0, truth[i]) for i in IDS}
    ref0 = _folder(tmp_path / "ref0", {i: half[i] for i in ("t0", "t1")})
    ref1 = _folder(tmp_path / "ref1", {i: half[i] for i in ("t2", "t3")})
    new0 = _folder(tmp_path / "new0", {i: truth[i] for i in ("t0", "t1")})
    new1 = _folder(tmp_path / "new1", {i: truth[i] for i in ("t2", "t3")})
    groups = tmp_path / "folds_group.csv"
    groups.write_text("image_id,fold,group\nt0,0,k\nt1,0,k\nt2,1,k\nt3,1,k\n")
    out = tmp_path / "out"
    assert bench_paired.main([f"base={ref0}", f"base={ref1}", f"new={new0}", f"new={new1}",
                              "--data", str(data), "--folds", str(groups), "--out", str(out)]) == 0
    record = json.loads((out / "paired.json").read_text())
    assert sorted(record["per_image"]) == IDS
    assert record["sources"] == {"base": [str(ref0), str(ref1)], "new": [str(new0), str(new1)]}
    text = (out / "paired.md").read_text()
    assert "| 4 | 2 | +0.500 ± 0.000 | 2 of 2 |" in text  # images, folds
    assert "## per fold" in text and "| 0 | 2 | 0.500 | 1.000 | +0.500 ± 0.000 |" in text
    with pytest.raises(DataError, match=r"base's sources .*ref0 and .*ref0 both score 2 images"):
        bench_paired.main([f"base={ref0}", f"base={ref0}", f"new={new0}", "--data", str(data)])
    # an unnamed source never joins a name given to another by its position
    with pytest.raises(DataError, match="would be called 'ref', a name another source was given"):
        bench_paired.main([str(ref0), f"ref={ref1}", f"new={new0}", "--data", str(data)])
    with pytest.raises(DataError, match="gone.csv: cannot read it as a folds CSV"):
        bench_paired.main([str(ref0), str(new0), "--data", str(data), "--folds", str(tmp_path / "gone.csv")])
    (tmp_path / "other.csv").write_text("image_id,fold\nx9,0\n")
    with pytest.raises(DataError, match="other.csv: holds none of the 2 images"):
        bench_paired.main([str(ref0), str(new0), "--data", str(data), "--folds", str(tmp_path / "other.csv")])
    (tmp_path / "twice.csv").write_text("image_id,fold\nt0,0\nt0,1\n")
    with pytest.raises(DataError, match="twice.csv: image t0 is listed more than once"):
        bench_paired.main([str(ref0), str(new0), "--data", str(data), "--folds", str(tmp_path / "twice.csv")])
    (tmp_path / "ids_only.csv").write_text("image_id\nt0\n")
    with pytest.raises(DataError, match="ids_only.csv: not a folds CSV .needs the columns image_id and fold"):
        bench_paired.main([str(ref0), str(new0), "--data", str(data), "--folds", str(tmp_path / "ids_only.csv")])


def test_bad_input_is_one_line_naming_the_file_and_exit_2(dsb, tmp_path):
    data, _, truth = dsb
    ref = _folder(tmp_path / "ref", {"t0": truth["t0"]})
    cmd = [sys.executable, str(REPO_ROOT / "bench" / "bench_paired.py"), str(ref), "--data", str(data)]
    for extra, match in (([str(tmp_path / "gone")], "gone: no such predictions folder"),
                         ([str(ref), "--ids", str(tmp_path / "none.txt")], "none.txt: cannot read")):
        proc = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert match in proc.stderr and "Traceback" not in proc.stderr
