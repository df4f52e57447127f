"""The README's table: ``rules.py``'s rules over the native and the magnified dumps together.

    .venv/bin/python bench/results/scale_probe_cpu_20261205/summary.py runs > summary.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import ALL, RULES, choose, load  # noqa: E402

from common.stats import format_mean_se  # noqa: E402
from pipeline.plots import markdown_table  # noqa: E402


def scores(rows: list[dict], rule) -> tuple[np.ndarray, list[tuple]]:
    picked = [rule(r["m"]) for r in rows]
    return np.array([r["passes"][str(c)]["dsb"] for r, (c, _) in zip(rows, picked)]), picked


def main(folder: str) -> None:
    runs = Path(folder)
    native = [r for name in ("group1", "group3", "group4", "strat0") for r in load(runs / f"{name}.jsonl")]
    magnified = [r for name in ("group1_x2", "group3_x3") for r in load(runs / f"{name}.jsonl")]
    base = {k: scores(rows, RULES["all"])[0] for k, rows in (("n", native), ("m", magnified))}
    out = {}
    for name, rule in RULES.items():
        (dn, pn), (dm, pm) = scores(native, rule), scores(magnified, rule)
        same = sum(c == choose(r["m"], ALL) for rows, p in ((native, pn), (magnified, pm))
                   for r, (c, _) in zip(rows, p))
        out[name] = {f"native ({len(native)})": dn.mean(), "native − all": format_mean_se(dn - base["n"]),
                     f"magnified ({len(magnified)})": dm.mean(),
                     "magnified − all": format_mean_se(dm - base["m"]),
                     f"choice ≠ all (of {len(native) + len(magnified)})": len(native) + len(magnified) - same,
                     "passes / image, native": np.mean([len(ran) for _, ran in pn]),
                     "s / image, native": np.mean([sum(r["passes"][str(f)]["s"] for f in ran)
                                                   for r, (_, ran) in zip(native, pn)])}
    print(markdown_table(pd.DataFrame(out).T, index_name="rule"))


if __name__ == "__main__":
    main(sys.argv[1])
