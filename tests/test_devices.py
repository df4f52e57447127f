"""common.devices: the pipeline's backend/devices line and its one-line device errors.

A fake ``nvidia-smi`` on ``PATH`` (a tiny shell script) plays the driver; a monkeypatched
``_framework_report`` plays TensorFlow / JAX. Nothing here imports a framework.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

import pytest

from common import devices
from common.devices import DeviceError


def _fake_smi(folder: Path, names=(), fail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    if fail:
        body = f'echo "{fail}"\nexit 9\n'
    else:
        body = "".join(f'echo "{n}, 550.54.15"\n' for n in names)
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """``machine(smi_names=..., smi_fail=..., gpus=..., backend=...)`` sets up the fakes."""
    for var in ("DSB_DEVICE", "KERAS_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # restored after the test

    def setup(smi_names=None, smi_fail="", gpus=(), framework=None, error=""):
        bin_dir = tmp_path / "bin"
        if smi_names is not None or smi_fail:
            _fake_smi(bin_dir, smi_names or (), smi_fail)
        else:
            bin_dir.mkdir(exist_ok=True)
        monkeypatch.setenv("PATH", str(bin_dir))  # the probe below needs nothing else from PATH

        def report(backend, timeout):
            if error:
                return {"error": error}
            fw = framework or {"tensorflow": "tensorflow 2.21.0", "jax": "jax 0.10.2"}[backend]
            return {"framework": fw, "keras": "3.15.1", "gpus": list(gpus)}

        monkeypatch.setattr(devices, "_framework_report", report)
        monkeypatch.setattr(devices, "cpu_model", lambda: "AMD EPYC")
        monkeypatch.setattr(devices, "cpu_count", lambda: 2)

    return setup


def _startup(profile="demo", gpus=0, sets=(), configs=dict):
    lines = []
    devices.startup(profile, gpus, list(sets), configs, None, 5, 5, lines.append)
    return lines


def test_first_line_names_backend_and_devices(machine, monkeypatch):
    machine()
    assert _startup() == ["[run_all] backend tensorflow 2.21.0 (keras 3.15.1); training on CPU: AMD EPYC (2 cores)"]
    machine(smi_names=["NVIDIA H200"] * 2, gpus=["NVIDIA H200"] * 2)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert _startup(gpus=2) == ["[run_all] backend jax 0.10.2 (keras 3.15.1); training on GPU: 2x NVIDIA H200"]
    assert _startup(sets=["unet:train.gpus=-1"])[0].endswith("on GPU: 2x NVIDIA H200")


def test_gpu_requested_but_none_found(machine, monkeypatch):
    machine()
    for how, kw in (("--gpus 1", {"gpus": 1}), ("train.gpus=2", {"sets": ["train.gpus=2"]}),
                    ("train.gpus=-1", {"sets": ["maskrcnn-resnet50:train.gpus=-1"]})):
        with pytest.raises(DeviceError) as err:
            _startup(**kw)
        assert str(err.value) == (f"{how} asks for a GPU but none was found: nvidia-smi is not installed and "
                                  "tensorflow 2.21.0 sees none (CPU: AMD EPYC (2 cores)); run on a GPU machine, "
                                  f"or drop {how} to train on the CPU")
    monkeypatch.setenv("DSB_DEVICE", "gpu")
    with pytest.raises(DeviceError, match=r"^DSB_DEVICE=gpu asks for a GPU but none was found"):
        _startup()
    machine(smi_fail="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    with pytest.raises(DeviceError, match=r"nvidia-smi fails \(NVIDIA-SMI has failed because it couldn't "
                                          r"communicate with the NVIDIA driver.\) and tensorflow"):
        _startup()


def test_more_gpus_than_there_are_and_both_kinds_of_request(machine):
    machine(smi_names=["NVIDIA H200"] * 2, gpus=["NVIDIA H200"] * 2)
    with pytest.raises(DeviceError, match=r"^--gpus 4 asks for 4 GPUs but tensorflow 2.21.0 sees 2 "
                                          r"\(2x NVIDIA H200\); use 2 or fewer$"):
        _startup(gpus=4)
    with pytest.raises(DeviceError, match=r"--gpus 2 gives each fold one GPU, train.gpus=2 wants several"):
        _startup(gpus=2, sets=["unet:train.gpus=2"])
    assert len(_startup(gpus=2, sets=["train.gpus=1"])) == 1  # 1: one device, not a request


def test_driver_sees_gpus_the_framework_does_not(machine, monkeypatch):
    machine(smi_names=["NVIDIA H200"], gpus=[])
    lines = _startup()  # the demo: a warning, and it runs on the CPU
    assert lines[0].endswith("training on CPU: AMD EPYC (2 cores)")
    assert lines[1].startswith("[run_all] warning: nvidia-smi lists 1x NVIDIA H200 (driver 550.54.15) but "
                               "tensorflow 2.21.0 sees no GPU")
    assert lines[1].endswith("the demo profile runs on the CPU")
    with pytest.raises(DeviceError) as err:
        _startup(profile="full")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("nvidia-smi lists 1x NVIDIA H200 (driver 550.54.15) but tensorflow "
                                              "2.21.0 sees no GPU: the installed tensorflow is a CPU build or "
                                              "does not match the CUDA driver")
    assert "tensorflow[and-cuda]==2.21.0" in msg and "update the NVIDIA driver" in msg and "DSB_DEVICE=cpu" in msg
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(DeviceError, match=r"jax 0.10.2 sees no GPU.*jax\[cuda12\].*asked for a GPU by --gpus 1"):
        _startup(gpus=1)


def test_unknown_backend_bad_device_and_unloadable_framework(machine, monkeypatch):
    machine()
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(DeviceError, match=r"^KERAS_BACKEND='torch' is not supported: use one of tensorflow, jax"):
        _startup()
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("DSB_DEVICE", "tpu")
    with pytest.raises(DeviceError, match=r"^DSB_DEVICE='tpu': use cpu or gpu"):
        _startup()
    monkeypatch.delenv("DSB_DEVICE")
    machine(error="cannot load jax in /venv/bin/python: ModuleNotFoundError: No module named 'jax'")
    with pytest.raises(DeviceError, match=r"^cannot load jax in .*No module named 'jax'; install the packages"):
        _startup()
    with pytest.raises(DeviceError, match="train.gpus must be an integer"):
        devices.gpu_requests(0, ["train.gpus=two"])


def test_device_cpu_hides_the_gpus_from_the_runs(machine, monkeypatch):
    machine(smi_names=["NVIDIA H200"], gpus=[])
    monkeypatch.setenv("DSB_DEVICE", "cpu")
    lines = _startup(profile="full", configs=lambda: {})
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert lines[0].endswith("training on CPU: AMD EPYC (2 cores) (DSB_DEVICE=cpu)")
    assert "--profile full without a usable GPU" in lines[1]
    with pytest.raises(DeviceError, match="DSB_DEVICE=cpu contradicts --gpus 2"):
        _startup(gpus=2)


def _full_configs():
    from pipeline.registry import parse_solutions
    from pipeline.run_all import _solution_configs

    args = argparse.Namespace(profile="full", tiny=False, set=[])
    return _solution_configs(parse_solutions(None, "full"), args, 5)


def test_full_profile_on_cpu_warns_with_an_estimate(machine, monkeypatch):
    machine()
    lines = _startup(profile="full", configs=_full_configs)
    assert len(lines) == 2
    warning = lines[1]
    # watershed.yaml: 60 epochs x 100 steps x 8 crops at 0.90 images/s = 53,333 s; baseline.yaml: 50 epochs
    # x ceil(664 * 4/5 * 0.9 / 16) = 30 steps x 16 at 9.23 images/s = 2,600 s; Mask R-CNN MobileNet:
    # 60 epochs x 500 steps x 4 at 0.15 images/s = 800,000 s.
    for part in ("unet 14.8 h", "unet-baseline 0.7 h", "maskrcnn-mobilenet 222 h (9 days)"):
        assert part in warning, warning
    assert warning.startswith("[run_all] warning: --profile full without a usable GPU trains on the CPU: about ")
    assert "An estimate from the training speeds measured on a 2-core AMD EPYC" in warning and "\n" not in warning
    monkeypatch.setenv("DSB_DEVICE", "gpu")  # then it refuses instead
    with pytest.raises(DeviceError, match="^DSB_DEVICE=gpu asks for a GPU"):
        _startup(profile="full", configs=_full_configs)


def test_train_images_per_fold_and_time_budget():
    assert devices.train_images_per_fold({"train": {"heads_epochs": 1, "all_epochs": 2, "steps_per_epoch": 10,
                                                    "batch_size": 2}}, 100, 5) == 60
    unet = {"train": {"epochs": 2, "steps_per_epoch": 0, "batch_size": 4}, "data": {"val_fraction": 0.0}}
    assert devices.train_images_per_fold(unet, 100, 5) == 2 * 20 * 4
    line = devices.cpu_estimate({"unet": {**unet, "train": {**unet["train"], "time_budget_s": 60}},
                                 "mystery": unet}, 100, 5, 2)
    assert "unet 0.0 h" in line and "not counted: mystery" in line


def test_run_all_exits_2_with_one_line(machine, tmp_path, capsys):
    from pipeline.run_all import main

    machine()
    assert main(["--gpus", "2", "--work", str(tmp_path / "w")]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == ("[run_all] backend tensorflow 2.21.0 (keras 3.15.1); "
                                   "training on CPU: AMD EPYC (2 cores)")
    assert err.strip().count("\n") == 0 and err.startswith("[pipeline] error: --gpus 2 asks for a GPU but none")


def test_gpus_n_runs_one_fold_per_gpu_with_cuda_visible_devices(tmp_path):
    from pipeline.tasks import Task, run_tasks

    cmd = [sys.executable, "-c", "import os; print('CVD' + '=' + os.environ['CUDA_VISIBLE_DEVICES'])"]
    tasks = [Task(f"t{k}", [cmd], tmp_path / f"t{k}.log") for k in range(4)]
    run_tasks(tasks, gpus=2, echo=lambda line: None)
    seen = [t.log.read_text().split("CVD=")[1].split()[0] for t in tasks]
    assert set(seen) == {"0", "1"}
    run_tasks(tasks[:1], gpus=1, echo=lambda line: None)
    assert tasks[0].log.read_text().count("CVD=0") == 1 + (seen[0] == "0")
