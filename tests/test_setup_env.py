"""Stack selection of scripts/select_stack.py and scripts/setup_env.sh, installing nothing.

A fake ``nvidia-smi`` on ``PATH`` (one that lists an H200, one that fails, none at all), the
``DSB_DEVICE`` / ``KERAS_BACKEND`` / ``DSB_KAGGLE`` overrides, and a fake Kaggle mount (a tmp
folder as ``DSB_KAGGLE_ROOT``). The shell script runs with ``DSB_SETUP_DRY_RUN=1``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SELECT = REPO / "scripts" / "select_stack.py"
SETUP = REPO / "scripts" / "setup_env.sh"
BASH = shutil.which("bash")

H200 = 'echo "GPU 0: NVIDIA H200 (UUID: GPU-0b1e4a57-7c1d-2e3f-9a8b-123456789abc)"\n'
TWO_A100 = ('echo "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-1)"\n'
            'echo "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-2)"\n')
BROKEN = ('echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\n'
          "exit 9\n")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sel = _load("select_stack")


def make_env(tmp_path: Path, smi: str | None = None, **extra: str) -> dict:
    """An environment with only a fake nvidia-smi (or none) on PATH, no Kaggle, a tmp venv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if smi is not None:
        fake = bin_dir / "nvidia-smi"
        fake.write_text("#!/bin/sh\n" + smi)
        fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DSB_", "KAGGLE_")) and k not in ("KERAS_BACKEND", "PYTHON")}
    env.update(PATH=str(bin_dir), DSB_VENV=str(tmp_path / "venv"),
               DSB_KAGGLE_ROOT=str(tmp_path / "no-kaggle-here"), PYTHON=sys.executable)
    env.update(extra)
    return env


def run_select(env: dict, *args: str) -> tuple[int, dict | None, list[str]]:
    proc = subprocess.run([sys.executable, str(SELECT), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    plan = json.loads(proc.stdout) if proc.returncode == 0 and "--shell" not in args else None
    return proc.returncode, plan, proc.stderr.strip().splitlines()


def run_setup(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, str(SETUP)], env={**env, "DSB_SETUP_DRY_RUN": "1"},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("smi, stack, words", [
    (H200, "gpu-tensorflow", "nvidia-smi lists 1 GPU: NVIDIA H200"),
    (TWO_A100, "gpu-tensorflow", "nvidia-smi lists 2 GPUs: NVIDIA A100-SXM4-80GB"),
    (BROKEN, "cpu", "nvidia-smi -L failed (exit 9: NVIDIA-SMI has failed"),
    ('echo "No devices were found"\n', "cpu", "nvidia-smi -L lists no GPU"),
    (None, "cpu", "no nvidia-smi on PATH"),
])
def test_nvidia_smi_picks_the_stack(tmp_path, smi, stack, words):
    rc, plan, err = run_select(make_env(tmp_path, smi))
    assert rc == 0 and plan["stack"] == stack
    assert len(err) == 1 and err[0].startswith(f"[setup] stack: {stack} (") and words in err[0]
    if stack == "cpu":  # without JAX under KERAS_BACKEND=tensorflow (the next tests)
        assert plan["pip_args"] == sel.lock_without_jax(REPO / sel.LOCKS[stack])
    else:
        assert plan["pip_args"] == ["-r", str(REPO / sel.LOCKS[stack])]
    assert sel.LOCKS[stack] in err[0] and "installing into" in err[0]
    assert plan["system_site"] is False and plan["install"] and not plan["recreate"]


@pytest.mark.parametrize("smi, backend, stack", [
    (H200, "jax", "gpu-jax"), (H200, "tensorflow", "gpu-tensorflow"), (H200, "", "gpu-tensorflow"),
    (H200, "JAX", "gpu-jax"), (None, "jax", "cpu"), (BROKEN, "jax", "cpu"),
])
def test_keras_backend(tmp_path, smi, backend, stack):
    rc, plan, err = run_select(make_env(tmp_path, smi, KERAS_BACKEND=backend))
    assert rc == 0 and plan["stack"] == stack and plan["backend"] == (backend.lower() or "tensorflow")
    assert f"KERAS_BACKEND={plan['backend']}" in err[0]


@pytest.mark.parametrize("smi, device, stack", [
    (H200, "cpu", "cpu"), (H200, "gpu", "gpu-tensorflow"), (H200, "auto", "gpu-tensorflow"),
    (None, "cpu", "cpu"), (None, "auto", "cpu"), (None, "", "cpu"),
])
def test_dsb_device_overrides(tmp_path, smi, device, stack):
    rc, plan, err = run_select(make_env(tmp_path, smi, DSB_DEVICE=device))
    assert rc == 0 and plan["stack"] == stack and len(err) == 1
    if smi and device == "cpu":
        assert "DSB_DEVICE=cpu" in err[0] and "(not used)" in err[0]


@pytest.mark.parametrize("smi, extra, words", [
    (None, {"DSB_DEVICE": "gpu"}, "DSB_DEVICE=gpu but no GPU found (no nvidia-smi on PATH)"),
    (BROKEN, {"DSB_DEVICE": "gpu"}, "DSB_DEVICE=gpu but no GPU found (nvidia-smi -L failed (exit 9"),
    (H200, {"DSB_DEVICE": "tpu"}, "DSB_DEVICE=tpu is not one of auto, cpu, gpu"),
    (H200, {"KERAS_BACKEND": "torch"}, "KERAS_BACKEND=torch is not supported; use tensorflow or jax"),
    (None, {"KERAS_BACKEND": "theano"}, "use tensorflow or jax"),
    (None, {"DSB_KAGGLE": "yes"}, "DSB_KAGGLE=yes is not one of auto, 1, 0"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, smi, extra, words):
    env = make_env(tmp_path, smi, **extra)
    rc, _, err = run_select(env)
    assert rc == 2 and len(err) == 1 and err[0].startswith("[setup] error: ") and words in err[0]
    proc = run_setup(env)  # the shell script passes the line and the status through
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == err and proc.stdout == ""
    assert not (tmp_path / "venv").exists()


def test_dsb_venv_that_is_not_a_venv_is_refused(tmp_path):
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "my-thesis.tex").write_text("x")
    rc, _, err = run_select(make_env(tmp_path))
    assert rc == 2 and "is not a virtual environment" in err[0] and len(err) == 1


def fake_repo(tmp_path: Path, kaggle_list: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for lock in sel.LOCKS.values():
        shutil.copy(REPO / lock, repo / lock)
    (repo / "requirements-kaggle.txt").write_text(kaggle_list)
    return repo


@pytest.mark.parametrize("how", ["mount", "run_type", "forced"])
def test_kaggle_reuses_the_image(tmp_path, how):
    """This interpreter plays the image: it has keras and numpy, not dsb_no_such_module."""
    mount = tmp_path / "kaggle" / "input"
    mount.mkdir(parents=True)
    extra = {"mount": {"DSB_KAGGLE_ROOT": str(mount)},
             "run_type": {"KAGGLE_KERNEL_RUN_TYPE": "Interactive"},
             "forced": {"DSB_KAGGLE": "1"}}[how]
    repo = fake_repo(tmp_path, "numpy>=1.0\nscikit-image>=0.1  # import skimage\n"
                               "dsb-not-a-package>=1.0   # import dsb_no_such_module\n")
    env = make_env(tmp_path, H200, KERAS_BACKEND="jax", **extra)
    rc, plan, err = run_select(env, "--repo", str(repo))
    assert rc == 0 and plan["stack"] == "kaggle" and plan["system_site"] is True
    assert plan["missing"] == ["dsb-not-a-package>=1.0"]
    pins = plan["pip_args"][1:]
    assert plan["pip_args"][0] == "dsb-not-a-package>=1.0"
    assert all("==" in p for p in pins) and any(p.startswith("keras==3.") for p in pins)
    assert any(p.startswith("numpy==") for p in pins)
    assert plan["python"] == sys.executable  # the image's interpreter, not python3.11
    assert len(err) == 1 and "stack: kaggle" in err[0] and "NVIDIA H200" in err[0]
    assert "reused" in err[0] and "installs 1 it lacks: dsb-not-a-package" in err[0]


def test_kaggle_with_nothing_missing_runs_no_pip(tmp_path):
    mount = tmp_path / "input"
    mount.mkdir()
    repo = fake_repo(tmp_path, "numpy\nPyYAML  # import yaml\n")
    env = make_env(tmp_path, None, DSB_KAGGLE_ROOT=str(mount))
    rc, plan, err = run_select(env, "--repo", str(repo))
    assert rc == 0 and plan["missing"] == [] and plan["pip_args"] == [] and "installs nothing else" in err[0]


def test_kaggle_opt_out_and_absent(tmp_path):
    mount = tmp_path / "input"
    mount.mkdir()
    rc, plan, _ = run_select(make_env(tmp_path, H200, DSB_KAGGLE_ROOT=str(mount), DSB_KAGGLE="0"))
    assert rc == 0 and plan["stack"] == "gpu-tensorflow"
    (tmp_path / "b").mkdir()
    rc, plan, _ = run_select(make_env(tmp_path / "b", None))  # DSB_KAGGLE_ROOT does not exist
    assert rc == 0 and plan["stack"] == "cpu"


def test_kaggle_image_without_the_backend(tmp_path, monkeypatch):
    core = {"tensorflow": ("tensorflow", "2.18.0"), "keras": ("keras", "3.8.0"), "numpy": ("numpy", "1.26.4")}
    monkeypatch.setattr(sel, "kaggle_plan", lambda req_file: ([], core))
    env = make_env(tmp_path, None, KAGGLE_KERNEL_RUN_TYPE="Batch")
    plan = sel.select({**env, "KERAS_BACKEND": "tensorflow"})
    assert plan["pip_args"] == [] and plan["stack"] == "kaggle"
    with pytest.raises(sel.SetupError, match="KERAS_BACKEND=jax but this Kaggle image has no jax"):
        sel.select({**env, "KERAS_BACKEND": "jax"})
    monkeypatch.setattr(sel, "kaggle_plan", lambda req_file: ([], {"keras": ("keras", "2.15.0")}))
    with pytest.raises(sel.SetupError, match="keras 2.15.0, the project needs Keras 3; set DSB_KAGGLE=0"):
        sel.select(env)


def fake_venv(tmp_path: Path, stamp: str | None, legacy: bool = False) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "bin" / "python").chmod(0o755)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    if stamp is not None:
        (venv / ".dsb-stack").write_text(stamp + "\n")
    if legacy:
        (venv / ".requirements.sha256").write_text("f3888969\n")
    return venv


def test_stamp_unchanged_selection_installs_nothing(tmp_path):
    env = make_env(tmp_path, H200)
    _, plan, _ = run_select(env)
    fake_venv(tmp_path, plan["stamp"])
    rc, again, err = run_select(env)
    assert rc == 0 and not again["install"] and err[0].endswith("; up to date")
    proc = run_setup(env)
    assert proc.returncode == 0 and proc.stdout.strip() == "would run: nothing (up to date)"


@pytest.mark.parametrize("switch", [{"DSB_DEVICE": "cpu"}, {"KERAS_BACKEND": "jax"}])
def test_stamp_switching_stack_recreates_the_venv(tmp_path, switch):
    env = make_env(tmp_path, H200)
    _, plan, _ = run_select(env)
    venv = fake_venv(tmp_path, plan["stamp"])
    rc, other, err = run_select({**env, **switch})
    assert rc == 0 and other["install"] and other["recreate"]
    assert f"switching {venv} from gpu-tensorflow to {other['stack']} (recreated)" in err[0]
    out = run_setup({**env, **switch}).stdout
    assert f"-m venv --clear {venv}" in out and sel.LOCKS[other["stack"]] in out


@pytest.mark.parametrize("stamp, legacy", [(None, True), ("cpu incomplete", False), (None, False),
                                           ("cpu requirements-lock.txt sha256=0123456789abcdef", False)])
def test_stamp_same_stack_or_unknown_installs_over(tmp_path, stamp, legacy):
    """An older lock, an interrupted install, the stamp of the old script: pip over it, no --clear."""
    venv = fake_venv(tmp_path, stamp, legacy)
    rc, plan, err = run_select(make_env(tmp_path, None))
    assert rc == 0 and plan["install"] and not plan["recreate"] and f"updating {venv}" in err[0]
    out = run_setup(make_env(tmp_path, None)).stdout
    assert "-m venv" not in out and "pip install" in out


@pytest.mark.parametrize("smi, extra, lock", [
    (None, {"KERAS_BACKEND": "jax"}, "requirements-lock.txt"),
    (None, {"DSB_WITH_JAX": "1"}, "requirements-lock.txt"),
    (H200, {}, "requirements-gpu-lock.txt"),
    (H200, {"KERAS_BACKEND": "jax"}, "requirements-jax-gpu-lock.txt"),
])
def test_setup_dry_run_prints_the_light_install(tmp_path, smi, extra, lock):
    proc = run_setup(make_env(tmp_path, smi, **extra))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"would run: {sys.executable} -m venv {tmp_path / 'venv'}"
    assert lines[1].startswith(f"would run: {tmp_path / 'venv'}/bin/python -m pip install ")
    assert "--only-binary=:all:" in lines[1] and "--no-compile" in lines[1] and lines[1].endswith(f"-r {REPO / lock}")
    assert "--upgrade" not in proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and lock in proc.stderr
    assert not (tmp_path / "venv").exists()


def test_cpu_stack_installs_jax_only_when_wanted(tmp_path):
    """KERAS_BACKEND=tensorflow: the cpu lock less jax/jaxlib; JAX wanted later: added over it."""
    env = make_env(tmp_path, None)
    rc, plan, err = run_select(env)
    assert rc == 0 and plan["stack"] == "cpu" and not plan["with_jax"]
    assert plan["stamp"].endswith(" without=jax") and "JAX only with KERAS_BACKEND=jax" in err[0]
    names = {a.split("==")[0] for a in plan["pip_args"]}
    assert "tensorflow-cpu" in names and "keras" in names and not names & {"jax", "jaxlib"}
    assert len(plan["pip_args"]) == len(_pins("requirements-lock.txt")) - 2 + 1  # + the macOS line
    line = run_setup(env).stdout.splitlines()[1]
    assert "tensorflow-cpu==2.21.0; sys_platform" in line and " jax==" not in line and " jaxlib==" not in line
    venv = fake_venv(tmp_path, plan["stamp"])
    rc, again, err = run_select(env)  # unchanged selection: nothing to do
    assert rc == 0 and not again["install"] and err[0].endswith("; up to date")
    for extra in ({"KERAS_BACKEND": "jax"}, {"DSB_WITH_JAX": "1"}):
        rc, more, err = run_select({**env, **extra})
        assert rc == 0 and more["install"] and not more["recreate"] and more["with_jax"]
        assert more["pip_args"][-1].endswith("requirements-lock.txt") and f"adding JAX to {venv}" in err[0]
    (venv / ".dsb-stack").write_text(more["stamp"] + "\n")  # with JAX: kept under tensorflow too
    rc, kept, err = run_select(env)
    assert rc == 0 and not kept["install"] and kept["with_jax"] and "(TensorFlow and JAX)" in err[0]


def test_setup_dry_run_kaggle(tmp_path):
    mount = tmp_path / "input"
    mount.mkdir()
    proc = run_setup(make_env(tmp_path, None, DSB_KAGGLE_ROOT=str(mount)))
    assert proc.returncode == 0, proc.stderr
    assert f"-m venv --system-site-packages --without-pip {tmp_path / 'venv'}" in proc.stdout
    assert "stack: kaggle" in proc.stderr and not (tmp_path / "venv").exists()


def _pins(name: str, platform: str = "linux") -> dict[str, str]:
    """``{name: version}`` of a lock file or requirements.txt, as pip reads it on ``platform``."""
    out = {}
    for line in (REPO / name).read_text().splitlines():
        req, _, marker = line.split("#")[0].partition(";")
        if not req.strip() or ("darwin" in marker and ("!=" in marker) == (platform == "darwin")):
            continue
        key, version = req.strip().lower().replace("_", "-").split("==")
        out[key] = version
    return out


def test_lock_files_are_the_stacks():
    cpu, gpu, jgpu = (_pins(sel.LOCKS[s]) for s in ("cpu", "gpu-tensorflow", "gpu-jax"))
    assert cpu["tensorflow-cpu"] == "2.21.0" and cpu["jax"] == cpu["jaxlib"] == "0.10.2"
    assert "tensorflow" not in cpu and not any(n.startswith("nvidia-") for n in cpu)
    assert gpu["tensorflow"] == "2.21.0" and "tensorflow-cpu" not in gpu and "jax" not in gpu
    assert "nvidia-cudnn-cu12" in gpu
    assert jgpu["jax"] == jgpu["jax-cuda12-plugin"] == jgpu["jax-cuda12-pjrt"] == "0.10.2"
    for platform in ("linux", "darwin"):  # macOS: tensorflow, not tensorflow-cpu (no wheel)
        direct, lock = _pins("requirements.txt", platform), _pins(sel.LOCKS["cpu"], platform)
        assert {n: lock.get(n) for n in direct} == direct
        assert ("tensorflow" in lock) == (platform == "darwin") != ("tensorflow-cpu" in lock)
    shared = set(cpu) & set(gpu) & set(jgpu)
    assert {n: cpu[n] for n in shared} == {n: gpu[n] for n in shared} == {n: jgpu[n] for n in shared}
    kaggle = [req for req, _ in sel.read_requirements(REPO / "requirements-kaggle.txt")]
    assert not [r for r in kaggle if r.split(">")[0].split("=")[0].lower() in
                ("tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "numpy")]
    assert all("==" not in r for r in kaggle)


def test_make_locks_derivations():
    ml = _load("make_locks")
    base = (REPO / "requirements.txt").read_text().splitlines()
    gpu = ml.direct_requirements("gpu-tensorflow", base)
    assert "tensorflow[and-cuda]==2.21.0" in gpu and not [r for r in gpu if r.startswith("jax")]
    jgpu = ml.direct_requirements("gpu-jax", base)
    assert "jax[cuda12]==0.10.2" in jgpu and "jaxlib==0.10.2" in jgpu and "tensorflow-cpu==2.21.0" in jgpu
