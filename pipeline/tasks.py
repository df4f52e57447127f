"""Running solution command lines as subprocesses, one per GPU when several are given.

Each task's output goes to its own log file; the console gets one line when a task
starts and one when it ends. A failed task's log tail is printed and the stage fails
after the tasks already running have finished.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common.paths import REPO_ROOT

__all__ = ["Task", "TaskError", "run_tasks", "python_cmd", "tail"]


class TaskError(RuntimeError):
    """One or more subprocesses failed; the message names them and their logs."""


@dataclass
class Task:
    """One command line.

    Attributes:
        name: Short name shown on the console (e.g. ``train unet fold 0``).
        cmd: argv.
        log: Log file (appended to).
    """

    name: str
    cmd: list[str]
    log: Path


def python_cmd(module: str, *args: str) -> list[str]:
    """``[sys.executable, "-m", module, *args]``."""
    return [sys.executable, "-m", module, *args]


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a text file ("" when missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _env(device: str | None) -> dict[str, str]:
    env = dict(os.environ)
    root = str(REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["PYTHONUNBUFFERED"] = "1"
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    return env


def _run_one(task: Task, device: str | None, echo: Callable[[str], None]) -> tuple[Task, int, float]:
    task.log.parent.mkdir(parents=True, exist_ok=True)
    where = f" on GPU {device}" if device is not None else ""
    echo(f"  -> {task.name}{where} (log: {task.log})")
    start = time.perf_counter()
    with open(task.log, "a") as log:
        log.write(f"\n$ {' '.join(task.cmd)}\n")
        log.flush()
        rc = subprocess.run(task.cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                            env=_env(device)).returncode
    seconds = time.perf_counter() - start
    echo(f"  {'ok' if rc == 0 else 'FAILED'} {task.name} in {seconds:.0f} s"
         + ("" if rc == 0 else f" (exit {rc}); last lines of {task.log}:\n{tail(task.log)}"))
    return task, rc, seconds


def run_tasks(tasks: Sequence[Task], gpus: int = 0, echo: Callable[[str], None] = print) -> float:
    """Run tasks: one after another, or ``gpus`` at a time with one GPU each.

    Args:
        tasks: The command lines.
        gpus: 0 (leave ``CUDA_VISIBLE_DEVICES`` alone, sequential), 1 (GPU 0, sequential)
            or N > 1 (N at a time, ``CUDA_VISIBLE_DEVICES`` = 0..N-1).
        echo: Console printer.

    Returns:
        Wall-clock seconds.

    Raises:
        TaskError: listing every failed task and its log.
    """
    start = time.perf_counter()
    failed: list[tuple[Task, int]] = []
    if gpus <= 1:
        device = "0" if gpus == 1 else None
        for task in tasks:
            _, rc, _ = _run_one(task, device, echo)
            if rc != 0:
                failed.append((task, rc))
                break  # later tasks usually depend on this one's outputs
    else:
        free: queue.Queue[str] = queue.Queue()
        for k in range(gpus):
            free.put(str(k))
        lock = threading.Lock()

        def locked_echo(line: str) -> None:
            with lock:
                echo(line)

        def work(task: Task) -> tuple[Task, int, float]:
            device = free.get()
            try:
                return _run_one(task, device, locked_echo)
            finally:
                free.put(device)

        with ThreadPoolExecutor(max_workers=gpus) as pool:
            for task, rc, _ in pool.map(work, tasks):
                if rc != 0:
                    failed.append((task, rc))
    if failed:
        names = "; ".join(f"{t.name} (exit {rc}, log {t.log})" for t, rc in failed)
        raise TaskError(f"{len(failed)} task(s) failed: {names}")
    return time.perf_counter() - start
