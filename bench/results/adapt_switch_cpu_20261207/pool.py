"""Pool paired per-image scores of several networks (bench_paired.py's paired.json, sources
``old`` and one other) into per-network rows and one pooled line per set.

Usage: python pool.py SET_NAME:NET=paired.json[@SOURCE][,NET=...] [SET_NAME:...]
       python pool.py "pairs NAME:NET=first.json[@SOURCE]+second.json[@SOURCE][,NET=...]" [...]
(SOURCE: which source to compare with ``old``; default the only other one.)
A "pairs" set takes two fine-tunings per network (two seeds): per network both mean gains, their gap
and their mean; over the networks the mean gap and the mean ± s.e. of the per-network means.
Per network: images, old, new, new - old (mean +- s.e. per image), better/worse images, and the
same per image type (the type is the first word of the image's group in folds_group.csv).
Per set: the per-image pooled difference and the mean +- s.e. of the per-network differences
(how many networks gained).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS = Path(__file__).resolve().parents[1] / "dim_nuclei_cpu_20261206" / "folds_group.csv"
kind = pd.read_csv(GROUPS).set_index("image_id").group


def diffs(path: str) -> pd.DataFrame:
    path, _, source = path.partition("@")
    per = json.loads(Path(path).read_text())["per_image"]
    def new(s: dict) -> float:
        return s[source] if source else next(v for k, v in s.items() if k != "old")

    rows = [{"image_id": i, "old": s["old"], "new": new(s)} for i, s in per.items()]
    d = pd.DataFrame(rows)
    d["type"] = d.image_id.map(kind).str.split("-").str[0]
    d["d"] = d.new - d.old
    return d


def line(d: pd.DataFrame) -> str:
    se = d.d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return (f"{len(d)} images, {d.old.mean():.3f} -> {d.new.mean():.3f}, {d.d.mean():+.3f} ± {se:.3f} "
            f"({(d.d > 0).sum()}+/{(d.d < 0).sum()}-)")


def pairs(name: str, nets: str) -> None:
    print(f"## {name}: two fine-tunings per network")
    gaps, means = [], []
    for item in nets.split(","):
        net, paths = item.split("=", 1)
        first, second = (diffs(p).d.mean() for p in paths.split("+"))
        gaps.append(abs(first - second))
        means.append((first + second) / 2)
        print(f"- {net}: {first:+.4f} and {second:+.4f}; gap {gaps[-1]:.4f}, mean {means[-1]:+.4f}")
    m = np.array(means)
    se = m.std(ddof=1) / np.sqrt(len(m)) if len(m) > 1 else float("nan")
    print(f"- over the {len(m)} networks: gap {np.mean(gaps):.4f}; mean {m.mean():+.4f} ± {se:.4f} "
          f"({(m > 0).sum()} of {len(m)} gained)")


for spec in sys.argv[1:]:
    name, nets = spec.split(":", 1)
    if name.startswith("pairs "):
        pairs(name.removeprefix("pairs "), nets)
        continue
    print(f"## {name}")
    frames, means = [], []
    for item in nets.split(","):
        net, path = item.split("=", 1)
        d = diffs(path)
        frames.append(d)
        means.append(d.d.mean())
        types = "; ".join(f"{t} {line(g)}" for t, g in d.groupby("type"))
        print(f"- {net}: {line(d)}\n    {types}")
    allp = pd.concat(frames)
    m = np.array(means)
    se = m.std(ddof=1) / np.sqrt(len(m)) if len(m) > 1 else float("nan")
    print(f"- pooled per image: {line(allp)}")
    print(f"- over the {len(m)} networks: {m.mean():+.4f} ± {se:.4f} ({(m > 0).sum()} of {len(m)} gained)")
    for t, g in allp.groupby("type"):
        print(f"    {t}: {line(g)}")
