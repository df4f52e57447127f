"""Command line for the second-level instance filter.

Fit on a model's out-of-fold predictions (a full filter for test images, and one filter per
fold, fitted without that fold, for its OOF images)::

    python -m ensemble.filter_cli fit --pred-dir WORK/predictions/unet/oof \\
        --folds-csv WORK/folds.csv --data input --out WORK/filters/unet [--features no_image]

Apply it to a predictions folder (OOF images get their fold's filter, others the full one)::

    python -m ensemble.filter_cli apply --filter WORK/filters/unet \\
        --pred-dir WORK/predictions/unet/oof --split oof --out WORK/predictions/unet-filtered/oof

Or let the ensemble apply it: ``python -m ensemble --set filter.path=filters/unet
filter.sources=[unet]``. Exit status 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path

from common.cli import debug_enabled, one_line
from common.data import load_split
from common.folds import load_folds
from common.instance_features import FEATURE_SETS
from common.io import write_json
from common.predictions import list_predictions, load_prediction, save_prediction
from ensemble.filter_data import collect_instances, crossfit
from ensemble.filter_set import FilterSet, ImageSource
from ensemble.instance_filter import InstanceFilter

__all__ = ["fit_folder", "apply_folder", "main"]


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
                                                                 pred.prob, image)
        save_prediction(out / f"{image_id}.npz", labels, scores, prob=pred.prob)
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
