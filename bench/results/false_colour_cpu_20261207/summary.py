"""Tables of a probe's rows: mean DSB per arm and view, and each arm paired with the reference arm.

    python summary.py --arm KEY --view KEY --ref ARM probe_g3.json probe_g2.json ...

KEY: the row field naming the arm (here ``choice`` or ``arm``) and the view (``colour`` or
``view``). Per file (one network) and pooled over the files' images: the mean score per arm and
view, and ``arm - ref`` as mean ± standard error of the per-image differences
(common.stats.format_mean_se), with how many images gained and lost.
"""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from common.stats import format_mean_se  # noqa: E402


def table(rows: pd.DataFrame, arm: str, view: str, ref: str) -> str:
    arms = list(dict.fromkeys(rows[arm]))
    views = list(dict.fromkeys(rows[view]))
    lines = [f"| {view} | images | " + " | ".join(arms) + " | " + " | ".join(f"{a} − {ref}" for a in arms if a != ref)
             + " |", "|---|---:|" + "---:|" * (2 * len(arms) - 1)]
    for v in views:
        wide = rows[rows[view] == v].pivot(index="key", columns=arm, values="score")
        cells = [f"{wide[a].mean():.3f}" for a in arms]
        for a in arms:
            if a != ref:
                d = wide[a] - wide[ref]
                cells.append(f"{format_mean_se(d)} ({int((d > 0).sum())}+/{int((d < 0).sum())}−)")
        lines.append(f"| {v} | {len(wide)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arm", required=True)
    p.add_argument("--view", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("files", nargs="+", type=Path)
    a = p.parse_args()
    parts = []
    for f in a.files:
        data = json.loads(f.read_text())
        rows = pd.DataFrame(data["rows"]).assign(net=f.stem, key=lambda t: f.stem + ":" + t["image_id"])
        print(f"## {f.name} ({data['run']})\n\n{table(rows, a.arm, a.view, a.ref)}\n")
        parts.append(rows)
    if len(parts) > 1:
        print(f"## pooled over {len(parts)} networks\n\n{table(pd.concat(parts), a.arm, a.view, a.ref)}\n")


if __name__ == "__main__":
    main()
