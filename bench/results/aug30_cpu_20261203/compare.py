"""Paired per-image DSB of a 30-minute cpu30 run against a reference on the same images.

Usage (from the repo root)::

    .venv/bin/python bench/results/aug30_cpu_20261203/compare.py REF NEW_OOF_DIR [--ids FILE]

``REF`` is either a folder of OOF predictions (``<id>.npz``) or ``gap.json:group`` /
``gap.json:stratified`` (``../gap30_cpu_20261203/gap.json``'s stored per-image scores, whose
predictions are gone). Scores every image both sides have (restricted to ``--ids`` if given),
prints the mean of each, the paired difference new - ref with its standard error, and the
same per image type, as a Markdown table.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from bench.normalise_combine import mean_se  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.metrics import score_dataset  # noqa: E402
from common.paths import SHARED_DSB_DIR  # noqa: E402
from common.predictions import load_prediction  # noqa: E402


def scores(folder: Path, ids: list[str], truth: dict) -> pd.Series:
    pred = {i: load_prediction(folder / f"{i}.npz").labels for i in ids}
    return score_dataset({i: truth[i] for i in ids}, pred).per_image["score"].reindex(ids)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ref")
    p.add_argument("new", type=Path)
    p.add_argument("--ids", type=Path, help="only these image ids (one per line, # comments)")
    a = p.parse_args()
    new_ids = {q.stem for q in a.new.glob("*.npz")}
    if ":" in a.ref and a.ref.split(":")[0].endswith(".json"):
        path, split = a.ref.rsplit(":", 1)
        per_image = json.loads(Path(path).read_text())["models"]["cpu30"]["per_image"]
        stored = {i: v[split] for i, v in per_image.items() if v.get(split) is not None}
        ref_ids = set(stored)
    else:
        stored, ref_ids = None, {q.stem for q in Path(a.ref).glob("*.npz")}
    ids = sorted(new_ids & ref_ids)
    if a.ids:
        keep = {ln.strip() for ln in a.ids.read_text().splitlines() if ln.strip() and not ln.startswith("#")}
        ids = [i for i in ids if i in keep]
    if not ids:
        sys.exit(f"compare: no image is in both {a.ref} and {a.new}")
    ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
    truth = {i: ds.load_labels(i) for i in ids}
    types = pd.Series({i: image_type(ds.load_image(i)) for i in ids})
    ref = pd.Series(stored).reindex(ids) if stored is not None else scores(Path(a.ref), ids, truth)
    new = scores(a.new, ids, truth)
    print("| images | reference | new | new − reference |\n|---|---:|---:|---:|")
    for label, mask in [("all", np.ones(len(ids), bool))] + [(t, (types == t).to_numpy()) for t in sorted(types.unique())]:
        d = (new - ref)[mask]
        print(f"| {label} ({mask.sum()}) | {ref[mask].mean():.3f} | {new[mask].mean():.3f} | {mean_se(d)} |")


if __name__ == "__main__":
    main()
