#!/usr/bin/env python3
"""Re-resolve the pinned lock files of the pip stacks from ``requirements.txt``.

    python3.11 scripts/make_locks.py [--stacks cpu,gpu-tensorflow,gpu-jax] [--fresh]

Each stack's direct requirements are ``requirements.txt`` with substitutions:

    cpu             as written (tensorflow-cpu and the JAX CPU wheels)
    gpu-tensorflow  tensorflow-cpu -> tensorflow[and-cuda]; no jax/jaxlib
    gpu-jax         jax -> jax[cuda12] (tensorflow-cpu stays for TensorBoard logs)

The GPU stacks leave out openvino (``GPU_ONLY_WITHOUT``): it is the CPU inference engine,
and where a GPU is visible ``predict.engine: auto`` runs the network with Keras anyway.

pip's resolver does the work (``pip install --dry-run --ignore-installed --only-binary=:all:
--report``: metadata only, no CUDA wheels are downloaded) under the interpreter running this
script, so run it with the Python the locks are for (3.11, Linux x86_64). Unless ``--fresh``,
the current ``requirements-lock.txt`` is a constraint, so every stack keeps today's pins of the
packages they share. pip and setuptools are left to the venv, as in ``pip freeze``. Standard
library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from select_stack import LOCKS  # noqa: E402

#: Left to the venv (ensurepip installs them), as ``pip freeze`` does.
UNPINNED = ("pip", "setuptools")
#: Direct requirements the GPU stacks leave out.
GPU_ONLY_WITHOUT = ("openvino",)


def _name(line: str) -> str:
    return re.split(r"[\s\[<>=!~;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def direct_requirements(stack: str, base: list[str]) -> list[str]:
    """The direct requirement lines of ``stack`` from the lines of requirements.txt.

    The GPU stacks are Linux only: their lines lose the macOS variants and the markers.
    """
    out = []
    for line in base:
        line = line.split("#")[0].strip()
        if not line:
            continue
        name = _name(line)
        if stack.startswith("gpu-"):
            if 'sys_platform == "darwin"' in line or name in GPU_ONLY_WITHOUT:
                continue
            line = line.split(";")[0].strip()
        if stack == "gpu-tensorflow":
            if name in ("jax", "jaxlib"):
                continue
            line = line.replace("tensorflow-cpu", "tensorflow[and-cuda]")
        elif stack == "gpu-jax" and name == "jax":
            line = line.replace("jax==", "jax[cuda12]==")
        out.append(line)
    return out


def lock_lines(pins: list[tuple[str, str]], reqs: list[str]) -> list[str]:
    """``name==version`` per pin; a direct requirement with a marker is written as it is
    (resolved here or, for another platform, not), so the lock serves both platforms."""
    marked = {_name(r): r for r in reqs if ";" in r}
    lines = [f"{n}=={v}" for n, v in pins if _name(n) not in marked]
    return sorted(lines + list(marked.values()), key=lambda line: (_name(line), line.lower()))


def resolve(reqs: list[str], constraints: Path | None) -> list[tuple[str, str]]:
    """``(name, version)`` of everything pip would install for ``reqs``, sorted by name."""
    with tempfile.TemporaryDirectory() as tmp:
        req_file, report = Path(tmp, "req.txt"), Path(tmp, "report.json")
        req_file.write_text("\n".join(reqs) + "\n")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--quiet", "--report", str(report), "-r", str(req_file)]
        if constraints is not None:
            cmd += ["-c", str(constraints)]
        print("[make_locks]", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
        items = json.loads(report.read_text())["install"]
    pins = {(i["metadata"]["name"], i["metadata"]["version"]) for i in items
            if _name(i["metadata"]["name"]) not in UNPINNED}
    return sorted(pins, key=lambda p: p[0].lower())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stacks", default="cpu,gpu-tensorflow,gpu-jax")
    ap.add_argument("--fresh", action="store_true", help="no constraint from today's cpu lock")
    args = ap.parse_args(argv)
    base = (REPO / "requirements.txt").read_text().splitlines()
    cpu_lock = REPO / LOCKS["cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = None
        if not args.fresh and cpu_lock.is_file():  # a copy: the cpu lock itself is rewritten below
            constraints = Path(tmp, "constraints.txt")
            constraints.write_text(cpu_lock.read_text())
        for stack in args.stacks.split(","):
            reqs = direct_requirements(stack, base)
            pins = resolve(reqs, constraints)
            py = ".".join(map(str, sys.version_info[:2]))
            head = (f"# Stack {stack}: generated by scripts/make_locks.py from requirements.txt "
                    f"(Python {py}, {sys.platform}); direct: "
                    + ", ".join(r.split(";")[0].strip() for r in reqs if re.search(r"tensorflow|jax", r))
                    + "\n")
            out = REPO / LOCKS[stack]
            out.write_text(head + "".join(f"{line}\n" for line in lock_lines(pins, reqs)))
            print(f"[make_locks] {out.name}: {len(pins)} packages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
