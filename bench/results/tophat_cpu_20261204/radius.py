"""The top-hat radius of gray_invert_percentile_tophat against nucleus size: bench_magnify's
run_variant (the run's config, tuned-like thresholds) with common.normalise.TOPHAT_RADIUS
set to each --radii value, on held-out images at each --factors magnification.

Usage: radius.py --run RUN --ids IDS --data DATA --radii 15 25 35 --factors 1 2 --out FILE.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

P = ["post.mask_threshold=0.6", "post.seed_threshold=0.7", "post.centre_threshold=0.65", "post.min_area=30",
     "post.min_seed_area=8", "post.split_solidity=0.9"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--ids", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--radii", type=int, nargs="+", required=True)
    p.add_argument("--factors", type=float, nargs="+", default=[1.0, 2.0])
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    import pandas as pd

    import common.normalise as normalise
    from bench.bench_magnify import run_variant
    from common.data import DSBDataset
    from common.machine import git_commit, machine_description
    from pipeline.plots import markdown_table

    ds = DSBDataset(a.data, "stage1_train")
    ids = [line.strip() for line in a.ids.read_text().splitlines() if line.strip()]
    images = {i: ds.load_image(i) for i in ids}
    truth = {i: ds.load_labels(i) for i in ids}
    rows = []
    for radius in a.radii:
        normalise.TOPHAT_RADIUS = radius
        table = run_variant(a.run, P + ["data.normalise=gray_invert_percentile_tophat"], images, truth, a.factors)
        for factor, sub in table.groupby("factor"):
            rows.append({"radius (px)": radius, "factor": f"x{factor:g}", "images": len(sub),
                         "DSB": f"{sub.score.mean():.3f}"})
            print(f"[radius] R {radius} x{factor:g}: {sub.score.mean():.4f}", flush=True)
    text = (f"# Top-hat radius against magnification\n\nCommand: `python {shlex.join(sys.argv)}`\n\n"
            f"Run `{a.run}`; {len(ids)} images; commit `{git_commit()}`; machine: {machine_description()}.\n\n"
            + markdown_table(pd.DataFrame(rows).set_index("radius (px)"), index_name="radius (px)") + "\n")
    a.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
