"""Selection rules that run fewer passes, against the shipped one, on ``candidates.py``'s dumps.

    .venv/bin/python bench/results/scale_probe_cpu_20261205/rules.py runs/*.jsonl > rules.md

Every rule ends in ``common.scale.select_scale`` (margin 0.03, min_cover 0.5, as shipped) over
the passes it ran; they differ in which passes they run:

- ``off``: scale 1 only.
- ``all``: the shipped rule, every candidate (1, 0.67, 0.5, 0.33).
- ``probe P``: scale 1 and ``P``; only when ``P`` qualifies (beats scale 1 by the margin, with
  the cover) are the other candidates run too.
- ``probe P+Q``: the same with two probes; the rest runs when either qualifies.
- ``descend``: 0.67, 0.5, 0.33 in turn, stopping at the first that does not qualify.

Per set and rule: the mean DSB, the paired difference from ``all`` (± s.e.), the images whose
choice differs, the passes per image, and the seconds per image. Seconds are each pass's
measured time, but the first image of every (shape, factor) also traced the network for that
shape: that first time is replaced by the median of the others of its (shape, factor), when
there are others.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from common.scale import select_scale  # noqa: E402
from common.stats import format_mean_se  # noqa: E402
from pipeline.plots import markdown_table  # noqa: E402

MARGIN, MIN_COVER = 0.03, 0.5
ALL = (1.0, 0.67, 0.5, 0.33)


def choose(measures: dict, ran: tuple) -> float:
    return select_scale({f: measures[f] for f in ran}, MIN_COVER, MARGIN)


def rule_all(m):
    return choose(m, ALL), ALL


def rule_off(m):
    return 1.0, (1.0,)


def rule_probe(*probes):
    def rule(m):
        ran = (1.0, *probes)
        if choose(m, ran) == 1.0:
            return 1.0, ran
        return choose(m, ALL), ALL
    return rule


def rule_descend(m):
    ran = [1.0]
    for f in ALL[1:]:
        ran.append(f)
        if choose(m, (1.0, f)) == 1.0:
            break
    return choose(m, tuple(ran)), tuple(ran)


RULES = {"off": rule_off, "all": rule_all, "probe 0.5": rule_probe(0.5), "probe 0.67": rule_probe(0.67),
         "probe 0.33": rule_probe(0.33),
         "probe 0.5+0.33": rule_probe(0.5, 0.33), "descend": rule_descend}


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_key = defaultdict(list)
    for r in rows:
        for f, p in r["passes"].items():
            by_key[(tuple(r["shape"]), f)].append(p["s"])
    for r in rows:
        for f, p in r["passes"].items():
            times = by_key[(tuple(r["shape"]), f)]
            if len(times) > 1 and p["s"] == times[0]:
                p["s"] = float(np.median(times[1:]))  # the first of its shape traced the network
        r["m"] = {float(f): (p["certainty"], p["cover"]) for f, p in r["passes"].items()}
    return rows


def table(rows: list[dict]) -> pd.DataFrame:
    base = np.array([r["passes"][str(choose(r["m"], ALL))]["dsb"] for r in rows])
    base_choice = [choose(r["m"], ALL) for r in rows]
    out = {}
    for name, rule in RULES.items():
        picked = [rule(r["m"]) for r in rows]
        dsb = np.array([r["passes"][str(c)]["dsb"] for r, (c, _) in zip(rows, picked)])
        secs = [sum(r["passes"][str(f)]["s"] for f in ran) for r, (_, ran) in zip(rows, picked)]
        out[name] = {"DSB": dsb.mean(), "− all": format_mean_se(dsb - base) if name != "all" else "",
                     "choice ≠ all": sum(c != b for (c, _), b in zip(picked, base_choice)),
                     "rescaled": sum(c != 1.0 for c, _ in picked),
                     "passes / image": np.mean([len(ran) for _, ran in picked]),
                     "s / image": np.mean(secs)}
    return pd.DataFrame(out).T


def main(paths: list[str]) -> None:
    sets = {Path(p).stem: load(Path(p)) for p in paths}
    sets["all sets"] = [r for rows in list(sets.values()) for r in rows]
    for name, rows in sets.items():
        print(f"\n**{name}** ({len(rows)} images)\n")
        print(markdown_table(table(rows), index_name="rule"))


if __name__ == "__main__":
    main(sys.argv[1:])
