"""OpenVINO for ``common.engine``: a Keras model (TensorFlow backend) compiled for the CPU.

The model is traced by TensorFlow at the first input's shape, frozen (variables become
constants) and read by OpenVINO's TensorFlow frontend from a temporary ``.pb`` file;
``openvino.convert_model`` is never called, because it sends usage telemetry to Intel
unless the user opted out, and a library must not.

One network for every input size: a frozen graph has its up-sampling sizes baked in as
constants (``Interpolate`` in ``sizes`` mode), which pins it to the traced shape. Each such
``Interpolate`` whose output is an integer multiple of its input is rewritten to the same
resize by ``scales`` and the input dimensions the Keras model leaves free (batch, height,
width) are made dynamic, so one
compiled network serves every shape: a new shape costs its first call (0.2-1.3 s for
256x256 to 1024x1024, oneDNN preparing kernels), not also a new trace, freeze, read and
compile (0.9-2.7 s; ``bench/bench_engine.py``, bench/results/inference_cpu_20261202_openvino). That is done only for
models without fixed-size resize layers (``keras.layers.Resizing``), and checked on the
first input against TensorFlow's own output; anything else gets one network per shape.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: OpenVINO's CPU settings: one low-latency stream, threads not pinned to cores. Pinned, a
#: forward pass waits for any core that another process (or this one's watershed threads)
#: holds; ``bench/bench_engine.py --busy 1`` measures both (bench/results/engine_cpu_*).
#: ``INFERENCE_PRECISION_HINT`` f32: on a CPU with bfloat16 units (AVX512_BF16, AMX) OpenVINO
#: otherwise runs the network in bfloat16, whose maps differ from TensorFlow's by up to 0.05.
OPENVINO_CPU_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False,
                       "INFERENCE_PRECISION_HINT": "f32"}

#: Largest difference from TensorFlow's output accepted for the dynamic network (outputs are
#: probabilities; float32 reorderings differ by about 1e-5 at 1024x1024).
DYNAMIC_TOLERANCE = 1e-3


def frozen_network(model, shape: tuple):
    """``(openvino.Model, TensorFlow concrete function)`` of ``model`` at input ``shape``."""
    import openvino as ov
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    graph = tf.function(lambda t: model(t, training=False), autograph=False,
                        input_signature=[tf.TensorSpec(shape, tf.float32)]).get_concrete_function()
    frozen = convert_variables_to_constants_v2(graph).graph.as_graph_def()
    with tempfile.TemporaryDirectory(prefix="dsb_openvino_") as tmp:
        pb = Path(tmp, "forward.pb")
        pb.write_bytes(frozen.SerializeToString())
        return ov.Core().read_model(str(pb)), graph


def _fixed_size_resizes(model) -> bool:
    import keras

    return any(isinstance(layer, keras.layers.Resizing) for layer in model._flatten_layers())


def make_dynamic(net, free: tuple[bool, ...] = (True, True, True, False)) -> bool:
    """Rewrite ``net`` in place so the input dimensions marked in ``free`` are dynamic.

    Args:
        net: An ``openvino.Model`` with one [B,H,W,C] input, as read (static shapes).
        free: Per input dimension, whether it may vary (default: batch, height, width).

    Returns:
        False (``net`` unusable, read it again) when an ``Interpolate`` is not an integer
        up-sampling or OpenVINO cannot re-infer the shapes.
    """
    import openvino as ov
    import openvino.opset11 as ops

    for node in list(net.get_ordered_ops()):
        if node.get_type_name() != "Interpolate":
            continue
        attrs = node.get_attributes()
        if attrs.get("shape_calculation_mode") != "sizes" or node.get_input_size() < 3:
            return False
        sizes, axes = node.input_value(1).get_node(), node.input_value(2).get_node()
        if sizes.get_type_name() != "Constant" or axes.get_type_name() != "Constant":
            return False
        in_shape = node.get_input_partial_shape(0)
        if in_shape.is_dynamic:
            return False
        in_shape = in_shape.to_shape()
        factors = [out / in_shape[int(a)] for out, a in zip(sizes.get_data(), axes.get_data())]
        if any(f < 1 or f != int(f) for f in factors):
            return False
        resize = ops.interpolate(node.input_value(0), ops.constant(np.array(factors, np.float32)),
                                 attrs["mode"], "scales", axes=node.input_value(2),
                                 coordinate_transformation_mode=attrs["coordinate_transformation_mode"],
                                 nearest_mode=attrs["nearest_mode"], antialias=attrs["antialias"],
                                 cube_coeff=attrs["cube_coeff"])
        node.output(0).replace(resize.output(0))
    static = net.inputs[0].get_partial_shape()
    try:
        net.reshape({net.inputs[0]: ov.PartialShape([-1 if f else static[i] for i, f in enumerate(free)])})
    except Exception as err:  # a shape constant elsewhere: OpenVINO says which node
        log.debug("openvino: no dynamic network (%s)", err)
        return False
    return True


def compile_network(net, config: dict | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``run(x)`` of ``net`` compiled for the CPU (``config`` default :data:`OPENVINO_CPU_CONFIG`)."""
    import openvino as ov

    request = ov.Core().compile_model(net, "CPU", config or OPENVINO_CPU_CONFIG).create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        # the output tensor is reused by the next call: copy it out
        return request.infer([np.ascontiguousarray(x, np.float32)])[0].copy()
    return run


def openvino_forward(model, x: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    """``model`` compiled by OpenVINO from its first input ``x`` (float32 [B,H,W,C]).

    Returns:
        ``(run, any_shape)``: ``any_shape`` is True for the dynamic network (one for every
        input shape), False for a network of ``x.shape`` only.
    """
    net, graph = frozen_network(model, tuple(x.shape))
    # only the dimensions the Keras model leaves free (a (256, 256, 3) input stays 256x256)
    free = tuple(d is None for d in model.inputs[0].shape) if getattr(model, "inputs", None) \
        else (True, True, True, False)
    if not _fixed_size_resizes(model) and make_dynamic(net, free):
        run = compile_network(net)
        want = graph(x).numpy()
        got = run(x)
        if got.shape == want.shape and float(np.abs(got - want).max()) <= DYNAMIC_TOLERANCE:
            return run, True
        log.warning("openvino: the dynamic network differs from TensorFlow's (max %.2g); "
                    "compiling one network per input shape", float(np.abs(got - want).max()))
        net, _ = frozen_network(model, tuple(x.shape))
    return compile_network(net), False
