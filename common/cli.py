"""The command-line arguments every solution's ``train`` and ``predict`` share.

The contract is in docs/CONTRACTS.md ("Solution command lines"); the pipeline calls
every solution the same way, so the parsers are defined once here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.paths import Workspace


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="data folder holding stage1_train/ (default: input/)")
    parser.add_argument("--work", help="output root for runs/, predictions/, folds.csv "
                                       "(default: $DSB_WORK_DIR or the repository)")


def add_train_args(parser: argparse.ArgumentParser) -> None:
    """``--config --fold --data --work --run-name --set --verbose``.

    ``--set`` takes one or more ``key.sub=value`` items and may be repeated
    (``--set a=1 b=2 --set c=3``); later items win.
    """
    parser.add_argument("--config", required=True, help="YAML config")
    parser.add_argument("--fold", type=int, required=True, help="validation fold of folds.csv")
    add_common_args(parser)
    parser.add_argument("--run-name", help="run folder name (default <solution>-fold<K>)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                        metavar="KEY=VALUE", help="config overrides, e.g. train.epochs=3")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras fit verbosity")


def add_predict_args(parser: argparse.ArgumentParser) -> None:
    """``--run --split --data --work --test-split --solution``."""
    parser.add_argument("--run", required=True, help="run folder, or its name under WORK/runs")
    parser.add_argument("--split", required=True, choices=("oof", "test"))
    add_common_args(parser)
    parser.add_argument("--test-split", default="stage1_test", choices=("stage1_test", "stage2_test_final"))
    parser.add_argument("--solution", help="predictions folder name (default: the run's solution)")


def workspace(args: argparse.Namespace) -> Workspace:
    """The workspace named by ``--work`` / ``--data``."""
    return Workspace.from_args(getattr(args, "work", None), getattr(args, "data", None))


def resolve_run(run: str, ws: Workspace) -> Path:
    """A run folder from ``--run``: a path, else a name under ``ws.runs_dir``.

    Raises:
        FileNotFoundError: naming both places looked at.
    """
    path = Path(run).expanduser()
    if path.is_dir():
        return path.resolve()
    named = ws.run_dir(run)
    if named.is_dir():
        return named
    raise FileNotFoundError(f"run not found: {path} (nor {named})")
