"""Pipeline stages after the data: folds → train → predict → ensemble → submission.

Every stage skips the work already done, so running the pipeline again after a crash
resumes where it stopped:

* folds: ``WORK/folds.csv`` is reused when it covers the data (``common.folds.get_folds``);
* train: a run with ``train_summary.json`` is finished; an unfinished run folder is
  resumed by the training CLI itself;
* predict: a fold's OOF share is done when its images all have a prediction newer than
  the run's ``train_summary.json`` and its marker ``oof/_summary_fold<k>.json`` is newer
  too (folders written before per-fold summaries, with none of them: the images alone);
  a U-Net run whose config tunes its post-processing (``post.tune``) also needs a
  ``thresholds.json`` newer than the run. A ``test_fold<k>`` folder has ``_summary.json``
  and exactly the test split's images, newer than the run;
* ensemble: the merged folders record the config and inputs they were built from;
* submission: the last submission is reused while the merged test folder is unchanged.

``force`` redoes a stage's work; old outputs are moved into ``WORK/backup/<timestamp>/``,
never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from common.config import load_config
from common.data import DSBDataset, image_folders
from common.folds import get_folds, split_ids
from common.io import folder_fingerprint, move_aside, read_json, timestamp, unchanged, write_json
from common.kaggle import COMPETITION, submit_to_kaggle
from common.paths import CONFIGS, Workspace
from common.predictions import folder_state, list_predictions, newer_than, oof_fold_done, summary_path
from ensemble.config import EnsembleConfig
from ensemble.run import make_submission, run_ensemble
from pipeline.overrides import split_sets
from pipeline.progress import TaskProgress
from pipeline.registry import SolutionSpec
from pipeline.tasks import Task, python_cmd, run_tasks

__all__ = ["Context", "PipelineError", "split_sets", "folds_stage", "train_stage",
           "oof_done", "predict_stage", "ensemble_config", "ensemble_stage", "submission_stage",
           "run_name", "STATE_FILE"]

STATE_FILE = "pipeline_state.json"


class PipelineError(RuntimeError):
    """A stage cannot run; the message says why and what to do."""


@dataclass
class Context:
    """Everything a stage needs.

    Attributes:
        ws: Workspace (``ws.data_dir`` is the data the run uses).
        profile: ``demo`` or ``full``.
        solutions: Selected solutions.
        folds: Fold indices to train.
        n_folds: Folds in ``folds.csv``.
        test_split: ``stage1_test`` or ``stage2_test_final``.
        gpus: 0 (sequential, devices untouched), 1, or N (N runs in parallel).
        jobs: Without several GPUs, run this many subprocesses at a time (CPU).
        force: Redo work already done (old outputs moved aside).
        tiny: Use the registry's tiny overrides.
        sets: ``[target:]key=value`` overrides (target: a solution, a package or ``ensemble``).
        seed: Folds seed.
        submit: Send the submission to Kaggle.
        message: Kaggle submission message.
        echo: Console printer.
        runner: Runs a stage's task list (``pipeline.executor_ray.RayExecutor.run``); None:
            the local executor (``pipeline.tasks.run_tasks`` with ``gpus`` and ``jobs``).
    """

    ws: Workspace
    profile: str
    solutions: list[SolutionSpec]
    folds: list[int]
    n_folds: int
    test_split: str = "stage1_test"
    gpus: int = 0
    jobs: int = 1
    force: bool = False
    tiny: bool = False
    sets: list[str] = field(default_factory=list)
    seed: int = 42
    submit: bool = False
    message: str = ""
    echo: Callable[[str], None] = print
    runner: Callable[[list[Task]], float] | None = None
    stamp: str = field(default_factory=timestamp)
    folds_df: pd.DataFrame | None = None

    @property
    def backup_root(self) -> Path:
        return self.ws.root / "backup" / self.stamp

    @property
    def logs_dir(self) -> Path:
        return self.ws.root / "logs"

    def move_aside(self, path: Path) -> None:
        where = move_aside(path, self.backup_root, self.ws.root)
        if where is not None:
            self.echo(f"  moved {path} to {where}")

    def run_tasks(self, tasks: list[Task], stage: str = "tasks") -> float:
        """Run a stage's tasks with this pipeline's executor; wall-clock seconds. Run here,
        each task's end line gets the stage's progress (``pipeline.progress.TaskProgress``)."""
        if self.runner is not None:
            return self.runner(tasks)
        workers = self.gpus if self.gpus > 1 else max(self.jobs, 1)  # as run_tasks runs them
        progress = TaskProgress(stage, len(tasks), self.echo, workers=workers)
        return run_tasks(tasks, self.gpus, progress.echo, self.jobs)

    def state(self) -> dict:
        return read_json(self.ws.root / STATE_FILE, {}) or {}

    def save_state(self, **updates) -> None:
        state = self.state()
        state.update(updates)
        write_json(self.ws.root / STATE_FILE, state)


def run_name(spec: SolutionSpec, fold: int) -> str:
    """``<solution>-fold<k>``."""
    return f"{spec.name}-fold{fold}"


# ---------------------------------------------------------------------------- folds
def folds_stage(ctx: Context) -> pd.DataFrame:
    """Make or reuse ``ctx.ws.folds_csv`` (``force``: the old one is moved aside).

    That is ``WORK/folds.csv``, or ``WORK/split-group/folds_group.csv`` with ``--split-by group``.
    """
    dataset = DSBDataset(ctx.ws.data_dir, "stage1_train")
    if ctx.force and ctx.ws.folds_csv.exists():
        ctx.move_aside(ctx.ws.folds_csv)
    try:
        df = get_folds(dataset, ctx.ws.folds_csv, n_folds=ctx.n_folds, seed=ctx.seed)
    except ValueError as exc:
        raise PipelineError(
            f"{exc}\n(this work dir holds folds for other data or another fold count: use "
            "--work NEWDIR to start afresh, or run again with --force and without --stages to "
            "remake the folds and redo every stage; the old outputs are moved to "
            "WORK/backup/<time>/)") from exc
    bad = [k for k in ctx.folds if k not in set(df["fold"])]
    if bad:
        raise PipelineError(f"--folds {bad}: folds.csv has folds 0..{ctx.n_folds - 1}")
    counts = df.groupby("cluster").size().to_dict()
    groups = f", {df['group'].nunique()} groups (none split)" if "group" in df.columns else ""
    ctx.echo(f"[folds] {ctx.ws.folds_csv}: {len(df)} images, {ctx.n_folds} folds{groups}, types {counts}")
    ctx.folds_df = df
    return df


# ---------------------------------------------------------------------------- train
def train_stage(ctx: Context) -> None:
    """Train every selected solution on every selected fold (subprocesses)."""
    tasks = []
    for spec in ctx.solutions:
        for k in ctx.folds:
            name = run_name(spec, k)
            run = ctx.ws.run_dir(name)
            if (run / "train_summary.json").is_file() and not ctx.force:
                ctx.echo(f"  skip train {name}: finished ({run / 'train_summary.json'})")
                continue
            if ctx.force:
                ctx.move_aside(run)
            items = spec.set_items(ctx.profile, ctx.n_folds, ctx.tiny, tuple(split_sets(ctx.sets, spec)))
            cmd = python_cmd(spec.train_module(), "--config", str(spec.config(ctx.profile)),
                             "--fold", str(k), "--data", str(ctx.ws.data_dir),
                             "--work", str(ctx.ws.root), "--split-by", ctx.ws.split_by,
                             "--run-name", name, "--verbose", "2",  # logs: a line per epoch
                             *spec.set_args(items))
            tasks.append(Task(f"train {name}", [cmd], ctx.logs_dir / f"train-{name}.log", (run,)))
    if tasks:
        ctx.run_tasks(tasks, "train")


# ---------------------------------------------------------------------------- predict
def _test_ids(ctx: Context) -> list[str]:
    folder = ctx.ws.data_dir / ctx.test_split
    if not folder.is_dir():
        raise PipelineError(f"{folder}: test split missing")
    return image_folders(folder)


def _tunes_thresholds(spec: SolutionSpec, run: Path) -> bool:
    """Whether a run tunes its post-processing on OOF (its preset's ``tune_key`` is true
    in the run's resolved config)."""
    if not spec.tune_key:
        return False
    try:
        value = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    for key in spec.tune_key.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return bool(value)


def oof_done(spec: SolutionSpec, run: Path, oof_dir: Path, fold: int,
             val_ids: list[str]) -> tuple[bool, str]:
    """Whether fold ``fold``'s OOF prediction is complete (``common.predictions.oof_fold_done``).

    Returns:
        ``(done, why not)``.
    """
    return oof_fold_done(run, oof_dir, fold, val_ids, tunes=_tunes_thresholds(spec, run))


def predict_stage(ctx: Context) -> None:
    """Predict the OOF fold and the test split with every trained run (subprocesses)."""
    folds_df = ctx.folds_df if ctx.folds_df is not None else folds_stage(ctx)
    test_ids = _test_ids(ctx)
    tasks = []
    for spec in ctx.solutions:
        for k in ctx.folds:
            name = run_name(spec, k)
            run = ctx.ws.run_dir(name)
            summary = run / "train_summary.json"
            if not summary.is_file():
                raise PipelineError(f"{run}: not trained (no train_summary.json); run the train stage")
            common = ["--run", str(run), "--data", str(ctx.ws.data_dir), "--work", str(ctx.ws.root),
                      "--split-by", ctx.ws.split_by, "--solution", spec.name]
            cmds, what = [], []
            # out-of-fold (a U-Net tunes its thresholds here, so it runs before test)
            oof_dir = ctx.ws.predictions_dir(spec.name, "oof")
            val_ids = split_ids(folds_df, k)[1]
            val_files = [oof_dir / f"{i}.npz" for i in val_ids]
            done, why = oof_done(spec, run, oof_dir, k, val_ids)
            if ctx.force or not done:
                if not ctx.force:
                    ctx.echo(f"  predict oof {name}: {why}")
                for f in [*val_files, summary_path(oof_dir, k)]:  # --force, or stale: move aside
                    if f.exists() and (ctx.force or not newer_than([f], summary)):
                        ctx.move_aside(f)
                cmds.append(python_cmd(spec.predict_module(), *common, "--split", "oof"))
                what.append("oof")
            else:
                ctx.echo(f"  skip predict oof {name}: {len(val_files)} images done")
            # test
            test_dir = ctx.ws.predictions_dir(spec.name, f"test_fold{k}")
            state = folder_state(test_dir, test_ids, run)
            if state == "complete" and not ctx.force and not cmds:
                ctx.echo(f"  skip predict test {name}: {len(test_ids)} images done")
            else:  # re-predicted OOF may have re-tuned thresholds: test follows
                if ctx.force or state in ("stale", "complete"):
                    ctx.move_aside(test_dir)
                cmds.append(python_cmd(spec.predict_module(), *common, "--split", "test",
                                       "--test-split", ctx.test_split))
                what.append("test")
            if cmds:
                tasks.append(Task(f"predict {'+'.join(what)} {name}", cmds,
                                  ctx.logs_dir / f"predict-{name}.log", (run,)))
    if tasks:
        ctx.run_tasks(tasks, "predict")


# ---------------------------------------------------------------------------- ensemble
def ensemble_config(ctx: Context) -> EnsembleConfig:
    """``ensemble/configs/<profile>.yaml`` restricted to the selected solutions."""
    path = CONFIGS["ensemble"] / f"{ctx.profile}.yaml"
    cfg = load_config(EnsembleConfig, path, split_sets(ctx.sets, None))
    return cfg.with_solutions([s.name for s in ctx.solutions])


def ensemble_stage(ctx: Context) -> dict:
    """Merge OOF and test predictions; print every source's and the ensemble's score."""
    cfg = ensemble_config(ctx)
    return run_ensemble(cfg, ctx.ws, ctx.ws.data_dir, ("oof", "test"), ctx.test_split,
                        force=ctx.force, backup_root=ctx.backup_root, log=ctx.echo,
                        folds=ctx.folds)


# ---------------------------------------------------------------------------- submission
def submission_stage(ctx: Context) -> tuple[Path, bool | None]:
    """Write (or reuse) ``WORK/submissions/<name>.csv``; send it with ``--submit``.

    Returns:
        ``(path, submitted)``: ``submitted`` is None when not asked to submit.
    """
    cfg = ensemble_config(ctx)
    pred_dir = ctx.ws.predictions_dir(cfg.output, "test")
    if not list_predictions(pred_dir):
        raise PipelineError(f"{pred_dir}: no merged test predictions; run the ensemble stage")
    fp = folder_fingerprint(pred_dir)
    last = ctx.state().get("submission") or {}
    path = Path(last["path"]) if last.get("path") else None
    if path is not None and path.is_file() and unchanged(last, fp) and not ctx.force:
        ctx.echo(f"  skip submission: {path} is up to date")
    else:
        if ctx.force and path is not None and path.is_file():
            ctx.move_aside(path)
        path = make_submission(ctx.ws, ctx.ws.data_dir, pred_dir, cfg.name, ctx.test_split,
                               log=ctx.echo)
        ctx.save_state(submission={"path": str(path), "inputs": fp, "submitted": False})
    if not ctx.submit:
        return path, None
    state = ctx.state().get("submission", {})
    if state.get("submitted") and not ctx.force:
        ctx.echo(f"  skip submit: {path} was already sent (use --force to send again)")
        return path, True
    if state.get("sending") and not ctx.force:
        ctx.echo(f"  NOT submitted {path}: a run stopped while sending it, so it may have reached "
                 f"Kaggle already; check with `kaggle competitions submissions {COMPETITION}`, "
                 "then send it again with --stages submission --submit --force")
        return path, False
    ok = submit_to_kaggle(path, ctx.message or f"dsb2018 {cfg.name} ({ctx.profile})", log=ctx.echo,
                          before_send=lambda: ctx.save_state(submission=dict(state, sending=True)))
    ctx.save_state(submission=dict(state, submitted=ok, sending=False))
    return path, ok
