"""Trained models behind ``segment``: a registry of loaders, one per solution family.

A model source is a training run folder (``config.yaml``, ``weights/``, and for the
U-Net ``thresholds.json``) or an exported ``.dsbmodel`` file (:mod:`segment.archive`).
The family is read from the run's config: its ``solution`` key (U-Net: ``unet``,
``unet-baseline``) or ``name`` key (Mask R-CNN: ``maskrcnn``); the loader registered for
the longest family name that the value equals or starts with (``<family>-...``) builds
the model. A new solution family adds one ``@register_loader`` function here.

Two kinds of model come out:

* :class:`PixelModel` (``kind == "pixel"``): per-pixel maps, ``prob(image) -> float32
  [H,W,C]``, turned into instances by ``common.instances.probs_to_instances`` with its
  ``params`` (so several of them can be averaged first, as the pixel-level ensemble does);
* :class:`InstanceModel` (``kind == "instances"``): ``instances(image) -> (labels int32
  [H,W], scores float32 [N])`` directly.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ["ModelError", "PixelModel", "InstanceModel", "register_loader", "family_of", "load_run",
           "load_source", "LOADERS"]


class ModelError(ValueError):
    """A model source that cannot be used; the message names the file."""


@dataclass
class PixelModel:
    """A model giving per-pixel maps.

    Attributes:
        name: Where it came from (run folder or file), for messages.
        family: Registry name (``unet``).
        predict: ``predict(image uint8 [H,W,3], tta) -> float32 [H,W,C]`` in 0..1, or
            ``(maps, floor_scale)``: the scale ``params``' floors are in for this image
            (``common.predictions.Prediction.floor_scale``; maps alone: 1).
        params: ``probs_to_instances`` params (the run's tuned thresholds).
        channels: Names of the ``C`` maps (``["body", "border", "centre"]``).
        info: Metadata (config excerpt, normalisation).
    """

    name: str
    family: str
    predict: Callable[[np.ndarray, str | None], np.ndarray]
    params: dict
    channels: tuple[str, ...]
    info: dict = field(default_factory=dict)
    kind: str = "pixel"

    def prob(self, image: np.ndarray, tta: str | None = None) -> np.ndarray:
        """float32 [H,W,C] maps of uint8 [H,W,3] ``image``."""
        return self.prob_and_floor_scale(image, tta)[0]

    def prob_and_floor_scale(self, image: np.ndarray, tta: str | None = None) -> tuple[np.ndarray, float]:
        """The maps of ``image`` and the scale their post-processing floors are in."""
        out = self.predict(image, tta)
        return (out[0], float(out[1])) if isinstance(out, tuple) else (out, 1.0)


@dataclass
class InstanceModel:
    """A model giving instances directly (Mask R-CNN).

    Attributes:
        name: Where it came from, for messages.
        family: Registry name (``maskrcnn``).
        predict: ``predict(image uint8 [H,W,3], tta) -> (labels int32 [H,W], scores float32 [N])``.
        min_area: The instance size below which the model itself drops instances.
        info: Metadata.
    """

    name: str
    family: str
    predict: Callable[[np.ndarray, str | None], tuple[np.ndarray, np.ndarray]]
    min_area: int = 0
    info: dict = field(default_factory=dict)
    kind: str = "instances"

    def instances(self, image: np.ndarray, tta: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.predict(image, tta)


Loader = Callable[[Path, str, "Path | None"], "PixelModel | InstanceModel"]
#: family name -> loader(run_dir, display_name, model_file): ``model_file`` is the ``.dsbmodel``
#: file that ``run_dir`` was unpacked from, or None for a training run folder
LOADERS: dict[str, Loader] = {}


def register_loader(family: str) -> Callable[[Loader], Loader]:
    """Register ``loader(run_dir: Path, name: str, model_file: Path | None)`` for the runs of ``family``."""
    def deco(fn: Loader) -> Loader:
        LOADERS[family] = fn
        return fn
    return deco


def read_run_config(run_dir: Path) -> dict:
    """The run's resolved ``config.yaml`` as a dict. Raises ModelError naming it."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ModelError(f"{path}: missing; --model takes a training run folder or a .dsbmodel file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: not a run config (expected a mapping)")
    return raw


def family_of(raw: dict, where: str = "<config>") -> str:
    """The registered family of a run config (its ``solution`` or ``name`` key).

    Raises:
        ModelError: no registered family matches.
    """
    value = str(raw.get("solution") or raw.get("name") or "")
    matches = [f for f in LOADERS if value == f or value.startswith(f + "-")]
    if not matches:
        raise ModelError(f"{where}: solution {value or '(none)'!r} has no segment loader; "
                         f"known: {sorted(LOADERS)}")
    return max(matches, key=len)


def load_run(run_dir: str | os.PathLike, name: str | None = None,
             model_file: str | os.PathLike | None = None) -> PixelModel | InstanceModel:
    """Load the model of a run folder (weights, config, thresholds) with its family's loader.

    ``model_file``: the ``.dsbmodel`` file ``run_dir`` was unpacked from (None: a run folder).
    """
    run_dir = Path(run_dir)
    raw = read_run_config(run_dir)
    family = family_of(raw, str(run_dir / "config.yaml"))
    return LOADERS[family](run_dir, name or str(run_dir), None if model_file is None else Path(model_file))


def load_source(source: str | os.PathLike) -> PixelModel | InstanceModel:
    """A run folder or an exported ``.dsbmodel`` file (:func:`segment.archive.open_model`)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return load_run(path)
    if path.is_file():
        from segment.archive import open_model

        return open_model(path)
    raise ModelError(f"{path}: no such run folder or model file")


def _config_error(path: Path, exc: Exception) -> ModelError:
    return ModelError(f"{path}: {' '.join(str(exc).split())}")


@register_loader("unet")
def _load_unet(run_dir: Path, name: str, model_file: Path | None) -> PixelModel:
    """A U-Net run (watershed or the study's baseline): maps, tuned thresholds."""
    from common.config import ConfigError, load_config
    from common.runs import RunDir
    from solutions.unet.config import UNetConfig
    from solutions.unet.inference import predict_image
    from solutions.unet.predict import floor_scale, load_params, load_run, load_sizes

    run = RunDir(run_dir)
    try:
        load_config(UNetConfig, run.config_path)  # a bad config is its own error, before the weights
    except ConfigError as exc:
        raise _config_error(run.config_path, exc) from None
    cfg, model = _load_weights(lambda: load_run(run.path), run)
    params = load_params(run, cfg)
    # a model file (not a run folder) has no run_info.json to measure image areas from; export
    # measures them from the run's training labels, so those must be where the run was trained
    remedy = (f"re-export it from its run folder, with its training data in place "
              f"(python -m segment export --run RUN --out {shlex.quote(str(model_file))} --force)"
              if model_file is not None else None)
    sizes = load_sizes(run, cfg, name, remedy)

    def predict(image: np.ndarray, tta: str | None) -> tuple[np.ndarray, float]:
        info: dict = {}
        prob = predict_image(model, image, cfg, tta, params, info=info, **sizes)
        return prob, floor_scale(cfg, info.get("scale", 1.0))

    channels = ("body",) if cfg.model.kind == "baseline" else tuple(cfg.model.channels)
    params = {**params, "channels": list(params.get("channels") or channels)}
    return PixelModel(name, "unet", predict, params, channels,
                      {"solution": cfg.solution, "normalise": cfg.data.normalise, "kind": cfg.model.kind})


@register_loader("maskrcnn")
def _load_maskrcnn(run_dir: Path, name: str, model_file: Path | None) -> InstanceModel:
    """A Mask R-CNN run; ``tta="hflip"`` or ``"flip"`` adds its mirrored pass (``predict.tta_flip``)."""
    from common.config import ConfigError
    from solutions.maskrcnn.predict import load_run, predict_images

    try:
        cfg, model = _load_weights(lambda: load_run(run_dir), run_dir)
    except ConfigError as exc:
        raise _config_error(Path(run_dir) / "config.yaml", exc) from None

    def predict(image: np.ndarray, tta: str | None) -> tuple[np.ndarray, np.ndarray]:
        cfg.predict.tta_flip = tta in ("hflip", "flip") if tta else cfg.predict.tta_flip
        inst = predict_images(model, cfg, [image])[0]
        return np.asarray(inst.labels, np.int32), np.asarray(inst.scores, np.float32)

    return InstanceModel(name, "maskrcnn", predict, int(cfg.predict.min_instance_pixels),
                         {"solution": cfg.solution})


def _load_weights(load: Callable[[], Any], run: Any) -> Any:
    """Call ``load()``; a weights file that does not fit the config is one ModelError line."""
    try:
        return load()
    except (FileNotFoundError, ModelError):
        raise
    except (ValueError, OSError, KeyError) as exc:
        where = getattr(run, "path", run)
        raise ModelError(f"{where}: cannot load the weights ({' '.join(str(exc).split())[:300]})") from None
