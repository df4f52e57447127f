"""Which stage1_train images are gray, and does data.fluorescence_gray=max change any network input?

    python gray_check.py > gray_check.txt

Per image: its kind (common.folds.image_type), whether its background is bright
(common.normalise.bright_background on the luminance), whether its three channels are equal,
and whether the shipped U-Net normalisation (gray_invert_percentile_tophat) gives the same array
with fluorescence_gray max as with luminance.
"""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.normalise import bright_background, normalise_image, to_gray  # noqa: E402

ds = DSBDataset(Path("/work/shared/dsb2018"), "stage1_train")
counts = Counter()
for image_id in ds.ids:
    image = ds.load_image(image_id)
    gray = bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())
    same = np.array_equal(normalise_image(image, "gray_invert_percentile_tophat", "max"),
                          normalise_image(image, "gray_invert_percentile_tophat", "luminance"))
    counts[(image_type(image), "bright" if bright_background(to_gray(image)) else "dark",
            "gray" if gray else "coloured", "same input" if same else "DIFFERENT input")] += 1
for key, n in sorted(counts.items()):
    print(f"{n:4d}  {' / '.join(key)}")
print(f"{sum(counts.values())} images")
