"""Ray as an optional extra: installed into the active venv on first use of ``--executor ray``.

The base install (``scripts/setup_env.sh``) stays without Ray. ``requirements-ray.txt`` pins
Ray and the few packages it adds; they are installed with the same pip flags as the base
stack (wheels only, no compile) and, when the venv's stamp (``.venv/.dsb-stack``) names one
of this repository's lock files, with that lock as constraints, so nothing already installed
moves. One line on stderr says what is installed, where, and why.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from common.paths import REPO_ROOT

__all__ = ["RAY_REQUIREMENTS", "RayInstallError", "ray_available", "install_command", "ensure_ray"]

RAY_REQUIREMENTS = REPO_ROOT / "requirements-ray.txt"


class RayInstallError(RuntimeError):
    """Ray could not be installed; one line naming the requirements file and what to run."""


def _select_stack():
    """``scripts/select_stack.py`` (standard library only) as a module: its pip flags and stamp name."""
    path = REPO_ROOT / "scripts" / "select_stack.py"
    spec = importlib.util.spec_from_file_location("dsb_select_stack", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ray_available() -> bool:
    """Whether ``import ray`` would work in this interpreter."""
    return importlib.util.find_spec("ray") is not None


def _pins(path: Path) -> str:
    """The requirement lines of a requirements file, comma-joined (for the console line)."""
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return ", ".join(ln for ln in lines if ln)


def install_command(prefix: Path = Path(sys.prefix), python: str = sys.executable,
                    repo: Path = REPO_ROOT) -> tuple[list[str], Path | None]:
    """The pip command that installs the extra into the venv at ``prefix``.

    Returns:
        ``(argv, constraints)``: ``constraints`` is the lock file the venv's stamp names (its
        pins hold every installed package where it is), or None (no stamp, or the unpinned
        Kaggle stack).
    """
    sel = _select_stack()
    constraints = None
    stamp = prefix / sel.STAMP_NAME
    if stamp.is_file():
        fields = stamp.read_text().split()
        if len(fields) >= 2 and fields[1].endswith("lock.txt") and (repo / fields[1]).is_file():
            constraints = repo / fields[1]
    argv = [python, "-m", "pip", "install", *sel.PIP_FLAGS, "-r", str(repo / RAY_REQUIREMENTS.name)]
    if constraints is not None:
        argv += ["-c", str(constraints)]
    return argv, constraints


def ensure_ray(echo: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> None:
    """Install ``requirements-ray.txt`` into the active venv unless Ray imports already.

    Raises:
        RayInstallError: pip failed (the line names the file and the command to run by hand).
    """
    if ray_available():
        return
    argv, constraints = install_command()
    held = f" with the pins of {constraints.name}" if constraints is not None else ""
    echo(f"[setup] ray: not installed; installing {RAY_REQUIREMENTS.name} ({_pins(RAY_REQUIREMENTS)}) "
         f"into {sys.prefix}{held} (first use of --executor ray)")
    done = subprocess.run(argv, stdout=sys.stderr, stderr=sys.stderr)
    importlib.invalidate_caches()
    if done.returncode != 0 or not ray_available():
        raise RayInstallError(f"{RAY_REQUIREMENTS}: pip could not install it (exit {done.returncode}); "
                              f"run by hand: {' '.join(argv)}")
