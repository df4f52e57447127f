"""An optional stopwatch that prediction code reports its stages to.

Prediction functions take ``timer: Stopwatch | None = None`` and wrap each stage in
``stage(timer, "forward")``; with no timer that is a no-op context (nothing is measured,
nothing is stored), so the hook costs nothing in normal runs. ``bench/bench_inference.py``
passes a :class:`Stopwatch` and reads the seconds per stage back.

Stage names used by the solutions: ``load`` (image reading), ``normalise``, ``tta_views``
(making the views and their tiles), ``forward`` (the network, all views of an image
together), ``tta_merge`` (undoing the views and averaging / merging detections),
``postprocess`` (watershed, or Mask R-CNN's mask paste-back) and ``write`` (the ``.npz``).
Stages may run on several threads at once (post-processing and writing do), so their sum
can exceed the wall time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from typing import ContextManager, Iterator

__all__ = ["Stopwatch", "stage"]


class Stopwatch:
    """Thread-safe accumulator of wall seconds and call counts per named stage."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        """Add ``seconds`` (and ``count`` calls) to stage ``name``."""
        with self._lock:
            self._seconds[name] += seconds
            self._counts[name] += count

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as one call of stage ``name`` (also when it raises)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def seconds(self) -> dict[str, float]:
        """Total seconds per stage, in the order the stages were first seen."""
        with self._lock:
            return dict(self._seconds)

    def counts(self) -> dict[str, int]:
        """Calls per stage."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget everything (e.g. after a warm-up)."""
        with self._lock:
            self._seconds.clear()
            self._counts.clear()


def stage(timer: Stopwatch | None, name: str) -> ContextManager[None]:
    """``timer.section(name)``, or a do-nothing context when ``timer`` is None."""
    return nullcontext() if timer is None else timer.section(name)
