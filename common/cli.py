"""What every solution's ``train`` and ``predict`` commands share.

The contract is in docs/CONTRACTS.md ("Solution command lines"); the pipeline calls
every solution the same way, so the parsers are defined once here, with the two steps
that follow parsing: :func:`open_train_run` (config, workspace, run folder) and
:func:`predict_target` (which images a predict command writes, and where).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.io import remove_stale_temps
from common.locks import hold_until_exit
from common.paths import SPLITS, Workspace
from common.predictions import adapt_path, adapted_weights_path, summary_path


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="data folder holding stage1_train/ (default: input/)")
    parser.add_argument("--work", help="output root for runs/, predictions/, folds.csv "
                                       "(default: $DSB_WORK_DIR or the repository)")
    add_split_by_arg(parser)
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also: DSB_DEBUG=1)")


def add_split_by_arg(parser: argparse.ArgumentParser, detect: bool = False) -> None:
    """``--split-by``: the fold split of the work folder. ``detect`` (commands that only read a
    work folder): without the flag the folder says which (``Workspace.from_args`` with
    ``split_by=None``: ``group`` for a ``--work`` named ``split-group``); else ``stratified``."""
    parser.add_argument("--split-by", choices=SPLITS, default=None if detect else "stratified",
                        help="fold split: stratified (folds.csv) or group (folds_group.csv: no image "
                             "kind in two folds; runs live under WORK/split-group/); default "
                             + ("group for a --work named split-group, else stratified" if detect
                                else "stratified"))


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
    """``--run --split --data --work --test-split --solution --limit --only --set``."""
    parser.add_argument("--run", required=True, help="run folder, or its name under WORK/runs")
    parser.add_argument("--split", required=True, choices=("oof", "test"))
    add_common_args(parser)
    parser.add_argument("--test-split", default="stage1_test", choices=("stage1_test", "stage2_test_final"))
    parser.add_argument("--solution", help="predictions folder name (default: the run's solution)")
    parser.add_argument("--only", type=Path, metavar="FILE",
                        help="a text file of image ids, one per line: predict only those of the "
                             "split's images (benchmarks that compare two splits on the same images)")
    parser.add_argument("--limit", type=int, default=0, help="predict only the first N images (smoke tests)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                        metavar="KEY=VALUE",
                        help="predict-time overrides of the run's config, e.g. post.mask_threshold=0.6 "
                             "data.normalise=gray_invert_percentile (keys that shape the network must "
                             "stay as trained); a folder share predicted with other items is predicted again")


def narrow_ids(ids: list[str], only: Path | None = None, limit: int = 0) -> list[str]:
    """``ids`` (in their order) kept to those listed in ``only`` (a file, one id per line,
    ``#`` comments allowed), then to the first ``limit`` (> 0). An unreadable or empty
    ``only`` file is an error naming it; ids it lists that are not among ``ids`` (other
    folds' images) are skipped."""
    if only is not None:
        try:
            lines = Path(only).read_text().splitlines()
        except OSError as exc:
            raise FileNotFoundError(f"{only}: cannot read the --only id list ({exc.strerror})") from exc
        wanted = {line.split("#")[0].strip() for line in lines} - {""}
        if not wanted:
            raise ValueError(f"{only}: the --only id list names no image")
        ids = [i for i in ids if i in wanted]
    return ids[:limit] if limit > 0 else ids


def workspace(args: argparse.Namespace) -> Workspace:
    """The workspace named by ``--work`` / ``--data`` / ``--split-by``."""
    return Workspace.from_args(getattr(args, "work", None), getattr(args, "data", None),
                               getattr(args, "split_by", None) or "stratified")


def run_split(run) -> str:
    """The fold split a run folder was trained on (``run_info.json``; absent: ``stratified``)."""
    import json

    path = Path(run.info_path)
    if not path.is_file():
        return "stratified"
    try:
        return str(json.loads(path.read_text()).get("split_by", "stratified"))
    except (json.JSONDecodeError, AttributeError):
        return "stratified"


def check_split(run, split_by: str) -> None:
    """Refuse a run folder started on another fold split.

    Raises:
        common.runs.RunConflictError: naming ``run_info.json`` and both splits.
    """
    from common.runs import RunConflictError

    if not Path(run.info_path).is_file():  # a new run: nothing to check yet
        return
    have = run_split(run)
    if have != split_by:
        raise RunConflictError(f"{run.info_path}: this run was trained on the {have} split, not "
                               f"{split_by}; use --split-by {have} or another --run-name/--work")


def _split_run_dir(path: Path, split_by: str):
    """A :class:`common.runs.RunDir` whose ``claim`` records and checks ``split_by``."""
    from common.runs import RunDir

    class SplitRunDir(RunDir):
        def claim(self, info: dict, keys=("fold",)) -> None:
            check_split(self, split_by)
            super().claim({**info, "split_by": split_by}, keys)

    return SplitRunDir(path)


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
    where = f"{path}" if named == path else f"{path} (nor {named})"
    raise FileNotFoundError(f"run not found: {where}")


def config_n_folds(cfg: Any) -> int | None:
    """The number of folds a solution config trains with (its top-level ``n_folds``)."""
    n_folds = getattr(cfg, "n_folds", None)
    return n_folds if isinstance(n_folds, int) else None


def check_fold(fold: int, n_folds: int | None, source: Any = "the config") -> None:
    """Raise :class:`common.folds.FoldsError` unless ``0 <= fold < n_folds``."""
    from common.folds import FoldsError

    if n_folds is not None and not 0 <= fold < n_folds:
        raise FoldsError(f"--fold {fold}: {source} has {n_folds} folds (0..{n_folds - 1})")


def open_train_run(args: argparse.Namespace, config_cls: type) -> tuple[Any, Workspace, Any]:
    """The config, workspace and prepared run folder of a parsed train command.

    The config is ``--config`` with the ``--set`` overrides; the run folder is
    ``--run-name`` (default ``<solution>-fold<K>``) under the workspace's ``runs/``
    (``WORK/split-group/runs/`` with ``--split-by group``). Its ``claim`` also records
    ``split_by`` in ``run_info.json``, and a folder trained on the other split is refused.

    Returns:
        ``(cfg, ws, run)`` with ``run`` a :class:`common.runs.RunDir` holding ``config.yaml``.

    Raises:
        common.runs.RunConflictError: the folder was made with another config or split.
    """
    from common.config import load_config

    cfg = load_config(config_cls, args.config, args.overrides)
    check_fold(args.fold, config_n_folds(cfg), args.config)  # before any folder is made
    ws = workspace(args)
    run = _split_run_dir(ws.run_dir(args.run_name or f"{cfg.solution}-fold{args.fold}"), ws.split_by)
    check_split(run, ws.split_by)  # before a solution looks at the folder (e.g. "finished")
    hold_until_exit(run.path, "train")  # one writer per run folder; a second one is refused
    remove_stale_temps(run.path, recursive=True)  # left by a killed writer of this run
    run.settle()  # and the checkpoint it was writing: finished if state.json recorded it, else undone
    run.prepare(cfg)
    return cfg, ws, run


@dataclass
class PredictTarget:
    """The images a predict command writes and where.

    Attributes:
        dataset: The split read (``stage1_train`` for ``oof``).
        ids: Image ids to predict.
        out_dir: ``predictions/<solution>/oof`` or ``predictions/<solution>/test_fold<K>``.
        fold: The run's validation fold.
        summary_fold: ``fold`` for ``oof/`` (its ``_summary_fold<K>.json`` marks the fold
            done), ``None`` for a test folder (``_summary.json``).
    """

    dataset: Any
    ids: list[str]
    out_dir: Path
    fold: int
    summary_fold: int | None


def predict_target(ws: Workspace, run, solution: str, split: str, test_split: str = "stage1_test",
                   n_folds: int = 5, seed: int = 42) -> PredictTarget:
    """What a predict command writes for ``run`` (a :class:`common.runs.RunDir`).

    ``split="oof"``: the run's validation-fold images of ``stage1_train`` (``ws.folds_csv``,
    made with ``n_folds`` / ``seed`` if absent; a run trained on another split raises
    ``RunConflictError``) into ``oof/``; ``split="test"``: every image
    of ``test_split`` (labels from its solution CSV when present) into ``test_fold<K>/``.
    """
    from common.data import DSBDataset, load_split
    from common.folds import get_folds, split_ids

    fold = run.fold
    if split == "oof":
        check_split(run, ws.split_by)  # out-of-fold images of the split the run trained on
        dataset = DSBDataset(ws.data_dir, "stage1_train")
        folds = get_folds(dataset, ws.folds_csv, n_folds=n_folds, seed=seed)
        target = PredictTarget(dataset, list(split_ids(folds, fold)[1]),
                               ws.predictions_dir(solution, "oof"), fold, fold)
    elif split == "test":
        dataset = load_split(ws.data_dir, test_split)
        target = PredictTarget(dataset, list(dataset.ids),
                               ws.predictions_dir(solution, f"test_fold{fold}"), fold, None)
    else:
        raise ValueError(f"split must be 'oof' or 'test', got {split!r}")
    hold_until_exit(run.path, f"predict {split}")  # not while the run trains, nor twice at once
    # a killed predict's temp files; oof/ is shared by the folds: only this run's images
    remove_stale_temps(target.out_dir, names={f"{i}.npz" for i in target.ids} | {
        summary_path(target.out_dir, target.summary_fold).name, adapt_path(target.out_dir, target.summary_fold).name,
        adapted_weights_path(target.out_dir, target.summary_fold).name})
    return target


def debug_enabled() -> bool:
    """Whether tracebacks are wanted (``--debug`` on the command line or ``DSB_DEBUG=1``)."""
    return "--debug" in sys.argv[1:] or os.environ.get("DSB_DEBUG", "") not in ("", "0")


def one_line(exc: BaseException) -> str:
    """An exception as one line; an ``OSError`` names its path and errno text."""
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, MemoryError):
        text = f"out of memory ({exc})" if str(exc) else "out of memory"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def run_main(main: Callable[[], int], prog: str) -> int:
    """Run a command's ``main()``; an expected error prints one line and returns 2.

    Expected errors are bad input the user can fix: a config error (YAML syntax included),
    a data error, a run folder made for something else or in use by another process, a fold
    out of range, a missing, unreadable or unwritable file or a full disk (``OSError``
    naming the path), an absurd size. Their messages name the file; with ``--debug`` or
    ``DSB_DEBUG=1`` the traceback is shown instead. Any other exception keeps its
    traceback. Use as ``sys.exit(run_main(main, "python -m ..."))``.
    """
    from common.config import ConfigError
    from common.data import DataError
    from common.folds import FoldsError
    from common.lifeline import follow_parent
    from common.locks import FolderBusyError
    from common.runs import RunConflictError

    follow_parent()  # started by the pipeline: stop when it dies
    try:
        return main()
    except (ConfigError, DataError, RunConflictError, FoldsError, FolderBusyError, OSError,
            MemoryError) as exc:
        if debug_enabled():
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2
