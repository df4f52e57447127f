"""Tests for the prediction file contract (common.predictions)."""

import numpy as np
import pytest

from common.predictions import (PredictionError, list_predictions, load_prediction,
                                relabel_sequential, save_prediction)


def _labels():
    labels = np.zeros((16, 20), np.int32)
    labels[2:6, 2:6] = 1
    labels[8:12, 10:18] = 2
    return labels


def test_round_trip_with_optional_maps(tmp_path):
    labels = _labels()
    prob = np.random.default_rng(0).random((16, 20, 3)).astype(np.float32)
    cands = np.stack([labels == 1, labels == 2, labels > 0])
    path = save_prediction(tmp_path / "unet" / "oof" / "img1.npz", labels, [0.9, 0.4],
                           prob=prob, cand_masks=cands, cand_scores=[0.9, 0.4, 0.1])
    assert load_prediction(path).cand_masks is None  # large: unpacked only on request
    only = load_prediction(path, prob=False)  # scoring needs the labels only
    assert only.prob is None and np.array_equal(only.labels, labels)
    pred = load_prediction(path, candidates=True)
    assert pred.labels.dtype == np.int32 and np.array_equal(pred.labels, labels)
    np.testing.assert_allclose(pred.scores, [0.9, 0.4])
    np.testing.assert_allclose(pred.prob, prob, atol=1e-3)  # stored as float16
    assert np.array_equal(pred.cand_masks, cands)
    assert list(list_predictions(path.parent)) == ["img1"]


def test_prob_is_stored_raw_the_rest_deflated_and_old_files_still_load(tmp_path):
    import zipfile

    labels = _labels()
    prob = np.random.default_rng(0).random((16, 20, 3)).astype(np.float32)
    path = save_prediction(tmp_path / "new.npz", labels, [0.9, 0.4], prob=prob)
    with zipfile.ZipFile(path) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
    assert kinds == {"labels.npy": zipfile.ZIP_DEFLATED, "scores.npy": zipfile.ZIP_DEFLATED,
                     "prob.npy": zipfile.ZIP_STORED}
    # a file written before (np.savez_compressed, everything deflated) reads the same
    np.savez_compressed(tmp_path / "old.npz", labels=labels, scores=np.float32([0.9, 0.4]),
                        prob=prob.astype(np.float16))
    old, new = load_prediction(tmp_path / "old.npz"), load_prediction(path)
    assert np.array_equal(old.labels, new.labels) and np.array_equal(old.prob, new.prob)


def test_prob_channel_names_round_trip_and_must_fit_the_maps(tmp_path):
    labels = _labels()
    prob = np.zeros((16, 20, 3), np.float32)
    path = save_prediction(tmp_path / "named.npz", labels, [0.9, 0.4], prob=prob,
                           channels=["body", "centre", "border"])
    assert load_prediction(path).channels == ("body", "centre", "border")
    assert load_prediction(path, prob=False).channels is None  # names travel with the maps
    assert load_prediction(save_prediction(tmp_path / "plain.npz", labels, [0.9, 0.4], prob=prob)).channels is None
    with pytest.raises(PredictionError, match="bad.npz.*2 channel names"):
        save_prediction(tmp_path / "bad.npz", labels, [0.9, 0.4], prob=prob, channels=["body", "border"])
    with pytest.raises(PredictionError, match="nomaps.npz"):
        save_prediction(tmp_path / "nomaps.npz", labels, [0.9, 0.4], channels=["body"])
    assert not (tmp_path / "bad.npz").exists() and not (tmp_path / "nomaps.npz").exists()


def test_score_count_must_match_labels(tmp_path):
    with pytest.raises(PredictionError, match="bad.npz"):
        save_prediction(tmp_path / "bad.npz", _labels(), [0.5])
    assert not (tmp_path / "bad.npz").exists()


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(PredictionError, match="broken.npz"):
        load_prediction(path)


def test_relabel_sequential_keeps_scores_aligned():
    labels = np.array([[0, 5, 5], [9, 0, 2]], np.int32)
    scores = np.arange(1, 10, dtype=np.float32) / 10  # score of id k is k/10
    new, new_scores = relabel_sequential(labels, scores)
    assert new.max() == 3
    for old_id, new_id in [(2, 1), (5, 2), (9, 3)]:
        assert np.array_equal(labels == old_id, new == new_id)
        assert new_scores[new_id - 1] == pytest.approx(old_id / 10)


def test_folder_summaries_per_fold(tmp_path):
    from common.predictions import read_folder_summaries, write_folder_summary

    write_folder_summary(tmp_path, {"n_images": 3, "fold": 0}, fold=0)
    write_folder_summary(tmp_path, {"n_images": 4, "fold": 1}, fold=1)
    assert sorted(s["n_images"] for s in read_folder_summaries(tmp_path)) == [3, 4]
    assert list_predictions(tmp_path) == {}


def test_folder_completeness_rules(tmp_path):
    import os
    import time

    from common.io import folder_fingerprint, unchanged, write_json
    from common.predictions import folder_state, oof_fold_done, write_folder_summary

    run = tmp_path / "run"
    run.mkdir()
    (run / "train_summary.json").write_text("{}")
    old = time.time() - 100
    os.utime(run / "train_summary.json", (old, old))
    test = tmp_path / "test_fold0"
    assert folder_state(test, ["a", "b"], run) == "empty"
    lab = np.zeros((4, 4), np.int32)
    save_prediction(test / "a.npz", lab, np.zeros(0))
    assert folder_state(test, ["a", "b"], run) == "partial"
    save_prediction(test / "b.npz", lab, np.zeros(0))
    assert folder_state(test, ["a", "b"], run) == "partial"  # no summary yet
    write_folder_summary(test, {"n_images": 2})
    assert folder_state(test, ["a", "b"], run) == "complete"
    assert folder_state(test, ["a"], run) == "stale"  # b is not a test image
    os.utime(test / "a.npz", (old - 10, old - 10))
    assert folder_state(test, ["a", "b"], run) == "stale"  # older than the run

    oof = tmp_path / "oof"
    save_prediction(oof / "a.npz", lab, np.zeros(0))
    assert oof_fold_done(run, oof, 0, ["a"]) == (True, "")  # no per-fold markers at all
    write_folder_summary(oof, {"n_images": 1}, fold=1)
    assert not oof_fold_done(run, oof, 0, ["a"])[0]  # markers exist: fold 0 needs its own
    write_folder_summary(oof, {"n_images": 1}, fold=0)
    assert oof_fold_done(run, oof, 0, ["a"])[0]
    assert "thresholds" in oof_fold_done(run, oof, 0, ["a"], tunes=True)[1]

    record = {"inputs": folder_fingerprint(test)}
    write_json(tmp_path / "rec.json", record)
    from common.io import read_json

    assert unchanged(read_json(tmp_path / "rec.json"), folder_fingerprint(test))
    save_prediction(test / "c.npz", lab, np.zeros(0))
    assert not unchanged(read_json(tmp_path / "rec.json"), folder_fingerprint(test))
    assert not unchanged(None, {})


def test_a_resumed_predict_keeps_fresh_images(tmp_path):
    import os
    import time

    from common.predictions import pending_ids

    run = tmp_path / "run"
    run.mkdir()
    assert pending_ids(tmp_path / "out", ["a", "b"], run) == ["a", "b"]  # untrained: everything
    (run / "train_summary.json").write_text("{}")
    old = time.time() - 100
    os.utime(run / "train_summary.json", (old, old))
    lab = np.zeros((4, 4), np.int32)
    save_prediction(tmp_path / "out" / "b.npz", lab, np.zeros(0))
    save_prediction(tmp_path / "out" / "c.npz", lab, np.zeros(0))
    os.utime(tmp_path / "out" / "c.npz", (old - 10, old - 10))  # older than the run: redo
    assert pending_ids(tmp_path / "out", ["a", "b", "c"], run) == ["a", "c"]


def test_a_share_predicted_with_other_set_items_is_predicted_again(tmp_path, capsys):
    from common.io import read_json
    from common.predictions import pending_ids, settings_path

    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    (run / "train_summary.json").write_text("{}")
    save_prediction(out / "a.npz", np.zeros((4, 4), np.int32), np.zeros(0))
    # no items, no record: a plain resume, and nothing new is written
    assert pending_ids(out, ["a", "b"], run, fold=1) == ["b"]
    assert not settings_path(out, 1).exists()
    # items where the share was made without: everything again, and the items recorded
    assert pending_ids(out, ["a", "b"], run, ["post.min_area=9"], fold=1) == ["a", "b"]
    assert "predicting all 2 images again" in capsys.readouterr().out
    assert read_json(settings_path(out, 1)) == {"overrides": ["post.min_area=9"]}
    assert not (out / "a.npz").exists()  # made the old way: gone before the new items were recorded
    # killed before anything was predicted again: nothing old is taken as done
    assert pending_ids(out, ["a", "b"], run, ["post.min_area=9"], fold=1) == ["a", "b"]
    save_prediction(out / "a.npz", np.zeros((4, 4), np.int32), np.zeros(0))
    assert pending_ids(out, ["a", "b"], run, ["post.min_area=9"], fold=1) == ["b"]  # the same: resume
    assert pending_ids(out, ["a", "b"], run, fold=2) == ["b"]  # another fold's share has its own record
    assert pending_ids(out, ["a", "b"], run, fold=1) == ["a", "b"]  # back to none: again
    assert read_json(settings_path(out, 1)) == {"overrides": []}
    assert not (out / "a.npz").exists()
    save_prediction(out / "a.npz", np.zeros((4, 4), np.int32), np.zeros(0))  # predicted again

    # a part of the share (--only, --limit) with other items, while the rest of it is present:
    # refused, naming the folder and both items, and nothing is recorded or deleted
    save_prediction(out / "b.npz", np.zeros((4, 4), np.int32), np.zeros(0))
    with pytest.raises(ValueError, match=r"out: 1 other images of this share \(e\.g\. b\).*--set \(none\).*"
                                         r"--set post\.min_area=7"):
        pending_ids(out, ["a"], run, ["post.min_area=7"], fold=1, share=["a", "b", "c"])
    assert read_json(settings_path(out, 1)) == {"overrides": []}
    assert (out / "b.npz").exists()
    # the whole share, or a part with the share's own items, goes on as before
    assert pending_ids(out, ["a"], run, fold=1, share=["a", "b", "c"]) == []
    assert pending_ids(out, ["a", "b", "c"], run, ["post.min_area=7"], fold=1, share=["a", "b", "c"]) == ["a", "b", "c"]
