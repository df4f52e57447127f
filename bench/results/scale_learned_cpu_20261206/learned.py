"""Can a learned selector find the best scale per image? Leave-one-group-fold-out on the per-scale
passes of ../denoise_gate_cpu_20261206/selection/gF.json (every image of the five group folds held
out, predicted by its fold's cpu30 network at scales 1, 0.67, 0.5 and 0.33 without TTA).

For each image and candidate scale s < 1, gradient-boosted trees (scikit-learn's
HistGradientBoostingRegressor) predict score(s) − score(1) from what the passes at s and at 1
show (the features of ../scale_select_cpu_20261205/explore.py plus cover; nothing from the truth)
and the image's noise (../denoise_cpu_20261206/noise.csv). The selector takes the scale with the
highest prediction when it is over a margin, else 1. It is fitted on four group folds and scored
on the fifth, so every image is scored by trees that never saw its kind.
Compared per image with the shipped rule replayed on the same passes (common.scale.select_scale).

Variants: --features all | ratios (only scale-free ratios and the certainties/covers);
--only-over-1: the trees may only override the rule where it keeps scale 1.

Usage (repo root): .venv/bin/python bench/results/scale_learned_cpu_20261206/learned.py [--features ratios]
    [--only-over-1]
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from common.scale import select_scale  # noqa: E402

RESULTS = REPO / "bench" / "results"
F = ["n_inst", "certainty", "frag", "median_area", "solidity", "perimeter_ratio", "prob_mean", "prob_border",
     "n_near", "touching", "cover"]
RATIOS = ["d_cert", "r_cover", "r_n", "r_area", "scale", "noise", "certainty_1", "cover_1", "frag", "frag_1",
          "solidity", "solidity_1"]


def passes() -> pd.DataFrame:
    parts = []
    for f in range(5):
        t = pd.DataFrame(json.loads((RESULTS / "denoise_gate_cpu_20261206" / "selection" / f"g{f}.json").read_text()))
        parts.append(t.assign(fold=f))
    groups = pd.read_csv(RESULTS / "dim_nuclei_cpu_20261206" / "folds_group.csv")[["image_id", "group"]]
    noise = pd.read_csv(RESULTS / "denoise_cpu_20261206" / "noise.csv")[["image_id", "noise"]]
    t = pd.concat(parts).merge(groups, on="image_id").merge(noise, on="image_id")
    t[F] = t[F].fillna(0)  # a pass that finds no instance has no medians
    return t


def pairs(t: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, scale < 1): features of both passes, and y = score(s) − score(1)."""
    one = t[t.scale == 1.0].set_index("image_id")
    s = t[t.scale < 1].merge(one[F + ["score"]], left_on="image_id", right_index=True, suffixes=("", "_1"))
    return s.assign(y=s.score - s.score_1, d_cert=s.certainty - s.certainty_1,
                    r_cover=s.cover / s.cover_1.clip(lower=1e-4), r_n=(s.n_inst + 1) / (s.n_inst_1 + 1),
                    r_area=s.median_area / s.median_area_1.clip(lower=1) / s.scale ** 2)


def main() -> int:
    from sklearn.ensemble import HistGradientBoostingRegressor

    p = argparse.ArgumentParser()
    p.add_argument("--features", choices=("all", "ratios"), default="all")
    p.add_argument("--only-over-1", action="store_true")
    a = p.parse_args()
    t = passes()
    d = pairs(t)
    x = RATIOS if a.features == "ratios" else F + [c + "_1" for c in F] + ["d_cert", "r_cover", "r_n", "r_area",
                                                                         "scale", "noise"]
    score = t.set_index(["image_id", "scale"]).score
    by_image = {i: q for i, q in t.groupby("image_id")}
    rule = {i: select_scale({r.scale: (r.certainty, r.cover) for r in q.itertuples()}) for i, q in by_image.items()}
    info = t[t.scale == 1.0].set_index("image_id")[["fold", "group"]]
    ship = pd.Series({i: score[i, s] for i, s in rule.items()})
    best = t.groupby("image_id").score.max()
    print(f"features {a.features} ({len(x)}), only over scale 1: {a.only_over_1}")
    print(f"images {len(ship)}: scale 1 {t[t.scale == 1.0].score.mean():.4f}, the rule {ship.mean():.4f}, "
          f"best scale per image {best.mean():.4f}")
    pred = []
    for f in range(5):
        fit, test = d[d.fold != f], d[d.fold == f]
        m = HistGradientBoostingRegressor(max_depth=3, max_iter=150, learning_rate=0.05, min_samples_leaf=20,
                                          random_state=0).fit(fit[x], fit.y)
        pred.append(test[["image_id", "scale"]].assign(p=m.predict(test[x])))
    pred = pd.concat(pred)
    top = pred.loc[pred.groupby("image_id").p.idxmax()].set_index("image_id")
    for margin in (0.0, 0.02, 0.05):
        chosen = {i: (r.scale if r.p > margin else 1.0) for i, r in top.iterrows()}
        if a.only_over_1:
            chosen = {i: (s if rule[i] == 1.0 else rule[i]) for i, s in chosen.items()}
        got = pd.Series({i: score[i, s] for i, s in chosen.items()})
        diff = (got - ship.loc[got.index]).rename("diff").to_frame().join(info)
        se = diff["diff"].std(ddof=1) / np.sqrt(len(diff))
        print(f"\nmargin {margin}: learned {got.mean():.4f}, learned − rule {diff['diff'].mean():+.4f} ± {se:.4f} "
              f"({(diff['diff'] > 0).sum()} better, {(diff['diff'] < 0).sum()} worse)")
        print("per group fold held out:", ", ".join(f"{k} {v:+.4f}" for k, v in diff.groupby("fold")["diff"].mean()
                                                      .items()))
        kinds = diff.groupby("group")["diff"].agg(["size", "mean"]).round(4)
        print(kinds[kinds["mean"] != 0].to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
