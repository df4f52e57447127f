#!/usr/bin/env python3
"""Pick the Python stack that ``scripts/setup_env.sh`` installs, and say so in one line.

Runs with the system ``python3`` before any virtual environment exists (standard library
only). Reads the environment, writes ONE line on stderr (``[setup] stack: ...``) and, on
stdout, either bash assignments (``--shell``, evaluated by ``setup_env.sh``) or JSON
(default; for people and tests). Installs nothing.

Stacks:
    cpu              requirements-lock.txt: tensorflow-cpu, and the JAX CPU wheels (jax,
                     jaxlib: ~90 MB) only when JAX is wanted (KERAS_BACKEND=jax or
                     DSB_WITH_JAX=1, which ./run_tests.sh sets: the suite runs both backends);
                     a venv that has them keeps them, so one venv runs both Keras backends.
    gpu-tensorflow   requirements-gpu-lock.txt: tensorflow[and-cuda] (CUDA wheels from pip).
    gpu-jax          requirements-jax-gpu-lock.txt: jax[cuda12] for the compute,
                     tensorflow-cpu for TensorBoard logs and TensorFlow-only code.
    kaggle           a venv with --system-site-packages over a Kaggle image: its
                     tensorflow, keras, jax and numpy are reused; only the packages of
                     requirements-kaggle.txt that the image lacks are installed.

Environment:
    DSB_DEVICE       auto (default) | cpu | gpu. gpu without a GPU is an error (exit 2).
    KERAS_BACKEND    tensorflow (default) | jax. Anything else is an error (exit 2).
    DSB_WITH_JAX     1: the cpu stack installs JAX also under KERAS_BACKEND=tensorflow.
    DSB_KAGGLE       auto (default) | 1 | 0: force or refuse the kaggle stack.
    DSB_KAGGLE_ROOT  the folder whose presence means "Kaggle notebook" (/kaggle/input);
                     KAGGLE_KERNEL_RUN_TYPE being set means the same.
    DSB_NVIDIA_SMI   the nvidia-smi to ask (default: ``nvidia-smi`` on PATH).
    DSB_VENV         the venv (default REPO/.venv); its stamp says what is installed.
    PYTHON           the interpreter for the venv (default: python3.11 on PATH, else this
                     one; on Kaggle always this one, the image's).

Exit status: 0, or 2 with one ``[setup] error: ...`` line for bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata, util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax")
DEVICES = ("auto", "cpu", "gpu")
LOCKS = {
    "cpu": "requirements-lock.txt",
    "gpu-tensorflow": "requirements-gpu-lock.txt",
    "gpu-jax": "requirements-jax-gpu-lock.txt",
    "kaggle": "requirements-kaggle.txt",
}
#: Packages a Kaggle image provides and the kaggle stack must never replace (module: the
#: distributions that may provide it): their installed versions are passed to pip as
#: ``distribution==version`` so the resolver keeps them.
IMAGE_CORE = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel"), "keras": ("keras",),
              "jax": ("jax",), "jaxlib": ("jaxlib",), "numpy": ("numpy",)}
#: Distributions of the cpu lock that only the JAX backend needs (left out without JAX).
JAX_ONLY = ("jax", "jaxlib")
#: Suffix of the stamp of a cpu venv installed without them (a stamp without it: with JAX).
NO_JAX = "without=jax"
STAMP_NAME = ".dsb-stack"
LEGACY_STAMP_NAME = ".requirements.sha256"  # before stacks: the cpu lock's sha256
#: Wheels only; no bytecode compile at install time (the modules a run imports are compiled on
#: first import: ~16 s of CPU for tensorflow+keras+jax+scipy+... against ~54 s to compile all).
PIP_FLAGS = ["--quiet", "--disable-pip-version-check", "--no-input", "--only-binary=:all:", "--no-compile"]
_GPU_LINE = re.compile(r"^GPU \d+: (.+?)(?: \(UUID: [^)]*\))?\s*$")


class SetupError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


def detect_gpus(env: dict) -> tuple[list[str], str]:
    """Ask ``nvidia-smi -L`` for the GPUs.

    Returns:
        (names, how): the GPU names (empty when none) and a few words on what was found,
        e.g. ``"nvidia-smi lists 1 GPU: NVIDIA H200"`` or ``"no nvidia-smi on PATH"``.
    """
    exe = env.get("DSB_NVIDIA_SMI") or "nvidia-smi"
    found = shutil.which(exe, path=env.get("PATH", os.defpath))
    if found is None:
        return [], f"no {exe} on PATH" if exe == "nvidia-smi" else f"no {exe}"
    try:
        proc = subprocess.run([found, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"nvidia-smi -L failed ({type(exc).__name__})"
    lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
    if proc.returncode != 0:
        first = lines[0][:100] if lines else "no output"
        return [], f"nvidia-smi -L failed (exit {proc.returncode}: {first})"
    names = [m.group(1) for m in map(_GPU_LINE.match, lines) if m]
    if not names:
        return [], "nvidia-smi -L lists no GPU"
    shown = ", ".join(names[:2]) + (", ..." if len(names) > 2 else "")
    return names, f"nvidia-smi lists {len(names)} GPU{'s' if len(names) > 1 else ''}: {shown}"


def detect_kaggle(env: dict) -> str | None:
    """Why this looks like a Kaggle notebook (a few words), or None."""
    choice = env.get("DSB_KAGGLE", "auto") or "auto"
    if choice not in ("auto", "0", "1"):
        raise SetupError(f"DSB_KAGGLE={choice} is not one of auto, 1, 0")
    if choice == "0":
        return None
    if choice == "1":
        return "DSB_KAGGLE=1"
    if env.get("KAGGLE_KERNEL_RUN_TYPE"):
        return f"KAGGLE_KERNEL_RUN_TYPE={env['KAGGLE_KERNEL_RUN_TYPE']}"
    root = env.get("DSB_KAGGLE_ROOT") or "/kaggle/input"
    if Path(root).is_dir():
        return f"{root} exists"
    return None


def read_requirements(path: Path) -> list[tuple[str, str]]:
    """``(requirement, import_name)`` per line of a Kaggle list.

    A line is ``requirement  # import module``; without the comment the module is the
    distribution name in lower case with ``-`` as ``_``.
    """
    out = []
    for raw in path.read_text().splitlines():
        req, _, comment = raw.partition("#")
        req = req.strip()
        if not req:
            continue
        m = re.search(r"\bimport\s+([\w.]+)", comment)
        name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]
        out.append((req, m.group(1) if m else name.lower().replace("-", "_")))
    return out


def kaggle_plan(req_file: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """What this interpreter (the image's) lacks from ``req_file``, and its core versions.

    Returns:
        (missing, core): the requirement lines whose module cannot be found, and
        ``{module: (distribution, version)}`` of the installed ``IMAGE_CORE`` packages.
    """
    missing = [req for req, module in read_requirements(req_file) if util.find_spec(module) is None]
    core = {}
    for module, dists in IMAGE_CORE.items():
        for dist in dists:
            try:
                core[module] = (dist, metadata.version(dist))
                break
            except metadata.PackageNotFoundError:
                pass
    return missing, core


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def lock_without_jax(lock: Path) -> list[str]:
    """The requirement lines of a lock file, less the :data:`JAX_ONLY` distributions."""
    out = []
    for raw in lock.read_text().splitlines():
        req = raw.split("#", 1)[0].strip()
        name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")
        if req and name not in JAX_ONLY:
            out.append(req)
    return out


def has_jax(stamp: str | None) -> bool:
    """Whether a venv stamp (:func:`read_stamp`) records the cpu stack installed with JAX
    (every complete cpu stamp but the ones ending in :data:`NO_JAX`; the old script's too)."""
    if not stamp or stamp.split()[0] != "cpu" or stamp.endswith(NO_JAX):
        return False
    return stamp == "cpu legacy" or "sha256=" in stamp


def read_stamp(venv: Path) -> str | None:
    """What the venv says it holds: the stamp line, ``cpu legacy`` (the old script's stamp),
    ``unknown`` (no stamp) or None (no venv)."""
    if not (venv / "bin" / "python").exists():
        return None
    stamp = venv / STAMP_NAME
    if stamp.is_file():
        return stamp.read_text().strip()
    if (venv / LEGACY_STAMP_NAME).is_file():
        return "cpu legacy"
    return "unknown"


def select(env: dict, repo: Path = REPO, python: str = sys.executable) -> dict:
    """The stack for this machine and environment, and what setup_env.sh must do.

    Raises:
        SetupError: bad DSB_DEVICE / KERAS_BACKEND / DSB_KAGGLE, a GPU requested but absent,
            a Kaggle image without Keras 3 or without the requested backend, or a DSB_VENV
            that exists and is not a virtual environment.
    """
    device = (env.get("DSB_DEVICE") or "auto").strip().lower()
    if device not in DEVICES:
        raise SetupError(f"DSB_DEVICE={env.get('DSB_DEVICE')} is not one of {', '.join(DEVICES)}")
    backend = (env.get("KERAS_BACKEND") or "tensorflow").strip().lower()
    if backend not in BACKENDS:
        raise SetupError(f"KERAS_BACKEND={env.get('KERAS_BACKEND')} is not supported; "
                         f"use {' or '.join(BACKENDS)}")
    kaggle = detect_kaggle(env)
    gpus, gpu_how = detect_gpus(env)
    if device == "gpu" and not gpus:
        raise SetupError(f"DSB_DEVICE=gpu but no GPU found ({gpu_how}); install the NVIDIA "
                         f"driver, or set DSB_DEVICE=cpu for a CPU install")

    why = [kaggle] if kaggle else []
    if device != "auto":
        why.append(f"DSB_DEVICE={device}")
    why += [gpu_how + (" (not used)" if gpus and device == "cpu" else ""), f"KERAS_BACKEND={backend}"]
    plan: dict = {"backend": backend, "device": device, "gpus": gpus, "system_site": False,
                  "python": env.get("PYTHON") or python}
    if kaggle:
        stack = "kaggle"
        req_file = repo / LOCKS[stack]
        missing, core = kaggle_plan(req_file)
        keras_version = core.get("keras", ("keras", "missing"))[1]
        if not keras_version.startswith("3."):
            raise SetupError(f"this Kaggle image has keras {keras_version}, the project "
                             f"needs Keras 3; set DSB_KAGGLE=0 to install the pinned lock instead")
        if backend not in core:
            raise SetupError(f"KERAS_BACKEND={backend} but this Kaggle image has no {backend}; "
                             f"use KERAS_BACKEND={'jax' if backend == 'tensorflow' else 'tensorflow'}"
                             f" or DSB_KAGGLE=0")
        pins = [f"{dist}=={version}" for dist, version in sorted(core.values())]
        plan.update(system_site=True, python=python, missing=missing, image=core,
                    pip_args=(missing + pins) if missing else [],
                    digest=sha256(req_file.read_text() + "\n".join(pins)))
        reused = ", ".join(f"{m} {v}" for m, (_, v) in core.items() if m != "jaxlib")
        target = (f"image's {reused} reused; "
                  + (f"installs {len(missing)} it lacks: {', '.join(m.split('>')[0].split('=')[0] for m in missing)}"
                     if missing else "installs nothing else"))
    else:
        if gpus and device != "cpu":
            stack = "gpu-tensorflow" if backend == "tensorflow" else "gpu-jax"
        else:
            stack = "cpu"
        lock = repo / LOCKS[stack]
        plan.update(pip_args=["-r", str(lock)], digest=sha256(lock.read_text()))
        if not env.get("PYTHON") and shutil.which("python3.11", path=env.get("PATH", os.defpath)):
            plan["python"] = "python3.11"
        target = LOCKS[stack]
    plan["stack"] = stack

    venv = Path(env.get("DSB_VENV") or repo / ".venv")
    if venv.exists() and not (venv / "pyvenv.cfg").is_file() and any(venv.iterdir()):
        raise SetupError(f"DSB_VENV={venv} exists and is not a virtual environment; "
                         f"point DSB_VENV at a new folder")
    want = f"{stack} {LOCKS[stack]} sha256={plan['digest'][:16]}"
    have = read_stamp(venv)
    if stack == "cpu":  # JAX only when wanted, or kept when the venv has it
        plan["with_jax"] = (backend == "jax" or env.get("DSB_WITH_JAX", "") == "1"
                            or has_jax(have))
        if plan["with_jax"]:
            target += " (TensorFlow and JAX)"
        else:
            want += f" {NO_JAX}"
            plan["pip_args"] = lock_without_jax(repo / LOCKS[stack])
            target += " (TensorFlow; JAX only with KERAS_BACKEND=jax)"
    # another stack recorded: start afresh; no venv, an unstamped one or a stamp of the same
    # stack (an older lock, an interrupted install): install over it
    recreate = have not in (None, "unknown") and have.split()[0] != stack
    action = ("up to date" if have == want
              else f"installing into {venv} (first run)" if have is None
              else f"adding JAX to {venv}" if have == f"{want} {NO_JAX}"
              else f"switching {venv} from {have.split()[0]} to {stack} (recreated)" if recreate
              else f"updating {venv}")
    # kaggle: the image's packages and its own pip (no ensurepip copy) are seen through
    plan["venv_flags"] = ["--system-site-packages", "--without-pip"] if plan["system_site"] else []
    plan.update(venv=str(venv), stamp=want, stamp_file=str(venv / STAMP_NAME),
                install=have != want, recreate=recreate)
    plan["line"] = f"[setup] stack: {stack} ({'; '.join(why)}) -> {target}; {action}"
    return plan


def to_shell(plan: dict) -> str:
    """Bash assignments for ``eval`` in setup_env.sh."""
    q = shlex.quote
    return "\n".join([
        f"DSB_STACK={q(plan['stack'])}",
        f"DSB_SEL_VENV={q(plan['venv'])}",
        f"DSB_SEL_PYTHON={q(plan['python'])}",
        "DSB_SEL_VENV_FLAGS=(" + " ".join(q(a) for a in plan["venv_flags"]) + ")",
        f"DSB_SEL_INSTALL={int(plan['install'])}",
        f"DSB_SEL_RECREATE={int(plan['recreate'])}",
        f"DSB_SEL_STAMP={q(plan['stamp'])}",
        f"DSB_SEL_STAMP_FILE={q(plan['stamp_file'])}",
        "DSB_SEL_PIP_ARGS=(" + " ".join(q(a) for a in plan["pip_args"]) + ")",
        "DSB_SEL_PIP_FLAGS=(" + " ".join(q(a) for a in PIP_FLAGS) + ")",
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shell", action="store_true", help="print bash assignments (for setup_env.sh)")
    ap.add_argument("--repo", type=Path, default=REPO, help="repository root (default: this one)")
    args = ap.parse_args(argv)
    try:
        plan = select(dict(os.environ), args.repo)
    except SetupError as exc:
        print(f"[setup] error: {exc}", file=sys.stderr)
        return 2
    print(plan["line"], file=sys.stderr)
    sys.stdout.write(to_shell(plan) if args.shell else json.dumps(plan, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
