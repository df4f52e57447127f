"""Speed and memory of ``segment``: images/s at typical DSB sizes, and a 10k x 10k image.

    .venv/bin/python bench/bench_segment.py --model RUN_OR_FILE [--sizes 256x256,520x696,...]
        [--per-size 4] [--big 10000] [--tile 2048] [--out bench/results/segment_cpu.md]

1. **Typical sizes**: synthetic images (bright discs of 4-12 px radius on a dark background,
   ``common.synthetic``-like) at each size go through ``Segmenter.segment`` and the
   measurements (``segment.measure.measure``); images/s over ``--per-size`` images after one
   warm-up image per size.
2. **Large image**: a ``--big`` x ``--big`` 8-bit gray TIFF of such discs is written, then the
   whole command (``python -m segment ... --format tif,csv,overlay``) runs in a child process;
   its wall time and peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) are reported with the
   number of nuclei and tiles.

Writes a Markdown table with the command, the machine (``common.machine.machine_description``),
the model and the load average to ``--out`` (and prints it).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SIZES = "256x256,256x320,520x696,1024x1024,1040x1388"


def disc_image(h: int, w: int, seed: int = 0, spacing: int = 28) -> np.ndarray:
    """uint8 [H,W] gray: discs (radius 4-12) on a jittered grid, about one per spacing^2 px.

    Built in row bands so a 10k x 10k image needs no full-size temporaries.
    """
    import cv2

    rng = np.random.default_rng(seed)
    image = np.full((h, w), 20, np.uint8)
    for y in range(spacing // 2, h - spacing // 2, spacing):
        xs = np.arange(spacing // 2, w - spacing // 2, spacing)
        jy = rng.integers(-4, 5, xs.size)
        jx = rng.integers(-4, 5, xs.size)
        radii = rng.integers(4, 12, xs.size)
        for x, dy, dx, r in zip(xs, jy, jx, radii):
            cv2.circle(image, (int(x + dx), int(y + dy)), int(r), int(rng.integers(120, 230)), -1)
    return image


def bench_sizes(model: str, sizes: list[tuple[int, int]], per_size: int, tile: int) -> list[dict]:
    from segment import Segmenter
    from segment.measure import measure

    seg = Segmenter.load(model, tile=tile)
    rows = []
    for h, w in sizes:
        images = [disc_image(h, w, seed=i) for i in range(per_size + 1)]
        seg.segment(images[0])  # warm-up: builds the graph for this shape
        t0 = time.perf_counter()
        nuclei = 0
        for image in images[1:]:
            labels, scores = seg.segment(image)
            nuclei += len(measure(labels, image, scores))
        seconds = time.perf_counter() - t0
        rows.append({"size": f"{h}x{w}", "images": per_size, "seconds": seconds,
                     "images_per_s": per_size / seconds, "nuclei_per_image": nuclei / per_size})
        print(f"[bench_segment] {h}x{w}: {per_size / seconds:.2f} images/s", flush=True)
    return rows


def bench_big(model: str, side: int, tile: int, work: Path) -> dict:
    import tifffile

    path = work / f"big{side}.tif"
    tifffile.imwrite(path, disc_image(side, side, seed=1))
    out = work / "out"
    cmd = [sys.executable, "-m", "segment", "--model", model, str(path), "--out", str(out),
           "--tile", str(tile), "--format", "tif,csv,overlay"]
    env = {**os.environ, "PYTHONPATH": repo_pythonpath(), "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench_segment: the large-image run failed:\n{proc.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv").iloc[0]
    tiles = sum("tile" in line for line in proc.stdout.splitlines())
    return {"side": side, "seconds": seconds, "peak_rss_gib": peak_kib / 2**20, "tiles": tiles,
            "nuclei": int(summary["n_nuclei"]), "segment_seconds": float(summary["seconds"])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="run folder or .dsbmodel file")
    p.add_argument("--sizes", default=DEFAULT_SIZES)
    p.add_argument("--per-size", type=int, default=4)
    p.add_argument("--big", type=int, default=10000, help="side of the large image (0: skip)")
    p.add_argument("--tile", type=int, default=2048)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "segment_cpu.md"))
    args = p.parse_args(argv)
    from common.machine import machine_description
    from common.paths import repo_pythonpath

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    load0 = os.getloadavg()[0]
    rows = bench_sizes(args.model, sizes, args.per_size, args.tile)
    big = None
    if args.big:
        with tempfile.TemporaryDirectory(prefix="bench_segment-") as tmp:
            big = bench_big(args.model, args.big, args.tile, Path(tmp))
    load1 = os.getloadavg()[0]
    lines = [f"# segment speed and memory ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `.venv/bin/python bench/bench_segment.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
             f"Machine: {machine_description()}; load average {load0:.1f} at the start, {load1:.1f} at the end "
             "(shared with other jobs: the speeds are lower bounds).",
             f"Model: `{args.model}`. Synthetic disc images; segmentation + measurements, no file writing.", "",
             "| image size | images | seconds | images/s | nuclei per image |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['size']} | {r['images']} | {r['seconds']:.1f} | {r['images_per_s']:.2f} | "
              f"{r['nuclei_per_image']:.0f} |" for r in rows]
    if big:
        lines += ["", f"Large image: {big['side']} x {big['side']} 8-bit gray TIFF, the whole command "
                  f"(`python -m segment --tile {args.tile} --format tif,csv,overlay`, reading, {big['tiles']} tiles, "
                  "stitching, measurements, writing):", "",
                  "| image | tiles | nuclei | wall time (s) | peak RSS (GiB) |", "|---|---:|---:|---:|---:|",
                  f"| {big['side']} x {big['side']} | {big['tiles']} | {big['nuclei']:,} | {big['seconds']:.0f} | "
                  f"{big['peak_rss_gib']:.2f} |"]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
