"""Would the multiscale selection's certainty tell which noisy images to smooth? Per image of
certainty/g{2,3,4}/magnify.json: the certainty of the pass at scale 1 (`certainty_1`, mean
|2 body - 1|) of the plain (`ship`) and the smoothed (`dnu`) image, and the score the smoothing
gains; then the rule "smooth when the smoothed pass is surer by more than a margin".

Usage (repo root): .venv/bin/python bench/results/denoise_gate_cpu_20261206/certainty/certainty.py
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
noise = pd.read_csv(HERE.parents[1] / "denoise_cpu_20261206" / "noise.csv")[["image_id", "group", "noise"]]
parts = []
for fold in (2, 3, 4):
    rows = pd.DataFrame(json.loads((HERE / f"g{fold}" / "magnify.json").read_text())["rows"])
    plain = rows[rows.variant == "ship"].set_index("image_id")
    smooth = rows[rows.variant == "dnu"].set_index("image_id")
    parts.append(pd.DataFrame({"fold": fold, "gain": smooth.score - plain.score,
                               "c_plain": plain.certainty_1, "c_smooth": smooth.certainty_1}).reset_index())
t = pd.concat(parts).merge(noise, on="image_id")
t["surer"] = t.c_smooth - t.c_plain
pd.set_option("display.width", 200)
print(t.groupby("group").agg(images=("gain", "size"), gain=("gain", "mean"), c_plain=("c_plain", "mean"),
                             c_smooth=("c_smooth", "mean"), surer_min=("surer", "min"),
                             surer_max=("surer", "max")).round(3).to_string())
print(f"\ncorrelation of gain and surer over {len(t)} images: {t.gain.corr(t.surer):.3f}")
for margin in (0.0, 0.01, 0.02):
    chosen = t.surer > margin
    print(f"margin {margin}: {chosen.sum()} smoothed, mean gain over all {len(t)}: "
          f"{np.where(chosen, t.gain, 0.0).mean():+.4f}")
print(f"smoothing only where it gains (oracle): {t.gain.clip(lower=0).mean():+.4f}; every image: {t.gain.mean():+.4f}")
