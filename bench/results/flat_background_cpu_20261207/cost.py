"""Time of the shipped normalisation without and with flatten_background, per image size.

    python cost.py > cost.txt

Every stage1_train image of the sizes below (all fluorescence), normalised as watershed.yaml does
(gray_invert_percentile_tophat, fluorescence_gray max) three times each way; the median per image.
"""
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from common.data import DSBDataset  # noqa: E402
from common.machine import machine_description  # noqa: E402
from common.normalise import normalise_image  # noqa: E402

ds = DSBDataset(Path("/work/shared/dsb2018"), "stage1_train")
times = defaultdict(lambda: {False: [], True: []})
for image_id in ds.ids:
    image = ds.load_image(image_id)
    size = f"{image.shape[0]}x{image.shape[1]}"
    if size not in ("256x256", "520x696", "1040x1388"):
        continue
    for flatten in (False, True):
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            normalise_image(image, "gray_invert_percentile_tophat", "max", flatten=flatten)
            runs.append(time.perf_counter() - t0)
        times[size][flatten].append(np.median(runs))
print(f"machine: {machine_description()}")
print("| size | images | without (ms) | with (ms) |\n|---|---:|---:|---:|")
for size, t in times.items():
    print(f"| {size} | {len(t[False])} | {1000 * np.median(t[False]):.2f} | {1000 * np.median(t[True]):.2f} |")
