"""common.training: the Keras-free split of common.runs, and data-parallel training on fake devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "solutions" / "unet" / "configs"
TINY = ["train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=2", "data.crop_size=64",
        "model.base_filters=4", "model.depth=2"]


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


def test_runs_imports_no_keras_and_keeps_the_old_names():
    code = ("import sys, common.runs as r; assert 'keras' not in sys.modules, 'keras at import';"
            "from common.runs import RunDir, resume, RunConflictError; assert 'keras' not in sys.modules;"
            "from common.runs import training_callbacks, seed_everything, ResumableCheckpoint;"
            "import common.training as t; assert ResumableCheckpoint is t.ResumableCheckpoint; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_one_device_and_missing_gpus():
    import keras

    from common.devices import DeviceError
    from common.training import distribution

    with distribution(0, 8) as dist:
        assert dist.replicas == 1 and dist.strategy is None and dist.describe() == "one device"
        ds = object()
        assert dist.even_batches(ds) is ds
    with distribution(1, 7) as dist:
        assert dist.replicas == 1
    os.environ.pop("DSB_ALLOW_CPU_REPLICAS", None)
    for gpus in (2, -1):  # this machine has no GPU
        with pytest.raises(DeviceError, match=rf"train.gpus={gpus} asks for .* but {keras.backend.backend()} "
                                              r"sees no GPU .*run on a GPU machine"):
            with distribution(gpus, 8):
                pass


def test_even_batches_fills_a_short_batch():
    import keras

    from common.training import EvenBatches

    class Three(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            n = 4 if i == 0 else 3
            return np.arange(n, dtype="float32")[:, None], np.arange(n, dtype="float32")[:, None] * 10

    even = EvenBatches(Three(), 2)
    assert len(even) == 2
    x, y = even[0]
    assert x.shape == (4, 1)
    x, y = even[1]
    assert x[:, 0].tolist() == [0, 1, 2, 0] and y[:, 0].tolist() == [0, 10, 20, 0]


def test_even_batches_fills_dict_batches():
    import keras

    from common.training import EvenBatches

    class Dicts(keras.utils.PyDataset):  # Mask R-CNN's TrainSequence yields dicts
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return {"image": np.arange(3, dtype="float32")[:, None], "ids": np.arange(3) * 10}

    batch = EvenBatches(Dicts(), 2)[0]
    assert batch["image"][:, 0].tolist() == [0, 1, 2, 0] and batch["ids"].tolist() == [0, 10, 20, 0]


def test_unet_config_gpus_must_divide_the_batch():
    from common.config import ConfigError, load_config
    from solutions.unet.config import UNetConfig

    assert load_config(UNetConfig, CONFIGS / "demo.yaml", ["train.gpus=2", "train.batch_size=4"]).train.gpus == 2
    assert load_config(UNetConfig, CONFIGS / "demo.yaml", ["train.gpus=-1"]).train.gpus == -1
    with pytest.raises(ConfigError, match="train.batch_size 4 must be divisible by train.gpus 3"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["train.gpus=3", "train.batch_size=4"])
    with pytest.raises(ConfigError, match="train.gpus must be -1"):
        load_config(UNetConfig, CONFIGS / "demo.yaml", ["train.gpus=-2"])


def test_maskrcnn_config_gpus_field_is_validated_alike():
    from common.config import ConfigError, load_config
    from solutions.maskrcnn.config import MaskRCNNConfig

    mrcnn = REPO / "solutions" / "maskrcnn" / "configs" / "resnet50.yaml"  # batch_size 4
    assert load_config(MaskRCNNConfig, mrcnn).train.gpus == 0
    assert load_config(MaskRCNNConfig, mrcnn, ["train.gpus=2"]).train.gpus == 2
    with pytest.raises(ConfigError, match="train.batch_size 4 must be divisible by train.gpus 3"):
        load_config(MaskRCNNConfig, mrcnn, ["train.gpus=3"])


_TRAIN_ON_TWO = """
import os, sys
if os.environ["KERAS_BACKEND"] == "tensorflow":  # two logical CPU devices, before TF starts
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from common.cli import run_main
from solutions.{package}.train import main
runs = [[]]  # one process, one import: the command lines between --next-run run in turn
for arg in sys.argv[1:]:
    runs.append([]) if arg == "--next-run" else runs[-1].append(arg)
codes = [run_main(lambda argv=argv: main(argv), "train") for argv in runs]
print("exit statuses", codes)
sys.exit(max(codes))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_unet_trains_data_parallel_on_two_fake_devices(backend, synthetic_data_dir, tmp_path):
    """Two CPU "devices" (JAX: XLA host devices; TF: logical CPUs) stand in for two GPUs."""
    env = _env(KERAS_BACKEND=backend, DSB_ALLOW_CPU_REPLICAS="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    argv = ["--config", str(CONFIGS / "demo.yaml"), "--fold", "0", "--data", str(synthetic_data_dir),
            "--work", str(tmp_path), "--verbose", "2", "--set", *TINY, "train.gpus=2", "train.tensorboard=false"]
    # then a third device that is not there, in the same process: one line, exit status 2
    four = [a.replace("train.gpus=2", "train.gpus=4").replace("train.batch_size=2", "train.batch_size=4")
            for a in argv] + ["--run-name", "four"]
    out = subprocess.run([sys.executable, "-c", _TRAIN_ON_TWO.format(package="unet"), *argv, "--next-run", *four],
                         env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert "exit statuses [0, 2]" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    summary = json.loads((tmp_path / "runs" / "unet-fold0" / "train_summary.json").read_text())
    assert summary["epochs"] == 1 and "data parallel over 2 devices" in summary["device"], summary
    assert ("MirroredStrategy" if backend == "tensorflow" else "DataParallel") in summary["device"]
    history = (tmp_path / "runs" / "unet-fold0" / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_loss" in history[0]  # the 1-image validation batch went through
    assert f"train: error: train.gpus=4 asks for 4 GPUs but {backend} sees 2 CPUs" in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_maskrcnn_trains_data_parallel_on_two_fake_devices(backend, synthetic_data_dir, tmp_path):
    """Mask R-CNN's ``train.gpus`` (one step of a tiny MobileNet model) on two CPU "devices"."""
    from tests.test_maskrcnn_model import DEMO, TINY as MRCNN_TINY

    env = _env(KERAS_BACKEND=backend, DSB_ALLOW_CPU_REPLICAS="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    argv = ["--config", str(DEMO), "--fold", "0", "--data", str(synthetic_data_dir), "--work", str(tmp_path),
            "--set", *MRCNN_TINY, "train.gpus=2", "train.batch_size=2", "train.crop_size=64",
            "train.heads_epochs=1", "train.all_epochs=0", "train.steps_per_epoch=1", "train.val_steps=1",
            "train.tensorboard=false", "model.backbone_weights=none"]
    out = subprocess.run([sys.executable, "-c", _TRAIN_ON_TWO.format(package="maskrcnn"), *argv], env=env,
                         capture_output=True, text=True, timeout=2400, cwd=REPO)  # >900 s at load 20
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    summary = json.loads((tmp_path / "runs" / "maskrcnn-mobilenet-fold0" / "train_summary.json").read_text())
    assert summary["epochs"] == 1 and "data parallel over 2 devices" in summary["device"], summary
    assert ("MirroredStrategy" if backend == "tensorflow" else "DataParallel") in summary["device"]
    assert "val_loss" in (tmp_path / "runs" / "maskrcnn-mobilenet-fold0" / "history.csv").read_text()
