"""The U-Net's forward pass per inference engine (``common/engine.py``), per input shape.

    .venv/bin/python bench/bench_engine.py [--run RUN_DIR] [--config solutions/unet/configs/cpu30.yaml]
        [--shapes 1x256x256 4x256x256 1x528x704 1x1024x1024] [--reps 8] [--busy 0|1]
        [--out bench/results/engine_cpu_<date>]

For each input shape: the one-off cost of each engine (TensorFlow trace; for OpenVINO also
freezing the graph, reading it and compiling it) and the steady-state wall and CPU
milliseconds per forward pass (median and max of ``--reps``) of

- ``keras``: the TensorFlow graph (``tf.function``), what ``predict.engine=keras`` runs;
- ``openvino-dynamic``: what ``predict.engine=openvino`` runs (``common/engine_openvino.py``):
  one network made at the first shape, its height and width dynamic; at later shapes the
  one-off is only its first call;
- ``openvino-static``: one OpenVINO network per shape (the fallback), threads not pinned
  (``OPENVINO_CPU_CONFIG``); ``openvino-static-pinned``: the same, OpenVINO's default pinning.

``--busy 1`` runs one ``nice -n 19`` busy-loop process beside the measurement, as a shared
machine (or the solutions' own post-processing threads) would. The network is the config's,
with the run's weights if ``--run`` is given (else random ones: the time does not depend on
them). Writes ``README.md`` and ``results.json`` to ``--out``. TensorFlow backend.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _timed(run, x, reps: int) -> dict:
    walls, cpu0 = [], _cpu_s()
    for _ in range(reps):
        t = time.perf_counter()
        run(x)
        walls.append(time.perf_counter() - t)
    return {"median_ms": 1000 * float(np.median(walls)), "max_ms": 1000 * max(walls),
            "cpu_ms": 1000 * (_cpu_s() - cpu0) / reps}


def _engines(model, shape: tuple, dynamic: dict) -> dict:
    """name -> (one-off seconds by step, run) at input ``shape``.

    ``dynamic`` holds the one dynamic OpenVINO network across shapes (made at the first).
    """
    import tensorflow as tf

    from common.engine_openvino import OPENVINO_CPU_CONFIG, compile_network, frozen_network, make_dynamic

    out = {}
    x = np.zeros(shape, np.float32)
    t0 = time.perf_counter()
    graph = tf.function(lambda t: model(t, training=False), autograph=False)
    graph(x)
    out["keras"] = ({"trace": time.perf_counter() - t0}, lambda a: graph(a).numpy())
    for name, config in (("openvino-static", OPENVINO_CPU_CONFIG),
                         ("openvino-static-pinned", {**OPENVINO_CPU_CONFIG, "ENABLE_CPU_PINNING": True})):
        t0 = time.perf_counter()
        net, _ = frozen_network(model, shape)
        t1 = time.perf_counter()
        run = compile_network(net, config)
        run(x)
        out[name] = ({"trace_freeze_read": t1 - t0, "compile_and_first": time.perf_counter() - t1}, run)
    if "run" not in dynamic:
        t0 = time.perf_counter()
        net, _ = frozen_network(model, shape)
        if not make_dynamic(net):
            raise SystemExit("bench_engine: this network cannot be made dynamic")
        dynamic["run"] = compile_network(net)
        dynamic["made"] = {"trace_freeze_read_rewrite": time.perf_counter() - t0}
        steps = dict(dynamic["made"])
    else:
        steps = {}
    t0 = time.perf_counter()
    dynamic["run"](x)
    out["openvino-dynamic"] = ({**steps, "first_call": time.perf_counter() - t0}, dynamic["run"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="training run folder (its config and weights)")
    p.add_argument("--config", default="solutions/unet/configs/cpu30.yaml")
    p.add_argument("--shapes", nargs="+", default=["1x256x256", "4x256x256", "1x528x704", "1x1024x1024"])
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--busy", type=int, default=0, choices=(0, 1))
    p.add_argument("--out", default=f"bench/results/engine_cpu_{datetime.now():%Y%m%d}")
    args = p.parse_args(argv)

    from common.machine import git_commit, machine_description

    if args.run:
        from solutions.unet.predict import load_run

        cfg, model = load_run(args.run)
    else:
        from common.config import load_config
        from solutions.unet.config import UNetConfig
        from solutions.unet.model_watershed import build_model

        model = build_model(load_config(UNetConfig, REPO / args.config))
    busy = None
    if args.busy:
        busy = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    load0 = os.getloadavg()
    rows, dynamic = [], {}
    try:
        for text in args.shapes:
            shape = tuple(int(v) for v in text.split("x")) + (3,)
            x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
            engines = _engines(model, shape, dynamic)
            ref = engines["keras"][1](x)
            for name, (steps, run) in engines.items():
                diff = float(np.abs(run(x) - ref).max())
                rows.append({"shape": text, "engine": name, "one_off_s": steps,
                             "max_abs_diff": diff, **_timed(run, x, args.reps)})
                print(f"[bench_engine] {text} {name}: {rows[-1]['median_ms']:.0f} ms "
                      f"(cpu {rows[-1]['cpu_ms']:.0f} ms), one-off {sum(steps.values()):.2f} s", flush=True)
    finally:
        if busy is not None:
            busy.kill()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": ".venv/bin/python bench/bench_engine.py " + shlex.join(argv or sys.argv[1:]),
            "machine": machine_description(), "commit": git_commit(REPO),
            "load_start": load0, "load_end": os.getloadavg(), "busy": bool(args.busy),
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = ["# Forward pass per inference engine (bench/bench_engine.py)", "",
             f"- Command: `{meta['command']}`", f"- Machine: {meta['machine']}",
             f"- Commit: `{meta['commit']}`; {meta['when']}",
             f"- Load average at the start {load0[0]:.2f}, at the end {meta['load_end'][0]:.2f}; "
             + ("one `nice -n 19` busy loop ran beside it." if args.busy else "nothing else was started."),
             f"- Network: {args.run or args.config}", "",
             "| input | engine | median ms | max ms | CPU ms | one-off s | max abs diff vs keras |",
             "|---|---|---:|---:|---:|---|---:|"]
    for r in rows:
        steps = " + ".join(f"{v:.2f} {k}" for k, v in r["one_off_s"].items())
        lines.append(f"| {r['shape']} | {r['engine']} | {r['median_ms']:.0f} | {r['max_ms']:.0f} | "
                     f"{r['cpu_ms']:.0f} | {steps} | {r['max_abs_diff']:.1e} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print(f"[bench_engine] wrote {out}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
