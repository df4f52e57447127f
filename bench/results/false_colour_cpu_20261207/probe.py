"""Held-out fluorescence shown in false colour, predicted with data.fluorescence_gray=luminance and =max.

    python probe.py RUN IDS OUT.json

RUN: a trained watershed U-Net run; IDS: its held-out image ids (one per line). Every
fluorescence image among them (common.folds.image_type) is recoloured as below, predicted by
the run as it predicts (bench/bench_magnify.py's unet_predictor: normalisation, flip TTA,
multiscale selection, thresholds) with each choice of data.fluorescence_gray, and scored (DSB
mean AP) against its labels. Rows go to OUT.json.
"""
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from bench_magnify import unet_predictor  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.metrics import score_dataset  # noqa: E402


def shown(channels, gain=1.0):
    """The gray image in the channels given (2 = blue, (0, 2) = magenta), times ``gain``."""
    def recolour(image, labels):
        out = np.zeros_like(image)
        out[..., list(channels)] = np.round(image[..., :1] * gain).astype(np.uint8)
        return out
    return recolour


def composite(image, labels):
    """Nuclei in blue, a second stain in green: smooth cell bodies 7 px around the nuclei at
    0.6 of the nuclei's brightest level, plus an offset of 0.3 of the image's mean."""
    level = image[..., 0].astype(np.float32)
    bodies = cv2.dilate((labels > 0).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15)))
    cyto = cv2.GaussianBlur(bodies.astype(np.float32), (0, 0), 3) * (labels == 0)
    green = np.clip(0.6 * cyto * max(level.max(), 1) + 0.3 * level.mean(), 0, 255)
    return np.stack([np.zeros_like(level), green, level], -1).astype(np.uint8)


COLOURS = {"gray": shown((0, 1, 2)), "blue": shown((2,)), "blue x0.3": shown((2,), 0.3), "green": shown((1,)),
           "red": shown((0,)), "magenta": shown((0, 2)), "blue + green bodies": composite}


def main(run, ids_file, out):
    ds = DSBDataset(Path("/work/shared/dsb2018"), "stage1_train")
    images = {}
    for image_id in Path(ids_file).read_text().split():
        image = ds.load_image(image_id)
        if image_type(image) == "fluorescence":
            images[image_id] = image
    truth = {i: ds.load_labels(i) for i in images}
    rows = []
    for choice in ("luminance", "max"):
        predict = unet_predictor(Path(run), [f"data.fluorescence_gray={choice}"])
        for colour, recolour in COLOURS.items():
            t0, scores = time.time(), []
            for image_id, image in images.items():
                labels, info = predict(recolour(image, truth[image_id]))
                score = float(score_dataset({image_id: truth[image_id]}, {image_id: labels}).per_image["score"].iloc[0])
                rows.append({"image_id": image_id, "choice": choice, "colour": colour, "score": score,
                             "n_pred": int(labels.max()), "scale": info.get("scale", 1.0)})
                scores.append(score)
            print(f"{choice:9s} {colour:20s} {len(scores)} {np.mean(scores):.4f} ({time.time() - t0:.0f} s)", flush=True)
    Path(out).write_text(json.dumps({"run": str(run), "ids": str(ids_file), "rows": rows}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
