"""Seconds of one Mask R-CNN inference pass per input size, and of its two stages.

    .venv/bin/python bench/results/maskrcnn_proposals_cpu_20261205/pass_cost.py RUN IMAGE_PNG

``IMAGE_PNG`` (a held-out image) normalised as the run's config says and resized to each
padded size (64 px multiples), each traced once, then 10 timed calls of
``model.infer`` and of its ``detect`` stage alone; the ``segment`` stage (mask head on the
bucketed detection rows) is the difference. Prints one line per size.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from common.images import read_image  # noqa: E402
from common.normalise import normalise_image  # noqa: E402
from solutions.maskrcnn.predict import load_run  # noqa: E402


def seconds(fn, n: int = 10) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main(run: str, png: str) -> None:
    cfg, model = load_run(run)
    image = normalise_image(read_image(png), cfg.data.normalise).astype(np.float32)
    for h, w in ((128, 128), (192, 256), (256, 320), (384, 512), (576, 704)):
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)[None]
        infer = seconds(lambda: model.infer(x))
        detect = seconds(lambda: model._run_stage("detect", x))
        print(f"{h}x{w}: infer {infer * 1000:.0f} ms, detect {detect * 1000:.0f} ms, "
              f"segment and the rest {(infer - detect) * 1000:.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
