"""Train and out-of-fold-score many solution folds side by side on one machine, under a deadline.

The engine of ``bench/gpu_unet.py`` (every U-Net fold) and ``bench/gpu_study.py`` (fold 0
of every model of the study): each :class:`Job` trains one fold of one solution in its
own process, predicts its out-of-fold images as soon as it has trained, and at
``--deadline`` seconds anything still running is stopped; whatever finished is scored.
``OUT`` gets at most five files: ``progress.txt`` (rewritten every ``--every`` s),
``logs.tgz``, ``oof_scores.md``, ``oof_scores.json`` and ``results.tgz`` (per-image scores,
each run's config, history, summaries and thresholds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["Job", "add_driver_args", "prepare", "run_jobs", "score", "report_failures"]


@dataclass
class Job:
    """One fold of one solution: train, then predict its out-of-fold images.

    ``package`` provides ``<package>.train`` and ``<package>.predict`` with the CLI of
    ``docs/CONTRACTS.md``; ``train_set`` are ``--set`` items of this job's training only
    (the driver's ``--set`` items go to every job); ``predict_args`` are extra predict
    arguments.
    """

    solution: str
    config: str
    fold: int
    package: str = "solutions.unet"
    train_set: tuple[str, ...] = ()
    predict_args: tuple[str, ...] = ()
    after: str = ""  # start only once every job of this solution has trained
    state: str = "pending"  # pending → training → predicting → done | failed | stopped
    proc: subprocess.Popen | None = None
    times: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.solution}-fold{self.fold}"


def _start(cmd: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "ab") as fh:
        fh.write(f"$ {' '.join(cmd)}\n".encode())
        fh.flush()
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def _last_line(log: Path) -> str:
    try:
        tail = log.read_bytes()[-2000:].decode(errors="replace").replace("\r", "\n").strip().splitlines()
    except OSError:
        return ""
    return tail[-1][:160] if tail else ""


def _tar(out: Path, name: str, root: Path, members: list[Path]) -> None:
    tmp = out / f".{name}.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for path in members:
            if path.exists():
                tar.add(path, arcname=str(path.relative_to(root)))
    os.replace(tmp, out / name)


def run_jobs(jobs: list[Job], args, env: dict, logs: Path, t0: float) -> None:
    """Drive every job through train → predict until all end or the deadline passes."""
    py = sys.executable
    last_report = 0.0
    while True:
        now = time.monotonic() - t0
        late = now > args.deadline  # past the deadline: start nothing new
        for job in jobs:
            log = logs / f"{job.name}.log"
            if job.state == "pending" and not late:
                gate = [j for j in jobs if j.solution == job.after]
                if all(j.state in ("predicting", "done", "failed", "stopped") for j in gate):
                    cmd = [py, "-m", f"{job.package}.train", "--config", job.config, "--fold", str(job.fold),
                           "--data", str(args.data), "--work", str(args.work), "--run-name", job.name,
                           "--verbose", "2", "--set", f"train.time_budget_s={args.budget:g}",
                           "train.tensorboard=false", *job.train_set, *args.set]
                    job.proc, job.state, job.times["train_start"] = _start(cmd, log, env), "training", round(now, 1)
            elif job.state in ("training", "predicting") and job.proc.poll() is not None:
                rc = job.proc.returncode
                job.times[f"{job.state}_end"] = round(now, 1)
                if rc != 0:
                    job.state = "failed"
                elif job.state == "training" and not late:
                    cmd = [py, "-m", f"{job.package}.predict", "--run", str(args.work / "runs" / job.name),
                           "--split", "oof", "--data", str(args.data), "--work", str(args.work),
                           "--solution", job.solution, *job.predict_args]
                    job.proc, job.state = _start(cmd, log, env), "predicting"
                else:
                    job.state = "done" if job.state == "predicting" else "stopped"
        active = [j for j in jobs if j.state in ("pending", "training", "predicting")]
        if not active or now > args.deadline:
            for job in active:
                if job.proc is not None and job.proc.poll() is None:
                    job.proc.kill()
                    job.proc.wait()
                job.state, job.times["stopped"] = "stopped", round(now, 1)
        if now - last_report >= args.every or not active or now > args.deadline:
            last_report = now
            lines = [f"{now:.0f} s elapsed"] + [f"{j.name:28s} {j.state:10s} {j.times} | {_last_line(logs / f'{j.name}.log')}"
                                                for j in jobs]
            (args.out / "progress.txt").write_text("\n".join(lines) + "\n")
            _tar(args.out, "logs.tgz", logs.parent, sorted(logs.glob("*")))
        if not active or now > args.deadline:
            return
        time.sleep(2)


def score(jobs: list[Job], args, t0: float) -> None:
    """Pooled and per-fold OOF DSB scores of every solution's finished folds."""
    import pandas as pd

    from common.data import DSBDataset
    from common.metrics import score_dataset
    from common.predictions import load_prediction

    folds = pd.read_csv(args.work / "folds.csv").set_index("image_id")
    ds = DSBDataset(args.data, "stage1_train")
    done = [j for j in jobs if j.state == "done"]
    wanted = sorted({i for j in done for i in folds.index[folds["fold"] == j.fold]})
    with ThreadPoolExecutor(16) as pool:
        truth = dict(zip(wanted, pool.map(ds.load_labels, wanted)))
    results, lines = {}, ["| solution | folds | images | OOF DSB score | per fold |", "|---|---|---|---|---|"]
    for solution in dict.fromkeys(j.solution for j in jobs):
        mine = [j for j in done if j.solution == solution]
        pred_dir = args.work / "predictions" / solution / "oof"
        pred, per_fold = {}, {}
        for job in mine:
            ids = [i for i in folds.index[folds["fold"] == job.fold] if (pred_dir / f"{i}.npz").exists()]
            if not ids:
                continue
            fold_pred = {i: load_prediction(pred_dir / f"{i}.npz").labels for i in ids}
            per_fold[job.fold] = round(score_dataset({i: truth[i] for i in ids}, fold_pred).score, 4)
            pred.update(fold_pred)
        if not pred:
            results[solution] = {"folds": [], "n_images": 0}
            lines.append(f"| {solution} | none finished | 0 | | |")
            continue
        report = score_dataset({i: truth[i] for i in pred}, pred)
        report.per_image.assign(fold=folds.loc[report.per_image.index, "fold"],
                                cluster=folds.loc[report.per_image.index, "cluster"]
                                ).to_csv(args.work / f"oof_per_image_{solution}.csv")
        results[solution] = {"score": round(report.score, 4), "n_images": len(pred),
                             "folds": sorted(per_fold), "per_fold": per_fold,
                             "jobs": {j.name: j.times for j in jobs if j.solution == solution}}
        lines.append(f"| {solution} | {sorted(per_fold)} | {len(pred)} | {report.score:.4f} | "
                     f"{', '.join(f'{k}: {v:.4f}' for k, v in per_fold.items())} |")
    from common.machine import device_description

    header = [f"Device: {device_description()}; Keras backend {os.environ.get('KERAS_BACKEND')}; "
              f"budget {args.budget:g} s per fold; {time.monotonic() - t0:.0f} s wall in all.", ""]
    (args.out / "oof_scores.md").write_text("\n".join(header + lines) + "\n")
    (args.out / "oof_scores.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n".join(header + lines), flush=True)
    runs = args.work / "runs"
    members = sorted(args.work.glob("oof_per_image_*.csv")) + [args.work / "folds.csv"]
    for name in ("config.yaml", "train_summary.json", "history.csv", "thresholds.json", "run_info.json"):
        members += sorted(runs.glob(f"*/{name}"))
    members += sorted((args.work / "predictions").glob("*/oof/_summary*.json"))
    _tar(args.out, "results.tgz", args.work, members)


def add_driver_args(parser: argparse.ArgumentParser, budget: float, deadline: float) -> None:
    """The options every driver shares."""
    parser.add_argument("--packed", type=Path, help="packed stage1_train (bench/dsb_pack.py)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/dsb"), help="data folder (unpacked into if absent)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dsb-work"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=budget, help="training seconds per fold")
    parser.add_argument("--deadline", type=float, default=deadline, help="stop everything after this many seconds")
    parser.add_argument("--every", type=float, default=20, help="seconds between progress reports")


def prepare(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict, Path, float]:
    """Refuse a used ``--work``, unpack the data, write ``folds.csv``.

    Returns:
        ``(env for the jobs, logs folder, start time)``.
    """
    from common.paths import repo_pythonpath

    t0 = time.monotonic()
    if any((args.work / "runs").glob("*")) or any((args.work / "predictions").glob("*")):
        parser.error(f"{args.work} already holds runs/ or predictions/ of an earlier invocation; "
                     "give a fresh --work so that only this run's models are scored")
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
           "JAX_COMPILATION_CACHE_DIR": str(args.work / "jax_cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "PYTHONPATH": repo_pythonpath()}
    os.environ["KERAS_BACKEND"] = env["KERAS_BACKEND"]
    if not (args.data / "stage1_train").is_dir():
        if not args.packed:
            parser.error(f"{args.data / 'stage1_train'} is missing and no --packed file was given")
        from bench.dsb_pack import unpack

        unpack(args.packed, args.data)
    from common.data import DSBDataset
    from common.folds import get_folds

    get_folds(DSBDataset(args.data, "stage1_train"), args.work / "folds.csv", n_folds=5, seed=42)
    print(f"data ready after {time.monotonic() - t0:.0f} s", flush=True)
    return env, logs, t0


def report_failures(jobs: list[Job], logs: Path) -> None:
    """Print the end of the log of every failed job."""
    for job in jobs:
        if job.state == "failed":
            tail = (logs / f"{job.name}.log").read_bytes()[-1500:].decode(errors="replace")
            print(f"--- {job.name} failed; end of its log:\n{tail}", flush=True)
