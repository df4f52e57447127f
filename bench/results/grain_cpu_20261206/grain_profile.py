"""Noise of the `data.grain` augmentation against the grain of two real `fluorescence-512x640` images:
Immerkaer's estimate (`common.denoise.noise_sigma`) at full, half and quarter resolution (area
averaging). Pixel noise halves from one resolution to the next; correlated grain does not.

Usage: PYTHONPATH=. .venv/bin/python bench/results/grain_cpu_20261206/grain_profile.py [DATA]  (DATA: ../shared/dsb2018)
"""
import sys

import albumentations as A
import cv2
import numpy as np

from common.denoise import noise_sigma
from common.normalise import normalise_image, percentile_stretch, to_gray

data = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/dsb2018"


def load(image_id: str) -> np.ndarray:
    return cv2.imread(f"{data}/stage1_train/{image_id}/images/{image_id}.png", cv2.IMREAD_COLOR)[..., ::-1]


def profile(gray: np.ndarray) -> str:
    g = gray.astype(np.float32)
    levels = [noise_sigma(g if f == 1 else cv2.resize(g, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))
              for f in (1, 0.5, 0.25)]
    return " / ".join(f"{v:.1f}" for v in levels)


print("| image | noise at full / half / quarter resolution |\n|---|---|")
for image_id in ("ad9d305cbf193d4250743ead466bdaefe910835d7e352c544e22320e8336f5c1",
                 "9520aff4efe87bd8f3901652fa2dde9b4bc9c679325966145ce00c1ca33f35de"):
    gray = percentile_stretch(to_gray(load(image_id)))
    print(f"| real `512x640` {image_id[:8]} (stretched gray) | {profile(gray)} |")
clean_id = "00071198d059ba7f5914a526d124d28e6d010c92466da21d4a04cd5413362552"  # fluorescence-256x256-s2
clean = normalise_image(load(clean_id), "gray_invert_percentile_tophat")
print(f"| clean `256x256-s2` {clean_id[:8]} (as the network sees it) | {profile(clean[..., 0])} |")
for std in (0.03, 0.065, 0.10):
    grain = A.Compose([A.GaussNoise(std_range=(std, std), per_channel=False, noise_scale_factor=0.5, p=1.0)], seed=0)
    out = grain(image=np.ascontiguousarray(clean))["image"]
    print(f"| the same + grain drawn at std {std:.1%} of the range | {profile(out[..., 0])} |")
    if std == 0.10:
        white = A.Compose([A.GaussNoise(std_range=(0.05, 0.05), per_channel=False, p=1.0)], seed=0)
        white = white(image=np.ascontiguousarray(clean))
        print(f"| the same + pixel noise, std 5 % (the `strong` level's largest) | {profile(white['image'][..., 0])} |")
