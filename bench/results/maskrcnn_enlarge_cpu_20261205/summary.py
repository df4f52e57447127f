"""Enlarging candidate against shrink only, pooled over run.sh's four ``magnify.json`` files.

    .venv/bin/python bench/results/maskrcnn_enlarge_cpu_20261205/summary.py runs/*/magnify.json

Per file and pooled: images, how many chose 1.5, the paired DSB difference (enlarge − shrink,
mean ± standard error) on all images and on those that chose 1.5, and seconds per image.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from common.stats import format_mean_se  # noqa: E402


def pairs(path: str) -> list[tuple[dict, dict]]:
    rows = json.loads(Path(path).read_text())["rows"]
    by = {v: {r["image_id"]: r for r in rows if r["variant"] == v} for v in ("shrink", "enlarge")}
    return [(by["shrink"][i], by["enlarge"][i]) for i in sorted(by["shrink"])]


def line(name: str, ps: list[tuple[dict, dict]]) -> str:
    diff = np.array([e["score"] - s["score"] for s, e in ps])
    up = np.array([e["scale"] > 1.0 for _, e in ps])
    sec = [np.mean([p[k]["seconds"] for p in ps]) for k in (0, 1)]
    chosen = format_mean_se(diff[up]) if up.any() else "none"
    return (f"{name}: {len(ps)} images; 1.5 chosen on {int(up.sum())}; enlarge − shrink {format_mean_se(diff)} "
            f"(on those {chosen}); s/image {sec[0]:.2f} → {sec[1]:.2f} ({sec[1] / sec[0] - 1:+.0%})")


def main(paths: list[str]) -> None:
    every = []
    for path in paths:
        ps = pairs(path)
        every += ps
        print(line(Path(path).parent.name, ps))
    print(line("pooled", every))


if __name__ == "__main__":
    main(sys.argv[1:])
