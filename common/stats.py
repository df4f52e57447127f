"""Mean and standard error of per-image scores or paired differences: the one home of the
numbers every A/B in the repo reports (``bench/``, ``ensemble.by_type``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["mean_se", "standard_error", "format_mean_se"]


def _array(values: Iterable[float]) -> np.ndarray:
    return np.asarray(values if hasattr(values, "__len__") else list(values), dtype=float)


def standard_error(values: Iterable[float]) -> float:
    """Standard error of the mean (sample standard deviation, ``ddof=1``, over sqrt(n));
    NaN for fewer than two values, which have no spread to measure."""
    x = _array(values)
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """``(mean, standard error)``; the error is NaN for a single value."""
    x = _array(values)
    if len(x) == 0:
        raise ValueError("mean_se of no values")
    return float(x.mean()), standard_error(x)


def format_mean_se(values: Iterable[float]) -> str:
    """``+0.012 ± 0.003``; a single value has no error to show, so it is given alone
    (``+0.012 (n=1)``) rather than ``± nan``."""
    mean, se = mean_se(values)
    return f"{mean:+.3f} (n=1)" if np.isnan(se) else f"{mean:+.3f} ± {se:.3f}"
