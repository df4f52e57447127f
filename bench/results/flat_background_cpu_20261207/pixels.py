"""How much data.flatten_background changes the network's input on stage1_train as it is.

    python pixels.py > pixels.txt

For every image of stage1_train (common.folds.image_type, size), the shipped U-Net normalisation
(gray_invert_percentile_tophat, fluorescence_gray max) without and with flattening: the mean
absolute difference of the normalised gray levels (0..255), per type, and the images changed most.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.normalise import normalise_image  # noqa: E402

ds = DSBDataset(Path("/work/shared/dsb2018"), "stage1_train")
rows = []
for image_id in ds.ids:
    image = ds.load_image(image_id)
    a = normalise_image(image, "gray_invert_percentile_tophat", "max")[..., 0].astype(np.int16)
    b = normalise_image(image, "gray_invert_percentile_tophat", "max", flatten=True)[..., 0].astype(np.int16)
    d = np.abs(a - b)
    rows.append({"image_id": image_id[:12], "type": image_type(image), "size": f"{image.shape[0]}x{image.shape[1]}",
                 "mean_abs": float(d.mean()), "p99_abs": float(np.percentile(d, 99))})
t = pd.DataFrame(rows)
print(f"{len(t)} images; mean |with - without| of the normalised gray levels (0..255)\n")
print(t.groupby("type")[["mean_abs", "p99_abs"]].describe(percentiles=[0.5, 0.9]).round(2).T.to_string())
dark = t[t.type == "fluorescence"]
print(f"\nfluorescence: {int((dark.mean_abs > 2).sum())} of {len(dark)} images change by more than 2 levels on average, "
      f"{int((dark.mean_abs > 5).sum())} by more than 5")
print("\nthe 10 fluorescence images changed most:")
print(dark.sort_values("mean_abs", ascending=False).head(10).round(2).to_string(index=False))
print("\nimages named in the README (a corner glow; the two embryos the quadratic fit hurt):")
print(dark[dark.image_id.isin(["68f833de9f8c", "538b7673d507", "f29fd9c52e04"])].round(2).to_string(index=False))
