"""Held-out brightfield with added camera noise, by noise level and draw, on the three group fold 3 networks.

    python bench/results/shift_cpu_20261207/brightfield_noise.py OUT.json RUN [RUN ...]

The 16 brightfield images of group fold 3 (/tmp/ai/ids_g3.txt), each with Gaussian noise of 0, 3, 6
and 12 gray levels (bench_shift.noise, the same in every channel; 6 also with a second draw, seed 1),
predicted as the U-Net ships (the shipped arm of bench_shift.py) and scored.
"""
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from bench_magnify import unet_predictor  # noqa: E402
from bench_shift import _images, noise  # noqa: E402
from common.metrics import score_dataset  # noqa: E402
from common.paths import SHARED_DSB_DIR  # noqa: E402

SETS = ["data.fluorescence_gray=max", "data.flatten_background=true"]
LEVELS = [(0.0, 0), (3.0, 0), (6.0, 0), (6.0, 1), (12.0, 0)]


def main(out: str, *runs: str) -> None:
    images, types, truth = _images(Path("/tmp/ai/ids_g3.txt"), SHARED_DSB_DIR, every=10**6)
    ids = [i for i in images if types[i] == "brightfield"]
    rows = []
    for run in runs:
        predict = unet_predictor(Path(run), SETS)
        for sd, seed in LEVELS:
            add = noise(sd, seed) if sd > 0 else (lambda image: image)
            scores = []
            for image_id in ids:
                labels, _ = predict(add(images[image_id]))
                s = float(score_dataset({image_id: truth[image_id]}, {image_id: labels}).per_image["score"].iloc[0])
                rows.append({"run": run, "image_id": image_id, "sd": sd, "seed": seed, "score": s,
                             "n_pred": int(labels.max()), "n_true": int(truth[image_id].max())})
                scores.append(s)
            print(f"{run} noise {sd:4.1f} seed {seed}: {len(scores)} {np.mean(scores):.3f}", flush=True)
    Path(out).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}))


if __name__ == "__main__":
    main(*sys.argv[1:])
