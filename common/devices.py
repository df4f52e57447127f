"""Which backend and devices training will use, checked before anything starts (no Keras import).

``./run_all.sh`` prints :meth:`Probe.line` first, e.g.
``[run_all] backend tensorflow 2.21.0 (keras 3.15.1); training on GPU: 2x NVIDIA H200``,
then :func:`check` turns what it found into one-line errors (:class:`DeviceError`, exit
status 2) or warnings:

* a GPU asked for (``DSB_DEVICE=gpu``, ``--gpus N``, ``train.gpus=N``) and none found;
* ``nvidia-smi`` lists GPUs but the framework sees none (a CPU build, or CUDA and driver
  that do not match) while a GPU is wanted or ``--profile full`` runs; a warning for the demo;
* an unknown ``KERAS_BACKEND`` (:func:`backend_name`);
* ``--profile full`` without a usable GPU: a warning with an estimate of the CPU training
  time (:func:`cpu_estimate`), an error with ``DSB_DEVICE=gpu``.

The framework is asked in a subprocess (:func:`probe`), so the pipeline itself never imports
TensorFlow or JAX. ``DSB_DEVICE=cpu`` says "train on the CPU, I know": the pipeline then
hides the GPUs from its subprocesses. ``DSB_ALLOW_CPU_REPLICAS=1`` lets tests use CPU
devices as data-parallel replicas (``common.training.distribution``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from common.config import ConfigError
from common.machine import NvidiaSmi, count_names, cpu_count, cpu_model, nvidia_smi

__all__ = ["BACKENDS", "ENV_DEVICE", "ENV_CPU_REPLICAS", "DeviceError", "backend_name",
           "device_preference", "validate_gpus", "check_replicas", "gpu_requests", "Probe", "probe",
           "check", "CPU_TRAIN_IMAGES_PER_S", "train_images_per_fold", "cpu_estimate", "startup",
           "DSB_STAGE1_TRAIN_IMAGES"]

BACKENDS = ("tensorflow", "jax")
ENV_DEVICE = "DSB_DEVICE"
ENV_CPU_REPLICAS = "DSB_ALLOW_CPU_REPLICAS"
_GPU_FIX = {"tensorflow": "tensorflow[and-cuda]==2.21.0", "jax": "jax[cuda12]"}


class DeviceError(ConfigError):
    """The machine lacks the devices asked for, or its GPU stack is broken. One line: what was
    found and what to do. A :class:`ConfigError`, so solution commands exit with status 2."""


def backend_name(value: str | None = None) -> str:
    """The Keras backend to use: ``value``, else ``KERAS_BACKEND``, else ``tensorflow``.

    Raises:
        DeviceError: not one of :data:`BACKENDS`.
    """
    name = (value if value is not None else os.environ.get("KERAS_BACKEND", "")).strip() or "tensorflow"
    if name not in BACKENDS:
        raise DeviceError(f"KERAS_BACKEND={name!r} is not supported: use one of {', '.join(BACKENDS)} "
                          "(e.g. KERAS_BACKEND=jax ./run_all.sh)")
    return name


def device_preference(value: str | None = None) -> str | None:
    """``DSB_DEVICE``: ``"cpu"``, ``"gpu"`` or ``None`` (unset or ``auto``: detect).

    Raises:
        DeviceError: another value.
    """
    raw = (value if value is not None else os.environ.get(ENV_DEVICE, "")).strip().lower()
    if raw in ("", "auto"):
        return None
    if raw not in ("cpu", "gpu"):
        raise DeviceError(f"{ENV_DEVICE}={raw!r}: use cpu or gpu (or leave it unset to detect)")
    return raw


def validate_gpus(gpus: int, batch_size: int, prefix: str = "train") -> None:
    """Config check of a ``gpus`` field: ``-1`` (all), 0/1 (one device) or N > 1 dividing the batch.

    Raises:
        ConfigError: naming the keys.
    """
    if gpus < -1:
        raise ConfigError(f"{prefix}.gpus must be -1 (every visible GPU), 0 or 1 (one device) "
                          f"or N > 1 (data parallel over N GPUs), got {gpus}")
    if gpus > 1 and batch_size % gpus:
        raise ConfigError(f"{prefix}.batch_size {batch_size} must be divisible by {prefix}.gpus {gpus} "
                          "(the global batch is split evenly over the GPUs)")


def check_replicas(gpus: int, found: int, backend: str, batch_size: int | None = None,
                   setting: str = "train.gpus", kind: str = "GPU") -> int:
    """The number of replicas for ``gpus`` when the backend offers ``found`` devices.

    Raises:
        DeviceError: fewer devices than asked for (none at all included).
        ConfigError: ``batch_size`` not divisible by the replica count.
    """
    want = found if gpus == -1 else gpus
    if found == 0 or want > found:
        what = f"{found} {kind}{'s' if found != 1 else ''}" if found else f"no {kind}"
        fix = (f"use {setting}={found} or fewer" if found else
               f"run on a GPU machine, or set {setting}=0 to train on one device")
        raise DeviceError(f"{setting}={gpus} asks for {'every' if gpus == -1 else gpus} GPU"
                          f"{'' if gpus == 1 else 's'} but {backend} sees {what} "
                          f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); {fix}")
    if batch_size is not None and want > 1 and batch_size % want:
        raise ConfigError(f"train.batch_size {batch_size} must be divisible by the {want} devices of "
                          f"{setting}={gpus}")
    return want


def gpu_requests(gpus_arg: int, sets: Sequence[str]) -> list[tuple[str, int]]:
    """The GPU requests of a pipeline command: ``--gpus N`` and ``--set [TARGET:]train.gpus=N``.

    Returns:
        ``(how it was asked, count)`` pairs; count -1 means every visible GPU.
        ``train.gpus`` 0 or 1 (one device, whichever) is not a request for a GPU.

    Raises:
        DeviceError: a ``train.gpus`` value that is not an integer.
    """
    out = [(f"--gpus {gpus_arg}", gpus_arg)] if gpus_arg > 0 else []
    for item in sets:
        head, sep, rest = item.partition(":")
        key, _, value = (rest if sep and "=" not in head else item).partition("=")
        if key.strip() == "train.gpus":
            try:
                n = int(value)
            except ValueError:
                raise DeviceError(f"--set {item}: train.gpus must be an integer") from None
            if n == -1 or n > 1:
                out.append((f"train.gpus={n}", n))
    return out


# ----------------------------------------------------------------------------- probe
_PROBE = r"""
import importlib.metadata as md, json, sys
be = sys.argv[1]
out = {"keras": None, "framework": None, "gpus": []}
try:
    out["keras"] = md.version("keras")
except md.PackageNotFoundError:
    pass
if be == "tensorflow":
    import tensorflow as tf
    out["framework"] = "tensorflow " + tf.__version__
    for g in tf.config.list_physical_devices("GPU"):
        try:
            out["gpus"].append(tf.config.experimental.get_device_details(g).get("device_name") or g.name)
        except Exception:
            out["gpus"].append(g.name)
else:
    import jax
    out["framework"] = "jax " + jax.__version__
    out["gpus"] = [d.device_kind for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")]
print("DSB_PROBE " + json.dumps(out))
"""


def _framework_report(backend: str, timeout: float) -> dict:
    """Run :data:`_PROBE` in a fresh interpreter: ``{"keras", "framework", "gpus"}`` or ``{"error"}``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, backend], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"the {backend} device query did not finish within {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("DSB_PROBE "):
            return json.loads(line[len("DSB_PROBE "):])
    last = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"error": f"cannot load {backend} in {sys.executable}: {last[-1].strip() if last else proc.returncode}"}


@dataclass
class Probe:
    """What the machine offers the chosen backend.

    Attributes:
        backend: ``tensorflow`` or ``jax``.
        framework: E.g. ``"tensorflow 2.21.0"`` (``""`` when it could not be loaded).
        keras: Keras' version (``""`` when unknown).
        gpus: GPU names the framework sees.
        smi: What ``nvidia-smi`` lists.
        cpu: E.g. ``"AMD EPYC (2 cores)"``.
        error: Why the framework could not be asked (``""``: it answered).
    """

    backend: str
    framework: str = ""
    keras: str = ""
    gpus: list[str] = field(default_factory=list)
    smi: NvidiaSmi = field(default_factory=NvidiaSmi)
    cpu: str = ""
    error: str = ""

    def devices(self) -> str:
        """``"GPU: 2x NVIDIA H200"`` or ``"CPU: AMD EPYC (2 cores)"``."""
        return f"GPU: {count_names(self.gpus)}" if self.gpus else f"CPU: {self.cpu}"

    def line(self) -> str:
        """The pipeline's first line (without its ``[run_all]`` tag)."""
        fw = self.framework or f"{self.backend} (not loadable)"
        return f"backend {fw} (keras {self.keras or '?'}); training on {self.devices()}"


def probe(backend: str | None = None, timeout: float = 600.0) -> Probe:
    """Ask ``nvidia-smi`` and (in a subprocess) the backend's framework which devices exist.

    The timeout is generous: importing TensorFlow took over 180 s on the 2-core CPU machine
    at load average 23 (2026-12-02), and the first import after the ``--no-compile`` install
    also compiles the modules it reads.

    Raises:
        DeviceError: an unknown backend.
    """
    backend = backend_name(backend)
    report = _framework_report(backend, timeout)
    return Probe(backend, report.get("framework") or "", report.get("keras") or "", list(report.get("gpus") or []),
                 nvidia_smi(), f"{cpu_model()} ({cpu_count()} cores)", report.get("error", ""))


def _smi_text(smi: NvidiaSmi) -> str:
    if not smi.installed:
        return "nvidia-smi is not installed"
    if smi.error:
        return f"nvidia-smi fails ({smi.error})"
    if not smi.names:
        return "nvidia-smi lists no GPU"
    return f"nvidia-smi lists {count_names(smi.names)}" + (f" (driver {smi.driver})" if smi.driver else "")


def check(found: Probe, profile: str = "demo", preference: str | None = None,
          requests: Sequence[tuple[str, int]] = ()) -> list[str]:
    """Refuse what cannot work; return the warnings of what may be unintended.

    Args:
        found: The :func:`probe` result.
        profile: ``demo`` or ``full``.
        preference: ``DSB_DEVICE`` (:func:`device_preference`).
        requests: :func:`gpu_requests` of the command.

    Returns:
        Warning lines (the full-profile CPU estimate is added by the caller).

    Raises:
        DeviceError: one line saying what was found and what to do.
    """
    fw = found.framework or found.backend
    if found.error:
        raise DeviceError(f"{found.error}; install the packages of the README for KERAS_BACKEND={found.backend} "
                          f"(or choose another: {', '.join(BACKENDS)})")
    asked = ([f"{ENV_DEVICE}=gpu"] if preference == "gpu" else []) + [how for how, _ in requests]
    if preference == "cpu" and requests:
        raise DeviceError(f"{ENV_DEVICE}=cpu contradicts {', '.join(asked)}: drop one of them")
    if preference == "cpu":  # asked for the CPU: the GPUs are hidden, nothing to check
        return []
    gpu_flag = [how for how, _ in requests if how.startswith("--gpus")]
    per_run = [(how, n) for how, n in requests if how.startswith("train.gpus")]
    if gpu_flag and any(n != 1 for _, n in per_run):
        raise DeviceError(f"{gpu_flag[0]} gives each fold one GPU, {per_run[0][0]} wants several per fold: "
                          "use --gpus N (folds side by side) or train.gpus=N (one fold over N GPUs), not both")
    smi = _smi_text(found.smi)
    if not found.gpus and found.smi.names:  # the driver sees GPUs, the framework does not
        msg = (f"{smi} but {fw} sees no GPU: the installed {found.backend} is a CPU build or does not match "
               f"the CUDA driver; install the GPU stack ({_GPU_FIX[found.backend]}: DSB_DEVICE=gpu "
               f"scripts/setup_env.sh, see the README's GPU section) or update the NVIDIA driver")
        if asked or profile == "full":
            raise DeviceError(f"{msg}, or set {ENV_DEVICE}=cpu to train on the CPU "
                              f"(asked for a GPU by {', '.join(asked) or '--profile full'})")
        return [f"warning: {msg}; the {profile} profile runs on the CPU"]
    if not found.gpus and asked:
        raise DeviceError(f"{', '.join(asked)} asks for a GPU but none was found: {smi} and {fw} sees none "
                          f"(CPU: {found.cpu}); run on a GPU machine, or drop {' / '.join(asked)} to train "
                          "on the CPU")
    for how, n in requests:
        if n > len(found.gpus):
            raise DeviceError(f"{how} asks for {n} GPUs but {fw} sees {len(found.gpus)} "
                              f"({count_names(found.gpus)}); use {len(found.gpus)} or fewer")
    return []


# ----------------------------------------------------------------------------- CPU time estimate
#: Training images/s on the CPU of the development VM ("AMD EPYC", 2 cores, TensorFlow 2.21 CPU,
#: float32) for each solution's full-profile config. U-Net: ``bench/bench_unet.py speed``
#: (2026-11-26, commit 879959f; solutions/unet/README.md "Speed"); Mask R-CNN:
#: ``bench/bench_maskrcnn.py speed --size 256 --steps 2`` (base.yaml heads, 256x256;
#: solutions/maskrcnn/README.md "Speed").
CPU_TRAIN_IMAGES_PER_S = {
    "unet": 0.90, "unet-baseline": 9.23,
    "maskrcnn-mobilenet": 0.15, "maskrcnn-mobilenet_v2": 0.15, "maskrcnn-resnet50": 0.13,
    "maskrcnn-resnet101": 0.13, "maskrcnn-densenet121": 0.15, "maskrcnn-densenet169": 0.14,
    "maskrcnn-densenet201": 0.14,
}
CPU_MEASURED_ON = "a 2-core AMD EPYC"
#: Images of the DSB stage-1 training set, for an estimate before the data is at hand.
DSB_STAGE1_TRAIN_IMAGES = 664


def train_images_per_fold(cfg: Mapping, n_images: int, n_folds: int) -> int:
    """Images one fold's training sees, from a resolved config mapping.

    Mask R-CNN configs (``train.heads_epochs``/``all_epochs``): epochs x ``steps_per_epoch`` x
    ``batch_size``. U-Net configs: ``epochs`` x steps x batch, where ``steps_per_epoch`` 0 means
    one pass over the fold's training images less ``data.val_fraction``.
    """
    t = cfg.get("train", {}) or {}
    batch = int(t.get("batch_size", 1))
    if "heads_epochs" in t or "all_epochs" in t:
        return (int(t.get("heads_epochs", 0)) + int(t.get("all_epochs", 0))) * int(t.get("steps_per_epoch", 1)) * batch
    fit = n_images * (1 - 1 / n_folds) * (1 - float((cfg.get("data") or {}).get("val_fraction", 0.1)))
    steps = int(t.get("steps_per_epoch", 0)) or math.ceil(fit / batch)
    return int(t.get("epochs", 1)) * steps * batch


def _hours(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:,.0f} h ({h / 24:,.0f} days)" if h >= 48 else f"{h:.1f} h"


def cpu_estimate(configs: Mapping[str, Mapping], n_images: int, n_folds: int, n_train_folds: int) -> str:
    """One warning line: how long the full profile's training would take on the CPU.

    Args:
        configs: Solution name -> its resolved config mapping (overrides applied).
        n_images: Training images of the data (stage1_train).
        n_folds: Folds of the split; ``n_train_folds``: folds to train.

    Returns:
        The line, stating that it is an estimate from :data:`CPU_TRAIN_IMAGES_PER_S`.
    """
    total, parts, unknown = 0.0, [], []
    for name, cfg in configs.items():
        speed = CPU_TRAIN_IMAGES_PER_S.get(name)
        if speed is None:
            unknown.append(name)
            continue
        seconds = train_images_per_fold(cfg, n_images, n_folds) / speed
        budget = float((cfg.get("train") or {}).get("time_budget_s", 0) or 0)
        seconds = min(seconds, budget) if budget > 0 else seconds
        total += seconds * n_train_folds
        parts.append(f"{name} {_hours(seconds)}")
    line = (f"warning: --profile full without a usable GPU trains on the CPU: about {_hours(total)} of training "
            f"for {n_train_folds} fold(s) of {n_images} images (per fold: {', '.join(parts) or 'none measured'}"
            f"{'; not counted: ' + ', '.join(unknown) if unknown else ''}). An estimate from the training "
            f"speeds measured on {CPU_MEASURED_ON} (READMEs, bench/bench_unet.py and bench/bench_maskrcnn.py "
            f"speed), before early stopping, without prediction. Use a GPU machine or --profile demo; "
            f"{ENV_DEVICE}=gpu refuses to start without a GPU")
    return line


def startup(profile: str, gpus: int = 0, sets: Sequence[str] = (),
            configs: Callable[[], Mapping[str, Mapping]] = dict, n_images: int | None = None,
            n_folds: int = 5, n_train_folds: int = 5, echo: Callable[[str], None] = print,
            probe_fn: Callable[[str], Probe] | None = None) -> Probe:
    """The pipeline's device step: print the backend/devices line, refuse or warn.

    With ``DSB_DEVICE=cpu`` the GPUs are hidden (``CUDA_VISIBLE_DEVICES=""``) from this
    process's children, so the runs train on the CPU as asked.

    Args:
        profile: ``demo`` or ``full``.
        gpus: ``--gpus``; sets: the ``--set`` items (``train.gpus=N`` is a request too).
        configs: Called only for the full-profile CPU estimate: solution -> resolved config.
        n_images: Training images (``None``: the DSB stage-1 count, 664).
        n_folds / n_train_folds: Folds of the split / folds to train.
        echo: Printer; probe_fn: :func:`probe` (tests pass a fake).

    Returns:
        The probe.

    Raises:
        DeviceError: one line (the pipeline exits with status 2).
    """
    backend = backend_name()
    preference = device_preference()
    requests = gpu_requests(gpus, sets)
    if preference == "cpu" and not requests:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    found = (probe_fn or probe)(backend)
    echo(f"[run_all] {found.line()}" + (f" ({ENV_DEVICE}=cpu)" if preference == "cpu" else ""))
    warnings = check(found, profile, preference, requests)
    if profile == "full" and not found.gpus:
        warnings.append(cpu_estimate(configs(), n_images or DSB_STAGE1_TRAIN_IMAGES, n_folds, n_train_folds))
    for line in warnings:
        echo(f"[run_all] {line}")
    return found
