"""segment: reading images, tiles and seams, outputs, the command line and bad input.

Fast: the model is a registered fake family (``threshold``: the body map is the image's
first channel / 255, instances by connected components), so no network is trained here;
the trained-model tests are in ``test_segment_trained.py``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile

from common.images import DataError, read_any_image, read_raw_image
from common.metrics import image_score
from segment.models import LOADERS, ModelError, PixelModel


def discs(shape=(300, 340), n=40, radius=(3, 9), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [H,W] image of bright non-touching discs on a dark background, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    k = 0
    for _ in range(n * 20):
        if k == n:
            break
        r = int(rng.integers(*radius))
        y, x = int(rng.integers(r, shape[0] - r)), int(rng.integers(r, shape[1] - r))
        mask = np.zeros(shape, np.uint8)
        cv2.circle(mask, (x, y), r, 1, -1)
        grown = cv2.dilate(mask, np.ones((5, 5), np.uint8)).astype(bool)
        if (labels[grown] > 0).any():
            continue
        k += 1
        labels[mask.astype(bool)] = k
    image = np.where(labels > 0, 200, 20).astype(np.uint8)
    return image, labels


def _threshold_model(name: str = "fake") -> PixelModel:
    def predict(image, tta):
        return (image[:, :, :1].astype(np.float32) / 255.0)

    params = {"mask_threshold": 0.5, "min_area": 5, "channels": ["body"], "method": "cc"}
    return PixelModel(name, "threshold", predict, params, ("body",), {"solution": "threshold"})


@pytest.fixture
def fake_run(tmp_path, monkeypatch) -> Path:
    """A run folder of the fake ``threshold`` family (its loader registered for the test)."""
    monkeypatch.setitem(LOADERS, "threshold", lambda run_dir, name, model_file: _threshold_model(name))
    run = tmp_path / "runs" / "threshold-fold0"
    (run / "weights").mkdir(parents=True)
    (run / "config.yaml").write_text("solution: threshold\n")
    return run


def _same_instances(a: np.ndarray, b: np.ndarray) -> bool:
    return int(a.max()) == int(b.max()) and bool(np.all(image_score(a.astype(np.int32), b.astype(np.int32)) == 1.0))


# -- reading ------------------------------------------------------------------------------

def test_read_16bit_tiff_gray_png_rgba_and_channels(tmp_path):
    image, _ = discs((64, 80), n=5)
    tifffile.imwrite(tmp_path / "a.tif", image.astype(np.uint16) * 257)
    assert np.array_equal(read_any_image(tmp_path / "a.tif")[:, :, 0],
                          np.round((image - 20) * (255 / 180)).astype(np.uint8))
    assert read_raw_image(tmp_path / "a.tif").dtype == np.uint16
    cv2.imwrite(str(tmp_path / "g.png"), image)
    assert np.array_equal(read_any_image(tmp_path / "g.png"), np.repeat(image[:, :, None], 3, 2))
    cv2.imwrite(str(tmp_path / "j.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert np.abs(read_any_image(tmp_path / "j.jpg")[:, :, 0].astype(int) - image).mean() < 2
    rgba = np.dstack([image, image // 2, image // 4, np.full_like(image, 255)])
    cv2.imwrite(str(tmp_path / "c.png"), rgba[:, :, [2, 1, 0, 3]])
    assert np.array_equal(read_any_image(tmp_path / "c.png"), rgba[:, :, :3])
    assert np.array_equal(read_any_image(tmp_path / "c.png", channel=1)[:, :, 0], image // 2)
    planes = np.stack([image, 255 - image]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "m.ome.tif", planes[None, :, None], metadata={"axes": "TCZYX"})
    with pytest.raises(DataError, match="2 channels; choose one with --channel"):
        read_any_image(tmp_path / "m.ome.tif")
    assert np.array_equal(read_raw_image(tmp_path / "m.ome.tif", channel=1), planes[1])


@pytest.mark.parametrize("content, message", [(b"garbage", "cannot decode"), (None, "missing")])
def test_bad_images_name_the_file(tmp_path, content, message):
    path = tmp_path / "x.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        read_any_image(path)
    assert str(path) in str(err.value)


def test_bad_tiffs_name_the_file(tmp_path):
    (tmp_path / "c.tif").write_bytes(b"II*\x00zzzz")
    tifffile.imwrite(tmp_path / "z.tif", np.zeros((3, 8, 8), np.uint16), metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "f.tif", np.full((8, 8), np.nan, np.float32))
    tifffile.imwrite(tmp_path / "k.tif", np.zeros((8, 8), np.complex64))
    for name, message in [("c.tif", "cannot read TIFF"), ("z.tif", "axes ZYX"), ("f.tif", "NaN"),
                          ("k.tif", "unsupported pixel type")]:
        with pytest.raises(DataError, match=message):
            read_any_image(tmp_path / name)
    tifffile.imwrite(tmp_path / "g.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(DataError, match="--channel 3 but the image has 1"):
        read_any_image(tmp_path / "g.tif", channel=3)


# -- tiles and seams ----------------------------------------------------------------------

def test_axis_tiles_cores_partition_the_axis():
    from segment.tiles import axis_tiles

    for length, tile, overlap in [(1000, 256, 64), (257, 256, 64), (100, 256, 64), (1024, 256, 0)]:
        tiles = axis_tiles(length, tile, overlap)
        assert tiles[0][0] == 0 and tiles[-1][1] == length
        assert [t[2] for t in tiles[1:]] == [t[3] for t in tiles[:-1]]  # cores meet
        assert tiles[0][2] == 0 and tiles[-1][3] == length
        for s, e, c0, c1 in tiles:
            assert s <= c0 < c1 <= e and e - s == min(tile, length)


def test_tiled_equals_untiled_when_nuclei_are_smaller_than_the_overlap():
    from segment.tiles import stitch_tiles
    from skimage.measure import label

    image, truth = discs((300, 340), n=60)
    rgb = np.repeat(image[:, :, None], 3, 2)

    whole, _ = stitch_tiles(rgb, lambda t: (label(t[:, :, 0] > 100), np.ones(200)), 1024, 64)
    tiled, scores = stitch_tiles(rgb, lambda t: (label(t[:, :, 0] > 100), np.ones(200)), 96, 40)
    assert _same_instances(whole, truth) and _same_instances(tiled, truth)
    assert tiled.dtype == np.uint32 and scores.shape == (int(tiled.max()),)


def test_a_nucleus_on_a_seam_is_kept_once_and_duplicates_are_dropped():
    from segment.tiles import Stitcher

    st = Stitcher((10, 20))  # tiles x 0..12 (core 0..10) and 8..20 (core 10..20); a nucleus at x 7..12
    left = np.zeros((10, 12), np.int32)
    left[3:7, 7:12] = 1  # cut by the left tile's edge: centroid x 9.0, in its core
    assert st.add(left, np.array([0.9]), (0, 10, 0, 10), (0, 12, 0, 10)) == 1
    right = np.zeros((10, 12), np.int32)
    right[3:7, 0:5] = 1  # cut by the right tile's edge: centroid x 10.0, in its core too
    right[0:2, 6:9] = 2  # another nucleus, only in the right tile
    assert st.add(right, np.array([0.8, 0.7]), (0, 10, 0, 10), (8, 20, 10, 20)) == 1  # nucleus 1: a duplicate
    labels, scores = st.finish()
    assert labels.max() == 2 and (labels == 1).sum() == 20 and (labels == 2).sum() == 6
    assert scores.tolist() == pytest.approx([0.9, 0.7])


def test_segmenter_tiled_matches_untiled_on_a_mosaic():
    from segment.segmenter import Segmenter

    image, truth = discs((400, 420), n=80, seed=3)
    whole, table = Segmenter([_threshold_model()], tile=2048)(image)
    tiled = Segmenter([_threshold_model()], tile=128, overlap=48).segment(image)[0]
    assert _same_instances(whole, truth) and _same_instances(tiled, truth)
    assert len(table) == truth.max() and table["intensity_mean"].eq(200).all()
    assert table["score"].between(0.78, 0.79).all()  # mean body probability 200/255


def test_two_models_are_averaged_with_merged_params():
    from segment.segmenter import Segmenter

    image, truth = discs((120, 130), n=10, seed=5)
    a, b = _threshold_model("a"), _threshold_model("b")
    b.params = {**b.params, "mask_threshold": 0.7}  # merged: 0.6 < 200/255
    seg = Segmenter([a, b])
    assert seg.groups[0][1]["mask_threshold"] == pytest.approx(0.6)
    assert _same_instances(seg.segment(image)[0], truth)


# -- outputs ------------------------------------------------------------------------------

def test_outputs_all_formats(tmp_path):
    from segment.measure import measure
    from segment.outputs import FORMATS, write_outputs

    image, truth = discs((90, 100), n=6, seed=1)
    rgb = np.repeat(image[:, :, None], 3, 2)
    labels = truth.astype(np.uint32)
    table = measure(labels, image, np.linspace(0.5, 1, 6))
    files = write_outputs(tmp_path, "img", FORMATS, labels, table, rgb)
    back = tifffile.imread(files["tif"])
    assert back.dtype == np.uint16 and np.array_equal(back, truth)
    assert np.array_equal(cv2.imread(str(files["png"]), cv2.IMREAD_UNCHANGED), truth)
    csv = pd.read_csv(files["csv"])
    assert list(csv.columns) == ["label", "centroid_y", "centroid_x", "area", "perimeter", "eccentricity",
                                 "solidity", "intensity_mean", "intensity_min", "intensity_max", "score"]
    assert csv["area"].tolist() == np.bincount(truth.ravel())[1:].tolist()
    overlay = cv2.imread(str(files["overlay"]))
    assert (overlay == (0, 255, 255)).all(axis=2).sum() > 0  # yellow outlines (BGR)
    import roifile

    rois = roifile.roiread(files["roi"])
    assert len(rois) == 6
    geo = json.loads(files["geojson"].read_text())
    assert len(geo["features"]) == 6 and geo["features"][0]["geometry"]["type"] == "Polygon"
    ring = np.array(geo["features"][0]["geometry"]["coordinates"][0])
    assert (ring[0] == ring[-1]).all()
    area = 0.5 * abs(np.dot(ring[:-1, 0], ring[1:, 1]) - np.dot(ring[1:, 0], ring[:-1, 1]))
    assert area == pytest.approx(csv["area"][0], rel=0.15)  # the polygon encloses the pixels
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_outputs_refuse_to_overwrite_and_leave_nothing_half_written(tmp_path, monkeypatch):
    import segment.outputs as outputs
    from segment.measure import measure

    image, truth = discs((60, 60), n=3)
    rgb = np.repeat(image[:, :, None], 3, 2)
    table = measure(truth, image)
    outputs.write_outputs(tmp_path, "a", ["tif", "csv"], truth, table, rgb)
    with pytest.raises(FileExistsError, match="a_labels.tif already exists"):
        outputs.write_outputs(tmp_path, "a", ["tif", "csv"], truth, table, rgb)
    outputs.write_outputs(tmp_path, "a", ["tif", "csv"], truth, table, rgb, overwrite=True)

    def broken(path, **_):
        Path(path).write_text("half")
        raise OSError(f"{path}: disk full")

    monkeypatch.setitem(outputs._WRITERS, "geojson", broken)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_outputs(tmp_path, "b", ["tif", "csv", "geojson"], truth, table, rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_labels.tif", "a_measurements.csv"]


def test_labels_above_65535_are_uint32():
    from segment.outputs import label_dtype

    assert label_dtype(np.array([[0, 65535]], np.uint32)) is np.uint16
    assert label_dtype(np.array([[0, 65536]], np.uint32)) is np.uint32


# -- the command line -----------------------------------------------------------------------

def _cli(argv):
    from segment.__main__ import main

    return main([str(a) for a in argv])


def test_cli_segments_a_folder_and_writes_a_summary(fake_run, tmp_path, capsys):
    image, truth = discs((120, 140), n=12, seed=2)
    src = tmp_path / "images"
    src.mkdir()
    tifffile.imwrite(src / "a16.tif", image.astype(np.uint16) * 100)
    cv2.imwrite(str(src / "b_gray.png"), image)
    cv2.imwrite(str(src / "c_rgba.png"), np.dstack([image] * 3 + [np.full_like(image, 255)]))
    out = tmp_path / "out"
    (out / ".a16.tmp-killed").mkdir(parents=True)  # a killed run's staging folder
    assert _cli(["--model", fake_run, src, "--out", out, "--format", "tif,csv,overlay,roi,geojson"]) == 0
    assert not (out / ".a16.tmp-killed").exists()
    text = capsys.readouterr().out
    assert f"outputs in {out.resolve()}" in text.splitlines()[-1] and "3/3 c_rgba.png" in text
    summary = pd.read_csv(out / "summary.csv")
    assert summary["status"].eq("ok").all() and summary["n_nuclei"].eq(12).all()
    for stem in ("a16", "b_gray", "c_rgba"):
        assert _same_instances(tifffile.imread(out / f"{stem}_labels.tif"), truth)
    csv = pd.read_csv(out / "a16_measurements.csv")
    assert csv["intensity_mean"].eq(20000).all()  # measured on the 16-bit values
    assert _cli(["--model", fake_run, src, "--out", out]) == 2  # summary.csv exists
    assert "use --force" in capsys.readouterr().err
    assert _cli(["--model", fake_run, src / "b_gray.png", "--out", out, "--force"]) == 0


def test_cli_bad_input_one_line_each_others_still_run(fake_run, tmp_path, capsys):
    image, _ = discs((64, 64), n=3)
    src = tmp_path / "images"
    src.mkdir()
    cv2.imwrite(str(src / "good.png"), image)
    (src / "corrupt.png").write_bytes(b"not a png")
    tifffile.imwrite(src / "stack.tif", np.zeros((2, 3, 16, 16), np.uint8), metadata={"axes": "ZCYX"})
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    assert _cli(["--model", fake_run, src, tmp_path / "empty", tmp_path / "none*.tif", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4, err
    assert any("corrupt.png: cannot decode" in e for e in err) and any("stack.tif" in e for e in err)
    assert any("empty: no image files" in e for e in err) and any("none*.tif: no image files match" in e for e in err)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.set_index("image")["status"].to_dict() == {"corrupt": "failed", "good": "ok", "stack": "failed"}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "good_labels.tif", "good_measurements.csv", "good_overlay.png", "summary.csv"]
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_cli_bad_model_is_one_line(fake_run, tmp_path, capsys):
    image, _ = discs((64, 64), n=3)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    (tmp_path / "m.dsbmodel").write_bytes(b"junk")
    with zipfile.ZipFile(tmp_path / "v9.dsbmodel", "w") as zf:
        zf.writestr("dsbmodel.json", json.dumps({"format": "dsbmodel", "version": 9}))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.yaml").write_text("solution: nosuch\n")
    for model, message in [("m.dsbmodel", "not a .dsbmodel file"), ("v9.dsbmodel", "format version 9"),
                           ("missing", "no such run folder"), ("odd", "has no segment loader")]:
        assert _cli(["--model", tmp_path / model, tmp_path / "a.png", "--out", tmp_path / "o"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and str(tmp_path / model) in err[0], err
    assert not (tmp_path / "o" / "summary.csv").exists()


def test_family_comes_from_the_config(fake_run):
    from segment.models import family_of

    assert family_of({"solution": "unet-baseline"}) == "unet"
    assert family_of({"name": "maskrcnn"}) == "maskrcnn"
    assert family_of({"solution": "threshold"}) == "threshold"
    with pytest.raises(ModelError):
        family_of({"solution": "unetx"})
