"""Registry of ImageNet backbones that return a feature pyramid ``{"P2".."P5"}``.

The ``keras.applications`` layer names live as plain data in
``common.backbone_presets`` (no Keras import there); this module registers every preset
and builds them. Every backbone is built as a nested Keras model that:

* takes float32 images ``[B,H,W,3]`` with values in 0..255,
* applies the family's own ImageNet preprocessing inside the model
  (:class:`Preprocess`), and
* returns ``{"P2": [B,H/4,W/4,C2], "P3": [B,H/8,W/8,C3],
  "P4": [B,H/16,W/16,C4], "P5": [B,H/32,W/32,C5]}``.

Usage::

    model = build_backbone("resnet50", input_shape=(None, None, 3), weights="none")
    feats = model(images)              # images float32 [B,H,W,3] in 0..255
    BACKBONES["resnet50"].channels     # {"P2": 256, "P3": 512, ...} without building
    model.trainable = False            # freezes every backbone weight

Adding a backbone (check each level's stride by building at 128x128 and
printing ``model.get_layer(name).output.shape``; the test-suite checks it too)::

    @register_backbone(
        "vgg16",
        preprocess="caffe",  # a mode of common.preprocess.MODES
        levels={"P2": "block3_conv3", "P3": "block4_conv3",
                "P4": "block5_conv3", "P5": "block5_pool"},
        channels={"P2": 256, "P3": 512, "P4": 512, "P5": 512},
    )
    def _vgg16(input_shape, weights):
        return keras.applications.VGG16(
            include_top=False, weights=weights, input_shape=input_shape)

    # then: ./run_tests.sh tests/test_backbones.py  (parametrized over the registry)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Mapping

import keras

from common.backbone_presets import BACKBONE_PRESETS
from common.preprocess import MODES, Preprocess, check_mode, preprocess_images  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("P2", "P3", "P4", "P5")
ShapeLike = tuple[int | None, int | None, int]
Constructor = Callable[[ShapeLike, "str | None"], keras.Model]


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Static description of a registered backbone.

    Attributes:
        name: registry key.
        constructor: ``(input_shape, weights) -> keras.Model``; ``weights`` is
            ``None`` or ``"imagenet"``, passed straight to keras.applications.
        levels: pyramid key -> keras.applications layer name (stride 2^n).
        channels: pyramid key -> channel count of that layer.
        preprocess: a :class:`Preprocess` mode.
    """

    name: str
    constructor: Constructor
    levels: Mapping[str, str]
    channels: Mapping[str, int]
    preprocess: str

    def __post_init__(self) -> None:
        for table in ("levels", "channels"):
            keys = tuple(getattr(self, table))
            if keys != LEVELS:
                raise ValueError(f"Backbone {self.name!r}: {table} keys {keys} != {LEVELS}")
        check_mode(self.preprocess)


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(
    name: str,
    *,
    levels: Mapping[str, str],
    channels: Mapping[str, int],
    preprocess: str,
) -> Callable[[Constructor], Constructor]:
    """Decorator registering a keras.applications constructor under ``name``.

    Args:
        name: registry key, e.g. ``"resnet50"``.
        levels: ``{"P2".."P5"}`` -> layer name with stride 4, 8, 16, 32.
        channels: ``{"P2".."P5"}`` -> channels of those layers.
        preprocess: :class:`Preprocess` mode of this family.

    Returns:
        The decorator; it returns the constructor unchanged.

    Raises:
        ValueError: ``name`` is already registered or the tables are malformed.
    """

    def decorator(fn: Constructor) -> Constructor:
        if name in BACKBONES:
            raise ValueError(f"Backbone {name!r} is already registered")
        BACKBONES[name] = BackboneSpec(name, fn, dict(levels), dict(channels), preprocess)
        return fn

    return decorator


def list_backbones() -> list[str]:
    """Returns the registered backbone names, sorted."""
    return sorted(BACKBONES)


def get_spec(name: str) -> BackboneSpec:
    """Returns the :class:`BackboneSpec` of ``name``.

    Raises:
        KeyError: unknown name; the message lists the available ones.
    """
    if name not in BACKBONES:
        raise KeyError(
            f"Unknown backbone {name!r}; available: {', '.join(list_backbones())}"
        )
    return BACKBONES[name]


def get_preprocess(name: str) -> Callable[[Any], Any]:
    """Returns the preprocessing function of backbone ``name``.

    The returned function maps RGB images ``[..., H, W, 3]`` in 0..255 (numpy
    or tensor) to float32 network input. Models from :func:`build_backbone`
    already apply it; use this only outside them.
    """
    mode = get_spec(name).preprocess

    def preprocess(x: Any) -> Any:
        return preprocess_images(x, mode)

    preprocess.__name__ = f"preprocess_{name}"
    return preprocess


# --------------------------------------------------------------------------- #
# Building
# --------------------------------------------------------------------------- #


def _short_reason(exc: BaseException) -> str:
    """One-line reason of a failed download (keras' 'URL fetch failure' text)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if " -- " in text:  # "URL fetch failure on <url>: <code> -- <reason>"
        text = text.split(" -- ", 1)[1]
    return text[:120]


def _is_download_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from fetching weights rather than a bad argument."""
    if isinstance(exc, (OSError, ConnectionError, TimeoutError)):
        return True
    text = str(exc)
    return (
        type(exc) is Exception  # keras.utils.get_file wraps URLError/HTTPError so
        or "URL fetch failure" in text
        or "corrupted file" in text
    )


def _build_imagenet(
    spec: BackboneSpec, input_shape: ShapeLike, allow_random_fallback: bool
) -> keras.Model:
    """Builds with ImageNet weights, falling back to random init when offline."""
    try:
        return spec.constructor(input_shape, "imagenet")
    except Exception as exc:  # noqa: BLE001 - classified just below
        if not _is_download_failure(exc):
            raise
        reason = _short_reason(exc)
        if not allow_random_fallback:
            raise RuntimeError(
                f"[backbones] {spec.name}: ImageNet weights unavailable (offline: {reason}). "
                "Pass weights=<path to the keras.applications .h5 weights file>, "
                "put it in $KERAS_HOME/models (default ~/.keras/models), "
                "or use allow_random_fallback=True."
            ) from exc
        logger.warning(
            "[backbones] %s: ImageNet weights unavailable (offline: %s); "
            "using random initialisation",
            spec.name,
            reason,
        )
        return spec.constructor(input_shape, None)


def _build_base(
    spec: BackboneSpec,
    input_shape: ShapeLike,
    weights: str | os.PathLike | None,
    allow_random_fallback: bool,
) -> keras.Model:
    """Builds the raw keras.applications model with the requested weights."""
    if weights is None or weights == "none":
        return spec.constructor(input_shape, None)
    if weights == "imagenet":
        return _build_imagenet(spec, input_shape, allow_random_fallback)
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"[backbones] {spec.name}: weights file not found: {path} "
            "(weights must be 'none', 'imagenet' or a path to a weights file)"
        )
    base = spec.constructor(input_shape, None)
    base.load_weights(path)
    return base


def build_backbone(
    backbone: str,
    /,
    input_shape: ShapeLike = (None, None, 3),
    weights: str | os.PathLike | None = "none",
    allow_random_fallback: bool = True,
    name: str | None = None,
) -> keras.Model:
    """Builds a registered backbone returning the pyramid ``{"P2".."P5"}``.

    Args:
        backbone: a key of :data:`BACKBONES` (positional).
        input_shape: ``(H, W, 3)``; ``H``/``W`` may be ``None``. Sizes should be
            multiples of 32 so every level has exactly stride 2^n.
        weights: ``"none"`` or None (random init), ``"imagenet"`` (downloaded by keras
            into ``$KERAS_HOME/models``) or a path to a weights file for the
            keras.applications model (e.g. its ``*_notop.h5``).
        allow_random_fallback: when ImageNet weights cannot be downloaded, log
            one line and use random init (True) or raise RuntimeError (False).
        name: name of the returned model (default ``"<backbone>_backbone"``).

    Returns:
        A ``keras.Model`` mapping float32 ``[B,H,W,3]`` images in 0..255 to
        ``{"P2": [B,H/4,W/4,C2], ..., "P5": [B,H/32,W/32,C5]}`` with ``Cn =
        BACKBONES[backbone].channels["Pn"]``. The keras.applications layers sit in
        one nested model, so ``model.trainable = False`` freezes them all.

    Raises:
        KeyError: unknown backbone name (lists the available ones).
        FileNotFoundError: ``weights`` is a path that does not exist.
        RuntimeError: ImageNet weights unavailable and fallback disabled.
    """
    spec = get_spec(backbone)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"{backbone}: input_shape must be (H, W, 3), got {input_shape}")
    base = _build_base(spec, input_shape, weights, allow_random_fallback)
    features = keras.Model(
        base.inputs,
        {lvl: base.get_layer(layer).output for lvl, layer in spec.levels.items()},
        name=f"{backbone}_features",
    )
    images = keras.Input(shape=input_shape, dtype="float32", name="images")
    x = Preprocess(spec.preprocess, name="preprocess")(images)
    return keras.Model(images, features(x), name=name or f"{backbone}_backbone")


# --------------------------------------------------------------------------- #
# Registered backbones: every entry of common.backbone_presets
# --------------------------------------------------------------------------- #


def _keras_app(cls_name: str, **extra: Any) -> Constructor:
    """Constructor for ``keras.applications.<cls_name>`` without its top.

    The class is looked up at build time, so tests can monkeypatch it.
    """

    def construct(input_shape: ShapeLike, weights: str | None) -> keras.Model:
        cls = getattr(keras.applications, cls_name)
        return cls(include_top=False, weights=weights, input_shape=input_shape, **extra)

    construct.__name__ = f"_{cls_name.lower()}"
    return construct


for _name, _preset in BACKBONE_PRESETS.items():
    register_backbone(_name, levels=_preset["levels"], channels=_preset["channels"],
                      preprocess=_preset["preprocess"]
                      )(_keras_app(_preset["application"], **_preset.get("kwargs", {})))
del _name, _preset
