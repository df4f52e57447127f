"""Per image type, does one source beat the ensemble? Measured on OOF, cross-fitted by fold.

The two model families fail on different kinds of image (issue 14), so the ensemble may do
better taking, on some image type, one source alone (``by_type`` in the ensemble config,
``ensemble.config``). This command measures it on the out-of-fold (OOF) predictions:

* per image type, the DSB score of the ensemble's OOF predictions and of each source's, with
  the paired difference (source − ensemble, mean ± standard error over images);
* the **choice** per type: the source whose difference is largest and more than
  ``--margin`` standard errors above zero, on at least ``--min-images`` images; else the
  ensemble;
* an honest estimate of what choosing gains, **cross-fitted by fold**: the images of fold k
  get the choice made on the other folds' images only, and the resulting per-image scores
  are compared with the ensemble's on the same images.

It prints the tables and the ``by_type`` block to paste into the config, and writes them to
``WORK/reports/ensemble_by_type.md`` / ``.json``. It reads the OOF folders as they are: run
``python -m ensemble --splits oof`` (or the pipeline) first, with ``by_type`` empty. Only the
images every source predicted are compared (a source run on fewer folds is not charged
for the rest). A source's own OOF predictions
stand for it alone, before the ensemble's instance filter (``filter``), if any.

Usage::

    python -m ensemble.by_type --config ensemble/configs/full.yaml --work WORK [--data input]

Exit status: 0, or 2 with one line naming the file for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.cli import add_split_by_arg
from common.io import atomic_write_text, write_json
from common.paths import CONFIGS, Workspace
from common.stats import mean_se

__all__ = ["choose", "crossfit_choice", "type_table", "main"]

ENSEMBLE = "ensemble"


def type_table(scores: pd.DataFrame, types: pd.Series) -> pd.DataFrame:
    """Per type (and ``all``): images, each column's mean, and each source's paired
    difference from the ``ensemble`` column (mean, standard error)."""
    rows = {}
    for kind, part in [*scores.groupby(types.reindex(scores.index)), ("all", scores)]:
        row: dict = {"images": len(part)}
        for col in scores.columns:
            row[col] = float(part[col].mean())
            if col != ENSEMBLE:
                row[f"{col} − {ENSEMBLE}"], row[f"se {col}"] = mean_se(part[col] - part[ENSEMBLE])
        rows[kind] = row
    table = pd.DataFrame(rows).T
    return table.astype({"images": int})


def choose(scores: pd.DataFrame, types: pd.Series, min_images: int = 8, margin: float = 2.0) -> dict[str, str]:
    """Image type -> the source to take alone there (types where the ensemble stays are left out)."""
    out = {}
    for kind, part in scores.groupby(types.reindex(scores.index)):
        if len(part) < max(2, min_images):
            continue
        best, best_gain = None, 0.0
        for col in scores.columns:
            if col == ENSEMBLE:
                continue
            gain, se = mean_se(part[col] - part[ENSEMBLE])
            if gain > margin * se and gain > best_gain:
                best, best_gain = col, gain
        if best is not None:
            out[str(kind)] = best
    return out


def crossfit_choice(scores: pd.DataFrame, types: pd.Series, folds: pd.Series,
                    min_images: int = 8, margin: float = 2.0) -> tuple[pd.Series, dict[int, dict[str, str]]]:
    """Per image, the score it gets when fold k uses the choice made on the other folds."""
    types, folds = types.reindex(scores.index), folds.reindex(scores.index)
    picked = scores[ENSEMBLE].copy()
    choices = {}
    for k in sorted(folds.dropna().unique()):
        held = folds == k
        choice = choose(scores[~held], types[~held], min_images, margin)
        choices[int(k)] = choice
        for kind, source in choice.items():
            rows = held & (types == kind)
            picked[rows] = scores.loc[rows, source]
    return picked, choices


def _yaml_block(choice: dict[str, str], sources: Sequence[str]) -> str:
    if not choice:
        return "by_type: {}   # no type where one source beats the ensemble by the margin"
    lines = ["by_type:"]
    for kind, source in sorted(choice.items()):
        weights = ", ".join(f"{s}: {1.0 if s == source else 0.0}" for s in sources)
        lines.append(f"  {kind}: {{{weights}}}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ensemble.by_type", description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=CONFIGS["ensemble"] / "demo.yaml", help="ensemble YAML")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--work", type=Path, help="workspace root (default $DSB_WORK_DIR or the repo)")
    p.add_argument("--data", type=Path, help="DSB data folder (default input/)")
    add_split_by_arg(p, detect=True)
    p.add_argument("--min-images", type=int, default=8, help="OOF images a type needs for a choice")
    p.add_argument("--margin", type=float, default=2.0, help="standard errors a source must gain by")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from common.config import ConfigError, load_config
    from common.folds import load_folds
    from ensemble.config import EnsembleConfig
    from ensemble.evaluate import Truth, score_folder
    from common.io import read_json
    from common.predictions import list_predictions
    from ensemble.merge import source_folders
    from pipeline.plots import markdown_table

    args = parse_args(argv)
    ws = Workspace.from_args(args.work, args.data, args.split_by)
    cfg = load_config(EnsembleConfig, args.config, args.set)
    if cfg.by_type:
        raise ConfigError(f"{args.config} already has by_type weights: measure the plain ensemble "
                          "(merged and measured with --set 'by_type={}')")
    folders = {}
    for src in cfg.sources:
        if src.pixel_group:
            raise ConfigError(f"{args.config}: source {src.label} is in pixel_group {src.pixel_group!r}; "
                                "by_type compares single sources")
        found = source_folders(src, ws, "oof")
        if found:
            folders[src.label] = found[0]
    folders[ENSEMBLE] = ws.predictions_dir(cfg.output, "oof")
    summary = read_json(folders[ENSEMBLE] / "_summary.json")
    if not summary:
        raise FileNotFoundError(f"{folders[ENSEMBLE]}: no merged OOF predictions; run python -m ensemble "
                                f"--config {args.config} --splits oof first")
    if (summary.get("inputs", {}).get("config") or {}).get("by_type"):
        raise FileNotFoundError(f"{folders[ENSEMBLE]}: merged with by_type weights; merge the plain "
                                "ensemble first (python -m ensemble --splits oof --set 'by_type={}')")
    if len(folders) < 3:
        raise FileNotFoundError(f"{ws.root / 'predictions'}: OOF predictions of {len(folders) - 1} source(s); "
                            "a choice needs at least two")
    meta = load_folds(ws.folds_csv).set_index("image_id")
    truth = Truth(ws.data_dir, "stage1_train")
    labelled = set(truth.ids())
    predicted = set.intersection(*(set(list_predictions(f)) for f in folders.values()))
    ids = [i for i in meta.index if i in labelled and i in predicted]  # every source predicted
    if len(ids) < 2:
        raise FileNotFoundError(f"{ws.root / 'predictions'}: {len(ids)} OOF image(s) predicted by every "
                                f"source ({', '.join(folders)})")
    left_out = len([i for i in meta.index if i in labelled]) - len(ids)
    scores = pd.DataFrame({name: score_folder(folder, truth, ids) for name, folder in folders.items()})
    scores = scores[[c for c in folders if c != ENSEMBLE] + [ENSEMBLE]]
    types, folds = meta["cluster"], meta["fold"]
    table = type_table(scores, types)
    choice = choose(scores, types, args.min_images, args.margin)
    picked, per_fold = crossfit_choice(scores, types, folds, args.min_images, args.margin)
    gain, se = mean_se(picked - scores[ENSEMBLE])
    block = _yaml_block(choice, [s.label for s in cfg.sources])
    lines = ["# Per image type: one source alone, or the ensemble?", "",
             f"OOF predictions under `{ws.root / 'predictions'}`, the {len(scores)} images every source "
             f"predicted ({left_out} labelled OOF images left out), config "
             f"`{args.config}`. DSB mean AP per image; `X − ensemble`: mean of the paired "
             "differences, `se`: its standard error.", "",
             markdown_table(table.astype(object).map(lambda v: f"{v:.4f}" if isinstance(v, float) else v),
                            index_name="type"), "",
             f"Choice on all folds (min {args.min_images} images, margin {args.margin} s.e.):", "",
             "```yaml", block, "```", "",
             f"Cross-fitted by fold (each fold gets the choice of the other folds): ensemble "
             f"{scores[ENSEMBLE].mean():.4f}, with the per-type choice {picked.mean():.4f}, "
             f"difference {gain:+.4f} ± {se:.4f}. Choices per held-out fold: {per_fold}.", ""]
    text = "\n".join(lines)
    print(text)
    ws.reports_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ws.reports_dir / "ensemble_by_type.md", text)
    write_json(ws.reports_dir / "ensemble_by_type.json", {
        "config": str(args.config), "images": len(scores), "left_out": left_out, "choice": choice,
        "crossfit": {"ensemble": float(scores[ENSEMBLE].mean()), "by_type": float(picked.mean()),
                     "difference": gain, "se": se, "choices": {str(k): v for k, v in per_fold.items()}},
        "per_type": {str(k): v for k, v in table.to_dict(orient="index").items()}})
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    sys.exit(run_main(main, "python -m ensemble.by_type"))
