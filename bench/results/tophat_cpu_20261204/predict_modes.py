"""Predict some images with a trained run of either family, its config changed by --set,
into a predictions folder (one <id>.npz each, the U-Net's maps included), so that
bench/bench_paired.py and the ensemble read them. Nothing is trained.

Usage: predict_modes.py --run RUN --ids IDS --data DATA --out FOLDER [--set KEY=V ...]

Written when the U-Net's predict took no --set; since 3bf4e2f both predict CLIs do
(python -m solutions.unet.predict --run RUN --split oof --only IDS --solution NAME --set ...).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--ids", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--set", dest="sets", nargs="*", default=[])
    a = p.parse_args()
    if a.out.exists() and any(a.out.glob("*.npz")):
        raise SystemExit(f"predict_modes: {a.out} already holds predictions; give a new folder")
    from common.data import DSBDataset
    from common.predictions import save_prediction
    from common.runs import RunDir

    ds = DSBDataset(a.data, "stage1_train")
    ids = [line.strip() for line in a.ids.read_text().splitlines() if line.strip()]
    import yaml

    solution = yaml.safe_load((a.run / "config.yaml").read_text()).get("solution", "")
    t0 = time.perf_counter()
    if solution == "unet":
        from common.instances import probs_to_instances
        from solutions.unet.inference import predict_image
        from solutions.unet.predict import load_params, load_run, load_target_area

        cfg, model = load_run(a.run, a.sets)
        rd = RunDir(a.run)
        params, target = load_params(rd, cfg), load_target_area(rd, cfg)
        for i in ids:
            prob = predict_image(model, ds.load_image(i), cfg, params=params, target_area=target)
            labels, scores = probs_to_instances(prob, params)
            save_prediction(a.out / f"{i}.npz", labels, scores, prob=prob, channels=params.get("channels"))
    else:
        from solutions.maskrcnn.predict import load_run, predict_images

        cfg, model = load_run(a.run, a.sets)
        for i in ids:
            inst = predict_images(model, cfg, [ds.load_image(i)])[0]
            save_prediction(a.out / f"{i}.npz", inst.labels, inst.scores)
    print(f"[predict_modes] {solution}: {len(ids)} images into {a.out} in {time.perf_counter() - t0:.0f} s "
          f"(--set {' '.join(a.sets)})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
