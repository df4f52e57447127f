"""segment with a trained (tiny, 1-epoch) U-Net run: the same labels as the predict CLI,
the one-file model round trip, ensembles, tiles; and real DSB images as 16-bit TIFFs.

The run is trained once per module on the synthetic set (about a minute or two on 2 loaded
CPU cores): slow-marked. Its quality does not matter here, only that ``segment`` and
``predict`` agree.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from common.images import raw_to_rgb_uint8
from common.metrics import image_score, score_dataset
from common.predictions import load_prediction

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[1] / "solutions" / "unet" / "configs" / "demo.yaml"
TINY = ["train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=2", "data.crop_size=64",
        "model.base_filters=4", "model.depth=2", "post.tune=false"]


@pytest.fixture(scope="module")
def trained(synthetic_data_dir, tmp_path_factory) -> tuple[Path, Path]:
    """(work folder, run folder) of a tiny U-Net trained on the synthetic set."""
    from solutions.unet.train import main as train

    work = tmp_path_factory.mktemp("segment_work")
    assert train(["--config", str(CONFIG), "--fold", "0", "--data", str(synthetic_data_dir), "--work", str(work),
                  "--verbose", "0", "--set", *TINY]) == 0
    return work, work / "runs" / "unet-fold0"


def _segment(argv) -> int:
    from segment.__main__ import main

    return main([str(a) for a in argv])


def _predict_cli(run: Path, data: Path, work: Path) -> dict[str, np.ndarray]:
    from common.predictions import list_predictions
    from solutions.unet.predict import main as predict

    assert predict(["--run", str(run), "--split", "test", "--data", str(data), "--work", str(work)]) == 0
    return {i: load_prediction(p).labels for i, p in list_predictions(work / "predictions" / "unet" / "test_fold0").items()}


def _test_images(data: Path) -> dict[str, Path]:
    return {p.parent.parent.name: p for p in sorted((data / "stage1_test").glob("*/images/*.png"))}


def test_segment_labels_score_as_the_predict_cli(trained, synthetic_data_dir, tmp_path):
    from common.data import load_split

    work, run = trained
    truth_ds = load_split(synthetic_data_dir, "stage1_test")
    truth = {i: truth_ds.load_labels(i) for i in truth_ds.ids}
    # 1. the DSB PNGs as they are
    expected = _predict_cli(run, synthetic_data_dir, tmp_path / "w1")
    out = tmp_path / "png"
    assert _segment(["--model", run, *(_test_images(synthetic_data_dir).values()), "--out", out]) == 0
    got = {i: tifffile.imread(out / f"{i}_labels.tif").astype(np.int32) for i in expected}
    assert all(np.array_equal(got[i], expected[i]) for i in expected)
    assert score_dataset(truth, got).score == score_dataset(truth, expected).score
    # 2. the same images as 16-bit gray TIFFs; predict sees them as segment converts them
    data16 = tmp_path / "data16"
    shutil.copytree(synthetic_data_dir, data16)
    tifs = tmp_path / "tif16"
    tifs.mkdir()
    for image_id, png in _test_images(data16).items():
        gray16 = (cv2.imread(str(png), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 250 + 1000)
        tifffile.imwrite(tifs / f"{image_id}.tif", gray16)
        cv2.imwrite(str(png), raw_to_rgb_uint8(gray16)[:, :, ::-1])
    expected16 = _predict_cli(run, data16, tmp_path / "w2")
    out16 = tmp_path / "out16"
    assert _segment(["--model", run, tifs, "--out", out16]) == 0
    got16 = {i: tifffile.imread(out16 / f"{i}_labels.tif").astype(np.int32) for i in expected16}
    assert all(np.array_equal(got16[i], expected16[i]) for i in expected16)
    assert score_dataset(truth, got16).score == score_dataset(truth, expected16).score


def test_export_round_trip_and_ensemble(trained, synthetic_data_dir, tmp_path, capsys):
    from segment import Segmenter
    from segment.archive import read_manifest

    work, run = trained
    model = tmp_path / "m.dsbmodel"
    assert _segment(["export", "--run", run, "--out", model]) == 0
    meta = read_manifest(model)
    assert meta["family"] == "unet" and meta["solution"] == "unet" and meta["version"] == 1
    assert meta["training_data"]["fold"] == 0 and meta["normalise"] == "gray_invert_percentile" and meta["created"]  # demo.yaml's
    with zipfile.ZipFile(model) as zf:
        assert {"dsbmodel.json", "config.yaml", "weights/best.weights.h5"} <= set(zf.namelist())
    assert _segment(["export", "--run", run, "--out", model]) == 2  # no overwrite without --force
    assert "already exists" in capsys.readouterr().err
    image = cv2.imread(str(next(iter(_test_images(synthetic_data_dir).values()))), cv2.IMREAD_COLOR)[:, :, ::-1]
    from_run = Segmenter.load(run)(image)[0]
    from_file, table = Segmenter.load(model)(image)
    assert np.array_equal(from_run, from_file) and len(table) == from_file.max()
    twice = Segmenter.load([run, model])  # the mean of two equal maps is the map
    assert np.array_equal(twice.segment(image)[0], from_run)


def test_export_completes_an_old_runs_nucleus_size(trained, tmp_path):
    """A run whose nucleus_size.json predates image_areas, or that has none, gets them at
    export: the model file has no run_info.json to measure them from later
    (predict.scale_norm.enlarge_below)."""
    _, run = trained
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    stats = json.loads((old / "nucleus_size.json").read_text())
    (old / "nucleus_size.json").write_text(json.dumps({k: v for k, v in stats.items() if k != "image_areas"}))
    model = tmp_path / "old.dsbmodel"
    assert _segment(["export", "--run", old, "--out", model]) == 0
    with zipfile.ZipFile(model) as zf:
        assert json.loads(zf.read("nucleus_size.json"))["image_areas"] == stats["image_areas"]
    (old / "nucleus_size.json").unlink()  # a run never predicted with has no file at all
    assert _segment(["export", "--run", old, "--out", model, "--force"]) == 0
    with zipfile.ZipFile(model) as zf:
        assert json.loads(zf.read("nucleus_size.json"))["image_areas"] == stats["image_areas"]


def test_a_model_file_without_image_areas_names_itself_when_it_cannot_enlarge(trained, tmp_path, capsys):
    """A .dsbmodel written before image_areas, with enlarge_below on, cannot measure them (no
    run_info.json, no data): it predicts without enlarging, and the one line says which file,
    not the temporary folder it was unpacked into, and ends with how to re-export it."""
    import yaml

    from segment.archive import open_model

    _, run = trained
    model, old = tmp_path / "new.dsbmodel", tmp_path / "old.dsbmodel"
    assert _segment(["export", "--run", run, "--out", model]) == 0
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.yaml":
                cfg = yaml.safe_load(data)
                cfg["predict"]["scale_norm"].update(enabled=True, estimate="multiscale", enlarge_below=0.1)
                data = yaml.safe_dump(cfg).encode()
            elif name == "nucleus_size.json":
                data = json.dumps({k: v for k, v in json.loads(data).items() if k != "image_areas"}).encode()
            dst.writestr(name, data)
    capsys.readouterr()
    open_model(old)
    lines = [line for line in capsys.readouterr().out.splitlines() if "enlarge_below" in line]
    assert len(lines) == 1 and "dsbmodel-" not in lines[0], lines
    assert lines[0].startswith(f"[predict] predict.scale_norm.enlarge_below is off for {old}: {old}"), lines
    assert lines[0].endswith(f"(python -m segment export --run RUN --out {old} --force)"), lines  # the fix
    # the hint follows the file the model was unpacked from, not a name that happens to be a file
    from segment.models import load_run

    with zipfile.ZipFile(old) as zf:
        zf.extractall(tmp_path / "unpacked")
    load_run(tmp_path / "unpacked", name=str(old))
    lines = [line for line in capsys.readouterr().out.splitlines() if "enlarge_below" in line]
    assert len(lines) == 1 and "segment export" not in lines[0], lines


def test_tiled_matches_untiled_up_to_seam_nuclei(trained, synthetic_data_dir, tmp_path, capsys):
    """Tiled vs whole with the trained net, on a mirrored 2x2 mosaic of one image.

    The watershed U-Net standardises each input (tile) by its own mean and std
    (``ImageStandardize``), so a tile's maps differ a little from the whole image's; the
    seam rule itself is checked exactly with a translation-invariant model in
    ``test_segment.py``. Here most nuclei away from the seams must be found again
    (IoU > 0.5): the 1-epoch net is thresholded at its body map's 85th percentile, since
    its default threshold gives one blob over everything.
    """
    from segment import Segmenter
    from segment.tiles import tile_grid

    _, run = trained
    path = next(p for i, p in _test_images(synthetic_data_dir).items() if "fluorescence" in i)
    im = cv2.resize(cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1], (96, 96))
    mosaic = np.vstack([np.hstack([im, im[:, ::-1]]), np.hstack([im[::-1], im[::-1, ::-1]])])  # 192 x 192
    seg = Segmenter.load(run)
    body = seg.models[0].prob(mosaic)[..., 0]
    seg.groups[0][1].update(mask_threshold=float(np.percentile(body, 85)), seed_threshold=-1.0)
    whole = seg.segment(mosaic)[0].astype(np.int32)
    seg.tile, seg.overlap = 128, 48
    seen = []
    tiled = seg.segment(mosaic, lambda done, n: seen.append((done, n)))[0]
    assert seen[-1] == (4, 4) and tiled.dtype == np.uint32 and tiled.shape == whole.shape
    tiled = tiled.astype(np.int32)
    seams = {b for (ty, tx) in tile_grid(mosaic.shape[:2], 128, 48) for b in (ty[2], tx[2]) if b > 0}
    near = np.zeros(whole.shape, bool)
    for b in seams:  # bands of +-overlap around the seams
        near[max(b - 48, 0):b + 48] = True
        near[:, max(b - 48, 0):b + 48] = True
    away = [i for i in np.unique(whole[~near]) if i and not (near & (whole == i)).any()]
    assert len(away) >= 5, f"only {len(away)} nuclei away from the seams: the check would be vacuous"
    found = 0
    for i in away:
        ids, counts = np.unique(tiled[whole == i], return_counts=True)
        j = ids[np.argmax(counts)]
        found += j > 0 and counts.max() / ((tiled == j) | (whole == i)).sum() > 0.5
    assert found >= 0.7 * len(away), f"{found} of {len(away)} nuclei away from the seams found again"


@pytest.mark.realdata
def test_real_images_as_16bit_tiff_gray_png_and_a_real_mosaic(trained, real_train_dir, tmp_path):
    """Real images as 16-bit TIFF and gray PNG; a mosaic of real images tiled vs untiled
    with a threshold model (the stitching rule on real nuclei)."""
    from common.data import DSBDataset
    from segment.segmenter import Segmenter
    from tests.test_segment import _threshold_model

    _, run = trained
    ds = DSBDataset(real_train_dir.parent, "stage1_train")
    ids = [i for i in ds.ids if ds.image_shape(i) == (256, 256)][:4]
    src = tmp_path / "real"
    src.mkdir()
    for image_id in ids[:2]:
        gray = cv2.cvtColor(ds.load_image(image_id), cv2.COLOR_RGB2GRAY)
        tifffile.imwrite(src / f"{image_id[:8]}.tif", gray.astype(np.uint16) * 257)
        cv2.imwrite(str(src / f"{image_id[:8]}_gray.png"), gray)
    out = tmp_path / "out"
    assert _segment(["--model", run, src, "--out", out, "--format", "tif,csv,roi,geojson"]) == 0
    for image_id in ids[:2]:
        a = tifffile.imread(out / f"{image_id[:8]}_labels.tif")
        b = tifffile.imread(out / f"{image_id[:8]}_gray_labels.tif")
        assert a.shape == (256, 256) and a.dtype == np.uint16
        gray = cv2.cvtColor(ds.load_image(image_id), cv2.COLOR_RGB2GRAY)
        if gray.min() == 0 and gray.max() == 255:  # the TIFF's stretch is then the identity
            assert np.array_equal(a, b)
    images = [ds.load_image(i) for i in ids]
    mosaic = np.vstack([np.hstack(images[:2]), np.hstack(images[2:4])])  # 512 x 512
    model = _threshold_model()
    model.predict = lambda im, tta: (cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[:, :, None] > 60).astype(np.float32)
    whole = Segmenter([model]).segment(mosaic)[0].astype(np.int32)
    tiled = Segmenter([model], tile=200, overlap=96).segment(mosaic)[0].astype(np.int32)
    assert whole.max() > 20
    assert image_score(whole, tiled)[0] > 0.95  # IoU 0.5: all but a few seam nuclei match


def test_maskrcnn_run_segments_like_its_predict(tmp_path):
    """A Mask R-CNN run folder (untrained weights: Mask R-CNN training needs far more steps than
    a test affords) goes through the same registry, untiled and tiled."""
    from common.config import load_config, save_config
    from segment import Segmenter
    from solutions.maskrcnn.config import MaskRCNNConfig
    from solutions.maskrcnn.model import build_model
    from solutions.maskrcnn.predict import predict_images

    run = tmp_path / "maskrcnn-mobilenet-fold0"
    (run / "weights").mkdir(parents=True)
    cfg = load_config(MaskRCNNConfig, Path(__file__).resolve().parents[1] / "solutions" / "maskrcnn" / "configs"
                      / "demo.yaml", ["model.backbone_weights=none"])
    save_config(cfg, run / "config.yaml")
    model = build_model(cfg.model)
    model.save_weights(run / "weights" / "best.weights.h5")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    expected = predict_images(model, cfg, [image])[0]
    seg = Segmenter.load(run)
    assert seg.models[0].family == "maskrcnn"
    labels, table = seg(image)
    assert np.array_equal(labels, expected.labels) and len(table) == int(expected.labels.max())
    seg.tile, seg.overlap = 64, 16
    tiled = seg.segment(image)[0]
    assert tiled.shape == image.shape[:2] and tiled.dtype == np.uint32
