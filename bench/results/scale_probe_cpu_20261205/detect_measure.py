"""Would a detection-only candidate pass choose the same scale? (The next step of this record.)

    .venv/bin/python bench/results/scale_probe_cpu_20261205/detect_measure.py RUN DUMP.jsonl [DATA]

For each image of ``DUMP.jsonl`` (``candidates.py``'s output for ``RUN``; magnified dumps are
resized the same way) and each candidate: the network's detection stage only (no mask head,
no paste-back), measured as its detections' mean score and the fraction of the network input
their boxes cover. Then the shipped rule (probes 0.5 and 0.33, margin 0.03, ``min_cover``
0.5) on these measures against the same rule on the dump's (mask-based) measures: how often
the chosen scale differs, and the DSB of each choice (the dump's DSB of that candidate's
full pass). Prints one line per dump, plus the detection stage's seconds per image.
Reads the network's private ``_run_stage`` (a measurement, not a product path).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.bench_magnify import magnify  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.normalise import normalise_image  # noqa: E402
from common.scale import choose_scale  # noqa: E402
from common.stats import format_mean_se  # noqa: E402
from rules import load  # noqa: E402
from solutions.maskrcnn.data import inference_batch  # noqa: E402
from solutions.maskrcnn.predict import load_run  # noqa: E402

CANDIDATES, PROBE, MARGIN, MIN_COVER = (1.0, 0.67, 0.5, 0.33), (0.5, 0.33), 0.03, 0.5


def box_measure(det: dict, meta) -> tuple[float, float]:
    scores = np.asarray(det["scores"])[0]
    keep = scores > 0
    h, w = meta.resized_hw
    cover = np.zeros((h, w), bool)
    for y1, x1, y2, x2 in np.asarray(det["boxes"])[0][keep]:
        cover[max(0, int(y1)):min(h, int(np.ceil(y2))), max(0, int(x1)):min(w, int(np.ceil(x2)))] = True
    return (float(scores[keep].mean()) if keep.any() else 0.0), float(cover.mean())


def main(run: str, dump: str, data: str = "/work/shared/dsb2018") -> None:
    cfg, model = load_run(run, ["predict.scale_select.candidates=[]"])
    ds = DSBDataset(data, "stage1_train")
    rows = load(Path(dump))
    differ, dsb_box, dsb_mask, seconds = 0, [], [], 0.0
    for row in rows:
        image = magnify(ds.load_image(row["id"]), ds.load_labels(row["id"]), row.get("magnify", 1.0))[0]
        x = [normalise_image(image, cfg.data.normalise)]

        def measure(factor: float) -> tuple[float, float]:
            nonlocal seconds
            batch, metas = inference_batch(x, cfg.predict.scale * factor)
            t0 = time.perf_counter()
            det = model._run_stage("detect", batch)
            seconds += time.perf_counter() - t0
            return box_measure(det, metas[0])

        by_box, _ = choose_scale(measure, CANDIDATES, PROBE, MIN_COVER, MARGIN)
        by_mask, _ = choose_scale(lambda f: row["m"][f], CANDIDATES, PROBE, MIN_COVER, MARGIN)
        differ += by_box != by_mask
        dsb_box.append(row["passes"][str(by_box)]["dsb"])
        dsb_mask.append(row["passes"][str(by_mask)]["dsb"])
    diff = np.array(dsb_box) - np.array(dsb_mask)
    print(f"{Path(dump).stem}: {len(rows)} images; choice differs on {differ}; DSB boxes "
          f"{np.mean(dsb_box):.3f} against masks {np.mean(dsb_mask):.3f} ({format_mean_se(diff)}); "
          f"detection stage {seconds / len(rows):.3f} s per image (first shapes traced)")


if __name__ == "__main__":
    main(*sys.argv[1:])
