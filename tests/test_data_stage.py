"""The data stage (pipeline/datasets.py): input/, Kaggle download and mount, demo subsets, synthetic set."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from common.data import image_folders
from common.paths import REPO_ROOT
from pipeline import datasets
from pipeline.datasets import DataStageError, resolve_data
from tests.test_ensemble import box, paint, write_dsb


def test_data_stage_without_data_or_credentials(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "INPUT_DIR", tmp_path / "input")
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", tmp_path / "no-mount")
    with pytest.raises(DataStageError, match="kaggle.json"):
        resolve_data(tmp_path / "w", "full", None, (2, 1), env={}, home=tmp_path)
    with pytest.raises(DataStageError, match="stage1_train"):
        resolve_data(tmp_path / "w", "demo", tmp_path / "nothing", (2, 1), env={}, home=tmp_path)
    lines = []
    choice = resolve_data(tmp_path / "w", "demo", None, (2, 1), env={}, home=tmp_path,
                          log=lines.append)
    assert choice.synthetic and "synthetic" in choice.note
    assert len(list((choice.data_dir / "stage1_train").iterdir())) == 2
    assert (choice.data_dir / "stage1_solution.csv").is_file()


def test_data_stage_downloads_with_credentials(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "INPUT_DIR", tmp_path / "input")
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", tmp_path / "no-mount")
    png = (REPO_ROOT / "tests" / "__init__.py").read_bytes()  # content does not matter here

    def runner(cmd, **kw):
        assert cmd[:4] == ["kaggle", "competitions", "download", "-c"]
        dest = Path(cmd[cmd.index("-p") + 1])
        inner = dest / "stage1_train.zip"
        with zipfile.ZipFile(inner, "w") as z:
            z.writestr("abc/images/abc.png", png)
            z.writestr("abc/masks/m.png", png)
        with zipfile.ZipFile(dest / "data-science-bowl-2018.zip", "w") as z:
            z.write(inner, "stage1_train.zip")
            z.writestr("stage1_sample_submission.csv", "ImageId,EncodedPixels\n")
        inner.unlink()
        return subprocess.CompletedProcess(cmd, 0, "", "")

    choice = resolve_data(tmp_path / "w", "full", None, (2, 1),
                          env={"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}, home=tmp_path,
                          runner=runner, log=lambda _: None)
    assert choice.kind == "kaggle"
    assert (tmp_path / "input" / "stage1_train" / "abc" / "images" / "abc.png").is_file()
    assert (tmp_path / "input" / "stage1_sample_submission.csv").is_file()
    assert not (tmp_path / "input" / "data-science-bowl-2018.zip").exists()


def test_data_stage_uses_a_kaggle_notebook_mount(tmp_path, monkeypatch):
    png = (REPO_ROOT / "tests" / "__init__.py").read_bytes()  # content does not matter here
    mount, input_dir = tmp_path / "mount", tmp_path / "input"
    monkeypatch.setattr(datasets, "INPUT_DIR", input_dir)
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", mount)
    mount.mkdir()
    with zipfile.ZipFile(mount / "stage1_train.zip", "w") as z:  # today's layout: one zip per split
        z.writestr("abc/images/abc.png", png)
        z.writestr("abc/masks/m.png", png)
    with zipfile.ZipFile(mount / "stage1_test.zip", "w") as z:
        z.writestr("def/images/def.png", png)
    with zipfile.ZipFile(mount / "stage1_solution.csv.zip", "w") as z:
        z.writestr("stage1_solution.csv", "ImageId,EncodedPixels,Height,Width,Usage\n")
    no_creds = {"env": {}, "home": tmp_path, "log": lambda _: None}
    choice = resolve_data(tmp_path / "w", "full", None, (2, 1), **no_creds)
    assert choice.kind == "mount" and choice.data_dir == input_dir and str(mount) in choice.note
    assert (input_dir / "stage1_train" / "abc" / "images" / "abc.png").is_file()
    assert (input_dir / "stage1_test" / "def" / "images" / "def.png").is_file()
    assert (input_dir / "stage1_solution.csv").is_file() and not list(input_dir.glob(".partial-*"))
    assert resolve_data(tmp_path / "w", "full", None, (2, 1), **no_creds).kind == "input"  # unpacked once

    unzipped = tmp_path / "mount2"  # older notebooks: folders, used where they are
    (unzipped / "stage1_train" / "abc" / "images").mkdir(parents=True)
    monkeypatch.setattr(datasets, "INPUT_DIR", tmp_path / "input2")
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", unzipped)
    choice = resolve_data(tmp_path / "w", "full", None, (2, 1), **no_creds)
    assert choice.kind == "mount" and choice.data_dir == unzipped and not (tmp_path / "input2").exists()

    broken = tmp_path / "mount3"
    broken.mkdir()
    (broken / "stage1_train.zip").write_bytes(b"not a zip")
    monkeypatch.setattr(datasets, "INPUT_DIR", tmp_path / "input3")
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", broken)
    with pytest.raises(DataStageError, match="mount3"):
        resolve_data(tmp_path / "w", "full", None, (2, 1), **no_creds)
    assert not (tmp_path / "input3" / "stage1_train").exists()


def test_kaggle_download_failure_and_interruption(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "INPUT_DIR", tmp_path / "input")
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", tmp_path / "no-mount")
    creds = {"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}

    def offline(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "Max retries exceeded: network unreachable")

    def broken_zip(cmd, **kw):  # an interrupted transfer: a truncated archive
        dest = Path(cmd[cmd.index("-p") + 1])
        (dest / "stage1_train").mkdir()  # whatever an unzip may have begun
        (dest / "stage1_train" / "abc").mkdir()
        (dest / "data-science-bowl-2018.zip").write_bytes(b"PK\x03\x04 truncated")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    for runner in (offline, broken_zip):
        with pytest.raises(DataStageError, match="Kaggle download failed"):
            resolve_data(tmp_path / "w", "full", None, (2, 1), env=creds, home=tmp_path,
                         runner=runner, log=lambda _: None)
        choice = resolve_data(tmp_path / "w", "demo", None, (2, 1), env=creds, home=tmp_path,
                              runner=runner, log=lambda _: None)
        assert choice.synthetic and "Kaggle download failed" in choice.note
        assert "\n" not in choice.note
        assert not datasets.has_dsb_data(tmp_path / "input")
        assert not list((tmp_path / "input").glob(".partial-*"))
    # leftovers of a killed attempt are never taken for data
    (tmp_path / "input" / ".partial-1" / "stage1_train" / "abc").mkdir(parents=True)
    assert not datasets.has_dsb_data(tmp_path / "input")


def test_demo_subsets_of_two_sources_never_mix(tmp_path):
    srcs = []
    for name in ("d1", "d2"):
        data = tmp_path / name
        write_dsb(data, {f"{name}t{i}": paint(box(2, 12, 2, 12)) for i in range(3)},
                  {f"{name}s": paint(box(2, 9, 2, 9))})
        srcs.append(resolve_data(tmp_path / "w", "demo", data, (2, 1), log=lambda _: None))
    a, b = srcs
    assert a.kind == b.kind == "subset" and a.data_dir != b.data_dir
    assert all(p.name.startswith("d2") for p in (b.data_dir / "stage1_train").iterdir())
    assert resolve_data(tmp_path / "w", "demo", tmp_path / "d1", (2, 1)).data_dir == a.data_dir
    with pytest.raises(DataStageError, match="subset of"):
        datasets.make_demo_subset(tmp_path / "d2", a.data_dir, 2, 1)


def test_a_half_made_synthetic_set_is_rebuilt(tmp_path, monkeypatch):
    """An input-demo folder with masks/ and no images/ (a killed older run) is moved aside."""
    monkeypatch.setattr(datasets, "INPUT_DIR", tmp_path / "no-input")
    monkeypatch.setattr(datasets, "KAGGLE_MOUNT_DIR", tmp_path / "no-mount")
    work = tmp_path / "work"
    out = work / "input-demo" / "synthetic-4x2-s0"
    (out / "stage1_train" / "abc" / "masks").mkdir(parents=True)
    logs = []
    choice = datasets.resolve_data(work, "demo", None, (4, 2), seed=0, env={}, home=tmp_path,
                                   log=logs.append)
    assert choice.data_dir == out and (out / datasets.SYNTHETIC_MARK).is_file()
    assert len(image_folders(out / "stage1_train")) == 4
    assert any("incomplete" in line for line in logs)
    assert list((work / "backup").rglob("masks"))  # moved aside, not deleted
