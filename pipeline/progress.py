"""Progress lines of ``./run_all.sh``: elapsed time and, where it can be known, what remains.

* :class:`TaskProgress` wraps the console printer given to ``pipeline.tasks.run_tasks``:
  the line that says a task ended (``  ok <task> in N s`` or ``  FAILED <task> ...``) gets
  ``[train 2/6 done, 1 min 40 s in this stage, about 3 min 20 s left]`` appended. The
  estimate: the finished tasks' mean time for each task not started, the rest of that mean
  for each task running (their starts are the ``  -> <task>`` lines), shared by the tasks
  that run side by side (at most as many as are left). No other line is added: one line per
  task event.
* :func:`stage_line`: the line printed when a stage ends: its time, the time since the
  pipeline started and the stages still to come.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

__all__ = ["fmt_duration", "TaskProgress", "stage_line"]

#: How ``pipeline.tasks`` starts the line of a task that ended.
_END_PREFIXES = ("  ok ", "  FAILED ")


def fmt_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class TaskProgress:
    """Counts a stage's finished tasks from the lines ``run_tasks`` prints.

    Args:
        stage: Stage name shown in the line (``train``, ``predict``).
        total: Tasks the stage runs.
        echo: The console printer to pass the lines on to.
        workers: Tasks run side by side (``run_tasks``' GPUs or jobs).
        clock: Seconds counter (tests pass a fake one).
    """

    def __init__(self, stage: str, total: int, echo: Callable[[str], None], workers: int = 1,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.stage, self.total, self._echo, self._clock = stage, total, echo, clock
        self.workers = max(1, workers)
        self.start = clock()
        self.running: dict[str, float] = {}  # task name -> when it started
        self.durations: list[float] = []

    @property
    def done(self) -> int:
        return len(self.durations)

    def left_s(self) -> float | None:
        """Estimated seconds until the stage's last task ends (None before any ended)."""
        if not self.durations:
            return None
        mean, now = sum(self.durations) / len(self.durations), self._clock()
        pending = self.total - self.done - len(self.running)
        work = pending * mean + sum(max(0.0, mean - (now - t)) for t in self.running.values())
        return work / max(1, min(self.workers, pending + len(self.running)))  # a task is not split

    def note(self) -> str:
        """``[train 2/6 done, 40 s in this stage, about 1 min 20 s left]`` after a task ended."""
        elapsed = self._clock() - self.start
        text = f"[{self.stage} {self.done}/{self.total} done, {fmt_duration(elapsed)} in this stage"
        left = self.left_s()
        if left is not None and self.done < self.total:
            text += f", about {fmt_duration(left)} left"
        return text + "]"

    def echo(self, line: str) -> None:
        """Print ``line``; a task's end line gets :meth:`note` appended to its first line."""
        if line.startswith("  -> "):
            self.running[_task_name(line[5:])] = self._clock()
        elif line.startswith(_END_PREFIXES):
            first, sep, rest = line.partition("\n")
            name = _task_name(first.split(" ", 3)[3])
            started = self.running.pop(name, self.start)
            self.durations.append(self._clock() - started)
            line = f"{first} {self.note()}{sep}{rest}"
        self._echo(line)


def _task_name(text: str) -> str:
    """The task's name at the start of a ``run_tasks`` line's text (before `` (log``,
    `` on GPU`` or `` in N s``)."""
    for stop in (" (log: ", " on GPU ", " in "):
        text = text.split(stop, 1)[0]
    return text


def stage_line(stage: str, stage_s: float, total_s: float, later: Sequence[str]) -> str:
    """The line printed when a stage ends, e.g.
    ``   train took 3 min 10 s (5 min 02 s since the start; next: predict, ensemble)``."""
    nxt = f"; next: {', '.join(later)}" if later else "; that was the last stage"
    return (f"   {stage} took {fmt_duration(stage_s)} ({fmt_duration(total_s)} since the start"
            f"{nxt})")
