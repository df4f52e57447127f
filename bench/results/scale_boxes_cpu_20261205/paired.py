"""Boxes against masks, paired per image, from run.sh's ``magnify.json`` files.

    .venv/bin/python bench/results/scale_boxes_cpu_20261205/paired.py runs/strat0/magnify.json ...

One line per file and factor: images, how often the chosen scale differs, DSB of each
measure, the paired difference (boxes − masks, mean ± standard error) and the seconds per
image of each (the first images of a size include tracing, as in a real run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from common.stats import format_mean_se  # noqa: E402


def main(paths: list[str]) -> None:
    for path in paths:
        rows = json.loads(Path(path).read_text())["rows"]
        for factor in sorted({r["factor"] for r in rows}):
            by = {v: {r["image_id"]: r for r in rows if r["variant"] == v and r["factor"] == factor}
                  for v in ("masks", "boxes")}
            ids = sorted(by["masks"])
            m, b = ([by[v][i] for i in ids] for v in ("masks", "boxes"))
            diff = np.array([y["score"] - x["score"] for x, y in zip(m, b)])
            differ = sum(x["scale"] != y["scale"] for x, y in zip(m, b))
            sec = {v: np.mean([r["seconds"] for r in rs]) for v, rs in (("masks", m), ("boxes", b))}
            print(f"{Path(path).parent.name} x{factor:g}: {len(ids)} images; scale differs on {differ}; "
                  f"DSB masks {np.mean([r['score'] for r in m]):.3f}, boxes {np.mean([r['score'] for r in b]):.3f} "
                  f"({format_mean_se(diff)}); s/image masks {sec['masks']:.2f}, boxes {sec['boxes']:.2f} "
                  f"({sec['boxes'] / sec['masks'] - 1:+.0%})")


if __name__ == "__main__":
    main(sys.argv[1:])
