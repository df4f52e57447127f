"""``predict.scale_norm`` with ``max_scale: 1.0`` (shrink only), derived from a bench_magnify
run of ``off`` and a tolerance variant, without predicting again.

With ``max_scale`` 1 an image the variant enlarged is not rescaled (its first pass, which is
the ``off`` prediction, is kept) and an image it shrank gets the same factor, so per image the
shrink-only score is the variant's where its scale was < 1 and ``off``'s otherwise.

Usage: ``python shrink_only.py MAGNIFY_JSON [VARIANT]`` (default variant ``sn_t1``).
"""

import json
import sys

import numpy as np
import pandas as pd

rows = pd.DataFrame(json.load(open(sys.argv[1]))["rows"])
variant = sys.argv[2] if len(sys.argv) > 2 else "sn_t1"
off = rows[rows["variant"] == "off"].set_index(["factor", "image_id"])
sn = rows[rows["variant"] == variant].set_index(["factor", "image_id"]).reindex(off.index)
shrink = np.where(sn["scale"] < 1.0, sn["score"], off["score"])
table = pd.DataFrame({"off": off["score"], variant: sn["score"], "shrink": shrink,
                      "shrunk": sn["scale"] < 1.0, "enlarged": sn["scale"] > 1.0}, index=off.index)
print(f"| factor | images | off | {variant} | shrink only | shrink only − off | shrunk | enlarged |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for factor, t in table.groupby(level="factor"):
    d = t["shrink"] - t["off"]
    print(f"| x{factor:g} | {len(t)} | {t['off'].mean():.3f} | {t[variant].mean():.3f} | {t['shrink'].mean():.3f} | "
          f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f} | {int(t['shrunk'].sum())} | {int(t['enlarged'].sum())} |")
