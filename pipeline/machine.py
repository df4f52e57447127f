"""What machine a run is on: CPU model, cores, GPUs (no TensorFlow import)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

__all__ = ["cpu_model", "gpu_names", "machine_description"]


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo``, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def gpu_names() -> list[str]:
    """NVIDIA GPU names from ``nvidia-smi`` (empty when there is none)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def machine_description() -> str:
    """One line, e.g. ``Intel Xeon ... (2 cores), no GPU``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    gpus = gpu_names()
    gpu = ", ".join(f"{n}x {g}" for g, n in _count(gpus)) if gpus else "no GPU"
    return f"{cpu_model()} ({cores} cores), {gpu}"


def _count(items: list[str]) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return list(out.items())
