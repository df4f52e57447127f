"""common.folds: image types, stratified deterministic folds, folds.csv handling."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from common.data import DSBDataset
from common.folds import (
    FoldsError,
    get_folds,
    image_type,
    load_folds,
    make_folds,
    save_folds,
    split_ids,
)


@dataclass
class _FakeDataset:
    """ids and images of a given type, without touching disk."""

    kinds: dict[str, str]
    ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = sorted(self.kinds)

    def load_image(self, image_id: str) -> np.ndarray:
        colour = {"fluorescence": (10, 10, 10), "brightfield": (200, 200, 200),
                  "histology": (230, 180, 210)}[self.kinds[image_id]]
        return np.broadcast_to(np.array(colour, np.uint8), (8, 8, 3)).copy()


def _fake(n_fluo=20, n_bright=5, n_hist=7) -> _FakeDataset:
    kinds = {}
    for kind, n in (("fluorescence", n_fluo), ("brightfield", n_bright), ("histology", n_hist)):
        kinds.update({f"{kind[:4]}{i:02d}": kind for i in range(n)})
    return _FakeDataset(kinds)


def test_image_type_rules():
    dark = np.full((32, 32, 3), 12, np.uint8)
    dark[8:16, 8:16] = 200
    assert image_type(dark) == "fluorescence"
    assert image_type(255 - dark) == "brightfield"
    pink = np.zeros((32, 32, 3), np.uint8) + np.array([230, 185, 210], np.uint8)
    pink[8:16, 8:16] = (90, 50, 130)
    assert image_type(pink) == "histology"
    assert image_type(np.full((32, 32, 3), (10, 40, 5), np.uint8)) == "colour-fluorescence"


def test_make_folds_deterministic_and_stratified():
    ds = _fake()
    a, b = make_folds(ds, n_folds=5, seed=42), make_folds(ds, n_folds=5, seed=42)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["image_id", "fold", "cluster"]
    assert a.image_id.tolist() == ds.ids
    assert sorted(a.fold.unique()) == [0, 1, 2, 3, 4]
    per_fold = a.groupby(["cluster", "fold"]).size().unstack(fill_value=0)
    assert (per_fold.loc["fluorescence"] == 4).all() and (per_fold.loc["brightfield"] == 1).all()
    assert per_fold.loc["histology"].max() - per_fold.loc["histology"].min() <= 1
    c = make_folds(ds, n_folds=5, seed=7)
    assert not np.array_equal(a.fold, c.fold)


def test_small_clusters_are_handled(recwarn):
    ds = _fake(n_fluo=12, n_bright=2, n_hist=1)
    df = make_folds(ds, n_folds=5, seed=0)
    assert sorted(df.fold.unique()) == [0, 1, 2, 3, 4]
    assert df.groupby("fold").size().max() - df.groupby("fold").size().min() <= 1
    assert df.set_index("image_id").cluster.to_dict() == ds.kinds
    assert not [w for w in recwarn if "least populated" in str(w.message)]
    with pytest.raises(ValueError, match="cannot split 3 images into 5 folds"):
        make_folds(_fake(2, 1, 0), n_folds=5)


def test_folds_on_synthetic_data(synthetic_data_dir):
    df = make_folds(DSBDataset(synthetic_data_dir), n_folds=5, seed=42)
    assert df.cluster.value_counts().to_dict() == {"fluorescence": 5, "brightfield": 5, "histology": 5}
    assert (df.groupby(["fold", "cluster"]).size() == 1).all()


def test_save_load_roundtrip(tmp_path):
    df = make_folds(_fake(), n_folds=3, seed=1)
    path = save_folds(df, tmp_path / "sub" / "folds.csv")
    pd.testing.assert_frame_equal(load_folds(path), df)
    assert [p.name for p in path.parent.iterdir()] == ["folds.csv"]  # no temp file left


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FoldsError, match="missing.csv"):
        load_folds(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,split\na,0\n")
    with pytest.raises(FoldsError, match=r"bad\.csv.*lacks columns \['fold', 'cluster'\]"):
        load_folds(bad)
    bad.write_text("image_id,fold,cluster\na,x,fluorescence\n")
    with pytest.raises(FoldsError, match=r"bad\.csv.*fold"):
        load_folds(bad)


def test_get_folds_creates_then_reuses(tmp_path):
    ds, path = _fake(), tmp_path / "folds.csv"
    made = get_folds(ds, path, n_folds=5, seed=3)
    assert path.is_file()
    path.write_text(path.read_text())  # same content; a reload must not regenerate
    mtime = path.stat().st_mtime_ns
    pd.testing.assert_frame_equal(get_folds(ds, path, n_folds=5, seed=99), made)
    assert path.stat().st_mtime_ns == mtime


def test_get_folds_never_overwrites_a_disagreeing_file(tmp_path):
    path = tmp_path / "folds.csv"
    get_folds(_fake(), path, n_folds=5)
    before = path.read_bytes()
    with pytest.raises(FoldsError, match=r"folds\.csv.*ids.*force=True"):
        get_folds(_fake(n_fluo=21), path, n_folds=5)
    with pytest.raises(FoldsError, match=r"n_folds=4.*force=True"):
        get_folds(_fake(), path, n_folds=4)
    assert path.read_bytes() == before
    df = get_folds(_fake(), path, n_folds=4, force=True)
    assert sorted(df.fold.unique()) == [0, 1, 2, 3] and load_folds(path).equals(df)


def test_split_ids():
    df = make_folds(_fake(), n_folds=5, seed=0)
    seen = []
    for fold in range(5):
        train, val = split_ids(df, fold)
        assert not set(train) & set(val) and sorted(train + val) == sorted(df.image_id)
        seen += val
    assert sorted(seen) == sorted(df.image_id)
    with pytest.raises(ValueError, match="fold 5"):
        split_ids(df, 5)


# ------------------------------------------------------------------ group folds
@dataclass
class _KindDataset:
    """Images of given (type, size, nucleus side): dark or bright background, square nuclei."""

    spec: dict[str, tuple[str, int, int, int]]  # id -> (type, H, W, nucleus side)
    ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = sorted(self.spec)

    def load_image(self, image_id: str) -> np.ndarray:
        kind, h, w, side = self.spec[image_id]
        bright = kind != "fluorescence"
        img = np.full((h, w, 3), 220 if bright else 12, np.uint8)
        for y in range(2, h - side, 3 * side):
            img[y:y + side, 2:2 + side] = 40 if bright else 200
            img[y:y + side, w // 2:w // 2 + side] = 40 if bright else 200
        return img


def _kinds() -> _KindDataset:
    spec = {}
    for i in range(16):  # one big kind, with small, middle and large nuclei
        spec[f"big{i:02d}"] = ("fluorescence", 48, 48, (3, 6, 10)[i % 3])
    for kind, size, n in (("fluorescence", 40, 4), ("brightfield", 56, 3), ("fluorescence", 64, 5)):
        spec.update({f"{kind[:2]}{size}_{i}": (kind, size, size, 5) for i in range(n)})
    return _KindDataset(spec)


def test_group_folds_never_split_a_group_and_are_deterministic():
    from common.folds import make_group_folds

    ds = _kinds()
    a, b = make_group_folds(ds, n_folds=4, seed=1), make_group_folds(ds, n_folds=4, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["image_id", "fold", "cluster", "group"]
    assert (a.groupby("group")["fold"].nunique() == 1).all()
    # the 16-image kind is over a fold's share (ceil(28/4) = 7): cut into 3 sub-kinds,
    # s0 holding the small nuclei
    big = a[a["image_id"].str.startswith("big")]
    assert set(big["group"]) == {"fluorescence-48x48-s0", "fluorescence-48x48-s1", "fluorescence-48x48-s2"}
    small = {f"big{i:02d}" for i in range(0, 16, 3)}
    assert set(big.loc[big["group"] == "fluorescence-48x48-s0", "image_id"]) == small
    assert a.set_index("image_id").loc["br56_0", "group"] == "brightfield-56x56"
    sizes = a["fold"].value_counts()
    assert sorted(sizes.index) == [0, 1, 2, 3] and sizes.max() - sizes.min() <= 5


def test_get_folds_makes_group_folds_for_a_group_file(tmp_path):
    from common.folds import GROUP_FOLDS_NAME, split_kind

    ds = _kinds()
    path = tmp_path / GROUP_FOLDS_NAME
    assert split_kind(path) == "group" and split_kind(tmp_path / "folds.csv") == "stratified"
    df = get_folds(ds, path, n_folds=3, seed=0)
    assert "group" in df.columns and path.is_file()
    pd.testing.assert_frame_equal(load_folds(path), df)
    assert "group" not in get_folds(ds, tmp_path / "folds.csv", n_folds=3).columns
    bad = df.copy()
    bad.loc[bad.index[:2], "group"] = "same"
    bad.loc[bad.index[:2], "fold"] = [0, 1]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(FoldsError, match="bad.csv.*split across folds"):
        load_folds(tmp_path / "bad.csv")
    df.drop(columns="group").to_csv(path, index=False)  # a stratified table under the group name
    with pytest.raises(FoldsError, match="group"):
        get_folds(ds, path, n_folds=3)


def test_group_folds_on_synthetic_data(synthetic_data_dir):
    from common.folds import make_group_folds

    df = make_group_folds(DSBDataset(synthetic_data_dir, "stage1_train"), n_folds=5, seed=42)
    assert len(df) == 15 and (df.groupby("group")["fold"].nunique() == 1).all()
    assert set(df["fold"]) == set(range(5))


@pytest.mark.realdata
@pytest.mark.slow
def test_group_folds_on_real_data(real_data_dir):
    """No group split across folds on stage1_train; prints the fold and group sizes."""
    from common.folds import group_summary, make_group_folds

    df = make_group_folds(DSBDataset(real_data_dir, "stage1_train"), n_folds=5, seed=42)
    assert len(df) == 664 and (df.groupby("group")["fold"].nunique() == 1).all()
    sizes = df["fold"].value_counts().sort_index()
    print("\nfold sizes:", sizes.to_dict())
    print(group_summary(df).to_string())
    assert len(sizes) == 5 and sizes.min() >= 100  # no fold starved by one huge kind
    assert (df.groupby("group").size() <= int(np.ceil(664 / 5))).all()
