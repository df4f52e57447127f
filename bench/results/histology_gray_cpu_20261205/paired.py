"""Pair gray_magnify.py outputs per image: the first folder is the reference.
Usage: paired.py REF_DIR OTHER_DIR... (each holding magnify.json)."""
import json
import sys

import pandas as pd


def load(folder: str) -> pd.DataFrame:
    return pd.DataFrame(json.load(open(folder + "/magnify.json"))["rows"]).set_index("image_id")


base = load(sys.argv[1])
for other in sys.argv[2:]:
    j = base[["score", "scale"]].join(load(other)[["score", "scale"]].add_suffix("_n"), how="inner")
    d = j.score_n - j.score
    print(other, len(d), round(j.score.mean(), 4), round(j.score_n.mean(), 4),
          f"{d.mean():+.4f} ± {d.std() / len(d) ** .5:.4f}", (d > 0).sum(), (d < 0).sum(),
          "scale changed", (j.scale != j.scale_n).sum())
