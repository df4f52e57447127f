"""The whole study in one command: ``python -m pipeline.run_all`` (what ``./run_all.sh`` runs).

Stages: data → folds → train → predict → ensemble → submission → report. Each skips
work already done, so running it again after a crash resumes; ``--force`` redoes the
selected stages (old outputs are moved to ``WORK/backup/<timestamp>/``, never deleted).

Without data and Kaggle credentials, ``--profile demo`` (the default) trains tiny
models on a synthetic set in ``WORK/input-demo/`` and still goes end to end.

The first line names the Keras backend and the devices training will use
(``common.devices.startup``); a GPU asked for but missing, a GPU the framework cannot use, or
an unknown ``KERAS_BACKEND`` stops the run there with one line.

One pipeline at a time owns a work folder (a second one is refused, naming the first);
every ``--set`` item is checked against each selected solution's config before any work;
Ctrl-C or SIGTERM stops every running task with what it started.

Train and predict tasks run here (``--executor local``, the default: ``--gpus``/``--jobs``
side by side) or on a Ray cluster (``--executor ray``: ``pipeline.executor_ray``; Ray is
installed on first use, ``pipeline.ray_extra``); both get the same task list.

Exit status: 0 on success; 1 when a task (training, prediction) or the ensemble failed;
2 with one line on stderr for bad input (options, configs, data, a device that is asked
for but unusable, a busy or unwritable folder) or when ``--submit`` could not submit;
130 when interrupted. ``--debug`` (or ``DSB_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from common.config import ConfigError, apply_override, load_yaml
from common.devices import DeviceError, startup
from common.cli import debug_enabled, one_line
from common.data import DataError, image_folders
from common.folds import FoldsError
from common.locks import FolderBusyError, folder_lock
from common.paths import CONFIGS, SPLITS, Workspace
from common.io import read_json, remove_stale_temps
from ensemble.merge import EnsembleError
from ensemble.run import TEST_SPLITS
from pipeline.datasets import DataStageError, resolve_data
from pipeline.overrides import check_sets
from pipeline.progress import fmt_duration, stage_line
from pipeline.ray_extra import RayInstallError
from pipeline.registry import (DEFAULT_FOLDS, PROFILES, UnknownSolution, all_solutions,
                               default_solutions, parse_solutions)
from pipeline.stages import (STATE_FILE, Context, PipelineError, ensemble_config, ensemble_stage,
                             folds_stage, predict_stage, submission_stage, train_stage)
from pipeline.tasks import TaskError, stop_all

STAGES = ("data", "folds", "train", "predict", "ensemble", "submission", "report")
DEMO_SIZE = (24, 8)
TINY_SIZE = (6, 3)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="./run_all.sh", description=__doc__.split("\n")[0])
    p.add_argument("--profile", choices=PROFILES, default="demo",
                   help="demo (default): tiny configs, 2 folds, synthetic data when there is no "
                        "real data; full: the real configs, 5 folds")
    p.add_argument("--solutions", help=f"comma list of {', '.join(sorted(all_solutions()))} "
                   f"(demo default {','.join(default_solutions('demo'))}; "
                   f"full default {','.join(default_solutions('full'))})")
    p.add_argument("--folds", help="a count (e.g. 5) or a comma list of fold indices to train "
                   "(e.g. 0,1); default 2 (demo) / 5 (full)")
    p.add_argument("--n-folds", type=int, help="folds in folds.csv when --folds lists indices")
    p.add_argument("--data", type=Path, help="DSB data folder (holding stage1_train/); "
                   "default input/ if it holds data")
    p.add_argument("--work", type=Path, help="output root for runs/, predictions/, submissions/, "
                   "reports/ (default $DSB_WORK_DIR or the repository)")
    p.add_argument("--test-split", choices=TEST_SPLITS,
                   help="test images to predict (default stage1_test for demo; "
                        "stage2_test_final for full when present)")
    p.add_argument("--gpus", type=int, default=0,
                   help="run folds in parallel, one subprocess per GPU (CUDA_VISIBLE_DEVICES); "
                        "default 0: devices left alone")
    p.add_argument("--jobs", type=int,
                   help="without several GPUs: subprocesses at a time on the CPU "
                        "(default 2 for demo without --gpus, else 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where train and predict tasks run: local (default) or ray (a Ray "
                        "cluster; installs requirements-ray.txt on first use)")
    p.add_argument("--ray-address", help="with --executor ray: the cluster (auto, HOST:PORT, "
                   "ray://HOST:PORT; default: $RAY_ADDRESS, else a local Ray instance)")
    p.add_argument("--task-cpus", type=float, default=1.0,
                   help="with --executor ray: CPUs each task asks for (default 1)")
    p.add_argument("--stages", help=f"comma subset of {','.join(STAGES[2:])} "
                   "(data and folds always run; they skip when done; list folds too to let "
                   "--force remake folds.csv)")
    p.add_argument("--force", action="store_true",
                   help="redo the selected stages (old outputs moved to WORK/backup/<time>/); "
                        "without --stages everything, folds.csv included")
    p.add_argument("--submit", action="store_true",
                   help="send the submission with the kaggle CLI (needs credentials)")
    p.add_argument("-m", "--message", help="Kaggle submission message")
    p.add_argument("--set", action="append", default=[], metavar="[TARGET:]KEY=VALUE",
                   help="config override for every solution, or for TARGET (a solution name, "
                        "a solution family, i.e. its package's name, or 'ensemble'); repeatable")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p.add_argument("--demo-size", default=os.environ.get("DSB_DEMO_SIZE"),
                   help=f"N_TRAIN,N_TEST images of the demo set / real-data subset "
                        f"(default {DEMO_SIZE[0]},{DEMO_SIZE[1]}; env DSB_DEMO_SIZE)")
    p.add_argument("--tiny", action="store_true",
                   help=f"smoke test: {TINY_SIZE[0]}+{TINY_SIZE[1]} demo images and "
                        "1 epoch of 1-2 steps per run")
    p.add_argument("--seed", type=int, default=42, help="folds seed (default 42)")
    p.add_argument("--split-by", choices=SPLITS, default="stratified",
                   help="fold split: stratified (default, folds.csv) or group (folds_group.csv: "
                        "each image kind held out whole; everything under WORK/split-group/)")
    return p.parse_args(argv)


def parse_folds(text: str | None, n_folds: int | None, profile: str) -> tuple[list[int], int]:
    """``--folds``: a count (``"5"``) or indices (``"0,1"``) → (folds to train, folds in the CSV)."""
    default = n_folds or DEFAULT_FOLDS[profile]
    if not text:
        return list(range(default)), default
    try:
        if "," not in text:
            count = int(text)
            if count < 2:
                raise ValueError
            return list(range(count)), count
        folds = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise PipelineError(f"--folds {text!r}: give a count >= 2 or a comma list like 0,1") from None
    total = n_folds or max(default, max(folds) + 1)
    if min(folds) < 0 or max(folds) >= total:
        raise PipelineError(f"--folds {text}: indices must be in 0..{total - 1}")
    return folds, total


def parse_size(text: str | None, tiny: bool) -> tuple[int, int]:
    """``--demo-size N_TRAIN,N_TEST``."""
    if not text:
        return TINY_SIZE if tiny else DEMO_SIZE
    try:
        a, b = (int(t) for t in text.split(","))
    except ValueError:
        raise PipelineError(f"--demo-size {text!r}: expected N_TRAIN,N_TEST") from None
    if a < 2 or b < 1:
        raise PipelineError(f"--demo-size {text}: need at least 2 train and 1 test image")
    return a, b


def force_folds(force: bool, stages_arg: str | None, stages: Sequence[str]) -> bool:
    """Whether ``--force`` remakes ``folds.csv``: only when the folds stage is implied
    (no ``--stages``: every stage) or listed in ``--stages``."""
    return force and (not stages_arg or "folds" in stages)


def _solution_configs(solutions, args: argparse.Namespace, n_folds: int) -> dict:
    """Each solution's config mapping with its ``--set`` items (for the CPU time estimate)."""
    from pipeline.stages import split_sets

    out = {}
    for spec in solutions:
        data = load_yaml(spec.config(args.profile))
        for item in spec.set_items(args.profile, n_folds, args.tiny, tuple(split_sets(args.set, spec))):
            apply_override(data, item)  # the config loader's own rule
        out[spec.name] = data
    return out


def _count_train_images(data: Path | None) -> int | None:
    """Images in ``stage1_train/`` of ``--data`` (default ``input/``), ``None`` when absent."""
    from common.paths import INPUT_DIR

    return len(image_folders((data or INPUT_DIR) / "stage1_train")) or None


def run(args: argparse.Namespace, echo=print) -> int:
    start = time.perf_counter()
    root = (args.work or Workspace.default().root).resolve()
    stages = STAGES[2:] if not args.stages else tuple(s.strip() for s in args.stages.split(",") if s.strip())
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise PipelineError(f"--stages {unknown}: unknown; choose from {','.join(STAGES[2:])}")
    solutions = parse_solutions(args.solutions, args.profile)
    folds, n_folds = parse_folds(args.folds, args.n_folds, args.profile)
    check_sets(args.set, solutions, args.profile, n_folds, args.tiny,  # before any work
               CONFIGS["ensemble"] / f"{args.profile}.yaml")
    if args.executor == "local" and args.ray_address:
        raise PipelineError("--ray-address needs --executor ray")
    executor = _ray_executor(args, echo) if args.executor == "ray" else None
    if executor is None:
        startup(args.profile, args.gpus, args.set, lambda: _solution_configs(solutions, args, n_folds),
                _count_train_images(args.data), n_folds, len(folds), echo)
    try:
        return _run_stages(args, echo, start, root, stages, solutions, folds, n_folds, executor)
    finally:
        if executor is not None:
            executor.close()


def _ray_executor(args: argparse.Namespace, echo):
    """``--executor ray``: install Ray if needed, connect, print the cluster's line."""
    from common.devices import backend_name, device_preference, gpu_requests
    from pipeline.ray_extra import ensure_ray

    if args.jobs is not None:
        raise PipelineError("--jobs is for the local executor; with --executor ray the cluster's "
                            "resources and --task-cpus decide how many tasks run at once")
    backend, preference = backend_name(), device_preference()
    asked = [how for how, _ in gpu_requests(args.gpus, args.set)]
    ensure_ray()
    from pipeline.executor_ray import RayExecutor

    executor = RayExecutor(args.ray_address, preference, asked, args.task_cpus, echo, backend)
    if args.profile == "full" and not executor.resources["num_gpus"]:
        echo("[run_all] warning: the Ray cluster has no GPU: --profile full trains on CPUs "
             "(weeks; see the README's Devices)")
    return executor


def _run_stages(args, echo, start, root, stages, solutions, folds, n_folds, executor) -> int:
    """The stages after the device step (``executor``: a Ray executor or None for local)."""
    echo(f"[pipeline] profile {args.profile}; solutions {','.join(s.name for s in solutions)}; "
         f"folds {folds} of {n_folds}; work {root}")
    choice = resolve_data(root, args.profile, args.data, parse_size(args.demo_size, args.tiny),
                          log=echo)
    echo(f"[data] {choice.note}")
    state = read_json(root / STATE_FILE, {}) or {}
    if state.get("data_dir") and state["data_dir"] != str(choice.data_dir) and not args.force:
        raise PipelineError(f"{root / STATE_FILE}: this work dir holds results for the data in "
                            f"{state['data_dir']}, not {choice.data_dir}; use --work NEWDIR "
                            "(or --force without --stages to redo everything here)")
    test_split = args.test_split or (
        "stage2_test_final" if args.profile == "full"
        and (choice.data_dir / "stage2_test_final").is_dir() else "stage1_test")
    ws = Workspace.from_args(root, choice.data_dir, args.split_by)  # group: root/split-group
    # temp files of writes a killed run left here (state, folds, submissions): this process
    # holds the work folder's lock, so no living writer owns them
    for folder in dict.fromkeys((root, ws.root, ws.submissions_dir)):
        remove_stale_temps(folder)
    jobs = args.jobs or (2 if args.profile == "demo" and args.gpus == 0 else 1)
    ctx = Context(ws=ws, profile=args.profile, solutions=solutions, folds=folds, n_folds=n_folds,
                  test_split=test_split, gpus=args.gpus, jobs=jobs, force=args.force, tiny=args.tiny,
                  sets=list(args.set), seed=args.seed, submit=args.submit,
                  message=args.message or "", echo=echo,
                  runner=executor.run if executor is not None else None)
    ctx.save_state(data_dir=str(choice.data_dir), data_note=choice.note, profile=args.profile,
                   n_folds=n_folds, test_split=test_split)
    force = ctx.force
    ctx.force = force_folds(force, args.stages, stages)
    folds_stage(ctx)
    ctx.force = force
    submission, submitted = None, None
    runners = {"train": train_stage, "predict": predict_stage, "ensemble": ensemble_stage,
               "submission": submission_stage}
    selected = [s for s in STAGES[2:] if s in stages]
    for i, stage in enumerate(selected):
        t0 = time.perf_counter()
        echo(f"== {stage} ==")
        if stage == "report":
            from pipeline.report import build_report

            last = ctx.state().get("submission") or {}
            submission = submission or (Path(last["path"]) if last.get("path") else None)
            path = build_report(ws, ws.data_dir, [s.name for s in solutions], folds, test_split,
                                profile=args.profile, data_note=choice.note,
                                command="./run_all.sh " + shlex.join(sys.argv[1:]),
                                ensemble=ensemble_config(ctx).output, submission=submission)
            echo(f"[report] {path}")
        elif stage == "submission":
            submission, submitted = submission_stage(ctx)
        else:
            runners[stage](ctx)
        now = time.perf_counter()
        echo(stage_line(stage, now - t0, now - start, selected[i + 1:]))
    echo(f"[pipeline] done in {fmt_duration(time.perf_counter() - start)}")
    if submission is not None:
        echo(f"  submission: {submission}")
    if "report" in stages:
        echo(f"  report:     {ws.reports_dir / 'summary.md'}")
        echo(f"  pictures:   {ws.reports_dir / 'speed_accuracy.png'}, {ws.reports_dir / 'overlays'}/")
    return 2 if submitted is False else 0


def _interrupt(signum, frame) -> None:  # SIGTERM: stop like Ctrl-C
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = (args.work or Workspace.default().root).resolve()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        with folder_lock(root, "pipeline"):  # one pipeline per work folder
            return run(args)
    except KeyboardInterrupt:
        stopped = stop_all()  # the tasks' runner stops its children first; this is the count
        print(f"[pipeline] interrupted; stopped {stopped} running task(s) and what they started. "
              "Run the same command again to resume: finished work is kept", file=sys.stderr)
        return 130
    except (TaskError, EnsembleError) as exc:  # the work failed, not the input
        if debug_enabled():
            raise
        print(f"[pipeline] error: {exc}", file=sys.stderr)
        print("[pipeline] fix the cause and run the same command again: finished work is kept",
              file=sys.stderr)
        return 1
    except (DeviceError, PipelineError, DataStageError, RayInstallError, ConfigError, UnknownSolution, DataError,
            FoldsError, FolderBusyError, OSError) as exc:  # bad input: one line, exit 2
        if debug_enabled():
            raise
        print(f"[pipeline] error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
