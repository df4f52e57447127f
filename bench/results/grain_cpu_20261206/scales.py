"""Per image kind: how often the grain network's multiscale selection chose another scale than the
reference network's, and the paired difference on the images where both chose the same scale (a
candidate 0.33, 0.5, 0.67 or 1; every enlargement, whose factor follows the image's instances, counts
as one choice, "enlarged").

Usage: .venv/bin/python bench/results/grain_cpu_20261206/scales.py REF/magnify.json GRAIN/magnify.json
(both `bench/bench_magnify.py` outputs with the variant enl10o at factor 1).
"""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench.score_sources import stored_rows  # noqa: E402

GROUPS = "bench/results/dim_nuclei_cpu_20261206/folds_group.csv"


def load(path: str) -> pd.DataFrame:
    return stored_rows(Path(path), "enl10o/x1")


ref, grain = load(sys.argv[1]), load(sys.argv[2])
kind = pd.read_csv(GROUPS).set_index("image_id").group
def bucket(scale: pd.Series) -> pd.Series:
    return scale.round(2).astype(str).where(scale <= 1.0, "enlarged")


df = pd.DataFrame({"kind": kind.reindex(ref.index), "ref_scale": bucket(ref.scale), "grain_scale": bucket(grain.scale),
                   "ref": ref.score, "grain": grain.score}).dropna()
df["d"] = df.grain - df.ref
out = []
for name, sub in [("all", df), *df.groupby("kind")]:
    same = sub[sub.ref_scale == sub.grain_scale]
    other = sub[sub.ref_scale != sub.grain_scale]
    se = lambda s: s.std() / len(s) ** 0.5 if len(s) > 1 else float("nan")  # noqa: E731
    out.append({"kind": name, "images": len(sub), "grain - ref": f"{sub.d.mean():+.3f} ± {se(sub.d):.3f}",
                "better": int((sub.d > 0).sum()), "worse": int((sub.d < 0).sum()),
                "other scale": len(other), "d there": f"{other.d.mean():+.3f}" if len(other) else "",
                "same scale": len(same), "d at the same scale": f"{same.d.mean():+.3f} ± {se(same.d):.3f}"
                if len(same) else ""})
table = pd.DataFrame(out)
print(pd.crosstab(df.ref_scale, df.grain_scale).rename_axis(index="ref \\ grain").to_string(), "\n")
print("| " + " | ".join(table.columns) + " |")
print("|" + "---|" * len(table.columns))
for row in table.itertuples(index=False):
    print("| " + " | ".join(str(v) for v in row) + " |")
