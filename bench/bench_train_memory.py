"""Training-step time and kernel time of ``fit`` on the CPU, with and without ``common.allocator``.

Usage::

    .venv/bin/python bench/bench_train_memory.py [--config solutions/unet/configs/cpu30.yaml]
        [--steps 20] [--epochs 4] [--reps 3] [--out reports/bench_train_memory.md]

Each run is a fresh process (the allocator settings are process-wide) that fits the
config's U-Net on random tensors at its crop size and batch, through the same path as
training (``common.endless.EndlessEpochs``, a ``PyDataset``, so TensorFlow's
``from_generator`` and its malloc patch are in play). The first epoch is warm-up; the
rest are measured: wall ms per step, user and system CPU seconds, minor page faults per
step and the peak resident memory. ``DSB_KEEP_FREED_MEMORY=0`` and ``=1`` runs alternate,
``--reps`` of each, and the markdown (figures, command, machine) goes to ``--out``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def worker(args) -> dict:
    """One process: fit ``args.epochs`` epochs, return the measured epochs' figures."""
    import resource

    import keras
    import numpy as np

    from common.allocator import KeepFreedMemory
    from common.config import load_config
    from common.endless import EndlessEpochs
    from solutions.unet.config import UNetConfig
    from solutions.unet.train import build_compiled_model

    cfg = load_config(UNetConfig, args.config)
    size, batch, channels = cfg.data.crop_size, cfg.train.batch_size, cfg.n_outputs

    class Random(keras.utils.PyDataset):
        def __len__(self) -> int:
            return args.steps

        def batch(self, epoch: int, index: int):
            rng = np.random.default_rng([epoch, index])
            return (rng.random((batch, size, size, 3), dtype=np.float32) * 255,
                    (rng.random((batch, size, size, channels)) > 0.5).astype(np.float32))

    keras.utils.set_random_seed(0)
    model = build_compiled_model(cfg, args.steps)
    marks: dict = {}

    class Mark(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                marks["t"], marks["r"] = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    keep = KeepFreedMemory()
    stream = EndlessEpochs(Random())
    model.fit(stream, steps_per_epoch=args.steps, epochs=args.epochs, shuffle=False, verbose=0,
              callbacks=[keep, Mark()])
    t, r1, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF), marks["r"]
    n = args.steps * (args.epochs - 1)
    return {"keep_freed_memory": bool(keep.applied), "ms_per_step": 1000 * (t - marks["t"]) / n,
            "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime,
            "faults_per_step": (r1.ru_minflt - r0.ru_minflt) / n, "max_rss_mb": r1.ru_maxrss / 1024,
            "cores_busy": (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / (t - marks["t"])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="solutions/unet/configs/cpu30.yaml")
    p.add_argument("--steps", type=int, default=20, help="steps per epoch")
    p.add_argument("--epochs", type=int, default=4, help="epochs per run, the first one warm-up")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "reports" / "bench_train_memory.md"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.epochs < 2:
        p.error("--epochs must be >= 2 (the first is warm-up)")
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return 0

    from common.io import atomic_write_text
    from common.machine import device_description

    load = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"0": [], "1": []}
    for rep in range(args.reps):
        for flag in ("0", "1"):
            cmd = [sys.executable, __file__, "--worker", "--config", args.config, "--steps", str(args.steps),
                   "--epochs", str(args.epochs)]
            out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                                 env={**os.environ, "DSB_KEEP_FREED_MEMORY": flag})
            lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode or not lines:
                sys.stderr.write(out.stderr[-3000:])
                raise SystemExit(f"worker failed (exit {out.returncode}): {shlex.join(cmd)}")
            runs[flag].append(json.loads(lines[-1][7:]))
            print(f"rep {rep + 1} DSB_KEEP_FREED_MEMORY={flag}: {runs[flag][-1]}", flush=True)

    def cell(rows: list[dict], key: str, fmt: str) -> str:
        values = [r[key] for r in rows]
        return f"{format(statistics.median(values), fmt)} ({', '.join(format(v, fmt) for v in values)})"

    table = ["| DSB_KEEP_FREED_MEMORY | applied | ms/step | user s | system s | cores busy | minor faults/step | "
             "peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    for flag, rows in runs.items():
        table.append(f"| {flag} | {sum(r['keep_freed_memory'] for r in rows)}/{len(rows)} | "
                     f"{cell(rows, 'ms_per_step', '.0f')} | {cell(rows, 'user_s', '.1f')} | "
                     f"{cell(rows, 'sys_s', '.1f')} | {cell(rows, 'cores_busy', '.2f')} | "
                     f"{cell(rows, 'faults_per_step', '.0f')} | "
                     f"{cell(rows, 'max_rss_mb', '.0f')} |")
    measured = args.steps * (args.epochs - 1)
    text = "\n".join([
        "## Training steps on the CPU, with and without `common.allocator`", "",
        f"Machine: {device_description()}; load average {load:.1f} at start", "",
        f"Command: `{shlex.join([sys.executable, *sys.argv])}`", "",
        f"Config {args.config}; random tensors; per run {args.steps} steps x {args.epochs} epochs, the first "
        f"warm-up, {measured} steps measured; {args.reps} runs of each setting, alternating. "
        "Median (each run).", "", *table, ""])
    atomic_write_text(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
