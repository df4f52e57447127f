"""Held-out fluorescence with uneven illumination, predicted without and with data.flatten_background.

    python probe.py RUN IDS OUT.json [ARMS]

ARMS: a comma-separated subset of the arms below (default both).

RUN: a trained watershed U-Net run; IDS: its held-out image ids (one per line). Every
fluorescence image among them (common.folds.image_type) is shown as loaded (``flat``), darkened
towards its corners (``vignette 0.5``: x0.5 at the corners, quadratic in the radius) and with an
additive background ramp rising from 0 at the left edge to +40 and +100 gray levels at the right
(clipped at 255), predicted by the run as it predicts (bench/bench_magnify.py's unet_predictor:
normalisation, flip TTA, multiscale selection, thresholds) with data.fluorescence_gray=max (as
shipped) without and with data.flatten_background=true, and scored (DSB mean AP) against its labels.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from bench_magnify import unet_predictor  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.metrics import score_dataset  # noqa: E402


def vignette(corner):
    def darken(image):
        h, w = image.shape[:2]
        y, x = np.mgrid[0:h, 0:w]
        r2 = (((y - h / 2) / (h / 2)) ** 2 + ((x - w / 2) / (w / 2)) ** 2) / 2
        return np.clip(np.round(image * (1 - (1 - corner) * r2)[..., None]), 0, 255).astype(np.uint8)
    return darken


def ramp(rise):
    def add(image):
        glow = np.linspace(0, rise, image.shape[1], dtype=np.float32)[None, :, None]
        return np.clip(np.round(image.astype(np.float32) + glow), 0, 255).astype(np.uint8)
    return add


VIEWS = {"flat": lambda image: image, "vignette 0.5": vignette(0.5), "ramp +40": ramp(40), "ramp +100": ramp(100)}
ARMS = {"shipped": ["data.fluorescence_gray=max"],
        "flatten": ["data.fluorescence_gray=max", "data.flatten_background=true"]}


def main(run, ids_file, out, arms=",".join(ARMS)):
    ds = DSBDataset(Path("/work/shared/dsb2018"), "stage1_train")
    images = {}
    for image_id in Path(ids_file).read_text().split():
        image = ds.load_image(image_id)
        if image_type(image) == "fluorescence":
            images[image_id] = image
    truth = {i: ds.load_labels(i) for i in images}
    rows = []
    for arm, sets in ((a, ARMS[a]) for a in arms.split(",")):
        predict = unet_predictor(Path(run), sets)
        for view, transform in VIEWS.items():
            t0, scores = time.time(), []
            for image_id, image in images.items():
                labels, info = predict(transform(image))
                score = float(score_dataset({image_id: truth[image_id]}, {image_id: labels}).per_image["score"].iloc[0])
                rows.append({"image_id": image_id, "arm": arm, "view": view, "score": score,
                             "n_pred": int(labels.max()), "scale": info.get("scale", 1.0)})
                scores.append(score)
            print(f"{arm:8s} {view:14s} {len(scores)} {np.mean(scores):.4f} ({time.time() - t0:.0f} s)", flush=True)
    Path(out).write_text(json.dumps({"run": str(run), "ids": str(ids_file), "rows": rows}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
