"""Running solution command lines as subprocesses, one per GPU when several are given.

A task is a chain of command lines run one after the other (e.g. predict OOF, which
tunes a U-Net's thresholds, then predict test with them); tasks run one at a time, or
several at a time (one per GPU with ``CUDA_VISIBLE_DEVICES``, or ``jobs`` on the CPU).
Each task's output goes to its own log file; the console gets one line when a command
starts and one when it ends. A failed task's log tail is printed and the stage fails
after the tasks already running have finished.

Every command runs in its own process group with ``DSB_PARENT_PID`` set, so that
:func:`stop_all` (called by ``run_all`` on Ctrl-C or SIGTERM) stops it with everything it
started, and the command stops by itself if this process dies, even by ``kill -9``
(``common.lifeline``).

This is the local executor. ``pipeline.executor_ray`` runs the same :class:`Task` list on a
Ray cluster, each task through :func:`run_chain` on a worker node.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common.lifeline import PARENT_ENV
from common.paths import REPO_ROOT, repo_pythonpath

__all__ = ["Task", "TaskError", "run_tasks", "run_chain", "python_cmd", "tail", "stop_all",
           "add_stopped", "finished_line", "raise_failures"]

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPED = 0


class TaskError(RuntimeError):
    """One or more subprocesses failed; the message names them and their logs."""


@dataclass
class Task:
    """A chain of command lines.

    Attributes:
        name: Short name shown on the console (e.g. ``train <solution>-fold0``).
        cmds: argv lists, run in order; the chain stops at the first failure.
        log: Log file (appended to).
        folders: The folders its commands lock (``common.locks``: a run folder); the Ray
            executor waits for them to be free before a retry starts.
    """

    name: str
    cmds: list[list[str]]
    log: Path
    folders: tuple[Path, ...] = ()


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
    env["PYTHONPATH"] = repo_pythonpath(env.get("PYTHONPATH", ""))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["PYTHONUNBUFFERED"] = "1"
    env[PARENT_ENV] = str(os.getpid())
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    return env


def _run_cmd(cmd: list[str], log, device: str | None) -> int:
    """Run one command in its own process group; its exit status."""
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                            env=_env(device), process_group=0)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        while True:  # wake up now and then: Ray's cancel interrupts only running Python code
            try:
                return proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def stop_all(grace_s: float = 20.0) -> int:
    """SIGTERM the process group of every running command, SIGKILL what is left after
    ``grace_s`` seconds, and wait for them; returns how many this process has stopped in
    all (the count a second call reports includes the first's)."""
    global _STOPPED
    with _LIVE_LOCK:
        procs = [p for p in _LIVE if p.poll() is None]
        _STOPPED += len(procs)
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + wait
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    return _STOPPED


def add_stopped(count: int) -> None:
    """Count tasks another executor stopped (Ray's cancelled tasks) in :func:`stop_all`'s total."""
    global _STOPPED
    with _LIVE_LOCK:
        _STOPPED += count


def run_chain(task: Task, device: str | None = None, header: str = "") -> int:
    """Run a task's commands one after another, output appended to its log.

    Args:
        task: The chain.
        device: ``CUDA_VISIBLE_DEVICES`` for its commands (None: left as it is).
        header: A line written to the log first (e.g. where a Ray attempt runs).

    Returns:
        0, or the exit status of the first command that failed.
    """
    task.log.parent.mkdir(parents=True, exist_ok=True)
    rc = 0
    with open(task.log, "a") as log:
        if header:
            log.write(f"\n{header}\n")
        for cmd in task.cmds:
            log.write(f"\n$ {' '.join(cmd)}\n")
            log.flush()
            rc = _run_cmd(cmd, log, device)
            if rc != 0:
                break
    return rc


def finished_line(task: Task, rc: int, seconds: float, where: str = "") -> str:
    """The console line of a finished task; a failure's has the log's last lines."""
    return (f"  {'ok' if rc == 0 else 'FAILED'} {task.name}{where} in {seconds:.0f} s"
            + ("" if rc == 0 else f" (exit {rc}); last lines of {task.log}:\n{tail(task.log)}"))


def raise_failures(failed: Sequence[tuple[Task, int]]) -> None:
    """Raise :class:`TaskError` naming every failed task and its log (nothing when none)."""
    if failed:
        names = "; ".join(f"{t.name} (exit {rc}, log {t.log})" for t, rc in failed)
        raise TaskError(f"{len(failed)} task(s) failed: {names}")


def _run_one(task: Task, device: str | None, echo: Callable[[str], None]) -> tuple[Task, int, float]:
    where = f" on GPU {device}" if device is not None else ""
    echo(f"  -> {task.name}{where} (log: {task.log})")
    start = time.perf_counter()
    rc = run_chain(task, device)
    seconds = time.perf_counter() - start
    echo(finished_line(task, rc, seconds))
    return task, rc, seconds


def run_tasks(tasks: Sequence[Task], gpus: int = 0, echo: Callable[[str], None] = print,
              jobs: int = 1) -> float:
    """Run tasks: one after another, ``gpus`` at a time with one GPU each, or ``jobs`` at a time.

    Args:
        tasks: The command chains.
        gpus: 0 (leave ``CUDA_VISIBLE_DEVICES`` alone), 1 (GPU 0) or N > 1 (N tasks at a
            time, ``CUDA_VISIBLE_DEVICES`` = 0..N-1).
        echo: Console printer.
        jobs: Without several GPUs, tasks run this many at a time (CPU).

    Returns:
        Wall-clock seconds.

    Raises:
        TaskError: listing every failed task and its log.
    """
    start = time.perf_counter()
    failed: list[tuple[Task, int]] = []
    workers = gpus if gpus > 1 else max(jobs, 1)
    if workers == 1:
        device = "0" if gpus == 1 else None
        for task in tasks:
            try:
                _, rc, _ = _run_one(task, device, echo)
            except BaseException:  # Ctrl-C / SIGTERM: stop the child with everything it started
                stop_all()
                raise
            if rc != 0:
                failed.append((task, rc))
                break  # later tasks usually depend on this one's outputs
    else:
        free: queue.Queue[str | None] = queue.Queue()
        for k in range(workers):
            free.put(str(k) if gpus > 1 else ("0" if gpus == 1 else None))
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

        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for task, rc, _ in pool.map(work, tasks):
                    if rc != 0:
                        failed.append((task, rc))
            except BaseException:  # stop the children first, or leaving the pool waits for them
                stop_all()
                raise
    raise_failures(failed)
    return time.perf_counter() - start
