"""common.data: image formats, labels from masks and CSVs, errors naming files."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from common.data import DataError, DSBDataset, find_dataset_root, load_split, to_rgb_uint8
from common.data_stats import main
from common.rle import labels_to_rles
from common.synthetic import SYNTH_TYPES, render_sample
from tests.conftest import SYNTH_N_TRAIN, SYNTH_SEED, SYNTH_SIZE


def _write_sample(root: Path, image_id: str, image: np.ndarray, masks: list[np.ndarray] | None = None,
                  split: str = "stage1_train") -> Path:
    """Write ``image`` (as given, cv2 channel order) and 0/255 masks in DSB layout."""
    folder = root / split / image_id
    (folder / "images").mkdir(parents=True)
    assert cv2.imwrite(str(folder / "images" / f"{image_id}.png"), image)
    if masks is not None:
        (folder / "masks").mkdir()
        for k, mask in enumerate(masks):
            assert cv2.imwrite(str(folder / "masks" / f"m{k:02d}.png"), mask.astype(np.uint8) * 255)
    return folder


def _disk(shape, center, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


@pytest.fixture
def bgr() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)


# ------------------------------------------------------------------ formats
def test_rgba_drops_alpha_and_becomes_rgb(tmp_path, bgr):
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    _write_sample(tmp_path, "a", bgra, [_disk((64, 80), (20, 20), 5)])
    image = DSBDataset(tmp_path).load_image("a")
    assert image.dtype == np.uint8 and image.shape == (64, 80, 3)
    np.testing.assert_array_equal(image, bgr[:, :, ::-1])


def test_rgb_and_gray(tmp_path, bgr):
    gray = bgr[:, :, 0]
    _write_sample(tmp_path, "rgb", bgr, [_disk((64, 80), (20, 20), 5)])
    _write_sample(tmp_path, "gray", gray, [_disk((64, 80), (20, 20), 5)])
    ds = DSBDataset(tmp_path)
    np.testing.assert_array_equal(ds.load_image("rgb"), bgr[:, :, ::-1])
    image = ds.load_image("gray")
    assert image.shape == (64, 80, 3) and image.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(image[:, :, c], gray)


def test_16bit_is_rescaled_by_range_not_cast(tmp_path):
    gray16 = np.linspace(1000, 3000, 64 * 64).reshape(64, 64).astype(np.uint16)
    _write_sample(tmp_path, "g16", gray16, [_disk((64, 64), (20, 20), 5)])
    image = DSBDataset(tmp_path).load_image("g16")
    assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
    assert image.min() == 0 and image.max() == 255  # a plain cast would wrap around
    assert np.all(np.diff(image[:, :, 0].ravel().astype(int)) >= 0)  # order kept


def test_16bit_rgb_and_constant_image():
    bgr16 = np.zeros((8, 8, 3), np.uint16)
    bgr16[..., 2] = 40000  # red channel
    rgb = to_rgb_uint8(bgr16)
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert to_rgb_uint8(np.full((4, 4), 5, np.uint16)).max() == 0


def test_image_shape_from_header(synthetic_data_dir):
    ds = DSBDataset(synthetic_data_dir)
    for image_id in ds.ids[:3]:
        assert ds.image_shape(image_id) == ds.load_image(image_id).shape[:2]


# ------------------------------------------------------------------- labels
def test_labels_from_masks(tmp_path, bgr):
    shape = bgr.shape[:2]
    masks = [_disk(shape, (15, 15), 6), _disk(shape, (40, 50), 9), _disk(shape, (15, 60), 4)]
    _write_sample(tmp_path, "a", bgr, masks)
    labels = DSBDataset(tmp_path).load_labels("a")
    assert labels.dtype == np.int32 and labels.shape == shape
    expected = np.zeros(shape, np.int32)
    for k, mask in enumerate(masks, start=1):
        expected[mask] = k
    np.testing.assert_array_equal(labels, expected)


def test_overlap_first_mask_wins_and_warns(tmp_path, bgr):
    shape = bgr.shape[:2]
    first, second = _disk(shape, (30, 30), 10), _disk(shape, (30, 42), 10)
    _write_sample(tmp_path, "overlapping_image", bgr, [first, second])
    with pytest.warns(UserWarning, match=r"overlapping_image.*\b%d pixels" % int((first & second).sum())):
        labels = DSBDataset(tmp_path).load_labels("overlapping_image")
    assert np.all(labels[first] == 1)
    assert np.all(labels[second & ~first] == 2)


def test_fully_hidden_mask_keeps_ids_consecutive(tmp_path, bgr):
    shape = bgr.shape[:2]
    _write_sample(tmp_path, "a", bgr, [_disk(shape, (30, 30), 10), _disk(shape, (30, 30), 4),
                                       _disk(shape, (10, 70), 3)])
    with pytest.warns(UserWarning):
        labels = DSBDataset(tmp_path).load_labels("a")
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2]


def test_synthetic_train_labels_match_generator(synthetic_data_dir):
    ds = DSBDataset(synthetic_data_dir, "stage1_train")
    assert len(ds) == SYNTH_N_TRAIN and ds.has_labels
    for index in (0, 1, 2):
        kind = SYNTH_TYPES[index % 3]
        image, labels = render_sample(SYNTH_SEED, index, kind, SYNTH_SIZE)
        image_id = f"synth_{kind}_{SYNTH_SEED}_{index:03d}"
        np.testing.assert_array_equal(ds.load_labels(image_id), labels)
        np.testing.assert_array_equal(ds.load_image(image_id), image)


def test_test_split_labels_from_solution_csv(synthetic_data_dir):
    ds = load_split(synthetic_data_dir, "stage1_test")
    assert ds.solution_csv == synthetic_data_dir / "stage1_solution.csv" and ds.has_labels
    image_id = ds.ids[0]
    index = int(image_id.rsplit("_", 1)[1])
    _, expected = render_sample(SYNTH_SEED, index, SYNTH_TYPES[index % 3], SYNTH_SIZE)
    np.testing.assert_array_equal(ds.load_labels(image_id), expected)


def test_csv_labels_equal_mask_labels(synthetic_data_dir, tmp_path):
    masks_ds = DSBDataset(synthetic_data_dir, "stage1_train")
    rows = []
    for image_id in masks_ds.ids:
        labels = masks_ds.load_labels(image_id)
        rows += [(image_id, rle, *labels.shape) for rle in labels_to_rles(labels)]
    csv = tmp_path / "train_solution.csv"
    pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "Height", "Width"]).to_csv(csv, index=False)
    csv_ds = DSBDataset(synthetic_data_dir, "stage1_train", solution_csv=csv)
    assert csv_ds.ids == masks_ds.ids
    for image_id in masks_ds.ids:
        np.testing.assert_array_equal(csv_ds.load_labels(image_id), masks_ds.load_labels(image_id))


def test_unlabelled_split(tmp_path, bgr):
    _write_sample(tmp_path, "t", bgr, None, split="stage1_test")
    ds = load_split(tmp_path, "stage1_test")
    assert not ds.has_labels and ds.ids == ["t"]
    with pytest.raises(DataError, match="no labels"):
        ds.load_labels("t")


# ------------------------------------------------------------------- errors
def test_missing_split_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "stage1_train")):
        DSBDataset(tmp_path)


def test_missing_image_file(tmp_path, bgr):
    folder = _write_sample(tmp_path, "a", bgr, [_disk((64, 80), (9, 9), 3)])
    (folder / "images" / "a.png").unlink()
    with pytest.raises(DataError, match=r"a\.png.*missing"):
        DSBDataset(tmp_path)


def test_empty_masks_folder(tmp_path, bgr):
    _write_sample(tmp_path, "a", bgr, [_disk((64, 80), (9, 9), 3)])
    _write_sample(tmp_path, "b", bgr, [])
    with pytest.raises(DataError, match=r"b[/\\]masks"):
        DSBDataset(tmp_path)
    with pytest.warns(UserWarning, match=r"b[/\\]masks"):
        ds = DSBDataset(tmp_path, on_error="skip")
    assert ds.ids == ["a"]


def test_corrupt_png(tmp_path, bgr):
    _write_sample(tmp_path, "good", bgr, [_disk((64, 80), (9, 9), 3)])
    folder = _write_sample(tmp_path, "bad", bgr, [_disk((64, 80), (9, 9), 3)])
    path = folder / "images" / "bad.png"
    path.write_bytes(path.read_bytes()[:60])  # truncated: header fine, pixels gone
    ds = DSBDataset(tmp_path)
    with pytest.raises(DataError, match=r"bad\.png"):
        ds.load_image("bad")
    path.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"bad\.png"):
        ds.image_shape("bad")
    skipping = DSBDataset(tmp_path, on_error="skip")
    with pytest.warns(UserWarning, match=r"bad\.png"):
        assert [i for i, _, _ in skipping.iter_items()] == ["good"]
    with pytest.warns(UserWarning):
        assert skipping.validate() == ["bad"]
    assert skipping.ids == ["good"]


def test_mask_size_mismatch(tmp_path, bgr):
    folder = _write_sample(tmp_path, "a", bgr, [_disk((64, 80), (9, 9), 3)])
    cv2.imwrite(str(folder / "masks" / "zz.png"), np.zeros((32, 32), np.uint8))
    with pytest.raises(DataError, match=r"zz\.png.*differs"):
        DSBDataset(tmp_path).load_labels("a")


def test_bad_solution_csv(tmp_path, bgr):
    _write_sample(tmp_path, "t", bgr, None, split="stage1_test")
    csv = tmp_path / "stage1_solution.csv"
    csv.write_text("ImageId,Pixels\nt,1 2\n")
    with pytest.raises(DataError, match="stage1_solution.csv.*missing column"):
        load_split(tmp_path, "stage1_test")
    csv.write_text("ImageId,EncodedPixels,Height,Width\nother,1 2,64,80\n")
    with pytest.raises(DataError, match="stage1_solution.csv.*no rows for image t"):
        load_split(tmp_path, "stage1_test")


def test_find_dataset_root(tmp_path, synthetic_data_dir):
    assert find_dataset_root([tmp_path / "nope", synthetic_data_dir]) == synthetic_data_dir
    assert find_dataset_root([tmp_path]) is None


def test_stats_cli(synthetic_data_dir, capsys):
    assert main(["stats", str(synthetic_data_dir)]) == 0
    out = capsys.readouterr().out
    for word in ("all", "fluorescence", "brightfield", "histology", "masks_mean", "area_std"):
        assert word in out


# ---------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_data_first_images(real_train_dir):
    ds = DSBDataset(real_train_dir.parent)
    assert len(ds) == 664
    for image_id in ds.ids[:5]:
        image, labels = ds.load_image(image_id), ds.load_labels(image_id)
        assert image.dtype == np.uint8 and image.shape == labels.shape + (3,)
        assert labels.dtype == np.int32 and labels.max() >= 1


@pytest.mark.realdata
@pytest.mark.slow
def test_real_data_all_images_load(real_train_dir):
    ds = DSBDataset(real_train_dir.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a handful of real images have a few overlapped pixels
        for image_id in ds.ids:
            image, labels = ds.load_image(image_id), ds.load_labels(image_id)
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image_id
            assert labels.dtype == np.int32 and labels.shape == image.shape[:2], image_id
            n = int(labels.max())
            assert n >= 1 and np.unique(labels).size == n + 1, image_id


def test_ignored_solution_rows_have_no_labels(tmp_path):
    """Stage-2 style: images marked Usage=Ignored are listed but not labelled."""
    import cv2

    from common.data import DSBDataset, DataError

    split = tmp_path / "stage2_test_final"
    for image_id in ("a", "b"):
        (split / image_id / "images").mkdir(parents=True)
        cv2.imwrite(str(split / image_id / "images" / f"{image_id}.png"), np.zeros((4, 5), np.uint8))
    csv = tmp_path / "stage2_solution_final.csv"
    csv.write_text("ImageId,EncodedPixels,Height,Width,Usage\n"
                   "a,1 2,4,5,Private\nb,1 1,4,5,Ignored\n")
    ds = DSBDataset(tmp_path, "stage2_test_final", solution_csv=csv)
    assert ds.ids == ["a", "b"] and ds.labelled_ids == ["a"]
    assert ds.load_labels("a").sum() == 2
    with pytest.raises(DataError, match="Ignored"):
        ds.load_labels("b")


def test_stats_counts_agree_after_skipping_a_bad_image(synthetic_data_dir, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synthetic_data_dir / "stage1_train", data / "stage1_train")
    bad = sorted((data / "stage1_train").iterdir())[0]
    (bad / "images" / f"{bad.name}.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match=bad.name):
        assert main([str(data)]) == 0  # the old "stats" word is optional
    out = capsys.readouterr().out
    n = len(list((data / "stage1_train").iterdir())) - 1
    assert f"{n} images (1 unreadable, skipped)" in out
    table_all = next(line for line in out.splitlines() if line.startswith("all"))
    assert table_all.split()[1] == str(n)
    assert main([str(tmp_path / "nowhere")]) == 2


def test_hidden_folders_are_never_images(synthetic_data_dir, tmp_path):
    import shutil

    from common.data import image_folders

    data = tmp_path / "data"
    shutil.copytree(synthetic_data_dir / "stage1_train", data / "stage1_train")
    (data / "stage1_train" / ".ipynb_checkpoints").mkdir()
    (data / "stage1_train" / "notes.txt").write_text("x")
    ids = image_folders(data / "stage1_train")
    assert ".ipynb_checkpoints" not in ids and "notes.txt" not in ids
    assert DSBDataset(data, "stage1_train").ids == ids  # no "image file is missing" error
    assert image_folders(tmp_path / "absent") == []
