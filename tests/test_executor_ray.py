"""The Ray executor (issue 13): ``./run_all.sh --executor ray`` against the local executor.

The slow tests start a local Ray instance in this process (``ray.init(num_cpus=2)``) and
run the pipeline in a subprocess that joins it with ``--ray-address``, as a head joins a
cluster; they use the dummy solution (``tests/dummy_solution.py``), so what is tested is the
dispatch, the retry and the resume, not the models. Without Ray installed
(``requirements-ray.txt``) they are skipped; the others need no Ray.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from common.devices import DeviceError
from common.locks import folder_lock, wait_free
from common.paths import REPO_ROOT
from pipeline.executor_ray import forwarded_env, task_resources
from pipeline.ray_extra import install_command, ray_available
from tests.dummy_solution import pipeline_env, write_dummy_package

ATTEMPT = re.compile(r"^\[ray\] attempt on node \S+ \(worker pid (\d+)\)$", re.M)


# ------------------------------------------------------------------ no Ray needed
def test_each_task_asks_one_gpu_on_a_gpu_cluster_else_cpus():
    assert task_resources(4, None, [], 2) == {"num_cpus": 2, "num_gpus": 1}
    assert task_resources(4, "cpu", [], 1) == {"num_cpus": 1, "num_gpus": 0}
    assert task_resources(0, None, [], 1) == {"num_cpus": 1, "num_gpus": 0}
    with pytest.raises(DeviceError, match="DSB_DEVICE=gpu: the Ray cluster has no GPU"):
        task_resources(0, "gpu", [], 1)
    with pytest.raises(DeviceError, match="--gpus 2: the Ray cluster has no GPU"):
        task_resources(0, None, ["--gpus 2"], 1)
    with pytest.raises(DeviceError, match="--task-cpus 0"):
        task_resources(1, None, [], 0)


def test_the_nodes_get_the_heads_settings_and_the_repository_on_their_path():
    env = forwarded_env({"DSB_DEVICE": "cpu", "KERAS_BACKEND": "jax", "HOME": "/h",
                         "DSB_PARENT_PID": "1", "PYTHONPATH": f"/plugins{os.pathsep}{REPO_ROOT}"})
    assert env == {"DSB_DEVICE": "cpu", "KERAS_BACKEND": "jax",
                   "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}/plugins"}


def test_the_extra_is_installed_with_the_venvs_lock_as_constraints(tmp_path):
    (tmp_path / ".dsb-stack").write_text("gpu-jax requirements-jax-gpu-lock.txt sha256=0\n")
    argv, constraints = install_command(tmp_path, "/venv/bin/python")
    assert constraints == REPO_ROOT / "requirements-jax-gpu-lock.txt"
    assert argv[:4] == ["/venv/bin/python", "-m", "pip", "install"] and "--only-binary=:all:" in argv
    assert argv[-4:] == ["-r", str(REPO_ROOT / "requirements-ray.txt"), "-c", str(constraints)]
    (tmp_path / ".dsb-stack").write_text("kaggle requirements-kaggle.txt sha256=0\n")
    assert install_command(tmp_path, "py")[1] is None  # unpinned stack: no constraints
    pins = (REPO_ROOT / "requirements-ray.txt").read_text()
    assert re.search(r"^ray==\d+\.\d+\.\d+$", pins, re.M), "ray must be pinned"


def test_first_use_installs_the_extra_with_one_line(monkeypatch):
    import pipeline.ray_extra as extra

    calls, lines, state = [], [], iter([False, True])  # missing, then importable
    monkeypatch.setattr(extra, "ray_available", lambda: next(state))
    monkeypatch.setattr(extra.subprocess, "run",
                        lambda argv, **kw: calls.append(argv) or subprocess.CompletedProcess(argv, 0))
    extra.ensure_ray(lines.append)
    assert calls == [install_command()[0]]
    assert len(lines) == 1 and lines[0].startswith("[setup] ray: not installed; installing "
                                                   "requirements-ray.txt (ray==")
    monkeypatch.setattr(extra, "ray_available", lambda: False)  # pip ran but ray still missing
    with pytest.raises(extra.RayInstallError, match="requirements-ray.txt: pip could not install it"):
        extra.ensure_ray(lines.append)


def test_wait_free_waits_for_a_lock_holder(tmp_path):
    assert wait_free(tmp_path / "never-locked", 0.0)
    with folder_lock(tmp_path, "train"):
        t0 = time.monotonic()
        assert not wait_free(tmp_path, 0.3, poll_s=0.05)
        assert time.monotonic() - t0 >= 0.3
    assert wait_free(tmp_path, 0.0)


@pytest.mark.parametrize("extra, message", [
    (["--executor", "ray", "--jobs", "2"], "--jobs is for the local executor"),
    (["--ray-address", "auto"], "--ray-address needs --executor ray"),
])
def test_options_of_the_other_executor_are_refused(tmp_path, capsys, extra, message):
    from pipeline.run_all import main

    rc = main(["--tiny", "--solutions", "unet", "--work", str(tmp_path / "w"), *extra])
    assert rc == 2 and message in capsys.readouterr().err


# ------------------------------------------------------------------ a local Ray instance
@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with 2 CPUs, started (and shut down) by this process, shared by the
    tests of this module; its address.

    Its token (Ray's token authentication) is in a file named by ``RAY_AUTH_TOKEN_PATH``,
    which the pipeline subprocesses inherit; the token and the session files go to a temp
    folder removed afterwards. On a busy machine the node's agents take long to start: the
    raylet's wait for them is raised.
    """
    if not ray_available():
        pytest.skip("ray is not installed (the optional extra: pip install -r requirements-ray.txt)")
    temp = tempfile.mkdtemp(prefix="ray-test-", dir="/tmp")  # short: Ray's sockets live there
    token = Path(temp) / "auth_token"
    token.write_text(secrets.token_hex(32))
    settings = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                "RAY_raylet_start_wait_time_s": "120"}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    import ray  # after the settings: Ray reads its auth mode when imported

    try:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20,
                 log_to_driver=False, _temp_dir=temp)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, ray_cluster):
    """``(env, local)``: the environment of a pipeline subprocess that sees the dummy solution
    and the Ray instance, and the work folder of a finished run of the local executor."""
    root = tmp_path_factory.mktemp("ray-pipeline")
    env = pipeline_env(root, write_dummy_package(root / "plugins"))
    _run(_cmd(root / "local", "--jobs", "1"), env)
    return env, root / "local"


def _cmd(work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.run_all", "--tiny", "--solutions", "dummy-otsu",
            "--folds", "2", "--work", str(work), *extra]


def _run(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _results(work: Path) -> tuple[bytes, pd.Series]:
    subs = sorted((work / "submissions").glob("*.csv"))
    assert len(subs) == 1, subs
    return subs[0].read_bytes(), pd.read_csv(work / "reports" / "scores.csv", index_col=0)["oof_score"]


def _attempts(log: Path) -> list[int]:
    """Worker PIDs of the Ray attempts a task's log records."""
    return [int(pid) for pid in ATTEMPT.findall(log.read_text())] if log.is_file() else []


@pytest.mark.slow
def test_ray_executor_gives_the_local_executors_submission(pipeline, ray_cluster, tmp_path):
    env, local = pipeline
    work = tmp_path / "ray"
    done = _run(_cmd(work, "--executor", "ray", "--ray-address", ray_cluster), env)
    assert "[run_all] executor ray" in done.stdout and "each task asks for 1 CPU" in done.stdout
    assert _results(work)[0] == _results(local)[0]
    pd.testing.assert_series_equal(_results(work)[1], _results(local)[1])
    logs = sorted((work / "logs").glob("*.log"))
    assert len(logs) == 4 and all(len(_attempts(log)) == 1 for log in logs), logs  # 2 train, 2 predict

    again = _run(_cmd(work, "--executor", "ray", "--ray-address", ray_cluster), env)
    assert "sent to Ray" not in again.stdout, again.stdout  # nothing finished is redone
    assert all(len(_attempts(log)) == 1 for log in logs)


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_and_the_run_finishes(pipeline, ray_cluster, tmp_path):
    env, local = pipeline
    env = dict(env, DSB_DUMMY_TRAIN_SLEEP="6")  # reaches the nodes with the forwarded DSB_* settings
    work = tmp_path / "ray"
    log = work / "logs" / "train-dummy-otsu-fold0.log"
    proc = subprocess.Popen(_cmd(work, "--executor", "ray", "--ray-address", ray_cluster),
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while not _attempts(log) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert _attempts(log), "fold 0's training never started on a Ray worker"
        worker = _attempts(log)[0]
        assert "ray::" in Path(f"/proc/{worker}/cmdline").read_text(errors="replace"), "not a Ray worker"
        time.sleep(1.0)  # mid-task: the dummy "trains" for 6 s
        os.kill(worker, signal.SIGKILL)
        out, _ = proc.communicate(timeout=200)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    pids = _attempts(log)
    assert len(pids) == 2 and pids[0] == worker != pids[1], log.read_text()[-2000:]
    assert len(_attempts(work / "logs" / "train-dummy-otsu-fold1.log")) == 1  # not redone
    assert _results(work)[0] == _results(local)[0]


@pytest.mark.slow
def test_ctrl_c_on_the_head_cancels_the_tasks_and_a_rerun_finishes(pipeline, ray_cluster, tmp_path):
    from common.locks import lock_holder

    env, local = pipeline
    work = tmp_path / "ray"
    logs = [work / "logs" / f"train-dummy-otsu-fold{k}.log" for k in (0, 1)]
    proc = subprocess.Popen(_cmd(work, "--executor", "ray", "--ray-address", ray_cluster),
                            cwd=REPO_ROOT, env=dict(env, DSB_DUMMY_TRAIN_SLEEP="300"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not all(_attempts(log) for log in logs) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_attempts(log) for log in logs), "the two trainings never both started"
        runs = [work / "runs" / f"dummy-otsu-fold{k}" for k in (0, 1)]
        while not all(lock_holder(r).get("pid") for r in runs) and time.monotonic() < deadline:
            time.sleep(0.1)  # the commands hold their run folders while they "train"
        trainers = [lock_holder(r).get("pid") for r in runs]
        assert all(trainers), trainers
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert "[ray] cancelled 2 task(s)" in out and "stopped 2 running task(s)" in out, out[-3000:]
    for pid in trainers:  # the commands stopped with their Ray tasks
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()

    done = _run(_cmd(work, "--executor", "ray", "--ray-address", ray_cluster), env)
    assert "sent to Ray" in done.stdout
    assert _results(work)[0] == _results(local)[0]


@pytest.mark.slow
def test_a_failing_command_is_retried_once_then_reported_with_its_log(pipeline, ray_cluster, tmp_path):
    env, _ = pipeline
    work = tmp_path / "ray"
    done = subprocess.run(_cmd(work, "--executor", "ray", "--ray-address", ray_cluster, "--stages", "train"),
                          cwd=REPO_ROOT, env=dict(env, DSB_DUMMY_TRAIN_FAIL="0"), capture_output=True,
                          text=True, timeout=240)
    log = work / "logs" / "train-dummy-otsu-fold0.log"
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAILED train dummy-otsu-fold0" in done.stdout and "failed in both attempts" in done.stdout
    assert f"train dummy-otsu-fold0 (exit 1, log {log})" in done.stderr
    assert len(_attempts(log)) == 2 and log.read_text().count("failed on purpose") == 2
    assert len(_attempts(work / "logs" / "train-dummy-otsu-fold1.log")) == 1  # the other one finished
