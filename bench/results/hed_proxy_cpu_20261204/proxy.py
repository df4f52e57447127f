"""Would colour deconvolution give the network a better input than gray_invert_percentile?

A proxy with no training: for every stage1_train image, how well one input channel alone
separates nucleus pixels from background (pixel ROC AUC, nucleus = positive, the channel's
value = score; up to 20,000 pixels sampled per image). Channels: the gray, inverted-when-bright,
stretched image (common.normalise "gray_invert_percentile", channel 0) against the
haematoxylin channel of skimage's colour deconvolution (rgb2hed), stretched to its
0.5-99.5 percentiles. Per image type (common.folds.image_type): mean AUC of each and how many
images each wins.

Usage: .venv/bin/python bench/results/hed_proxy_cpu_20261204/proxy.py --data ../shared/dsb2018
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from skimage.color import rgb2hed
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.normalise import normalise_image  # noqa: E402


def auc(channel: np.ndarray, truth: np.ndarray, pick: np.ndarray) -> float:
    return float(roc_auc_score(truth.ravel()[pick], channel.ravel()[pick]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "proxy.json")
    args = p.parse_args()
    ds = DSBDataset(args.data, "stage1_train")
    rng = np.random.default_rng(0)
    rows, t0 = [], time.time()
    for image_id in ds.ids:
        image, labels = ds.load_image(image_id), ds.load_labels(image_id)
        truth = labels > 0
        if truth.all() or not truth.any():
            continue
        pick = rng.choice(truth.size, min(truth.size, 20000), replace=False)
        gray = normalise_image(image, "gray_invert_percentile")[..., 0].astype(np.float32)
        hema = rgb2hed(image[..., :3])[..., 0]
        lo, hi = np.percentile(hema, (0.5, 99.5))
        hema = np.clip((hema - lo) / max(hi - lo, 1e-6), 0, 1)
        rows.append({"id": image_id, "type": image_type(image), "gray_invert_percentile": auc(gray, truth, pick),
                     "hematoxylin": auc(hema, truth, pick)})
    table = {}
    for kind in sorted({r["type"] for r in rows}):
        sub = [r for r in rows if r["type"] == kind]
        g = np.array([r["gray_invert_percentile"] for r in sub])
        h = np.array([r["hematoxylin"] for r in sub])
        table[kind] = {"images": len(sub), "gray_invert_percentile": round(float(g.mean()), 3),
                       "hematoxylin": round(float(h.mean()), 3), "hematoxylin_better": int((h > g).sum())}
        print(f"{kind:22s} {len(sub):4d} images  gray_invert_percentile {g.mean():.3f}  "
              f"hematoxylin {h.mean():.3f}  hematoxylin better on {(h > g).sum()}")
    out = {"command": " ".join(sys.argv), "machine": f"{platform.processor() or platform.machine()}, "
           f"{platform.python_version()}", "seconds": round(time.time() - t0, 1), "per_type": table,
           "per_image": rows}
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
