"""Small helpers of the U-Net solution: machine description, atomic JSON, workspace."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from common.paths import Workspace


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo``), or ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_count() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def device_description() -> str:
    """``"GPU: <name> x n"`` when the backend sees GPUs, else ``"CPU: <model> (<n> cores)"``."""
    import keras

    names: list[str] = []
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            for gpu in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(gpu)
                names.append(details.get("device_name", gpu.name))
        elif backend == "jax":
            import jax

            names = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    except Exception:  # noqa: BLE001 - a description only
        names = []
    if names:
        return f"GPU: {names[0]} x {len(names)} ({backend})"
    return f"CPU: {cpu_model()} ({cpu_count()} cores, {backend})"


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file, or return ``default`` if it does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())


def workspace(work: str | None, data: str | None) -> Workspace:
    """The workspace for ``--work`` / ``--data`` (defaults from ``common.paths``)."""
    ws = Workspace.default()
    root = Path(work).expanduser().resolve() if work else ws.root
    data_dir = Path(data).expanduser().resolve() if data else ws.data_dir
    return Workspace(root=root, data_dir=data_dir)
