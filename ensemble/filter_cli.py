"""Command line for the second-level instance filter.

Fit on a model's out-of-fold predictions (a full filter for test images, and one filter per
fold, fitted without that fold, for its OOF images)::

    python -m ensemble.filter_cli fit --pred-dir WORK/predictions/unet/oof \\
        --folds-csv WORK/folds.csv --data input --out WORK/filters/unet [--features no_image]

Apply it to a predictions folder (OOF images get their fold's filter, others the full one)::

    python -m ensemble.filter_cli apply --filter WORK/filters/unet \\
        --pred-dir WORK/predictions/unet/oof --split oof --out WORK/predictions/unet-filtered/oof

Or let the ensemble apply it: ``python -m ensemble --set filter.path=filters/unet
filter.sources=[unet]``, or fit and apply it (``filter.fit=true filter.sources=[unet]``:
:func:`fit_if_stale`, which ``run_all``'s ensemble stage runs too). Exit status 2 with one
line on stderr for bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import sys
import warnings
from pathlib import Path

from common.cli import debug_enabled, one_line
from common.data import load_split
from common.folds import load_folds
from common.instance_features import FEATURE_SETS
from common.io import (TEMP_MARK, file_fingerprint, folder_fingerprint, move_aside, read_json,
                       timestamp, unchanged, write_json)
from common.paths import Workspace
from common.predictions import list_predictions, load_prediction, save_prediction
from ensemble.filter_data import collect_instances, crossfit
from ensemble.filter_set import FilterSet, ImageSource
from ensemble.instance_filter import InstanceFilter

__all__ = ["fit_folder", "fit_if_stale", "apply_folder", "main"]


def fit_folder(pred_dir: Path, folds_csv: Path, data: Path, out: Path, features: str = "no_image",
               mode: str = "drop", workers: int = 2, note: str = "") -> dict:
    """Fit the full and per-fold filters of ``pred_dir``'s OOF predictions into ``out``.

    Returns:
        The cross-fitted summary written to ``out/crossfit.json``.
    """
    if features not in FEATURE_SETS:
        raise ValueError(f"--features {features!r}: expected one of {sorted(FEATURE_SETS)}")
    folds = load_folds(folds_csv).set_index("image_id")["fold"].to_dict()
    ids = sorted(list_predictions(pred_dir))
    unknown = [i for i in ids if i not in folds]
    if not ids or unknown:
        raise ValueError(f"{pred_dir}: {len(ids)} predictions, {len(unknown)} not in {folds_csv}")
    table, n_true = collect_instances(pred_dir, load_split(data, "stage1_train"), ids,
                                      workers=workers)
    names = list(FEATURE_SETS[features])
    per_image, fold_filters = crossfit(table, n_true, folds, names, mode)
    meta = {"trained_on": {"pred_dir": str(pred_dir), "folds_csv": str(folds_csv),
                           "n_images": len(ids), "feature_set": features, "note": note},
            "command": "python -m ensemble.filter_cli " + " ".join(map(shlex.quote, sys.argv[1:]))}
    out.mkdir(parents=True, exist_ok=True)
    for k, f in fold_filters.items():
        f.meta.update(meta)
        f.save(out / f"fold{k}")
    full = InstanceFilter.fit(table, n_true, names, mode, meta=meta)
    full.save(out / "full")
    write_json(out / "image_folds.json", {i: int(folds[i]) for i in ids})
    summary = {"n_images": len(ids), "n_instances": int(len(table)),
               "oof_dsb_unfiltered": round(float(per_image["unfiltered"].mean()), 4),
               "oof_dsb_filtered": round(float(per_image["filtered"].mean()), 4),
               "fold_thresholds": {k: f.threshold for k, f in fold_filters.items()},
               "full_threshold": full.threshold, **meta}
    write_json(out / "crossfit.json", summary)
    return summary


FIT_RECORD = "fit_inputs.json"


def fit_if_stale(cfg, ws: Workspace, backup_root: Path | None = None, log=print):
    """With ``cfg.filter.fit``: fit the filter of the one source in ``cfg.filter.sources`` on
    its OOF predictions into ``WORK/filters/<source>/``, unless the filter there was fitted
    from the same predictions, folds and settings (``common.io.unchanged``); an outdated one is
    moved to ``backup_root``. The new one is written beside and renamed into place.

    Args:
        cfg: An ``EnsembleConfig``.
        ws: The workspace (predictions, ``folds.csv``, data).

    Where no filter can be fitted (the source is not among this run's solutions, its OOF
    predictions cover fewer than 2 folds, or they cannot train a classifier), one line says
    why and the ensemble merges unfiltered: the full profile turns ``filter.fit`` on, and a
    run of one fold or without the U-Net must still give a submission.

    Returns:
        ``cfg`` itself without ``filter.fit``; else a copy whose ``filter.path`` is that folder
        (or, where none could be fitted, a copy without the filter).
    """
    f = cfg.filter
    if not f.fit:
        return cfg

    def unfiltered(why: str):
        log(f"  filter not fitted: {why}; merging unfiltered")
        return dataclasses.replace(cfg, filter=dataclasses.replace(f, fit=False, sources=[]))

    src = next((s for s in cfg.sources if s.label == f.sources[0] and s.solution), None)
    if src is None:
        return unfiltered(f"its source {f.sources[0]!r} is not in this ensemble "
                          f"({[s.label for s in cfg.sources]})")
    pred_dir, out = ws.predictions_dir(src.solution, "oof"), ws.root / "filters" / src.label
    fold_of = load_folds(ws.folds_csv).set_index("image_id")["fold"].to_dict() if ws.folds_csv.is_file() else {}
    covered = {fold_of[i] for i in list_predictions(pred_dir) if i in fold_of}
    if len(covered) < 2:
        return unfiltered(f"{pred_dir} holds OOF predictions of {len(covered)} fold(s); "
                          "cross-fitting needs 2 or more")
    inputs = {"oof": folder_fingerprint(pred_dir), "folds": file_fingerprint(ws.folds_csv),
              "features": f.features, "mode": f.mode}
    if unchanged(read_json(out / FIT_RECORD), inputs):
        log(f"  skip filter fit: {out} is up to date")
    else:
        tmp = out.with_name(f"{out.name}{TEMP_MARK}{os.getpid()}")
        try:
            summary = fit_folder(pred_dir, ws.folds_csv, ws.data_dir, tmp, f.features, f.mode,
                                 note=f"fitted by the ensemble (filter.fit) for source {src.label}")
        except ValueError as exc:  # e.g. every OOF instance true, or none: nothing to learn
            shutil.rmtree(tmp, ignore_errors=True)
            return unfiltered(one_line(exc))
        write_json(tmp / FIT_RECORD, {"inputs": inputs})
        if out.exists():
            move_aside(out, backup_root or ws.root / "backup" / timestamp(), ws.root)
        tmp.rename(out)
        log(f"  filter fitted on {summary['n_images']} OOF images of {src.label}: cross-fitted "
            f"DSB {summary['oof_dsb_unfiltered']:.4f} -> {summary['oof_dsb_filtered']:.4f} ({out})")
    return dataclasses.replace(cfg, filter=dataclasses.replace(f, path=str(out), fit=False))


def apply_folder(filter_path: Path, pred_dir: Path, out: Path, split: str, data: Path | None,
                 threshold: float | None = None, mode: str | None = None) -> int:
    """Filter every prediction of ``pred_dir`` into ``out`` (``prob`` kept); returns the count."""
    filters = FilterSet.load(filter_path, threshold, mode)
    images = None
    if filters.needs_image:
        if data is None:
            raise ValueError(f"{filter_path}: its filters use image features; give --data")
        images = ImageSource(data, split)
    files = list_predictions(pred_dir)
    for image_id, path in files.items():
        pred = load_prediction(path)
        image = images(image_id) if images is not None else None
        labels, scores = filters.for_image(image_id, split).apply(pred.labels, pred.scores,
                                                                 pred.prob, image, channels=pred.channels)
        save_prediction(out / f"{image_id}.npz", labels, scores, prob=pred.prob, channels=pred.channels,
                        floor_scale=pred.floor_scale)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ensemble.filter_cli", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    fit = sub.add_parser("fit", help="fit on OOF predictions")
    fit.add_argument("--pred-dir", type=Path, required=True, help="OOF predictions folder")
    fit.add_argument("--folds-csv", type=Path, required=True, help="folds.csv of those predictions")
    fit.add_argument("--data", type=Path, required=True, help="DSB folder with stage1_train")
    fit.add_argument("--out", type=Path, required=True, help="filter folder to write")
    fit.add_argument("--features", default="no_image", help=f"feature set: {sorted(FEATURE_SETS)}")
    fit.add_argument("--mode", choices=("drop", "score"), default="drop")
    fit.add_argument("--workers", type=int, default=2)
    fit.add_argument("--note", default="")
    app = sub.add_parser("apply", help="filter a predictions folder")
    app.add_argument("--filter", type=Path, required=True, help="filter folder (or file)")
    app.add_argument("--pred-dir", type=Path, required=True)
    app.add_argument("--out", type=Path, required=True)
    app.add_argument("--split", default="test", help="oof (fold filters) or test (full filter)")
    app.add_argument("--data", type=Path, help="DSB folder (for filters with image features)")
    app.add_argument("--threshold", type=float, help="override the saved threshold")
    app.add_argument("--mode", choices=("drop", "score"))
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = p.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # overlapping-mask notes of the data
            if args.cmd == "fit":
                s = fit_folder(args.pred_dir, args.folds_csv, args.data, args.out, args.features,
                               args.mode, args.workers, args.note)
                print(f"[filter] {args.out}: cross-fitted OOF DSB {s['oof_dsb_unfiltered']:.4f} -> "
                      f"{s['oof_dsb_filtered']:.4f} on {s['n_images']} images")
            else:
                n = apply_folder(args.filter, args.pred_dir, args.out, args.split, args.data,
                                 args.threshold, args.mode)
                print(f"[filter] {args.out}: {n} predictions filtered")
    except (ValueError, FileNotFoundError, OSError) as exc:
        if args.debug or debug_enabled():
            raise
        print(f"python -m ensemble.filter_cli: error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
