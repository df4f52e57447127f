"""Pool the per-image scores of several magnify.json records: per factor, the mean of each
variant over every image the records hold, and each variant against the first paired per
image (mean ± s.e., images better / worse). Usage: pool.py OUT.md DIR [DIR ...]"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

out, dirs = Path(sys.argv[1]), sys.argv[2:]
frames = []
for d in dirs:
    data = json.loads((Path(d) / "magnify.json").read_text())
    frames.append(pd.DataFrame(data["rows"]).assign(record=d))
rows = pd.concat(frames)
variants = list(dict.fromkeys(rows["variant"]))
table = rows.pivot_table(index=["record", "image_id", "factor"], columns="variant", values="score").reset_index()
lines = [f"Pooled over {', '.join(f'`{d}`' for d in dirs)} (`pool.py`).", "",
         "| factor | images | " + " | ".join(variants) + " | " +
         " | ".join(f"{v} − {variants[0]} (better / worse)" for v in variants[1:]) + " |",
         "|---|---:|" + "---:|" * (2 * len(variants) - 1)]
for factor, g in table.groupby("factor"):
    g = g.dropna(subset=variants)
    cells = [f"{g[v].mean():.4f}" for v in variants]
    for v in variants[1:]:
        d = g[v] - g[variants[0]]
        cells.append(f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f} ({(d > 0).sum()} / {(d < 0).sum()})")
    lines.append(f"| x{factor:g} | {len(g)} | " + " | ".join(cells) + " |")
out.write_text("\n".join(lines) + "\n")
print(out.read_text())
