"""Would a cover guard help the multiscale selection? On scales.py's per-scale passes (no TTA) of the
group-held-out images: the shipped rule (``common.scale.select_scale``: the most certain candidate
covering at least half of scale 1's nucleus pixels), the best scale per image (oracle), and "when
the rule keeps scale 1 but a smaller scale calls at least K times as many pixels nucleus at a
certainty at most D below scale 1's, take the one of those with the most cover". K and D are chosen
on the folds named by --choose and scored on the others.

Usage (repo root): .venv/bin/python cover_rule.py g2.json g4.json ... --choose 2 4
(each FILE named like scales_gF.json or gF.json: F is its group fold)
"""
import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from common.scale import select_scale  # noqa: E402

GRID_K, GRID_D = (1.25, 1.5, 2.0), (0.005, 0.01, 0.02)


def choose(passes: pd.DataFrame, k: float | None, d: float | None) -> float:
    """The scale one image's passes (rows of one image) get under the shipped rule, plus the guard."""
    m = {r.scale: (r.certainty, r.cover) for r in passes.itertuples()}
    best = select_scale(m)
    if k is None or best != 1.0:
        return best
    c1, v1 = m[1.0]
    ok = {s: v for s, (c, v) in m.items() if s < 1.0 and v >= k * v1 and c >= c1 - d}
    return max(ok, key=ok.get) if ok else 1.0


def score(t: pd.DataFrame, k, d) -> pd.Series:
    """Per image: the score of the chosen scale."""
    return t.groupby("image_id").apply(lambda g: g.set_index("scale").score[choose(g, k, d)])


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--choose", nargs="+", type=int, required=True)
    a = p.parse_args()
    groups = pd.read_csv(Path(__file__).resolve().parents[2] / "dim_nuclei_cpu_20261206" / "folds_group.csv")
    parts = []
    for f in a.files:
        t = pd.DataFrame(json.loads(f.read_text()))
        t["fold"] = int(re.search(r"g(\d)\.json$", f.name).group(1))
        parts.append(t)
    t = pd.concat(parts).merge(groups[["image_id", "group"]], on="image_id")
    fit, test = t[t.fold.isin(a.choose)], t[~t.fold.isin(a.choose)]
    ship_fit = score(fit, None, None)
    gains = {(k, d): (score(fit, k, d) - ship_fit).mean() for k in GRID_K for d in GRID_D}
    for (k, d), g in gains.items():
        print(f"fit folds {a.choose}: K {k}, D {d}: {g:+.4f}")
    k, d = max(gains, key=gains.get)
    print(f"chosen K {k}, D {d}\n")
    for name, part in (("fit", fit), ("test", test)):
        if part.empty:
            continue
        ship, rule = score(part, None, None), score(part, k, d)
        oracle = part.groupby("image_id").score.max()
        diff = (rule - ship).rename("diff").reset_index().merge(groups, on="image_id")
        print(f"{name} ({len(ship)} images): ship {ship.mean():.4f}, guard {rule.mean():.4f} "
              f"({diff['diff'].mean():+.4f} ± {diff['diff'].std(ddof=1) / np.sqrt(len(diff)):.4f}; "
              f"{(diff['diff'] > 0).sum()} better, {(diff['diff'] < 0).sum()} worse), best scale per image "
              f"{oracle.mean():.4f}")
        by = diff.groupby(["fold", "group"])["diff"].agg(["size", "mean"]).round(4)
        print(by[by["mean"] != 0].to_string() if (by["mean"] != 0).any() else "  no image changed", "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
