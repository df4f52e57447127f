"""The instance features and the second-level instance filter, on tiny synthetic shapes."""

import json

import numpy as np
import pandas as pd
import pytest
from skimage.measure import regionprops_table

from common.instance_features import FEATURES, instance_features, near_pairs
from common.metrics import image_ap
from ensemble.filter_data import crossfit
from ensemble.instance_filter import FilterError, InstanceFilter, best_iou, dsb_scores


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _scene(seed: int, size: int = 96):
    """True nuclei (discs), a prediction of them (some shifted) plus false blobs with low prob.

    Returns (true, pred, prob [H,W,3], image, is_false [N]) with pred ids 1..N.
    """
    rng = np.random.default_rng(seed)
    true = np.zeros((size, size), np.int32)
    pred = np.zeros_like(true)
    prob = np.zeros((size, size, 3), np.float32)
    is_false = []
    centres = [(cy, cx) for cy in range(12, size - 8, 24) for cx in range(12, size - 8, 24)]
    for k, (cy, cx) in enumerate(centres, 1):
        r = int(rng.integers(5, 9))
        if rng.random() < 0.35:  # a false positive: no true nucleus, weak prob
            pred[_disc(true.shape, cy, cx, r // 2 + 2)] = k
            prob[..., 0][pred == k] = rng.uniform(0.3, 0.5)
            is_false.append(True)
        else:
            true[_disc(true.shape, cy, cx, r)] = k
            pred[_disc(true.shape, cy + int(rng.integers(-1, 2)), cx, r)] = k
            prob[..., 0][pred == k] = rng.uniform(0.8, 1.0)
            is_false.append(False)
    image = np.repeat((20 + 200 * (true > 0)).astype(np.uint8)[..., None], 3, axis=2)
    return true, pred, prob, image, np.array(is_false)


def test_features_shapes_and_values():
    lab = np.zeros((64, 64), np.int32)
    lab[5:15, 5:15] = 1
    lab[5:15, 16:26] = 2  # one pixel from label 1
    lab[40:50, 30:60] = 4  # ids need not be consecutive
    prob = np.zeros((64, 64, 3), np.float32)
    prob[..., 0][lab == 1] = 0.9
    prob[..., 0][lab == 4] = 0.2
    image = np.full((64, 64, 3), 10, np.uint8)
    image[lab > 0] = 200
    f = instance_features(lab, prob, image, np.array([0.5, 0.6, 0.7, 0.8], np.float32))
    assert list(f.columns) == list(FEATURES) and list(f.index) == [1, 2, 4]
    ref = regionprops_table(lab, properties=("area", "eccentricity", "extent", "solidity"))
    np.testing.assert_allclose(f["area"], ref["area"])
    np.testing.assert_allclose(f["eccentricity"], ref["eccentricity"], atol=1e-6)
    np.testing.assert_allclose(f["extent"], ref["extent"])
    np.testing.assert_allclose(f["prob_mean"], [0.9, 0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(f["prob_border"], [0.9, 0.0, 0.2], atol=1e-6)
    assert list(f["score"]) == pytest.approx([0.5, 0.6, 0.8])
    assert list(f["n_near"]) == [1, 1, 0]
    assert np.isnan(f.loc[4, "near_area_rel"])
    assert f.loc[1, "area_rel"] == pytest.approx(1.0) and f.loc[4, "area_rel"] == pytest.approx(3.0)
    assert (f["contrast"] > 0.5).all() and f["img_bright"].eq(0).all()
    assert f["img_n_inst"].eq(3).all() and f["img_height"].eq(64).all()


def test_features_without_maps_and_bad_shapes():
    lab = np.zeros((32, 32), np.int32)
    lab[4:10, 4:10] = 1
    f = instance_features(lab)
    assert f[["prob_mean", "score", "img_mean", "contrast"]].isna().all().all()
    assert f["area"].iloc[0] == 36
    assert len(instance_features(np.zeros((32, 32), np.int32))) == 0
    with pytest.raises(ValueError, match="prob"):
        instance_features(lab, prob=np.zeros((16, 16, 3), np.float32))


def test_network_features_find_the_maps_by_name_in_any_channel_order():
    lab = np.zeros((32, 32), np.int32)
    lab[4:12, 4:12], lab[16:26, 16:26] = 1, 2
    rng = np.random.default_rng(0)
    body, border, centre = (rng.random((32, 32)).astype(np.float32) for _ in range(3))
    default = instance_features(lab, np.stack([body, border, centre], -1))
    cols = ["prob_mean", "prob_max", "prob_border", "prob_c1_mean", "prob_c2_mean"]
    for order in (["centre", "body", "border"], ["border", "touch", "centre", "body"]):
        maps = {"body": body, "border": border, "centre": centre, "touch": np.ones_like(body)}
        prob = np.stack([maps[name] for name in order], -1)
        named = instance_features(lab, prob, channels=order)
        pd.testing.assert_frame_equal(named[cols], default[cols])
    only_body = instance_features(lab, np.stack([body, centre], -1), channels=["body", "centre"])
    assert only_body["prob_c1_mean"].isna().all()  # no border map: NaN, not another map
    np.testing.assert_allclose(only_body["prob_c2_mean"], default["prob_c2_mean"])
    no_body = instance_features(lab, np.stack([border, centre], -1), channels=["border", "centre"])
    assert no_body[["prob_mean", "prob_max", "prob_border"]].isna().all().all()  # not another map's
    # unnamed maps keep the default order; a fourth unnamed map is ignored
    unnamed4 = instance_features(lab, np.stack([body, border, centre, body], -1))
    pd.testing.assert_frame_equal(unnamed4[cols], default[cols])
    with pytest.raises(ValueError, match="channel names"):
        instance_features(lab, np.stack([body, border], -1), channels=["body"])


def test_near_pairs_distance():
    lab = np.zeros((20, 20), np.int32)
    lab[2:5, 2:5], lab[2:5, 7:10], lab[15:18, 15:18] = 1, 2, 3  # 1 and 2 are 3 px apart
    assert near_pairs(lab, 2).shape == (0, 2)
    assert near_pairs(lab, 3).tolist() == [[1, 2]]


def test_table_dsb_matches_the_metric_after_dropping():
    true, pred, prob, image, is_false = _scene(0)
    iou = best_iou(true, pred)
    assert (iou[is_false] == 0).all() and (iou[~is_false] > 0.5).all()
    rng = np.random.default_rng(1)
    for _ in range(3):
        keep = rng.random(iou.size) < 0.6
        dropped = np.where(np.isin(pred, np.flatnonzero(keep) + 1), pred, 0)
        n_true = pd.Series([int(np.unique(true[true > 0]).size)], index=["a"])
        got = dsb_scores(np.array(["a"] * iou.size), iou, keep, n_true)
        assert got["a"] == pytest.approx(image_ap(true, dropped))


def _table(seeds):
    rows, n_true = [], {}
    for s in seeds:
        true, pred, prob, image, _ = _scene(s)
        f = instance_features(pred, prob, image, np.ones(int(pred.max()), np.float32))
        f.insert(0, "image_id", f"img{s}")
        f.insert(1, "iou", best_iou(true, pred))
        rows.append(f.reset_index())
        n_true[f"img{s}"] = int(np.unique(true[true > 0]).size)
    return pd.concat(rows, ignore_index=True), pd.Series(n_true)


def test_filter_learns_drops_and_round_trips(tmp_path):
    table, n_true = _table(range(8))
    filt = InstanceFilter.fit(table, n_true, mode="score", meta={"data": "synthetic"})
    assert filt.threshold > 0
    info = filt.meta["training"]
    assert info["train_dsb_filtered"] > info["train_dsb_unfiltered"]
    true, pred, prob, image, is_false = _scene(99)
    labels, scores = filt.apply(pred, np.ones(int(pred.max()), np.float32), prob, image)
    assert int(labels.max()) == int((~is_false).sum()) == scores.size
    assert image_ap(true, labels) > image_ap(true, pred)
    assert (scores > filt.threshold).all()  # mode "score": the kept scores are p
    model_path, json_path = filt.save(tmp_path / "f")
    desc = json.loads(json_path.read_text())
    assert desc["features"] == list(FEATURES) and desc["data"] == "synthetic"
    assert desc["threshold"] == filt.threshold and "sklearn_version" in desc
    again = InstanceFilter.load(json_path)
    np.testing.assert_array_equal(again.apply(pred, np.ones(int(pred.max())), prob, image)[0], labels)
    json_path.write_text("{}")
    with pytest.raises(FilterError, match="f.json"):
        InstanceFilter.load(tmp_path / "f")
    with pytest.raises(FilterError, match="not found"):
        InstanceFilter.load(tmp_path / "missing")


def test_crossfit_scores_each_fold_with_a_filter_that_did_not_see_it():
    table, n_true = _table(range(12))
    folds = {f"img{s}": s % 2 for s in range(12)}
    per_image, filters = crossfit(table, n_true, folds)
    assert sorted(filters) == [0, 1]
    assert filters[0].meta["training"]["n_images"] == 6
    assert (per_image["filtered"] >= per_image["unfiltered"]).mean() > 0.5
    assert per_image["filtered"].mean() > per_image["unfiltered"].mean()
    assert (per_image["n_kept"] <= per_image["n_pred"]).all()


# ------------------------------------------------------------------ CLI and ensemble wiring
@pytest.fixture(scope="module")
def oof_work(tmp_path_factory):
    """A synthetic data folder and a workspace whose ``unet`` OOF predictions are the true
    nuclei (prob 0.9) plus two false discs per image (prob 0.35); folds.csv with 2 folds."""
    from common.data import load_split
    from common.folds import save_folds
    from common.paths import Workspace
    from common.predictions import save_prediction
    from common.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("filter")
    data = generate_dataset(root / "data", n_train=12, n_test=0, seed=3, size=(64, 96))
    ds = load_split(data, "stage1_train")
    ws = Workspace(root=root / "work", data_dir=data)
    rng = np.random.default_rng(0)
    for image_id in ds.ids:
        true = ds.load_labels(image_id)
        pred = np.unique(true, return_inverse=True)[1].reshape(true.shape).astype(np.int32)
        prob = np.zeros(true.shape + (3,), np.float32)
        prob[..., 0][pred > 0] = 0.9
        for _ in range(2):
            cy, cx = rng.integers(8, true.shape[0] - 8), rng.integers(8, true.shape[1] - 8)
            disc = _disc(true.shape, cy, cx, 4) & (pred == 0)
            pred[disc] = pred.max() + 1
            prob[..., 0][disc] = 0.35
        n = int(pred.max())
        save_prediction(ws.predictions_dir("unet", "oof") / f"{image_id}.npz", pred,
                        np.ones(n, np.float32), prob=prob)
    save_folds(pd.DataFrame({"image_id": ds.ids, "fold": [i % 2 for i in range(len(ds.ids))],
                             "cluster": "synthetic"}), ws.folds_csv)
    return ws, data


def test_cli_fit_apply_and_ensemble_filter(oof_work, tmp_path):
    from common.predictions import list_predictions, load_prediction
    from ensemble.config import EnsembleConfig, FilterConfig, SourceConfig
    from ensemble.filter_cli import main
    from ensemble.merge import merge_split

    ws, data = oof_work
    pred_dir, folder = ws.predictions_dir("unet", "oof"), ws.root / "filters" / "unet"
    assert main(["fit", "--pred-dir", str(pred_dir), "--folds-csv", str(ws.folds_csv),
                 "--data", str(data), "--out", str(folder)]) == 0
    summary = json.loads((folder / "crossfit.json").read_text())
    assert summary["oof_dsb_filtered"] > summary["oof_dsb_unfiltered"]
    assert {p.name for p in folder.iterdir()} >= {"full.json", "full.joblib", "fold0.json",
                                                  "fold1.joblib", "image_folds.json"}
    out = tmp_path / "filtered"
    assert main(["apply", "--filter", str(folder), "--pred-dir", str(pred_dir), "--split", "oof",
                 "--out", str(out)]) == 0
    before = {i: load_prediction(p) for i, p in list_predictions(pred_dir).items()}
    after = {i: load_prediction(p) for i, p in list_predictions(out).items()}
    assert after.keys() == before.keys()
    assert sum(a.n_instances for a in after.values()) < sum(b.n_instances for b in before.values())
    assert all(a.prob is not None for a in after.values())

    cfg = EnsembleConfig(output="ens", sources=[SourceConfig(solution="unet")],
                         filter=FilterConfig(path="filters/unet", sources=["unet"]))
    merge_split(cfg, ws, "oof", log=lambda _: None)
    merged = {i: load_prediction(p) for i, p in list_predictions(ws.predictions_dir("ens", "oof")).items()}
    for image_id, m in merged.items():  # the ensemble used the same fold filters
        np.testing.assert_array_equal(m.labels, after[image_id].labels)
    cfg.filter.path = "filters/none"
    with pytest.raises(ValueError, match="filters/none"):
        merge_split(cfg, ws, "oof", force=True, log=lambda _: None)


def test_cli_errors_are_one_line(oof_work, tmp_path, capsys):
    from ensemble.filter_cli import main

    ws, data = oof_work
    assert main(["apply", "--filter", str(tmp_path / "nothing"), "--pred-dir", str(tmp_path),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nothing" in err


def test_ensemble_fits_its_filter_once_and_again_when_the_oof_predictions_change(oof_work):
    from common.predictions import list_predictions, load_prediction, save_prediction
    from ensemble.config import EnsembleConfig, FilterConfig, SourceConfig
    from ensemble.filter_cli import FIT_RECORD, fit_if_stale
    from ensemble.run import run_ensemble

    ws, data = oof_work
    with pytest.raises(Exception, match="exactly one filter.sources"):
        FilterConfig(fit=True, sources=[]).validate()
    cfg = EnsembleConfig(output="ens-fit", sources=[SourceConfig(solution="unet")],
                         filter=FilterConfig(fit=True, sources=["unet"]))
    lines = []
    run_ensemble(cfg, ws, data, ("oof",), log=lines.append)
    folder = ws.root / "filters" / "unet"
    assert (folder / FIT_RECORD).is_file() and (folder / "full.joblib").is_file()
    assert any("filter fitted on 12 OOF images" in line for line in lines), lines
    merged = {i: load_prediction(p) for i, p in list_predictions(ws.predictions_dir("ens-fit", "oof")).items()}
    raw = {i: load_prediction(p) for i, p in list_predictions(ws.predictions_dir("unet", "oof")).items()}
    assert sum(m.n_instances for m in merged.values()) < sum(r.n_instances for r in raw.values())

    lines.clear()
    assert fit_if_stale(cfg, ws, log=lines.append).filter.path == str(folder)
    assert lines == [f"  skip filter fit: {folder} is up to date"]

    first = sorted(raw)[0]  # a changed OOF prediction: fitted again, the old filter kept aside
    p = raw[first]
    save_prediction(ws.predictions_dir("unet", "oof") / f"{first}.npz", p.labels, p.scores * 0.5, prob=p.prob)
    lines.clear()
    fit_if_stale(cfg, ws, backup_root=ws.root / "backup" / "t", log=lines.append)
    assert any("filter fitted" in line for line in lines)
    assert (ws.root / "backup" / "t" / "filters" / "unet" / FIT_RECORD).is_file()
    assert not [q for q in (ws.root / "filters").iterdir() if ".tmp-" in q.name]
    save_prediction(ws.predictions_dir("unet", "oof") / f"{first}.npz", p.labels, p.scores, prob=p.prob)  # shared fixture


def test_ensemble_merges_unfiltered_where_no_filter_can_be_fitted(oof_work, tmp_path):
    """With filter.fit on, a run without its source, or with one fold of OOF predictions,
    gets one line saying why and an unfiltered merge, not a failure."""
    import shutil

    from common.folds import load_folds
    from common.paths import Workspace
    from common.predictions import list_predictions
    from ensemble.config import EnsembleConfig, FilterConfig, SourceConfig
    from ensemble.filter_cli import fit_if_stale

    ws, data = oof_work
    lines = []
    cfg = EnsembleConfig(output="ens-x", sources=[SourceConfig(solution="other")],
                         filter=FilterConfig(fit=True, sources=["unet"]))
    out = fit_if_stale(cfg, ws, log=lines.append)
    assert not out.filter.fit and not out.filter.path and not out.filter.sources
    assert lines == ["  filter not fitted: its source 'unet' is not in this ensemble (['other']); "
                     "merging unfiltered"]

    one = Workspace(tmp_path / "one", data)  # OOF predictions of one fold only
    folds = load_folds(ws.folds_csv)
    one.folds_csv.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ws.folds_csv, one.folds_csv)
    fold0 = set(folds.loc[folds["fold"] == folds["fold"].iloc[0], "image_id"])
    src_dir, dst_dir = ws.predictions_dir("unet", "oof"), one.predictions_dir("unet", "oof")
    dst_dir.mkdir(parents=True)
    for image_id, path in list_predictions(src_dir).items():
        if image_id in fold0:
            shutil.copy2(path, dst_dir / path.name)
    lines.clear()
    cfg = EnsembleConfig(output="ens-y", sources=[SourceConfig(solution="unet")],
                         filter=FilterConfig(fit=True, sources=["unet"]))
    out = fit_if_stale(cfg, one, log=lines.append)
    assert not out.filter.path and not (one.root / "filters").exists()
    assert len(lines) == 1 and "1 fold(s); cross-fitting needs 2 or more" in lines[0]


def test_bench_pools_the_oof_folders_of_several_work_folders(oof_work, tmp_path):
    """bench/bench_instance_filter.py --pred-dir A --pred-dir B: one group fold per work folder."""
    import shutil
    import sys

    from common.paths import REPO_ROOT
    from common.predictions import list_predictions

    sys.path.insert(0, str(REPO_ROOT))
    from bench import bench_instance_filter as bif

    ws, data = oof_work
    folds = pd.read_csv(ws.folds_csv).set_index("image_id")["fold"]
    parts = [tmp_path / "fold0", tmp_path / "fold1"]
    for image_id, path in list_predictions(ws.predictions_dir("unet", "oof")).items():
        (parts[folds[image_id]]).mkdir(exist_ok=True)
        shutil.copy(path, parts[folds[image_id]] / path.name)
    groups = tmp_path / "folds_group.csv"
    pd.read_csv(ws.folds_csv).assign(group=lambda d: "g" + d["fold"].astype(str)).to_csv(groups, index=False)
    out = tmp_path / "out"
    args = ["--pred-dir", str(parts[0]), "--pred-dir", str(parts[1]), "--folds-csv", str(ws.folds_csv),
            "--groups-csv", str(groups), "--data", str(data), "--sets", "shape_only",
            "--name", "pooled", "--out", str(out)]
    assert bif.main(args) == 0
    record = json.loads((out / "pooled.json").read_text())
    assert record["n_images"] == len(folds) and record["pred_dir"] == [str(p) for p in parts]
    overall = record["results"]["shape_only"]["overall"]["all"]
    assert overall["filtered"] > overall["unfiltered"]  # the false discs are dropped
    shutil.copy(next(parts[0].glob("*.npz")), parts[1])  # one image in both folders
    with pytest.raises(SystemExit, match="is in .*fold0 and in .*fold1"):
        bif.main([*args[:-1], str(tmp_path / "out2")])
