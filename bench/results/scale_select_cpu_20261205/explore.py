"""Which first pass sees magnification? Per (image, magnification, candidate scale): the DSB
score of predicting the magnified image shrunk by the candidate scale (maps back to the
magnified size, then post-processed), and what a selector could read from that pass alone.

Usage: explore.py RUN IDS OUT.json --factors 1 2 3 --scales 1 0.67 0.5 0.33 [--set K=V ...]

Features of each pass (in the rescaled frame, from the run's first-pass params):
``n_inst``, ``median_area``, medians of ``common.instance_features`` (``solidity``,
``perimeter_ratio``, ``prob_mean``, ``prob_border``, ``n_near``), ``certainty`` (mean of
|2 body - 1| over the image), ``frag`` (instances per 8-connected body component).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_magnify import magnify  # noqa: E402


def features(prob: np.ndarray, labels: np.ndarray) -> dict:
    from common.instance_features import instance_features

    body = prob[..., 0]
    n_cc = cv2.connectedComponents((body > 0.5).astype(np.uint8), connectivity=8)[0] - 1
    out = {"n_inst": int(labels.max()), "certainty": float(np.abs(2 * body - 1).mean()),
           "frag": float(labels.max() / max(1, n_cc))}
    if labels.max() == 0:
        return out
    f = instance_features(labels, prob)
    for c in ("area", "solidity", "perimeter_ratio", "prob_mean", "prob_border", "n_near"):
        out[c if c != "area" else "median_area"] = float(f[c].median())
    out["touching"] = float((f["n_near"] > 0).mean())
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path)
    p.add_argument("ids", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--factors", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.67, 0.5, 0.33])
    p.add_argument("--set", action="append", default=[])
    a = p.parse_args()
    from common.data import DSBDataset
    from common.folds import image_type
    from common.instances import probs_to_instances
    from common.metrics import score_dataset
    from common.normalise import normalise_image
    from common.runs import RunDir
    from common.scale import rescale, resize_to
    # ran as the private _predict_views; public as predict_views since 2026-12-06 (same function)
    from solutions.unet.inference import predict_views
    from solutions.unet.predict import load_params, load_run

    cfg, model = load_run(a.run, a.set)
    params = load_params(RunDir(a.run), cfg)
    ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
    rows = []
    for image_id in a.ids.read_text().split():
        image0, truth0 = ds.load_image(image_id), ds.load_labels(image_id)
        kind = image_type(image0)
        for factor in a.factors:
            image, truth = magnify(image0, truth0, factor)
            for scale in a.scales:
                t0 = time.perf_counter()
                view = normalise_image(rescale(image, scale) if scale != 1 else image, cfg.data.normalise)
                prob = predict_views(model, view, cfg, "none")
                labels = probs_to_instances(prob, params)[0]
                back = probs_to_instances(resize_to(prob, image.shape[:2]), params)[0]
                score = float(score_dataset({image_id: truth}, {image_id: back}).per_image["score"].iloc[0])
                rows.append({"image_id": image_id, "type": kind, "factor": factor, "scale": scale,
                             "score": score, "seconds": time.perf_counter() - t0,
                             "true_median_area": float(np.median(np.bincount(truth.ravel())[1:][
                                 np.bincount(truth.ravel())[1:] > 0])) * scale * scale,
                             **features(prob, labels)})
            best = max((r for r in rows if r["image_id"] == image_id and r["factor"] == factor),
                       key=lambda r: r["score"])
            print(f"{image_id[:8]} {kind} x{factor:g}: best scale {best['scale']:g} ({best['score']:.3f})",
                  flush=True)
        a.out.write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
