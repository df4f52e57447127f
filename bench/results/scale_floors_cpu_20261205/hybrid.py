"""Estimate, from the stored per-image scores, a hybrid that nothing here implements: the
shipped multiscale selection, except that an image the selection keeps at scale 1 and the
size rule (sizerule_follow) enlarges takes sizerule_follow's score. Paired against shipped.
Run from this folder: hybrid.py > hybrid.md"""

import json

import numpy as np
import pandas as pd


def rows(record: str) -> pd.DataFrame:
    return pd.DataFrame(json.load(open(f"{record}/magnify.json"))["rows"])


PAIRS = [("fold1", "fold1_enlarge", 1.0), ("fold2", "fold2_enlarge", 1.0), ("fold3", "fold3_enlarge", 1.0),
         ("fold4", "fold4_sizerule", 1.0), ("fold3", "fold3_enlarge", 0.5)]
print("| shipped record | factor | images | size rule enlarges | of them, sizerule_follow − shipped | "
      "hybrid − shipped (all images) |")
print("|---|---:|---:|---:|---:|---:|")
for base, alt, factor in PAIRS:
    a, b = rows(base), rows(alt)
    s = a[(a.variant == "shipped") & (a.factor == factor)].set_index("image_id")[["score", "scale"]]
    r = b[(b.variant == "sizerule_follow") & (b.factor == factor)].set_index("image_id")[["score", "scale"]]
    j = s.join(r.add_suffix("_sr"))
    up = (j.scale_sr > 1) & (j.scale == 1)
    d = np.where(up, j.score_sr, j.score) - j.score
    gain = f"{(j.score_sr - j.score)[up].mean():+.4f}" if up.any() else "–"
    print(f"| {base} | x{factor:g} | {len(j)} | {int(up.sum())} | {gain} | "
          f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f} |")
