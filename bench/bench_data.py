"""Benchmark: load every real stage-1 training image with labels, then RLE-encode them.

Usage::

    .venv/bin/python bench/bench_data.py [--data-dir DIR] [--limit N] [--out reports/bench_data.md]

Steps timed (wall clock, single process):

1. ``DSBDataset.load_image`` for every image,
2. ``DSBDataset.load_labels`` for every image (reads all mask PNGs),
3. ``labels_to_rles`` for every label image (one pass per image),
4. ``rles_to_labels`` back, checked against the labels,
5. ``image_score(labels, labels)`` (the metric on every image, must be 1).

Prints the figures and a markdown block (figures, command, machine) and writes
it to ``reports/bench_data.md`` (an existing report is replaced atomically: it is
a generated file).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.data import DSBDataset  # noqa: E402
from common.metrics import image_score  # noqa: E402
from common.io import atomic_write_text  # noqa: E402
from common.machine import cpu_count, cpu_model  # noqa: E402
from common.paths import SHARED_DSB_DIR, Workspace  # noqa: E402
from common.rle import labels_to_rles, rles_to_labels  # noqa: E402


def _timed(name: str, fn, items, results: dict) -> list:
    start = time.perf_counter()
    out = [fn(x) for x in items]
    results[name] = time.perf_counter() - start
    print(f"{name:<28s} {results[name]:8.2f} s  {len(items) / results[name]:8.1f} images/s", flush=True)
    return out


def run(data_dir: Path, limit: int | None) -> tuple[dict[str, float], dict[str, int]]:
    ds = DSBDataset(data_dir, "stage1_train")
    ids = ds.ids[:limit] if limit else ds.ids
    times: dict[str, float] = {}
    _timed("load_image", ds.load_image, ids, times)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlapping-mask notices
        labels = _timed("load_labels", ds.load_labels, ids, times)
    rles = _timed("labels_to_rles", labels_to_rles, labels, times)
    back = _timed("rles_to_labels", lambda p: rles_to_labels(p[0], p[1].shape),
                  list(zip(rles, labels)), times)
    assert all(np.array_equal(a, b) for a, b in zip(back, labels)), "RLE round trip differs"
    scores = _timed("image_score(self)", lambda lab: image_score(lab, lab), labels, times)
    assert all((s == 1).all() for s in scores), "self-score is not 1"
    counts = {
        "images": len(ids),
        "nuclei": sum(len(r) for r in rles),
        "pixels": int(sum(lab.size for lab in labels)),
    }
    return times, counts


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def markdown(times: dict[str, float], counts: dict[str, int], command: str) -> str:
    n = counts["images"]
    lines = [
        f"### Data loading and RLE ({n} stage-1 training images, {counts['nuclei']} nuclei, "
        f"{counts['pixels'] / 1e6:.1f} Mpx)",
        "",
        "| step | seconds | images/s |",
        "|---|---:|---:|",
        *[f"| `{k}` | {v:.2f} | {n / v:.1f} |" for k, v in times.items()],
        "",
        f"Command: `{command}`  ",
        f"Machine: {cpu_model()}, {cpu_count()} usable cores "
        f"({os.cpu_count()} logical CPUs), Python {platform.python_version()}, "
        f"numpy {np.__version__}; single process, wall clock, "
        f"{time.strftime('%Y-%m-%d')}; 1-min load average {_loadavg()} at the end "
        "(other jobs share the cores, so treat these as upper bounds).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED_DSB_DIR,
                        help="folder holding stage1_train/ (default: common.paths.SHARED_DSB_DIR)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--out", type=Path, default=Workspace.default().reports_dir / "bench_data.md")
    args = parser.parse_args(argv)
    if not (args.data_dir / "stage1_train").is_dir():
        print(f"error: {args.data_dir / 'stage1_train'} not found", file=sys.stderr)
        return 2
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/bench_data.py",
                                                 *(argv if argv is not None else sys.argv[1:])])
    times, counts = run(args.data_dir, args.limit)
    text = markdown(times, counts, command)
    atomic_write_text(args.out, text)
    print(f"\nwrote {args.out}\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
