"""Merge the prediction folders of several sources into ``predictions/<output>/<split>/``.

Two levels (see ``ensemble.config``):

1. Within a source (or a ``pixel_group`` of sources), its folders (folds x TTA) become one
   prediction per image: ``pixel`` mode averages the ``prob`` maps and runs the U-Net
   post-processing; ``vote`` mode votes instances among the folders.
2. Across sources, instances are voted with the configured weights (``ensemble.vote``).

A source missing an image counts as predicting no nuclei there.

``folds`` (the folds selected in the run) restricts the ``test_fold<k>`` folders merged to
those folds, so folders left over from other runs never join.
"""

from __future__ import annotations

import dataclasses
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.config import to_dict
from common.paths import Workspace
from common.predictions import list_predictions, load_prediction, save_prediction
from ensemble.config import EnsembleConfig, SourceConfig
from common.io import (folder_fingerprint, move_aside, read_json, remove_stale_temps, stored_form,
                       timestamp, unchanged, write_json)
from ensemble.filter_set import FilterSet, ImageSource
from ensemble.pixel import (Postprocess, average_probs, load_postprocess, load_threshold_params,
                            map_layout, merge_params, oof_fold_params, pixel_merge, read_image_folds)
from ensemble.vote import VoteParams, vote_instances

__all__ = ["Unit", "source_folders", "build_units", "Merger", "merge_split", "EnsembleError"]


class EnsembleError(RuntimeError):
    """The ensemble cannot run (no sources, missing folders...); the message says which."""


@dataclass
class Unit:
    """Folders merged into one prediction per image before cross-source voting.

    Attributes:
        label: Display name (the source, or ``group:<name>`` for a pixel group).
        folders: Prediction folders.
        folder_weights: float [F] weights inside the unit.
        weight: The unit's voting weight.
        mode: ``"pixel"`` or ``"vote"``.
        params: Post-processing params for pixel mode (test: mean over the merged runs).
        fold_params: OOF pixel mode: fold -> params of that fold's run(s); an image uses
            its own fold's (``image_folds``), ``params`` only when its fold is unknown.
        image_folds: image id -> fold (from ``folds.csv``), for ``fold_params``.
    """

    label: str
    folders: list[Path]
    folder_weights: list[float]
    weight: float
    mode: str = "vote"
    params: dict = field(default_factory=dict)
    fold_params: dict[int, dict] = field(default_factory=dict)
    image_folds: dict[str, int] = field(default_factory=dict, repr=False)

    def params_for(self, image_id: str) -> dict:
        """Pixel-mode post-processing params for one image."""
        if self.fold_params and image_id in self.image_folds:
            return self.fold_params.get(self.image_folds[image_id], self.params)
        return self.params

    def describe(self) -> dict:
        """What the merge depends on (for the output's ``_summary.json``)."""
        d = dataclasses.asdict(self)
        d.pop("image_folds")
        d["folders"] = [folder_fingerprint(f) for f in self.folders]
        return d


_FOLD_DIR = re.compile(r"test_fold(\d+)")


def _fold_of_folder(folder: Path) -> int | None:
    m = _FOLD_DIR.match(folder.name)
    return int(m.group(1)) if m else None


def source_folders(src: SourceConfig, ws: Workspace, split: str,
                   folds: Sequence[int] | None = None) -> list[Path]:
    """The prediction folders of one source for ``split`` (``oof``, ``test`` or a folder name).

    ``test`` means every ``test_fold*`` folder of the solution (folds x TTA); with ``folds``,
    only the ``test_fold<k>*`` folders of those folds.
    """
    if src.solution:
        base = ws.root / "predictions" / src.solution
        pattern = "test_fold*" if split == "test" else split
    else:
        pattern_path = Path(src.path.replace("{split}", split))
        if not pattern_path.is_absolute():
            pattern_path = ws.root / pattern_path
        base, pattern = pattern_path.parent, pattern_path.name
    found = sorted(p for p in base.glob(pattern) if p.is_dir())
    if folds is not None:
        keep = set(folds)
        found = [p for p in found if _fold_of_folder(p) is None or _fold_of_folder(p) in keep]
    return found


def _has_prob(folder: Path) -> bool:
    files = list_predictions(folder)
    if not files:
        return False
    return load_prediction(next(iter(files.values()))).prob is not None


def _pixel_params(unit: Unit, ws: Workspace, split: str) -> None:
    """Fill ``unit.params`` (and for OOF ``fold_params``) from the producing runs.

    Raises:
        FileNotFoundError, ValueError: a run, its params or ``folds.csv`` is missing or bad.
    """
    if split != "oof":
        unit.params = merge_params([load_threshold_params(f, ws.root) for f in unit.folders])
        return
    unit.image_folds = read_image_folds(ws.folds_csv)
    per_folder = [oof_fold_params(f, ws.root, unit.image_folds) for f in unit.folders]
    folds = sorted({k for p in per_folder for k in p})
    unit.fold_params = {k: merge_params([p[k] for p in per_folder if k in p]) for k in folds}
    unit.params = merge_params([unit.fold_params[k] for k in folds])


def build_units(cfg: EnsembleConfig, ws: Workspace, split: str,
                postprocess: Postprocess | None = None, log: Callable[[str], None] = print,
                folds: Sequence[int] | None = None) -> tuple[list[Unit], Postprocess | None]:
    """Resolve the config's sources into merge units for ``split``.

    ``folds``: merge only the ``test_fold<k>`` folders of these folds (default all found).

    Returns:
        ``(units, postprocess)``; ``postprocess`` is the function pixel units will use.

    Raises:
        EnsembleError: when no source has a predictions folder for ``split``, or pixel mode
            is forced but impossible (the message names the source and the reason).
    """
    found: list[tuple[SourceConfig, list[Path]]] = []
    for src in cfg.sources:
        folders = source_folders(src, ws, split, folds)
        if not folders:
            log(f"[ensemble] source {src.label}: no {split} predictions under "
                f"{ws.root / 'predictions'}; skipped")
            continue
        if cfg.takes_part(src):
            found.append((src, folders))
    if not found:
        raise EnsembleError(f"no source has {split} predictions under {ws.root / 'predictions'} "
                            f"(sources: {[s.label for s in cfg.sources]})")
    groups: dict[str, list[tuple[SourceConfig, list[Path]]]] = {}
    for src, folders in found:
        groups.setdefault(src.pixel_group or f"\0{src.label}", []).append((src, folders))
    units = []
    for key, members in groups.items():
        label = members[0][0].label if key.startswith("\0") else f"group:{key}"
        folders = [f for _, fs in members for f in fs]
        total = sum(src.weight for src, _ in members)
        # a unit of weight 0 votes only where by_type weights it: its folders count equally
        fw = [(src.weight if total > 0 else 1.0) / len(fs) for src, fs in members for _ in fs]
        unit = Unit(label, folders, fw, weight=total)
        want_pixel = cfg.folds.mode == "pixel" or bool(members[0][0].pixel_group)
        try_pixel = want_pixel or (cfg.folds.mode == "auto" and len(folders) > 1)
        if try_pixel and cfg.folds.mode != "vote":
            reason = None
            if not all(_has_prob(f) for f in folders):
                reason = "not every folder has prob maps"
            else:
                try:
                    postprocess = postprocess or load_postprocess()
                    _pixel_params(unit, ws, split)
                except (ImportError, FileNotFoundError, ValueError) as exc:
                    reason = str(exc)
            if reason is None:
                unit.mode = "pixel"
            elif want_pixel:
                raise EnsembleError(f"pixel-level merge of {label} impossible: {reason}")
            else:
                log(f"[ensemble] {label}: instance voting across folders ({reason})")
        units.append(unit)
    return units, postprocess


class Merger:
    """Merges one image at a time.

    Args:
        cfg: The ensemble config.
        units: From :func:`build_units`.
        postprocess: ``probs_to_instances`` for pixel units.
        split: ``oof`` or ``test`` (which filter of ``filters`` an image gets).
        filters: The instance filter (``cfg.filter``), applied to the units it names.
        images: Loads an input image by id, for filters with image features.
        types: Image id -> image type, for ``cfg.by_type`` (needed when it is set).
    """

    def __init__(self, cfg: EnsembleConfig, units: Sequence[Unit],
                 postprocess: Postprocess | None = None, split: str = "test",
                 filters: FilterSet | None = None, images: Callable | None = None,
                 types: Callable[[str], str] | None = None):
        if cfg.by_type and types is None:
            raise ValueError("Merger: the config has by_type weights but no image types were given")
        for kind in cfg.by_type:
            weights = cfg.type_weights(kind)
            if not any(weights.get(u.label, 0) > 0 for u in units):
                raise EnsembleError(f"by_type.{kind}: no source that votes on {kind} images has "
                                    f"{split} predictions (voting: {sorted(k for k, w in weights.items() if w > 0)}; "
                                    f"found: {[u.label for u in units]})")
        self.cfg, self.units, self.postprocess = cfg, list(units), postprocess
        self.split, self.filters, self.images, self.types = split, filters, images, types
        self.files = [[list_predictions(f) for f in u.folders] for u in self.units]
        v = cfg.vote
        min_votes = min(v.min_votes, len(self.units)) if cfg.clamp_min_votes else v.min_votes
        self.vote_params = VoteParams(iou=v.iou, min_votes=min_votes, min_fraction=v.min_fraction,
                                      pixel_fraction=v.pixel_fraction, min_size=v.min_size,
                                      score_threshold=v.score_threshold, score_mode=v.score_mode)
        f = cfg.folds
        self.fold_params = VoteParams(iou=f.iou, min_votes=1, min_fraction=f.min_fraction,
                                      pixel_fraction=0.5, min_size=f.min_size)

    def image_ids(self) -> list[str]:
        """Every image id any folder predicts, sorted."""
        return sorted({i for unit in self.files for files in unit for i in files})

    def _unit(self, k: int, image_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        merged = self._unit_merged(k, image_id)
        if merged is None or self.filters is None:
            return merged[:2] if merged is not None else None
        wanted = self.cfg.filter.sources
        if wanted and self.units[k].label not in wanted:
            return merged[:2]
        labels, scores, probs = merged
        prob, channels = None, None
        if probs:
            channels = map_layout(probs[2], probs[0][0].shape[-1], f"{image_id}: {self.units[k].label}")
            prob = average_probs(probs[0], probs[1])
        image = self.images(image_id) if self.images is not None else None
        return self.filters.for_image(image_id, self.split).apply(labels, scores, prob, image,
                                                                  channels=channels)

    def _unit_merged(self, k: int, image_id: str) -> tuple | None:
        """``(labels, scores, probs)``; ``probs`` is ``(maps, weights, channel names per
        file)`` when every folder that has the image saved ``prob`` maps, else ``None``.

        Raises:
            ValueError: pixel mode, and the files lay their maps out differently from each
                other or from the runs' post-processing params (``ensemble.pixel.map_layout``).
        """
        unit = self.units[k]
        preds, weights = [], []
        for files, w in zip(self.files[k], unit.folder_weights):
            if image_id in files:
                preds.append(load_prediction(files[image_id]))
                weights.append(w)
        if not preds:
            return None
        probs = (([p.prob for p in preds], list(weights), [p.channels for p in preds])
                 if all(p.prob is not None for p in preds) else None)
        if unit.mode == "pixel":
            params = unit.params_for(image_id)
            map_layout([p.channels for p in preds], preds[0].prob.shape[-1], f"{image_id}: {unit.label}", params)
            return (*pixel_merge([p.prob for p in preds], weights, params, self.postprocess,
                                 floor_scale=float(np.median([p.floor_scale for p in preds]))), probs)
        if len(preds) == 1:
            return preds[0].labels, preds[0].scores, probs
        # folder weights are relative to the unit's full folder list: absent folders count as empty
        labels = [p.labels for p in preds]
        scores = [p.scores for p in preds]
        missing = len(unit.folders) - len(preds)
        if missing:
            labels.append(np.zeros_like(labels[0]))
            scores.append(np.zeros(0, np.float32))
            weights.append(sum(unit.folder_weights) - sum(weights))
        return (*vote_instances(labels, scores, weights, self.fold_params), probs)

    def weights(self, image_id: str) -> list[float]:
        """Each unit's voting weight on this image: ``cfg.by_type`` of its type, else the unit's.
        One voter left on an image gives its prediction as it is (as an ensemble of one
        source does: no ``vote.min_size`` or ``score_threshold``)."""
        override = self.cfg.by_type.get(self.types(image_id), {}) if self.cfg.by_type else {}
        return [override.get(u.label, u.weight) for u in self.units]

    def merge(self, image_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Merged ``(labels int32 [H,W], scores float32 [N])``, or ``None`` if no source has it."""
        weights = self.weights(image_id)
        voters = [k for k, w in enumerate(weights) if w > 0]  # weight 0: left out on this image
        parts = [self._unit(k, image_id) for k in voters]
        have = [p for p in parts if p is not None]
        if not have:
            return None
        if len(voters) == 1:
            return have[0]
        params = self.vote_params
        if self.cfg.clamp_min_votes and params.min_votes > len(voters):
            params = dataclasses.replace(params, min_votes=len(voters))
        shape = have[0][0].shape
        labels = [p[0] if p is not None else np.zeros(shape, np.int32) for p in parts]
        scores = [p[1] if p is not None else np.zeros(0, np.float32) for p in parts]
        return vote_instances(labels, scores, [weights[k] for k in voters], params)


def merge_split(cfg: EnsembleConfig, ws: Workspace, split: str, ids: Sequence[str] | None = None,
                force: bool = False, postprocess: Postprocess | None = None,
                backup_root: Path | None = None, log: Callable[[str], None] = print,
                folds: Sequence[int] | None = None) -> dict:
    """Merge every image of ``split`` into ``WORK/predictions/<cfg.output>/<split>/``.

    Skips the work when the folder's ``_summary.json`` records the same config and
    source folders. Otherwise an existing folder is moved aside (into ``backup_root``,
    default ``WORK/backup/<timestamp>/``) before it is rebuilt; nothing is deleted.

    Args:
        cfg: Ensemble config.
        ws: Workspace.
        split: ``oof`` or ``test``.
        ids: Image ids to merge (default every id any source predicts).
        force: Rebuild even when up to date.
        postprocess: Override ``probs_to_instances`` (tests).
        backup_root: Where an outdated output folder goes.
        log: Progress printer.
        folds: Merge only the ``test_fold<k>`` folders of these folds (the run's selection).

    Returns:
        The ``_summary.json`` mapping (with ``"skipped": True`` when nothing was done).
    """
    out = ws.predictions_dir(cfg.output, split)
    units, postprocess = build_units(cfg, ws, split, postprocess, log, folds)
    filters, images, filter_desc = None, None, None
    if cfg.filter.path:
        fpath = Path(cfg.filter.path)
        fpath = fpath if fpath.is_absolute() else ws.root / fpath
        filters = FilterSet.load(fpath, cfg.filter.threshold, cfg.filter.mode)
        images = ImageSource(ws.data_dir, split) if filters.needs_image else None
        filter_desc = folder_fingerprint(fpath) if fpath.is_dir() else str(fpath)
    types = None
    if cfg.by_type:
        from common.folds import image_type

        source = images or ImageSource(ws.data_dir, split)
        types = lambda image_id: image_type(source(image_id))  # noqa: E731
    inputs = {"config": to_dict(cfg), "split": split, "units": [u.describe() for u in units]}
    if not cfg.by_type:  # the inputs read as before by_type existed (still up to date)
        inputs["config"].pop("by_type", None)
    if filter_desc is None:  # no filter: the inputs read as before it existed (still up to date)
        inputs["config"].pop("filter", None)
    else:
        inputs["filter"] = filter_desc
    inputs = stored_form(inputs)
    summary_path = out / "_summary.json"
    old = read_json(summary_path)
    if not force and unchanged(old, inputs):
        log(f"[ensemble] {out}: up to date ({old.get('n_images')} images); skipped")
        return dict(old, skipped=True)
    if out.exists():
        remove_stale_temps(out)  # a killed merge's half-written files are not worth a backup
        backup_root = backup_root or ws.root / "backup" / timestamp()
        where = move_aside(out, backup_root, ws.root)
        log(f"[ensemble] moved the previous {out} to {where}")
    merger = Merger(cfg, units, postprocess, split, filters, images, types)
    ids = list(ids) if ids is not None else merger.image_ids()
    start, written, absent = time.perf_counter(), 0, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for image_id in ids:
            merged = merger.merge(image_id)
            if merged is None:
                absent.append(image_id)
                continue
            save_prediction(out / f"{image_id}.npz", *merged)
            written += 1
    seconds = time.perf_counter() - start
    if absent:
        log(f"[ensemble] {len(absent)} image(s) predicted by no source, e.g. {absent[:3]}")
    desc = ", ".join(f"{u.label} x{len(u.folders)} ({u.mode}, w={u.weight:g})" for u in units)
    log(f"[ensemble] {split}: merged {written} images from {desc} in {seconds:.1f} s")
    summary = {"n_images": written, "seconds": round(seconds, 3),
               "images_per_s": round(written / seconds, 3) if seconds > 0 else None,
               "device": "cpu", "run": "ensemble", "missing": absent, "inputs": inputs}
    out.mkdir(parents=True, exist_ok=True)
    write_json(summary_path, summary)
    return summary
