"""Progress lines of ``./run_all.sh``: elapsed time and, where it can be known, what remains.

* :class:`TaskProgress` wraps the console printer given to ``pipeline.tasks.run_tasks``:
  the line that says a task ended (``  ok <task> in N s`` or ``  FAILED <task> ...``) gets
  ``[train 2/6 done, 1 min 40 s in this stage, about 3 min 20 s left]`` appended, the
  estimate being the stage's tasks still to run at the rate the finished ones took (tasks
  running side by side included). No other line is added: one line per task event.
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
        clock: Seconds counter (tests pass a fake one).
    """

    def __init__(self, stage: str, total: int, echo: Callable[[str], None],
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.stage, self.total, self._echo, self._clock = stage, total, echo, clock
        self.done = 0
        self.start = clock()

    def note(self) -> str:
        """``[train 2/6 done, 40 s in this stage, about 1 min 20 s left]`` after a task ended."""
        elapsed = self._clock() - self.start
        text = f"[{self.stage} {self.done}/{self.total} done, {fmt_duration(elapsed)} in this stage"
        left = self.total - self.done
        if 0 < self.done and left > 0:
            text += f", about {fmt_duration(elapsed / self.done * left)} left"
        return text + "]"

    def echo(self, line: str) -> None:
        """Print ``line``; a task's end line gets :meth:`note` appended to its first line."""
        if line.startswith(_END_PREFIXES):
            self.done += 1
            first, sep, rest = line.partition("\n")
            line = f"{first} {self.note()}{sep}{rest}"
        self._echo(line)


def stage_line(stage: str, stage_s: float, total_s: float, later: Sequence[str]) -> str:
    """The line printed when a stage ends, e.g.
    ``   train took 3 min 10 s (5 min 02 s since the start; next: predict, ensemble)``."""
    nxt = f"; next: {', '.join(later)}" if later else "; that was the last stage"
    return (f"   {stage} took {fmt_duration(stage_s)} ({fmt_duration(total_s)} since the start"
            f"{nxt})")
