"""Command line: ``python -m ensemble --config ensemble/configs/demo.yaml [options]``.

Merges the configured sources' OOF and test predictions into
``WORK/predictions/<output>/{oof,test}/``, prints the DSB score of every source and of
the ensemble where labels exist, writes ``WORK/submissions/<name>.csv`` (validated;
never over an existing file: ``--force`` first moves it to ``WORK/backup/``) and, with ``--submit``, sends it to
Kaggle when credentials exist (otherwise says what is missing).

Exit status: 0 on success; 2 with one line on stderr for bad input (or a work folder
that another process is using), or when ``--submit`` could not submit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.cli import add_split_by_arg, debug_enabled, one_line
from common.config import ConfigError, load_config
from common.kaggle import submit_to_kaggle
from common.locks import FolderBusyError, folder_lock
from common.paths import CONFIGS, Workspace
from ensemble.config import EnsembleConfig
from ensemble.merge import EnsembleError
from ensemble.run import make_submission, run_ensemble


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ensemble", description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=CONFIGS["ensemble"] / "demo.yaml",
                   help="ensemble YAML (default ensemble/configs/demo.yaml)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. vote.min_votes=1")
    p.add_argument("--solutions", help="comma list: merge exactly these solutions "
                                       "(configured weights kept, others weight 1)")
    p.add_argument("--work", type=Path, help="workspace root (default $DSB_WORK_DIR or the repo)")
    p.add_argument("--data", type=Path, help="DSB data folder (default input/)")
    add_split_by_arg(p, detect=True)
    p.add_argument("--folds", help="comma list of fold indices: merge only their test_fold<k> "
                   "folders and score OOF on their images (default: every folder found)")
    p.add_argument("--splits", default="oof,test", help="comma list of oof,test (default both)")
    p.add_argument("--test-split", choices=["stage1_test", "stage2_test_final"],
                   help="data split of the test predictions (default: detected)")
    p.add_argument("--name", help="submission name (default the config's name)")
    p.add_argument("--no-submission", action="store_true", help="do not write a submission")
    p.add_argument("--force", action="store_true",
                   help="rebuild merged predictions; replace submissions/<name>.csv (the old "
                        "one is moved to WORK/backup/)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p.add_argument("--submit", action="store_true", help="send the submission with the kaggle CLI")
    p.add_argument("-m", "--message", default="dsb2018 ensemble", help="Kaggle submission message")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ws = Workspace.from_args(args.work, args.data, args.split_by)
    try:
        with folder_lock(ws.root, "ensemble"):  # not while a pipeline works in this folder
            return _run(args, ws)
    except (ConfigError, EnsembleError, FileNotFoundError, FolderBusyError, OSError,
            ValueError) as exc:
        if debug_enabled():
            raise
        print(f"python -m ensemble: error: {one_line(exc)}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, ws: Workspace) -> int:
    cfg = load_config(EnsembleConfig, args.config, args.set)
    if args.solutions:
        cfg = cfg.with_solutions([s for s in args.solutions.split(",") if s])
    splits = [s for s in args.splits.split(",") if s]
    folds = None
    if args.folds:
        try:
            folds = sorted({int(t) for t in args.folds.split(",") if t.strip()})
        except ValueError:
            raise ConfigError(f"--folds {args.folds!r}: expected a comma list like 0,1") from None
    run_ensemble(cfg, ws, ws.data_dir, splits, args.test_split, force=args.force, folds=folds)
    if "test" in splits and not args.no_submission:
        path = make_submission(ws, ws.data_dir, ws.predictions_dir(cfg.output, "test"),
                               args.name or cfg.name, args.test_split, overwrite=args.force)
        if args.submit and not submit_to_kaggle(path, args.message):
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
