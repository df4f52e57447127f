"""Milliseconds per 128 px training crop of the strong augmentation, with strong's scale range
and with data.scale_range=(0.5, 3.0), on 40 stage1_train images (5 crops each).
Usage: .venv/bin/python bench/results/scale_aug30_cpu_20261205/augspeed.py DATA_DIR"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.augment import build_augmenter  # noqa: E402
from common.data import DSBDataset  # noqa: E402

ds = DSBDataset(sys.argv[1])
ids = ds.ids[:: len(ds.ids) // 40][:40]
imgs = [(ds.load_image(i), ds.load_labels(i)) for i in ids]
for name, kw in [("strong", {}), ("0.5-3", {"scale_range": (0.5, 3.0)})]:
    aug = build_augmenter(128, "strong", **kw)
    t, n = time.perf_counter(), 0
    for r in range(5):
        for k, (im, lb) in enumerate(imgs):
            aug(im, lb, rng_seed=r * 100 + k)
            n += 1
    print(name, f"{(time.perf_counter() - t) / n * 1000:.1f} ms per crop")
