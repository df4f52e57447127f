"""Does the Mask R-CNN hold up on magnified images, and would a per-image scale help it?

Per (image, magnification, predict.scale): the DSB of the run's Mask R-CNN (its config, no TTA),
the detections' mean score and mean mask certainty (|2 p - 1| of the pasted-back masks is not
kept, so: the mean instance score and the instance count), and the seconds.

Usage: explore.py RUN IDS OUT.json --factors 1 3 --scales 1 0.67 0.5 0.33
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_magnify import magnify  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path)
    p.add_argument("ids", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--factors", type=float, nargs="+", default=[1.0, 3.0])
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.67, 0.5, 0.33])
    a = p.parse_args()
    from common.data import DSBDataset
    from common.folds import image_type
    from common.metrics import score_dataset
    from solutions.maskrcnn.predict import load_run, predict_images

    cfg, model = load_run(a.run)
    ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
    rows = []
    for image_id in a.ids.read_text().split():
        image0, truth0 = ds.load_image(image_id), ds.load_labels(image_id)
        kind = image_type(image0)
        for factor in a.factors:
            image, truth = magnify(image0, truth0, factor)
            for scale in a.scales:
                cfg.predict.scale = scale
                t0 = time.perf_counter()
                inst = predict_images(model, cfg, [image])[0]
                seconds = time.perf_counter() - t0
                score = float(score_dataset({image_id: truth}, {image_id: inst.labels}).per_image["score"].iloc[0])
                scores = np.asarray(inst.scores)
                rows.append({"image_id": image_id, "type": kind, "factor": factor, "scale": scale,
                             "score": score, "seconds": seconds, "n_inst": int(inst.labels.max()),
                             "mean_score": float(scores.mean()) if scores.size else float("nan")})
            sub = [r for r in rows if r["image_id"] == image_id and r["factor"] == factor]
            print(f"{image_id[:8]} {kind} x{factor:g}: " + " ".join(f"{r['scale']:g}:{r['score']:.3f}/{r['mean_score']:.2f}" for r in sub), flush=True)
        a.out.write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
