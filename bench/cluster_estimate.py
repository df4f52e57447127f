"""Wall time of the full study on 1, 4 and 16 GPUs, from this project's measured per-fold times.

``.venv/bin/python bench/cluster_estimate.py [--gpus 1,4,16]`` prints a Markdown table (used
in the README's "Running on a cluster"). Arithmetic only, nothing is run: the inputs are
measured figures, each read from or named with its source below, and the schedule is the
one ``./run_all.sh --executor ray`` gives: every train task of every selected solution and
fold, one GPU each, taken in the order submitted by the first free GPU; then, once all are
trained, every predict task (OOF, then the test split) the same way.

Inputs (per task, on an H200; "low-high" over the folds):

* ``unet-baseline`` (``baseline.yaml``, the full profile's config): train and OOF predict
  wall times of each fold's job in ``bench/results/h200_unet_2026-11-26/run1_oof_scores.json``
  (process start, training with early stopping, OOF prediction; ten processes shared the card,
  so a task alone on a GPU is no slower).
* ``unet`` (``watershed.yaml``: 60 epochs x 100 steps x 8 crops of 256 px = 48,000 crops):
  training at 98-108 crops/s, the speed measured for this network with five folds side by
  side on one H200 (README "Speed"); OOF predict wall times of the same network
  (``gpu_time.yaml``) in run 1's JSON (flip TTA and the threshold tuning included).
* Test prediction: the inference speeds measured in run 1 and 2 (README of that folder):
  4.5 images/s for the watershed U-Net with flip TTA, 17.9 for the baseline.
* Mask R-CNN (four backbones in the full profile): **not measured on a GPU**; left out.
"""

from __future__ import annotations

import argparse
import heapq
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "h200_unet_2026-11-26" / "run1_oof_scores.json"
WATERSHED_CROPS = 60 * 100 * 8           # solutions/unet/configs/watershed.yaml
WATERSHED_TRAIN_IMG_S = (98.0, 108.0)    # README "Speed": H200, five folds side by side
TEST_IMG_S = {"unet": 4.5, "unet-baseline": 17.9}  # bench/results/h200_unet_2026-11-26/README.md
TEST_IMAGES = {"stage1_test": 65, "stage2_test_final": 3019}
FOLDS = 5


def measured_tasks(path: Path = RESULTS) -> dict[str, dict[str, tuple[float, float]]]:
    """Per solution: ``{"train": (low, high), "oof": (low, high)}`` seconds per fold."""
    jobs = {name: json.loads(path.read_text())[src]["jobs"].values()
            for name, src in (("unet", "unet"), ("unet-baseline", "unet-baseline"))}

    def span(rows, a, b):
        values = [r[b] - r[a] for r in rows]
        return min(values), max(values)

    out = {name: {"train": span(rows, "train_start", "training_end"),
                  "oof": span(rows, "training_end", "predicting_end")} for name, rows in jobs.items()}
    fast, slow = WATERSHED_TRAIN_IMG_S
    out["unet"]["train"] = (WATERSHED_CROPS / slow, WATERSHED_CROPS / fast)  # full config, not the 240 s cap
    return out


def makespan(durations: list[float], gpus: int) -> float:
    """Tasks in order, each to the first free GPU; when the last one ends."""
    free = [0.0] * gpus
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


def study_wall(tasks: dict, gpus: int, test_split: str, bound: int) -> float:
    """Train stage then predict stage, ``bound`` 0 (all low) or 1 (all high)."""
    order = ("unet", "unet-baseline")  # the full profile's order (pipeline/registry.py)
    train = [tasks[s]["train"][bound] for s in order for _ in range(FOLDS)]
    predict = [tasks[s]["oof"][bound] + TEST_IMAGES[test_split] / TEST_IMG_S[s]
               for s in order for _ in range(FOLDS)]
    return makespan(train, gpus) + makespan(predict, gpus)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gpus", default="1,4,16")
    args = p.parse_args()
    tasks = measured_tasks()
    for name, t in tasks.items():
        print(f"- {name}: train {t['train'][0]:.0f}-{t['train'][1]:.0f} s, "
              f"OOF predict {t['oof'][0]:.0f}-{t['oof'][1]:.0f} s per fold")
    print("\n| GPUs | U-Nets, stage1_test (65 images) | U-Nets, stage2_test_final (3,019 images) |")
    print("|---:|---|---|")
    for g in (int(x) for x in args.gpus.split(",")):
        cells = []
        for split in TEST_IMAGES:
            lo, hi = (study_wall(tasks, g, split, b) / 60 for b in (0, 1))
            cells.append(f"{lo:.0f}-{hi:.0f} min")
        print(f"| {g} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
