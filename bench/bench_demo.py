"""The newcomer's demo, measured: ``./run_all.sh`` with nothing in ``input/``, timed, and every
model's out-of-fold score checked against its learning floor.

    .venv/bin/python bench/bench_demo.py [--clone /tmp/fresh --venv /tmp/fresh-venv]
        [--work DIR] [--out bench/results/demo_cpu_<date>.md] [-- RUN_ALL_ARGS...]

* Without ``--clone`` the demo runs in this repository with its ``.venv``. With ``--clone DIR``
  (which must not exist) the repository's committed ``HEAD`` is cloned there (``git clone``)
  and set up from scratch into ``--venv`` (``DSB_VENV``, which must not exist either: the
  first-run install is part of what is timed); never the shared ``.venv``.
* Timed separately: the clone, the set-up (``scripts/setup_env.sh``: the first-run install)
  and the pipeline (``./run_all.sh --work WORK``, which then finds the venv up to date). The
  total is what ``time ./run_all.sh`` in a fresh clone shows, plus the clone.
* Kaggle credentials, a Kaggle mount and ``input/`` are hidden from the run (empty folders), so
  it always takes the synthetic demo set.
* Floors (issue 16): OOF score >= 0.25 for each U-Net, >= 0.15 for each Mask R-CNN. A model
  under its floor makes the exit status 1 (after the report is written).

Writes a Markdown report (command, machine, load average before and after, commit, times,
the score table with floors, the first lines of ``reports/summary.md``) to ``--out`` and
prints it. It is not a test: a benchmark that takes minutes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.io import atomic_write_text  # noqa: E402
from common.machine import git_commit, machine_description  # noqa: E402
from pipeline.progress import fmt_duration  # noqa: E402

#: Solution-name prefix -> minimum OOF score of the demo (issue 16).
FLOORS = {"unet": 0.25, "maskrcnn-": 0.15}


def floor_of(solution: str) -> float | None:
    """The learning floor of a solution name (``unet``, ``unet-baseline``, ``maskrcnn-*``)."""
    if solution.startswith("maskrcnn-"):
        return FLOORS["maskrcnn-"]
    if solution == "unet" or solution.startswith("unet-"):
        return FLOORS["unet"]
    return None


def _load() -> str:
    return "{:.1f}, {:.1f}, {:.1f}".format(*os.getloadavg())


def _timed(cmd: list[str], cwd: Path, env: dict, log: Path) -> tuple[int, float]:
    """Run ``cmd``, its output echoed and appended to ``log``; (exit status, seconds)."""
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            sys.stdout.write(line)
            out.write(line)
        rc = proc.wait()
    return rc, time.perf_counter() - start


def _env(scratch: Path, venv: Path | None) -> dict:
    """The run's environment: no Kaggle credentials or mount, an empty ``input/``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAGGLE", "DSB_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for name in ("no-input", "no-kaggle"):
        (scratch / name).mkdir(exist_ok=True)
    env.update(DSB_INPUT_DIR=str(scratch / "no-input"), KAGGLE_CONFIG_DIR=str(scratch / "no-kaggle"),
               DSB_KAGGLE_MOUNT=str(scratch / "no-mount"), PYTHONUNBUFFERED="1")
    if venv is not None:
        env["DSB_VENV"] = str(venv)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(REPO / ".venv")))
    return env


def score_rows(scores_csv: Path) -> list[dict]:
    """Per model of the report's ``scores.csv``: OOF and test score, floor, whether it holds."""
    table = pd.read_csv(scores_csv, index_col=0)
    rows = []
    for name, row in table.iterrows():
        floor = floor_of(str(name))
        oof = float(row.get("oof_score", float("nan")))
        rows.append({"model": str(name), "oof": oof, "test": float(row.get("test_score", float("nan"))),
                     "train_s": float(row.get("train_seconds", float("nan"))), "floor": floor,
                     "ok": None if floor is None else bool(oof >= floor)})
    return rows


def render(meta: dict, rows: list[dict], head: list[str]) -> str:
    """The Markdown report."""
    lines = [f"# The demo, measured ({meta['date']})", "",
             f"- Command: `{meta['command']}`",
             f"- Machine: {meta['machine']}; load average (1, 5, 15 min) {meta['load_before']} "
             f"before, {meta['load_after']} after (other jobs share the machine: times are upper "
             "bounds of what an idle one takes)",
             f"- Commit: `{meta['commit']}`", ""]
    lines += ["| step | time |", "|---|---:|"]
    lines += [f"| {k} | {fmt_duration(v)} ({v:.0f} s) |" for k, v in meta["times"].items()]
    lines += ["", "| model | OOF score | floor | holds | test score | train s (both folds) |",
              "|---|---:|---:|---|---:|---:|"]
    for r in rows:
        floor = "–" if r["floor"] is None else f"{r['floor']:.2f}"
        ok = "–" if r["ok"] is None else ("yes" if r["ok"] else "**NO**")
        lines.append(f"| {r['model']} | {r['oof']:.3f} | {floor} | {ok} | {r['test']:.3f} | {r['train_s']:.0f} |")
    lines += ["", "First lines of `reports/summary.md`:", "", "```", *head, "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/bench_demo.py", description=__doc__.split("\n")[0])
    p.add_argument("--clone", type=Path, help="clone HEAD here and install from scratch (must not exist)")
    p.add_argument("--venv", type=Path, help="DSB_VENV of the clone (must not exist; default CLONE-venv)")
    p.add_argument("--work", type=Path, help="run_all --work (default: a new temporary folder)")
    p.add_argument("--out", type=Path, help="report file (default bench/results/demo_cpu_<date>.md)")
    p.add_argument("run_all_args", nargs="*", help="more ./run_all.sh arguments (after --)")
    args = p.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    work = (args.work or scratch / "work").resolve()
    log = scratch / "bench_demo.log"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = args.out or REPO / "bench" / "results" / f"demo_cpu_{date[:10]}.md"
    load_before, times = _load(), {}
    root, venv = REPO, None
    if args.clone:
        venv = (args.venv or Path(f"{args.clone}-venv")).resolve()
        for path in (args.clone, venv):
            if path.exists():
                print(f"bench_demo: error: {path} exists; give a new folder", file=sys.stderr)
                return 2
        rc, times["git clone"] = _timed(["git", "clone", "-q", str(REPO), str(args.clone)], scratch,
                                        dict(os.environ), log)
        if rc:
            print(f"bench_demo: error: git clone failed; see {log}", file=sys.stderr)
            return 2
        root = args.clone.resolve()
    env = _env(scratch, venv)
    commit = git_commit(root)
    rc, times["set-up (scripts/setup_env.sh)"] = _timed(
        ["bash", "-c", "source scripts/setup_env.sh"], root, env, log)
    if rc:
        print(f"bench_demo: error: set-up failed (exit {rc}); see {log}", file=sys.stderr)
        return 2
    run_cmd = ["./run_all.sh", "--work", str(work), *args.run_all_args]
    rc, times["pipeline (./run_all.sh)"] = _timed(run_cmd, root, env, log)
    if rc:
        print(f"bench_demo: error: ./run_all.sh failed (exit {rc}); see {log}", file=sys.stderr)
        return 1
    times["set-up + pipeline"] = times["set-up (scripts/setup_env.sh)"] + times["pipeline (./run_all.sh)"]
    rows = score_rows(work / "reports" / "scores.csv")
    head = (work / "reports" / "summary.md").read_text().splitlines()[:5]
    shown = ["bench/bench_demo.py"] + ([f"--clone {args.clone}", f"--venv {venv}"] if args.clone else [])
    meta = {"date": date, "command": " ".join(shown + (["--", *args.run_all_args] if args.run_all_args else [])),
            "machine": machine_description(), "load_before": load_before, "load_after": _load(),
            "commit": commit, "times": times}
    text = render(meta, rows, head)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    print(text)
    print(f"bench_demo: report in {out}; log in {log}")
    failed = [r["model"] for r in rows if r["ok"] is False]
    if failed:
        print(f"bench_demo: under the learning floor: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
