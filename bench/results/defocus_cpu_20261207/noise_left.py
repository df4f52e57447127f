"""How much of a crop's pixel noise survives the defocus blur: the spread of white noise after a Gaussian of
sigma 0.5, 1 and 2.5 px (kernel int(3.5 sigma) * 2 + 1, as albumentations' GaussianBlur with blur_limit 0).

    python bench/results/defocus_cpu_20261207/noise_left.py
"""
import cv2
import numpy as np

noise = np.random.default_rng(0).normal(0, 1, (512, 512)).astype(np.float32)
for sigma in (0.5, 1.0, 2.5):
    k = int(sigma * 3.5) * 2 + 1
    print(f"sigma {sigma}: kernel {k}, noise spread kept {cv2.GaussianBlur(noise, (k, k), sigma).std() / noise.std():.2f}")
