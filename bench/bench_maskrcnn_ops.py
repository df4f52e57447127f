"""Speed of the keras.ops Mask R-CNN primitives (NMS, ROI Align) on each Keras backend.

Usage::

    .venv/bin/python bench/bench_maskrcnn_ops.py [--repeats 5] [--backends tensorflow jax]
        [--out bench/results/maskrcnn_ops_cpu.md]

Each backend runs in its own subprocess (``KERAS_BACKEND`` is read at import). Per case it
times the compiled function (``tf.function`` / ``jax.jit``): the first call (trace +
compile + run) and the median of ``--repeats`` further calls. NMS cases are the proposal
sizes of the default config (B=2, K=6000 -> 2000, IoU 0.7) and of the small CPU configs
(B=1, K=1000 -> 400); the boxes are random (centres uniform over 512 px, sides 8..128 px).
``generic`` is ``nms_padded(impl="generic")`` (the tile algorithm in keras.ops);
``tf-kernel`` is ``impl="tf"``, TensorFlow's C++ NonMaxSuppressionV4 mapped over the batch
(the default under the TensorFlow backend). Two TensorFlow-only references are timed
beside them: ``tf-tile``, TensorFlow's own batched tile algorithm
(``tf.image.non_max_suppression_padded(pad_to_max_output_size=True)``, not used because it
drops all-zero boxes), and for ROI Align ``tf-pre-port``, the implementation this port
replaced (``tf.image.crop_and_resize`` per level on the boxes of that level, then
``tf.dynamic_stitch``: dynamic shapes, TensorFlow only). Writes a markdown block to
``--out`` atomically (generated file, replaced on every run) and prints it.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NMS_CASES = [(2, 6000, 2000, 0.7), (1, 1000, 400, 0.7)]  # (B, K, max_output, IoU)
ROI_CASE = (2, 200, 14, 256, 256)  # (B, R, pool, C, image side)


def _timed(fn, args, repeats: int) -> tuple[float, float]:
    """(first call seconds, median of ``repeats`` further calls)."""
    from keras import ops

    def run():
        out = fn(*args)
        leaves = out if isinstance(out, (tuple, list)) else [out]
        for leaf in leaves:
            ops.convert_to_numpy(leaf)

    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return first, sorted(times)[len(times) // 2]


def _compile(fn):
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


def _tf_pre_port_roi_align(boxes, features, pool: int):
    """The replaced TensorFlow ROI Align (same sampling convention), for reference."""
    import tensorflow as tf

    from solutions.maskrcnn.roi_align import box_levels

    rois = tf.shape(boxes)[1]
    levels = box_levels(boxes)
    pooled, positions = [], []
    for level in range(2, 6):
        feat = features[f"P{level}"]
        idx = tf.cast(tf.where(tf.equal(levels, level)), tf.int32)
        b = tf.gather_nd(boxes, idx)
        padded = tf.pad(feat, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
        fh, fw = tf.cast(tf.shape(feat)[1], tf.float32), tf.cast(tf.shape(feat)[2], tf.float32)
        y1, x1, y2, x2 = tf.unstack(b, axis=-1)
        hh, hw, s = 0.5 * (y2 - y1) / pool, 0.5 * (x2 - x1) / pool, float(2 ** level)
        norm = tf.stack([((y1 + hh) / s + 0.5) / (fh + 1), ((x1 + hw) / s + 0.5) / (fw + 1),
                         ((y2 - hh) / s + 0.5) / (fh + 1), ((x2 - hw) / s + 0.5) / (fw + 1)], -1)
        pooled.append(tf.image.crop_and_resize(padded, norm, idx[:, 0], [pool, pool]))
        positions.append(idx[:, 0] * rois + idx[:, 1])
    out = tf.dynamic_stitch(positions, pooled)
    return tf.reshape(out, [tf.shape(boxes)[0], rois, pool, pool, tf.shape(out)[-1]])


def _tf_tile_nms(boxes, scores, m: int, thr: float):
    import tensorflow as tf

    return tf.image.non_max_suppression_padded(boxes, scores, m, iou_threshold=thr,
                                               pad_to_max_output_size=True)


def worker(repeats: int) -> list[dict]:
    """All cases on the active backend; one dict per timed row."""
    import keras
    import numpy as np
    from keras import ops

    from solutions.maskrcnn.nms import nms_padded
    from solutions.maskrcnn.roi_align import PyramidROIAlign

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    rows = []
    for batch, k, m, thr in NMS_CASES:
        centre = rng.uniform(0, 512, (batch, k, 2))
        side = rng.uniform(8, 128, (batch, k, 2))
        boxes = np.concatenate([centre - side / 2, centre + side / 2], -1).astype(np.float32)
        scores = rng.uniform(size=(batch, k)).astype(np.float32)
        impls = ["generic", "tf-kernel", "tf-tile"] if backend == "tensorflow" else ["generic"]
        for impl in impls:
            fn = _compile(lambda b, s, impl=impl: _tf_tile_nms(b, s, m, thr)
                          if impl == "tf-tile" else nms_padded(
                              b, s, m, thr, impl="tf" if impl == "tf-kernel" else "generic"))
            first, median = _timed(fn, (ops.convert_to_tensor(boxes),
                                        ops.convert_to_tensor(scores)), repeats)
            rows.append({"op": f"nms_padded B={batch} K={k} -> {m} (IoU {thr})",
                         "backend": backend, "impl": impl, "first_s": first,
                         "median_s": median})
    batch, r, pool, c, side = ROI_CASE
    feats = {f"P{lv}": ops.convert_to_tensor(
        rng.normal(size=(batch, side >> lv, side >> lv, c)).astype(np.float32))
        for lv in range(2, 6)}
    yx = rng.uniform(0, side - 8, (batch, r, 2))
    boxes = np.concatenate([yx, yx + rng.uniform(4, side / 2, (batch, r, 2))], -1)
    layer = PyramidROIAlign(pool_size=pool)
    impls = ["generic", "tf-pre-port"] if backend == "tensorflow" else ["generic"]
    for impl in impls:
        fn = _compile((lambda b, f: _tf_pre_port_roi_align(b, f, pool)) if impl == "tf-pre-port"
                      else (lambda b, f: layer(b, f)))
        first, median = _timed(fn, (ops.convert_to_tensor(boxes.astype(np.float32)), feats),
                               repeats)
        rows.append({"op": f"PyramidROIAlign B={batch} R={r} pool={pool} C={c} ({side} px)",
                     "backend": backend, "impl": impl, "first_s": first, "median_s": median})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--out", default=str(REPO / "bench/results/maskrcnn_ops_cpu.md"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.repeats)))
        return 0

    from common.io import atomic_write_text
    from common.machine import machine_description
    from common.paths import repo_pythonpath

    rows = []
    for backend in args.backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": repo_pythonpath()}
        proc = subprocess.run([sys.executable, __file__, "--worker", "--repeats",
                               str(args.repeats)], env=env, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"bench_maskrcnn_ops.py: the {backend} worker failed "
                             f"(exit {proc.returncode})")
        rows += json.loads(lines[-1][len("RESULT "):])
    command = "KERAS_BACKEND=<each> " + " ".join(
        [".venv/bin/python", "bench/bench_maskrcnn_ops.py"] + [shlex.quote(a) for a in
                                                              (argv or sys.argv[1:])])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["# Mask R-CNN keras.ops primitives: CPU speed", "",
             f"Command: `{command}`  ",
             f"Machine: {machine_description()}; 1-min load average at the end: {load:.1f}  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; median of "
             f"{args.repeats} calls after the first (compiled graph: tf.function / jax.jit).",
             "", "| op | backend | impl | first call (s) | median (ms) |",
             "|---|---|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['op']} | {row['backend']} | {row['impl']} | "
                     f"{row['first_s']:.2f} | {1000 * row['median_s']:.1f} |")
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
