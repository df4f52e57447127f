"""Averaging scales: does a blend of the maps predicted at several scales beat one scale?

Per image (native size): the flip-TTA maps at the scales 1, 0.67, 0.5 and 0.33 (each mapped back,
the shrunk image normalised as loaded, as ``predict.scale_norm.renormalise``), the scale the
shipped ``estimate: multiscale`` chooses (``common.scale.select_scale`` on passes without TTA),
then the DSB of: each single scale, the chosen one, and averages of the maps (post-processed
with the run's params after averaging).

Usage: blend.py RUN IDS OUT.json [--set K=V ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

SCALES = (1.0, 0.67, 0.5, 0.33)
BLENDS = {"1+0.67": (1.0, 0.67), "1+0.67+0.5": (1.0, 0.67, 0.5), "all4": SCALES}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path)
    p.add_argument("ids", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--set", action="append", default=[])
    a = p.parse_args()
    from common.data import DSBDataset
    from common.folds import image_type
    from common.instances import probs_to_instances
    from common.metrics import score_dataset
    from common.normalise import normalise_image
    from common.runs import RunDir
    from common.scale import map_certainty, rescale, resize_to, select_scale
    # ran as the private _predict_views; public as predict_views since 2026-12-06 (same function)
    from solutions.unet.inference import predict_views
    from solutions.unet.predict import load_params, load_run

    cfg, model = load_run(a.run, a.set)
    params = load_params(RunDir(a.run), cfg)
    ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
    rows = []
    for image_id in a.ids.read_text().split():
        image, truth = ds.load_image(image_id), ds.load_labels(image_id)
        h, w = image.shape[:2]
        maps, measures = {}, {}
        for s in SCALES:
            view = normalise_image(rescale(image, s) if s != 1 else image, cfg.data.normalise)
            measures[s] = map_certainty(predict_views(model, view, cfg, "none"))
            maps[s] = resize_to(predict_views(model, view, cfg, "flip"), (h, w))
        chosen = select_scale(measures, cfg.predict.scale_norm.min_cover)

        def score(prob):
            labels = probs_to_instances(np.ascontiguousarray(prob, np.float32), params)[0]
            return float(score_dataset({image_id: truth}, {image_id: labels}).per_image["score"].iloc[0])

        row = {"image_id": image_id, "type": image_type(image), "chosen": chosen,
               **{f"s{s:g}": score(maps[s]) for s in SCALES},
               **{name: score(np.mean([maps[s] for s in group], axis=0)) for name, group in BLENDS.items()}}
        row["chosen_score"] = row[f"s{chosen:g}"]
        row["1+chosen"] = row["s1"] if chosen == 1.0 else score((maps[1.0] + maps[chosen]) / 2)
        rows.append(row)
        print(f"{image_id[:8]} {row['type']} chosen {chosen:g}: " + " ".join(
            f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float) and k != "chosen"), flush=True)
        a.out.write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
