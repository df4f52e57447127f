"""Every candidate scale of the Mask R-CNN's ``predict.scale_select``, per image: its measure
(mean instance score, cover), its DSB score and its seconds, so selection rules that run
fewer passes can be compared offline against the shipped one (``rules.py``).

    .venv/bin/python bench/results/scale_probe_cpu_20261205/candidates.py \\
        --run RUN --data /work/shared/dsb2018 --ids IDS --out runs/NAME.jsonl [--magnify F]

One JSON line per image: ``{"id", "type", "shape", "passes": {factor: {"certainty",
"cover", "dsb", "s"}}}``. Each pass is ``predict_images`` at ``predict.scale = factor``
without selection or flip (the shipped ``cpu_small`` predicts without flip, so a pass is
what selection returns when it chooses that factor). Nothing is trained; an image already
in ``--out`` is skipped (resume). ``--magnify F`` first resizes each image and its labels by
``F`` (``bench/bench_magnify.py``'s ``magnify``: nuclei F² times the area).
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

from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.metrics import image_ap  # noqa: E402
from bench.bench_magnify import magnify  # noqa: E402
from solutions.maskrcnn.predict import load_run, predict_images  # noqa: E402

FACTORS = (1.0, 0.67, 0.5, 0.33)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--ids", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--magnify", type=float, default=1.0)
    a = p.parse_args()
    cfg, model = load_run(a.run, ["predict.scale_select.candidates=[]", "predict.tta_flip=false"])
    base = cfg.predict.scale
    ds = DSBDataset(a.data, "stage1_train")
    ids = [line.strip() for line in a.ids.read_text().splitlines() if line.strip()]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["id"] for line in a.out.read_text().splitlines()} if a.out.exists() else set()
    with a.out.open("a") as fh:
        for image_id in ids:
            if image_id in done:
                continue
            image, truth = magnify(ds.load_image(image_id), ds.load_labels(image_id), a.magnify)
            passes = {}
            for factor in FACTORS:
                cfg.predict.scale = base * factor
                t0 = time.perf_counter()
                inst = predict_images(model, cfg, [image])[0]
                seconds = time.perf_counter() - t0
                passes[str(factor)] = {
                    "certainty": float(np.mean(inst.scores)) if len(inst.scores) else 0.0,
                    "cover": float((inst.labels > 0).mean()), "dsb": float(image_ap(truth, inst.labels)),
                    "s": round(seconds, 4)}
            fh.write(json.dumps({"id": image_id, "type": image_type(image), "shape": list(image.shape[:2]),
                                 "magnify": a.magnify, "passes": passes}) + "\n")
            fh.flush()


if __name__ == "__main__":
    main()
