"""Overlay a stored run's predictions on held-out brightfield images (diagnosis, not a benchmark)."""
import sys
from pathlib import Path
import cv2, numpy as np, pandas as pd
sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/main/bench")
from bench_magnify import unet_predictor
from common.data import load_split

run = Path(sys.argv[1]); out = Path(sys.argv[2]); ids = sys.argv[3:]
sets = ["predict.scale_norm.floors_follow_scale=true", "predict.scale_norm.enlarge_below=0.1",
        "predict.scale_norm.enlarge_over_shrink=true"]
pred = unet_predictor(run, sets)
ds = load_split("/work/shared/dsb2018", "stage1_train")
for i in ids:
    img = ds.load_image(i); lab = ds.load_labels(i)
    p, info = pred(img)
    vis = img[..., :3].copy() if img.ndim == 3 else np.dstack([img] * 3)
    vis = np.ascontiguousarray(vis.astype(np.uint8))
    for labels, col in ((lab, (0, 255, 0)), (p, (255, 0, 0))):
        edge = cv2.morphologyEx((labels > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        b = (cv2.dilate(labels.astype(np.float32), np.ones((3, 3))) != cv2.erode(labels.astype(np.float32), np.ones((3, 3))))
        vis[b | edge] = col
    areas_p = np.bincount(p.ravel())[1:]; areas_t = np.bincount(lab.ravel())[1:]
    print(i[:8], info, "pred", len(areas_p[areas_p > 0]), "median", np.median(areas_p[areas_p > 0]),
          "true", len(areas_t[areas_t > 0]), "median", np.median(areas_t[areas_t > 0]))
    cv2.imwrite(str(out / f"{i[:8]}.png"), cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
