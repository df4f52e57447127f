"""The prediction contract between solutions and the ensemble.

One file per image: ``predictions/<solution>/<split>/<image_id>.npz`` with

* ``labels``: int32 [H,W] instances 1..N at the original image size, 0 = background;
* ``scores``: float32 [N], ``scores[i]`` is the confidence of label ``i + 1``;
* ``prob`` (optional): float32 [H,W,C] per-pixel maps for pixel-level ensembling;
* ``prob_channels`` (optional, with ``prob``): str [C], the name of each map (e.g. ``body``,
  ``border``, ``centre``); files without it are read as ``common.instances``'s default
  order;
* ``cand_masks`` / ``cand_scores`` (optional): bool [K,H,W] overlapping candidate
  masks before overlap resolution, and their float32 [K] scores.

RLE is produced only at the submission step (``common.submission``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.io import atomic_write


class PredictionError(ValueError):
    """A prediction file breaks the contract; the message names the file."""


@dataclass
class Prediction:
    """One image's prediction.

    Attributes:
        labels: int32 [H,W], 0 = background, instances 1..N.
        scores: float32 [N].
        prob: float32 [H,W,C] or None.
        channels: The names of ``prob``'s C maps, or None (not recorded).
        cand_masks: bool [K,H,W] or None.
        cand_scores: float32 [K] or None.
        floor_scale: The post-processing floors of ``prob`` (``min_area``,
            ``min_seed_area``) are areas in pixels of the image rescaled by this, the scale
            the maps were predicted at (``predict.scale_norm.floors_follow_scale``); 1: in
            the image's own pixels. Whoever post-processes ``prob`` again applies it
            (``common.instances.floors_at_scale``).
    """

    labels: np.ndarray
    scores: np.ndarray
    prob: np.ndarray | None = None
    cand_masks: np.ndarray | None = None
    cand_scores: np.ndarray | None = None
    channels: tuple[str, ...] | None = None
    floor_scale: float = 1.0

    @property
    def n_instances(self) -> int:
        return int(self.scores.shape[0])


def relabel_sequential(labels: np.ndarray, scores: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Renumber labels to 1..N in ascending order of their old ids, keeping scores aligned.

    Args:
        labels: int [H,W] with arbitrary non-negative ids.
        scores: [max_id] scores indexed by old id - 1, or None for all ones.

    Returns:
        (int32 [H,W] labels 1..N, float32 [N] scores).
    """
    ids, inverse = np.unique(labels, return_inverse=True)
    has_bg = ids.size > 0 and ids[0] == 0
    new = inverse.reshape(labels.shape).astype(np.int32) + (0 if has_bg else 1)
    kept = ids[1:] if has_bg else ids
    if scores is None:
        out_scores = np.ones(kept.size, np.float32)
    else:
        out_scores = np.asarray(scores, np.float32)[kept - 1]
    return new, out_scores


def validate(pred: Prediction, where: str = "<prediction>") -> None:
    """Raise :class:`PredictionError` if ``pred`` breaks the contract."""
    labels = pred.labels
    if labels.ndim != 2 or labels.dtype != np.int32:
        raise PredictionError(f"{where}: labels must be int32 [H,W], got {labels.dtype} {labels.shape}")
    n = int(labels.max(initial=0))
    if labels.min(initial=0) < 0:
        raise PredictionError(f"{where}: negative label ids")
    if pred.scores.ndim != 1 or pred.scores.shape[0] != n:
        raise PredictionError(f"{where}: {pred.scores.shape[0]} scores for {n} labels (max id)")
    if pred.prob is not None and pred.prob.shape[:2] != labels.shape:
        raise PredictionError(f"{where}: prob {pred.prob.shape} does not match labels {labels.shape}")
    if pred.channels is not None:
        if pred.prob is None or len(pred.channels) != pred.prob.shape[-1]:
            raise PredictionError(f"{where}: {len(pred.channels)} channel names {list(pred.channels)} for "
                                  f"prob {None if pred.prob is None else pred.prob.shape}")
        if len(set(pred.channels)) != len(pred.channels) or not all(pred.channels):
            raise PredictionError(f"{where}: channel names must be distinct and non-empty, got "
                                  f"{list(pred.channels)}")
    if not (np.isfinite(pred.floor_scale) and pred.floor_scale > 0):
        raise PredictionError(f"{where}: floor_scale must be a positive number, got {pred.floor_scale}")
    if pred.cand_masks is not None:
        if pred.cand_masks.ndim != 3 or pred.cand_masks.shape[1:] != labels.shape:
            raise PredictionError(f"{where}: cand_masks must be [K,H,W] at the labels' size")
        if pred.cand_scores is None or pred.cand_scores.shape[0] != pred.cand_masks.shape[0]:
            raise PredictionError(f"{where}: cand_scores must give one score per candidate mask")


#: Arrays written without compression: deflating float16 maps took 7-18x the time of
#: storing them, for half the bytes (np.savez_compressed against np.savez of 256x256 to
#: 1040x1388 maps; the ``write`` stage of ``bench/bench_inference.py`` shows the effect).
STORED_KEYS = ("prob",)


def write_npz(file, arrays: dict[str, np.ndarray], compress: bool = True,
              stored: Collection[str] = STORED_KEYS) -> None:
    """Write ``arrays`` in ``np.savez`` layout (one ``<key>.npy`` zip member each, so
    ``np.load`` reads it), deflating every member except those named in ``stored``.

    Args:
        file: Path or binary file object.
        arrays: name -> array (no object arrays).
        compress: Deflate the members not in ``stored`` (False: store everything).
        stored: Names never deflated.
    """
    with zipfile.ZipFile(file, "w", allowZip64=True) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress and name not in stored else zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)


def save_prediction(path: str | os.PathLike, labels: np.ndarray, scores: np.ndarray,
                    prob: np.ndarray | None = None, cand_masks: np.ndarray | None = None,
                    cand_scores: np.ndarray | None = None, compress: bool = True,
                    channels: Sequence[str] | None = None, floor_scale: float = 1.0) -> Path:
    """Validate and write one image's prediction atomically (temp file + rename).

    Args:
        path: Target ``.npz`` path; its folder is created.
        labels: int [H,W] instance labels (converted to int32).
        scores: [N] per-instance scores, N = labels.max().
        prob: Optional float [H,W,C] (or [H,W]) maps, stored as float16, uncompressed
            (:data:`STORED_KEYS`).
        cand_masks: Optional bool [K,H,W] candidate masks.
        cand_scores: Optional float [K].
        compress: Deflate the other arrays (labels, scores, packed candidate masks).
        channels: The names of ``prob``'s maps (``prob_channels``), one per channel.
        floor_scale: The scale ``prob``'s post-processing floors are in
            (:attr:`Prediction.floor_scale`); written only when not 1.
    """
    path = Path(path)
    pred = Prediction(np.asarray(labels, np.int32), np.asarray(scores, np.float32).reshape(-1),
                      None if prob is None else np.asarray(prob, np.float32),
                      None if cand_masks is None else np.asarray(cand_masks, bool),
                      None if cand_scores is None else np.asarray(cand_scores, np.float32),
                      None if channels is None else tuple(str(c) for c in channels), float(floor_scale))
    if pred.prob is not None and pred.prob.ndim == 2:
        pred.prob = pred.prob[..., None]
    validate(pred, str(path))
    arrays = {"labels": pred.labels, "scores": pred.scores}
    if pred.prob is not None:
        arrays["prob"] = pred.prob.astype(np.float16)
    if pred.channels is not None:
        arrays["prob_channels"] = np.asarray(pred.channels, dtype=str)
    if pred.floor_scale != 1.0:
        arrays["floor_scale"] = np.asarray(pred.floor_scale, np.float64)
    if pred.cand_masks is not None:
        arrays["cand_masks"] = np.packbits(pred.cand_masks, axis=-1)
        arrays["cand_shape"] = np.asarray(pred.cand_masks.shape, np.int64)
        arrays["cand_scores"] = pred.cand_scores
    return atomic_write(path, lambda tmp: write_npz(tmp, arrays, compress), suffix=".npz")


def load_prediction(path: str | os.PathLike, candidates: bool = False, prob: bool = True) -> Prediction:
    """Read and validate one ``.npz`` prediction file.

    Args:
        path: The file.
        candidates: Also unpack ``cand_masks``/``cand_scores`` (large; off by default).
        prob: Also read the ``prob`` maps where the file has them (off: ``pred.prob`` is
            None, for callers that only score the labels; the maps are most of the file).
    """
    path = Path(path)
    try:
        with np.load(path) as data:
            files = set(data.files)
            if not {"labels", "scores"} <= files:
                raise PredictionError(f"{path}: needs 'labels' and 'scores', has {sorted(files)}")
            pred = Prediction(data["labels"], data["scores"])
            if prob and "prob" in files:
                pred.prob = data["prob"].astype(np.float32)
                if "prob_channels" in files:
                    pred.channels = tuple(str(c) for c in data["prob_channels"])
            if "floor_scale" in files:
                pred.floor_scale = float(data["floor_scale"])
            if candidates and "cand_masks" in files:
                shape = tuple(int(s) for s in data["cand_shape"])
                pred.cand_masks = np.unpackbits(data["cand_masks"], axis=-1,
                                                count=shape[-1]).astype(bool).reshape(shape)
                pred.cand_scores = data["cand_scores"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, PredictionError):
            raise
        raise PredictionError(f"{path}: unreadable prediction file ({exc})") from exc
    validate(pred, str(path))
    return pred


def check_layout(channels: Sequence[str] | None, params: dict, where: str | os.PathLike) -> None:
    """Raise :class:`PredictionError` naming ``where`` when maps named ``channels`` (a file's
    ``Prediction.channels``; None: unnamed, not checked) are not what the post-processing
    ``params["channels"]`` about to read them expects."""
    wanted = params.get("channels")
    if channels is not None and wanted and list(channels) != list(wanted):
        raise PredictionError(f"{where}: its prob maps are {list(channels)}, but the post-processing "
                              f"reads them as {list(wanted)}")


def list_predictions(folder: str | os.PathLike) -> dict[str, Path]:
    """Map image id → prediction file for every ``*.npz`` in ``folder`` (sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.npz")) if not p.name.startswith(".")}


def summary_path(folder: str | os.PathLike, fold: int | None = None) -> Path:
    """``_summary.json`` of a predictions folder, or ``_summary_fold<k>.json`` for one fold's
    share of an ``oof`` folder (several folds write into it, possibly at once)."""
    return Path(folder) / ("_summary.json" if fold is None else f"_summary_fold{fold}.json")


def write_folder_summary(folder: str | os.PathLike, summary: dict, fold: int | None = None,
                         overrides: Sequence[str] = ()) -> Path:
    """Write a predictions folder's summary atomically; see :func:`summary_path`.

    Keys: ``n_images``, ``seconds``, ``images_per_s``, ``device``, ``run``, and for
    solutions that post-process probability maps, ``params``: the exact
    ``common.instances`` params that made the labels (the ensemble re-uses them);
    ``overrides``: the predict-time ``--set`` items, when there are any.
    """
    from common.io import write_json

    extra = {"overrides": [str(o) for o in overrides]} if overrides else {}
    return write_json(summary_path(folder, fold), {**summary, **extra})


def read_folder_summaries(folder: str | os.PathLike) -> list[dict]:
    """Every ``_summary*.json`` of a predictions folder (one per fold for ``oof``)."""
    from common.io import read_json

    return [read_json(p) for p in sorted(Path(folder).glob("_summary*.json"))]


# ---------------------------------------------------------------------- completeness
def newer_than(paths: Sequence[str | os.PathLike], ref: str | os.PathLike) -> bool:
    """Whether every path exists and is at least as new as ``ref`` (False if ``ref`` is absent)."""
    ref = Path(ref)
    if not ref.exists():
        return False
    t = ref.stat().st_mtime
    return all(Path(p).exists() and Path(p).stat().st_mtime >= t for p in paths)


def oof_fold_done(run: str | os.PathLike, oof_dir: str | os.PathLike, fold: int,
                  val_ids: Sequence[str], tunes: bool = False) -> tuple[bool, str]:
    """Whether fold ``fold``'s share of an ``oof`` folder is complete and newer than its run.

    Complete means: a prediction of every validation image, newer than the run's
    ``train_summary.json``; the fold's ``_summary_fold<k>.json`` marker (written last by
    predict) newer than it too, unless the folder has no per-fold markers at all (an old
    solution writing one ``_summary.json``); and, when the run ``tunes`` on OOF, its
    ``thresholds.json`` newer than it.

    Returns:
        ``(done, why not)``.
    """
    run, oof_dir = Path(run), Path(oof_dir)
    summary = run / "train_summary.json"
    if not newer_than([oof_dir / f"{i}.npz" for i in val_ids], summary):
        return False, "images missing or older than the run"
    marker = summary_path(oof_dir, fold)
    if list(oof_dir.glob("_summary_fold*.json")) and not newer_than([marker], summary):
        return False, f"{marker.name} missing or older than the run"
    if tunes and not newer_than([run / "thresholds.json"], summary):
        return False, "thresholds.json missing or older than the run (tuned on OOF)"
    return True, ""


def folder_state(test_dir: str | os.PathLike, test_ids: Sequence[str],
                      run: str | os.PathLike) -> str:
    """State of a ``test_fold<k>`` folder against the test ids and its run.

    Returns:
        ``"complete"`` (every id, summary newer than the run's ``train_summary.json``),
        ``"empty"``, ``"partial"`` (some ids, all fresh: predict may finish it) or
        ``"stale"`` (ids not in the test split, or files older than the run).
    """
    test_dir = Path(test_dir)
    summary = Path(run) / "train_summary.json"
    have = set(list_predictions(test_dir))
    if not have:
        return "empty"
    if have - set(test_ids) or not newer_than([test_dir / f"{i}.npz" for i in have], summary):
        return "stale"
    if have == set(test_ids) and newer_than([summary_path(test_dir)], summary):
        return "complete"
    return "partial"


def settings_path(folder: str | os.PathLike, fold: int | None = None) -> Path:
    """``_settings.json`` of a predictions folder (``_settings_fold<k>.json`` for one fold's
    share of ``oof``): the ``--set`` items its predictions were made with."""
    return Path(folder) / ("_settings.json" if fold is None else f"_settings_fold{fold}.json")


def adapt_path(folder: str | os.PathLike, fold: int | None = None) -> Path:
    """``_adapt.json`` of a predictions folder (``_adapt_fold<k>.json`` for one fold's share of
    ``oof``): the record of a predict-time adaptation of the network (``predict.adapt``)."""
    return Path(folder) / ("_adapt.json" if fold is None else f"_adapt_fold{fold}.json")


def adapted_weights_path(folder: str | os.PathLike, fold: int | None = None) -> Path:
    """``_adapt[_fold<k>].weights.h5`` beside :func:`adapt_path`: the adapted network's weights,
    kept while its share is predicted so that a killed predict resumes with the same network."""
    return adapt_path(folder, fold).with_suffix(".weights.h5")


def pending_ids(out_dir: str | os.PathLike, ids: Sequence[str], run: str | os.PathLike,
                overrides: Sequence[str] = (), fold: int | None = None,
                share: Sequence[str] | None = None) -> list[str]:
    """The ids of ``ids`` still to predict into ``out_dir``, in the given order.

    A resumed predict keeps every ``<id>.npz`` newer than the run's ``train_summary.json``
    (written atomically, so a present file is whole) and predicts the rest. When this share
    of the folder (``fold``, see :func:`summary_path`) was predicted with other predict-time
    ``overrides`` (``--set`` items, recorded in :func:`settings_path`; none when the file is
    absent), nothing is kept: its files of ``ids`` are removed before the new items are
    recorded (so a predict killed before it rewrote them cannot take them as done), every id
    is predicted again, and it says so. Records ``overrides`` as the share's settings.

    ``share`` (optional) is every id of the share, of which ``ids`` may be a part (``--only``,
    ``--limit``): predicting a part again with other items would leave the rest of the share
    made the old way under one record, so that is refused (:class:`ValueError` naming the
    folder and both items) when other images of the share are present.
    """
    from common.io import read_json, write_json

    stamp = settings_path(out_dir, fold)
    before = (read_json(stamp) or {}).get("overrides", [])
    items = [str(o) for o in overrides]
    ref = Path(run) / "train_summary.json"
    wanted = set(ids)
    present = {i: p for i, p in list_predictions(out_dir).items() if i in wanted}
    done = set()
    if ref.exists() and before == items:
        t = ref.stat().st_mtime
        for image_id, path in present.items():
            try:
                if path.stat().st_mtime >= t:
                    done.add(image_id)
            except OSError:
                pass
    elif before != items and (stale := sorted((set(share or ()) - wanted) & set(list_predictions(out_dir)))):
        raise ValueError(
            f"{out_dir}: {len(stale)} other images of this share (e.g. {stale[0]}) were predicted "
            f"with --set {' '.join(before) or '(none)'}; predicting {len(ids)} of them with --set "
            f"{' '.join(items) or '(none)'} would mix the two under one record: predict the whole "
            "share (no --only or --limit), or into another --solution folder")
    elif before != items and present:
        print(f"[predict] {out_dir} holds predictions made with --set {' '.join(before) or '(none)'}; "
              f"predicting all {len(ids)} images again with --set {' '.join(items) or '(none)'}", flush=True)
        for path in present.values():  # before the new items are recorded: a kill must not leave them as done
            path.unlink(missing_ok=True)
    if items or stamp.exists():
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_json(stamp, {"overrides": items})
    return [i for i in ids if i not in done]
