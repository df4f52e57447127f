"""Do post-processing thresholds tuned on some image kinds transfer to kinds never seen?

``post.tune`` (``solutions/unet/tune.py``) tunes the U-Net's watershed thresholds on its
out-of-fold (OOF) images, and the pipeline applies them to the test images. On stratified
folds those OOF images are of every kind, so the tuned thresholds have seen the test kinds;
on a new microscope they have not. This script asks that question on group folds
(``folds_group.csv``, each source kind held out whole), re-post-processing the saved
``prob`` maps of a group-OOF prediction folder (no network runs):

* ``--mode cross``: each fold's images get the thresholds tuned on the *other* folds'
  images (kinds their networks never saw either): what a user of a tuned model gets on a
  kind absent from training;
* ``--mode self``: each fold's images get thresholds tuned on themselves, the leaky upper
  bound (a user cannot tune on unlabelled test images);
* ``--mode fixed``: no tuning: every image gets the config's params with the ``--set``
  changes (a paired A/B of one post-processing switch on the same maps).

``--set KEY=V ...`` changes the untuned params (the start of tuning, or the fixed params).

The relabelled predictions go to ``--out-pred`` (one ``<id>.npz`` per image, with the same
``prob``), laid out as a ``bench/bench_normalise.py`` variant so its ``--combine`` pools
them against the untuned predictions per type, kind and fold. ``tune_transfer.json`` beside
them records the thresholds of each fold, the tuning scores, the grid, the command and the
machine. ``--grid KEY=V1,V2 ...`` replaces or adds a parameter's candidates (e.g.
``min_area_rel=0,0.1,0.2``, or ``min_area=5`` to hold it fixed).

Usage::

    .venv/bin/python bench/bench_tune_transfer.py --pred-dir WORK/split-group/predictions/unet/oof \\
        --folds-csv WORK/split-group/folds_group.csv --config WORK/split-group/runs/unet-fold0/config.yaml \\
        --data ../shared/dsb2018 --mode cross --out-pred NORM/c30_xtune/split-group/predictions/unet/oof
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from common.io import write_json  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402

__all__ = ["transfer", "main"]


def transfer(probs: dict, truth: dict, fold_of: dict, start: dict, mode: str, passes: int = 1,
             grid: dict | None = None) -> dict[int, dict]:
    """The post-processing params each fold's images get: tuned on the other folds' images
    (``mode="cross"``) or on the fold's own (``"self"``), by ``tune_params`` from ``start``.

    Args:
        probs: image id → float [H,W,C] U-Net maps.
        truth: image id → int [H,W] true labels.
        fold_of: image id → its group fold.
        start: The untuned params (``default_params``).
        mode: ``"cross"``, ``"self"`` or ``"fixed"`` (``start`` for every fold, no tuning).
        passes: Coordinate-ascent rounds.
        grid: Parameter → candidates (default ``solutions.unet.tune``'s for the channels).

    Returns:
        fold → ``{"params", "tuned_on", "tuning_score", "start_score"}``.
    """
    from solutions.unet.tune import tune_params

    if mode not in ("cross", "self", "fixed"):
        raise ValueError(f"mode must be 'cross', 'self' or 'fixed', got {mode!r}")
    out = {}
    for k in sorted(set(fold_of.values())):
        if mode == "fixed":
            out[k] = {"params": dict(start)}
            continue
        chosen = [i for i in truth if (fold_of[i] != k) == (mode == "cross")]
        if not chosen:
            raise ValueError(f"no images to tune fold {k} on in mode {mode!r}")
        params, best, first = tune_params({i: probs[i] for i in chosen}, {i: truth[i] for i in chosen},
                                          start, grid=grid, passes=passes, verbose=False)
        out[k] = {"params": params, "tuned_on": len(chosen), "tuning_score": round(best, 4),
                  "start_score": round(first, 4)}
        print(f"[tune_transfer] fold {k}: tuned on {len(chosen)} images {first:.4f} -> {best:.4f}: "
              f"{ {p: v for p, v in params.items() if v != start.get(p)} }", flush=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pred-dir", type=Path, required=True, help="group-OOF U-Net predictions (npz with prob)")
    p.add_argument("--folds-csv", type=Path, required=True, help="folds_group.csv of those predictions")
    p.add_argument("--config", type=Path, required=True, help="a run's config.yaml: the untuned params")
    p.add_argument("--data", type=Path, required=True, help="data folder holding stage1_train/")
    p.add_argument("--mode", choices=("cross", "self", "fixed"), default="cross")
    p.add_argument("--passes", type=int, default=1, help="coordinate-ascent rounds (the pipeline: 2)")
    p.add_argument("--out-pred", type=Path, required=True, help="folder for the relabelled predictions")
    p.add_argument("--grid", nargs="+", default=[], metavar="KEY=V1,V2,...",
                   help="replace or add a parameter's candidates in the tuning grid (numbers)")
    p.add_argument("--set", dest="sets", nargs="+", default=[], metavar="KEY=V",
                   help="change an untuned param (the start of tuning; with --mode fixed, the params)")
    args = p.parse_args(argv)
    number = (lambda v: float(v) if "." in v else int(v))
    try:
        extra = {key: [number(v) for v in values.split(",")]
                 for key, _, values in (g.partition("=") for g in args.grid)}
        changes = {key: number(v) for key, _, v in (item.partition("=") for item in args.sets)}
    except ValueError:
        raise SystemExit(f"bench_tune_transfer: --grid wants KEY=V1,V2,... and --set KEY=V numbers, "
                         f"got {args.grid} {args.sets}") from None

    from common.config import load_config
    from common.data import DSBDataset
    from common.folds import load_folds
    from common.instances import probs_to_instances
    from common.predictions import check_layout, load_prediction, save_prediction
    from solutions.unet.config import UNetConfig, default_params
    from solutions.unet.tune import GRID_CC, GRID_WATERSHED

    if args.out_pred.resolve() == args.pred_dir.resolve():
        raise SystemExit(f"bench_tune_transfer: --out-pred must differ from --pred-dir ({args.pred_dir})")
    t0 = time.monotonic()
    folds = load_folds(args.folds_csv).set_index("image_id")["fold"]
    ids = sorted(f.stem for f in args.pred_dir.glob("*.npz"))
    unknown = [i for i in ids if i not in folds.index]
    if not ids or unknown:
        raise SystemExit(f"bench_tune_transfer: {args.pred_dir}: " + (f"{unknown[0]}.npz is not in {args.folds_csv}"
                                                                    if unknown else "no predictions (*.npz)"))
    ds = DSBDataset(args.data, "stage1_train")
    preds = {i: load_prediction(args.pred_dir / f"{i}.npz") for i in ids}
    no_maps = [i for i, pred in preds.items() if pred.prob is None]
    if no_maps:
        raise SystemExit(f"bench_tune_transfer: {args.pred_dir / (no_maps[0] + '.npz')} has no prob maps "
                         f"({len(no_maps)} files without): predict with a U-Net, which saves them")
    probs = {i: pred.prob for i, pred in preds.items()}
    truth = {i: ds.load_labels(i) for i in ids}
    fold_of = {i: int(folds[i]) for i in ids}
    start = {**default_params(load_config(UNetConfig, args.config)), **changes}
    for i, pred in preds.items():
        check_layout(pred.channels, start, args.pred_dir / f"{i}.npz")
    grid = {**(GRID_WATERSHED if len(start["channels"]) > 1 else GRID_CC), **extra}
    per_fold = transfer(probs, truth, fold_of, start, args.mode, args.passes, grid)
    args.out_pred.mkdir(parents=True, exist_ok=True)
    for i in ids:
        labels, scores = probs_to_instances(probs[i], per_fold[fold_of[i]]["params"])
        save_prediction(args.out_pred / f"{i}.npz", labels, scores, prob=probs[i],
                        channels=preds[i].channels or start["channels"])
    command = shlex.join([".venv/bin/python", "bench/bench_tune_transfer.py",
                          *(argv if argv is not None else sys.argv[1:])])
    write_json(args.out_pred / "tune_transfer.json", {
        "command": command, "machine": machine_description(), "commit": git_commit(REPO, mark_dirty=True),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "mode": args.mode, "passes": args.passes,
        "start": start, "grid": grid, "images": len(ids), "wall_s": round(time.monotonic() - t0, 1),
        "folds": {str(k): v for k, v in per_fold.items()}})
    print(f"[tune_transfer] {len(ids)} images relabelled into {args.out_pred} in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
