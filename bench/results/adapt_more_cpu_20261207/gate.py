"""Can a label-free statistic tell where predict.adapt helps? Per image and per held-out share.

Usage: python gate.py NET=BASE_DIR+ADAPTED_DIR@PAIRED_JSON [...]
  NET: a name whose text before the first '_' is the fold (g4_a, g4_b: fold g4, two fine-tunings);
  BASE_DIR, ADAPTED_DIR: predictions folders (<id>.npz with labels and prob) of the network before and
  after adapting; PAIRED_JSON: bench_paired.py's paired.json of the two (sources ``old`` and ``new``),
  whose per-image scores against the truth are the gains the rules are judged by.

Label-free features per image, from the two predictions only:
  c_base, c_adapt: the body map's certainty, mean |2 body - 1| (common.scale.map_certainty);
  agree: the DSB score of the adapted instances against the base instances as if they were the truth;
  n_ratio: log2 of the adapted instance count over the base count (+1 each).
Rules, each threshold chosen on the other folds' networks (leave one fold out) to maximise their mean
gain, then applied to the held-out fold's networks:
  per image: take the adapted prediction where a feature is above (or below) the threshold, else the base;
  per share: adapt the whole share where the share's mean feature is above (or below) the threshold.
Prints per network the gain of always adapting and of each rule (mean per image), and their mean over the
networks. Ties between thresholds go to the lowest (for a '>' rule: adapt more; for '<': adapt less).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from bench.score_sources import stored_scores  # noqa: E402
from common.metrics import image_ap  # noqa: E402
from common.predictions import load_prediction  # noqa: E402
from common.scale import map_certainty  # noqa: E402

FEATURES = ("c_base", "c_adapt", "c_gain", "agree", "n_ratio")


def net_table(name: str, spec: str) -> pd.DataFrame:
    dirs, _, paired = spec.partition("@")
    base_dir, adapt_dir = (Path(p) for p in dirs.split("+"))
    gains = stored_scores(Path(paired), "new") - stored_scores(Path(paired), "old")
    rows = []
    for image_id, gain in gains.items():
        base = load_prediction(base_dir / f"{image_id}.npz")
        adapt = load_prediction(adapt_dir / f"{image_id}.npz")
        c_base, c_adapt = map_certainty(base.prob)[0], map_certainty(adapt.prob)[0]
        rows.append({"net": name, "fold": name.split("_")[0], "image_id": image_id, "gain": gain,
                     "c_base": c_base, "c_adapt": c_adapt, "c_gain": c_adapt - c_base,
                     "agree": image_ap(base.labels, adapt.labels),
                     "n_ratio": float(np.log2((adapt.n_instances + 1) / (base.n_instances + 1)))})
    return pd.DataFrame(rows)


def take(t: pd.DataFrame, feature: str, sign: int, threshold: float, level: str) -> pd.Series:
    """Per image: the gain the rule keeps (the adapted gain where it adapts, else 0)."""
    x = t[feature] if level == "image" else t.groupby("net")[feature].transform("mean")
    return t.gain.where(sign * (x - threshold) > 0, 0.0)


def best_threshold(t: pd.DataFrame, feature: str, sign: int, level: str) -> float:
    x = t[feature] if level == "image" else t.groupby("net")[feature].mean()
    candidates = np.unique(np.concatenate([np.quantile(x, np.linspace(0, 1, 41)), [x.min() - 1, x.max() + 1]]))
    gains = [take(t, feature, sign, c, level).groupby(t.net).mean().mean() for c in candidates]
    return float(candidates[int(np.argmax(gains))])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("nets", nargs="+")
    args = ap.parse_args()
    t = pd.concat([net_table(*n.split("=", 1)) for n in args.nets], ignore_index=True)
    print("## per network: always adapting, and the share's mean features")
    print(t.groupby("net")[["gain", *FEATURES]].mean().round(4).to_string())
    print("\n## correlation of each feature with the per-image gain, within each network")
    print(t.groupby("net").apply(lambda g: g[list(FEATURES)].corrwith(g.gain), include_groups=False)
          .round(3).to_string())
    print("\n## rules, thresholds chosen leaving each fold out (gain per network; mean over networks)")
    folds = sorted(t.fold.unique())
    for level in ("image", "share"):
        for feature in FEATURES:
            for sign in (1, -1):
                kept, thresholds = [], []
                for f in folds:
                    train, test = t[t.fold != f], t[t.fold == f]
                    thresholds.append(best_threshold(train, feature, sign, level))
                    kept.append(take(test, feature, sign, thresholds[-1], level).groupby(test.net).mean())
                per_net = pd.concat(kept)
                cells = ", ".join(f"{n} {g:+.4f}" for n, g in per_net.items())
                op = ">" if sign > 0 else "<"
                print(f"- {level} {feature} {op} t: mean {per_net.mean():+.4f} ({cells}); "
                      f"t per held-out fold {[f'{x:.3f}' for x in thresholds]}")
    always = t.groupby("net").gain.mean()
    print(f"\nalways adapt: mean {always.mean():+.4f} ({', '.join(f'{n} {g:+.4f}' for n, g in always.items())})")


if __name__ == "__main__":
    main()
