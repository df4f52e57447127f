"""The inference forward pass of a Keras model, compiled and cached per model, by engine.

``forward_fn(model, engine)`` returns a callable float32 [B,H,W,3] numpy -> numpy that the
solutions' predict code calls per batch. Engines, looked up by name in :data:`ENGINES`:

- ``keras``: the backend's own compiler. Under JAX, the model's ``predict_on_batch``
  (jitted and cached per input shape by Keras). Under TensorFlow, a ``tf.function`` per
  input shape, traced once and kept with the model (a graph runs the cpu30 U-Net in about
  half the CPU time of eager op-by-op dispatch; ``reduce_retracing`` cannot be used, the
  up-sampling layers need static shapes, and one function per shape never retraces).
- ``openvino``: the TensorFlow graph, frozen and read by OpenVINO's TensorFlow frontend,
  compiled for the CPU (``common/engine_openvino.py``): one network for every input shape
  where its up-sampling can be made shape-free, else one per shape. On the 2-core CI-class CPU it
  runs the cpu30 U-Net in about half the time of the TensorFlow graph, with outputs equal
  to 1e-6 (``bench/bench_inference.py``). TensorFlow backend only: OpenVINO converts
  TensorFlow graphs, and under JAX Keras's ``jax2tf`` export emits ``XlaCallModule``
  ops that OpenVINO cannot convert.
- ``auto`` (the default): ``openvino`` where it can run and is the faster one, i.e. the
  TensorFlow backend, ``openvino`` importable (the cpu stack installs it) and no GPU
  visible to Keras; ``keras`` everywhere else (GPU machines, JAX, the GPU stacks).

Anything that is not a ``keras.Model`` (test doubles) is called eagerly by every engine.
Keras is imported on first use, so a CLI can name the engines without loading a backend.
"""

from __future__ import annotations

import importlib.util
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from common.config import ConfigError

log = logging.getLogger(__name__)

ENGINE_CHOICES = ("auto", "keras", "openvino")

#: model -> {(engine, input shape): compiled forward function}, least recently used first
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
#: Most input shapes kept compiled per model. An OpenVINO model keeps its buffers for its
#: shape between calls (hundreds of MiB at 1024x1024), so a folder of many image sizes must
#: not keep one per size; stage1_train has 8 sizes (plus the tiles of larger images).
MAX_CACHED_SHAPES = 8
_ANNOUNCED: set[str] = set()


class EngineError(ConfigError):
    """An inference engine was asked for where it cannot run (a ``ConfigError``: the CLIs
    print it as one line and exit with status 2)."""


def check_engine(engine: str, key: str = "predict.engine") -> str:
    """Raise ``ValueError`` naming ``key`` unless ``engine`` is one of :data:`ENGINE_CHOICES`."""
    if engine not in ENGINE_CHOICES:
        raise ValueError(f"{key} must be one of {list(ENGINE_CHOICES)}, got {engine!r}")
    return engine


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def _gpu_visible() -> bool:
    import keras

    try:
        return bool(keras.distribution.list_devices("gpu"))
    except Exception:  # a backend without the query, or no GPU runtime at all
        return False


def resolve_engine(engine: str = "auto") -> str:
    """The engine that runs for ``engine`` on this machine and Keras backend.

    Raises:
        ValueError: An unknown name.
        EngineError: ``openvino`` asked for explicitly where it cannot run (the message
            says what is missing).
    """
    import keras

    check_engine(engine)
    backend = keras.backend.backend()
    if engine == "auto":
        ok = backend == "tensorflow" and openvino_available() and not _gpu_visible()
        return "openvino" if ok else "keras"
    if engine == "openvino":
        if backend != "tensorflow":
            raise EngineError(f"predict.engine=openvino needs the TensorFlow backend (KERAS_BACKEND is "
                              f"{backend!r}); use predict.engine=keras or auto")
        if not openvino_available():
            raise EngineError("predict.engine=openvino: the openvino package is not installed "
                              "(pip install openvino, or the cpu stack's requirements-lock.txt)")
    return engine


def _keras_fn(model, x) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    """TensorFlow: a ``tf.function`` for this shape (other backends never get here)."""
    import tensorflow as tf

    ref = weakref.ref(model)  # the cache must not keep the model alive
    return tf.function(lambda t: ref()(t, training=False), autograph=False), False


def _openvino_fn(model, x) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    from common.engine_openvino import openvino_forward

    return openvino_forward(model, np.asarray(x, np.float32))


#: engine name -> factory(model, first input) -> (compiled forward function, serves any shape)
ENGINES: dict[str, Callable] = {"keras": _keras_fn, "openvino": _openvino_fn}


def forget(model) -> None:
    """Drop ``model``'s compiled forward passes: after its weights change (``predict.adapt``
    fine-tunes it), an OpenVINO network, which froze the old weights, must not serve it."""
    _COMPILED.pop(model, None)


def forward_fn(model, engine: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
    """The callable that runs ``model`` on one float32 [B,H,W,3] batch with ``engine``.

    Compiled functions are cached with the model per (engine, input shape), so each shape
    is traced (and, for OpenVINO, converted and compiled) once; the :data:`MAX_CACHED_SHAPES`
    most recently used are kept.

    Args:
        model: A ``keras.Model`` mapping [B,H,W,3] to [B,H,W,C] (anything else callable as
            ``model(x, training=False)`` is called eagerly).
        engine: A name of :data:`ENGINE_CHOICES`.

    Returns:
        ``run(x)``: the outputs for ``x`` (a numpy array or a backend tensor).
    """
    import keras

    name = resolve_engine(engine)
    if name not in _ANNOUNCED:
        _ANNOUNCED.add(name)
        log.info("inference engine: %s (predict.engine=%s, Keras backend %s)", name, engine,
                 keras.backend.backend())
    if not isinstance(model, keras.Model):
        return lambda x: model(x, training=False)
    if name == "keras" and keras.backend.backend() != "tensorflow":
        # JAX: Keras jits predict_on_batch and caches it per shape itself
        return model.predict_on_batch if hasattr(model, "predict_on_batch") else \
            (lambda x: model(x, training=False))
    fns = _COMPILED.setdefault(model, OrderedDict())
    factory = ENGINES[name]

    def run(x):
        if (name, None) in fns:  # one network for every shape
            return fns[(name, None)](x)
        key = (name, tuple(x.shape))
        if key in fns:
            fns.move_to_end(key)
        else:
            fn, any_shape = factory(model, x)
            if any_shape:
                fns[(name, None)] = fn
                return fn(x)
            fns[key] = fn
            while len(fns) > MAX_CACHED_SHAPES:
                fns.popitem(last=False)
        return fns[key](x)
    return run
