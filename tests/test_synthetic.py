"""common.synthetic: DSB layout, determinism, non-overlapping masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from common.folds import image_type
from common.synthetic import SYNTH_TYPES, generate_dataset, main, render_sample


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout(synthetic_data_dir):
    train = sorted((synthetic_data_dir / "stage1_train").iterdir())
    test = sorted((synthetic_data_dir / "stage1_test").iterdir())
    assert len(train) == 15 and len(test) == 6
    for folder in train + test:
        image = cv2.imread(str(folder / "images" / f"{folder.name}.png"), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint8 and image.shape[2] == 4 and np.all(image[:, :, 3] == 255)
        assert 64 <= image.shape[0] <= 128 and 64 <= image.shape[1] <= 128
    assert all(len(list((f / "masks").glob("*.png"))) >= 1 for f in train)
    assert not any((f / "masks").exists() for f in test)
    csv = pd.read_csv(synthetic_data_dir / "stage1_solution.csv")
    assert list(csv.columns) == ["ImageId", "EncodedPixels", "Height", "Width", "Usage"]
    assert set(csv.ImageId) == {f.name for f in test}


def test_masks_binary_and_never_overlap(synthetic_data_dir):
    for folder in sorted((synthetic_data_dir / "stage1_train").iterdir()):
        masks = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted((folder / "masks").glob("*.png"))])
        assert set(np.unique(masks).tolist()) <= {0, 255}
        assert (masks > 0).sum(axis=0).max() == 1, folder.name
        assert (masks > 0).reshape(len(masks), -1).any(axis=1).all()  # no empty mask


def test_deterministic_for_a_seed(tmp_path):
    a = _files(generate_dataset(tmp_path / "a", n_train=3, n_test=2, seed=5, size=(64, 96)))
    b = _files(generate_dataset(tmp_path / "b", n_train=3, n_test=2, seed=5, size=(64, 96)))
    c = _files(generate_dataset(tmp_path / "c", n_train=3, n_test=2, seed=6, size=(64, 96)))
    assert a == b
    assert a.keys() != c.keys()  # ids carry the seed
    assert sorted(a.values()) != sorted(c.values())


def test_regenerating_replaces_stale_masks(tmp_path):
    out = generate_dataset(tmp_path, n_train=1, n_test=0, seed=0, size=(64, 64))
    folder = next((out / "stage1_train").iterdir())
    (folder / "masks" / "stale.png").write_bytes(b"x")
    generate_dataset(tmp_path, n_train=1, n_test=0, seed=0, size=(64, 64))
    assert not (folder / "masks" / "stale.png").exists()


@pytest.mark.parametrize("kind", SYNTH_TYPES)
def test_types_look_like_their_kind(kind):
    for index in range(3):
        image, labels = render_sample(1, index, kind, (96, 128))
        assert image_type(image) == kind
        assert labels.dtype == np.int32 and labels.max() >= 3
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
        fg, bg = image[labels > 0].mean(), image[labels == 0].mean()
        assert (fg > bg) if kind == "fluorescence" else (fg < bg)


def test_cli(tmp_path, capsys):
    assert main([str(tmp_path), "--n-train", "2", "--n-test", "1", "--seed", "3",
                 "--min-size", "64", "--max-size", "64"]) == 0
    assert len(list((tmp_path / "stage1_train").iterdir())) == 2
    assert "wrote 2 train and 1 test" in capsys.readouterr().out
