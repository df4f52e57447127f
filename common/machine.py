"""What machine a run is on: CPU model, cores, GPUs.

``machine_description()`` needs no deep-learning import; ``device_description()``
asks the Keras backend which accelerators it sees. Reports and benchmarks quote these
strings beside every figure.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["cpu_model", "cpu_count", "worker_threads", "NvidiaSmi", "nvidia_smi", "gpu_names", "count_names",
           "machine_description", "device_description"]


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo``, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass
class NvidiaSmi:
    """What ``nvidia-smi`` says about the GPUs of the machine.

    Attributes:
        installed: ``nvidia-smi`` is on ``PATH``.
        names: One name per GPU (empty when there is none, or when it failed).
        driver: The driver version (``""`` when unknown).
        error: Its first error line when it ran but failed (e.g. no driver loaded).
    """

    installed: bool = False
    names: list[str] = field(default_factory=list)
    driver: str = ""
    error: str = ""


def nvidia_smi(timeout: float = 20.0) -> NvidiaSmi:
    """Ask ``nvidia-smi`` for the GPU names and the driver version."""
    if shutil.which("nvidia-smi") is None:
        return NvidiaSmi()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return NvidiaSmi(True, error=f"nvidia-smi did not answer ({type(exc).__name__})")
    if out.returncode != 0:
        lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
        return NvidiaSmi(True, error=lines[0] if lines else f"nvidia-smi exit {out.returncode}")
    rows = [[c.strip() for c in line.split(",")] for line in out.stdout.splitlines() if line.strip()]
    return NvidiaSmi(True, [r[0] for r in rows], rows[0][1] if rows and len(rows[0]) > 1 else "")


def gpu_names() -> list[str]:
    """NVIDIA GPU names from ``nvidia-smi`` (empty when there is none)."""
    return nvidia_smi().names


def count_names(names: list[str]) -> str:
    """``["H200", "H200"]`` -> ``"2x H200"`` (``", "``-joined per kind)."""
    return ", ".join(f"{n}x {g}" for g, n in _count(names))


def cpu_count() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_threads(cap: int) -> int:
    """Threads for GIL-releasing work (PNG decoding, watershed, zlib): one per core, 1..``cap``."""
    return max(1, min(cap, cpu_count()))


def machine_description() -> str:
    """One line, e.g. ``Intel Xeon ... (2 cores), no GPU``."""
    cores = cpu_count()
    gpus = gpu_names()
    gpu = count_names(gpus) if gpus else "no GPU"
    return f"{cpu_model()} ({cores} cores), {gpu}"


def git_commit(root: str | os.PathLike | None = None, short: bool = True,
               mark_dirty: bool = False) -> str | None:
    """The HEAD commit of the checkout holding ``root`` (default this repository), what a
    benchmark or an exported model records beside its figures; ``None`` outside a git checkout.

    Args:
        short: The abbreviated hash.
        mark_dirty: Append `` (uncommitted changes)`` when tracked files differ from HEAD.
    """
    where = str(root or Path(__file__).resolve().parent)

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", where, *args], capture_output=True, text=True, timeout=10)

    try:
        out = git("rev-parse", *(["--short"] if short else []), "HEAD")
        if out.returncode != 0 or not out.stdout.strip():
            return None
        commit = out.stdout.strip()
        if mark_dirty and git("status", "--porcelain", "--untracked-files=no").stdout.strip():
            commit += " (uncommitted changes)"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def _count(items: list[str]) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return list(out.items())


def device_description() -> str:
    """The device the Keras backend computes on.

    Returns:
        ``"GPU: <name> x <n> (<backend>)"`` when the backend sees GPUs, else
        ``"CPU: <model> (<n> cores, <backend>)"``.
    """
    import keras

    backend = keras.backend.backend()
    names: list[str] = []
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            for gpu in tf.config.list_physical_devices("GPU"):
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        elif backend == "jax":
            import jax

            names = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    except Exception:  # noqa: BLE001 - a description only
        names = []
    if names:
        return f"GPU: {names[0]} x {len(names)} ({backend})"
    return f"CPU: {cpu_model()} ({cpu_count()} cores, {backend})"
