"""Shipped scale normalisation against ``estimate: multiscale``, paired per image, from the
``magnify.json`` files of validate.sh, indist.sh and rest.sh (and what explore.py chose on
its own images, for the record). Prints Markdown.

Usage: summary.py RUNS   (the folder holding validate/, indist/, rest/, fold1.json, fold3.json)
"""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from common.stats import format_mean_se  # noqa: E402
from pipeline.plots import markdown_table  # noqa: E402

runs = Path(sys.argv[1])
SETS = {"group fold 4 (520x696 + 360x360 fluorescence, large nuclei)": ["validate/fold4", "rest/fold4"],
        "group fold 1 (histology + fluorescence)": ["validate/fold1", "rest/fold1"],
        "group fold 3 (16 brightfield*, 16 fluorescence -s1)": ["validate/fold3"],
        "stratified fold 0 (21 histology, 3 brightfield, 20 fluorescence)": ["indist"]}


def paired(folders):
    rows = []
    for f in folders:
        path = runs / f / "magnify.json"
        if path.exists():
            rows += json.loads(path.read_text())["rows"]
    d = pd.DataFrame(rows)
    score = d.pivot_table(index=["image_id", "factor"], columns="variant", values="score")
    scale = d.pivot_table(index=["image_id", "factor"], columns="variant", values="scale")
    seconds = d.pivot_table(index=["image_id", "factor"], columns="variant", values="seconds")
    scale.columns, seconds.columns = [f"{c}_scale" for c in scale.columns], [f"{c}_s" for c in seconds.columns]
    return score.join(scale).join(seconds).reset_index()


table, native = {}, []
for name, folders in SETS.items():
    p = paired(folders)
    for factor, sub in p.groupby("factor"):
        if factor == 1:
            native.append(sub)
        table[f"{name}, x{factor:g}"] = {
            "images": str(len(sub)), "shipped": round(sub["shipped"].mean(), 3),
            "multiscale": round(sub["multiscale"].mean(), 3),
            "multiscale - shipped": format_mean_se(sub["multiscale"] - sub["shipped"]),
            "rescaled (shipped / multiscale)": f"{(sub['shipped_scale'] != 1).sum()} / {(sub['multiscale_scale'] != 1).sum()}",
            "s per image": f"{sub['shipped_s'].mean():.2f} / {sub['multiscale_s'].mean():.2f}"}
allnat = pd.concat(native)
table["all of the above at native size"] = {
    "images": str(len(allnat)), "shipped": round(allnat["shipped"].mean(), 3),
    "multiscale": round(allnat["multiscale"].mean(), 3),
    "multiscale - shipped": format_mean_se(allnat["multiscale"] - allnat["shipped"]),
    "rescaled (shipped / multiscale)": f"{(allnat['shipped_scale'] != 1).sum()} / {(allnat['multiscale_scale'] != 1).sum()}",
    "s per image": f"{allnat['shipped_s'].mean():.2f} / {allnat['multiscale_s'].mean():.2f}"}
print(markdown_table(pd.DataFrame(table).T, index_name="held-out images"))
moved = allnat[allnat["multiscale_scale"] != 1]
print(f"\nAt native size multiscale rescaled {len(moved)} of {len(allnat)} images: "
      f"{format_mean_se(moved['multiscale'] - moved['shipped'])} on those "
      f"(best {(moved['multiscale'] - moved['shipped']).max():+.3f}, worst {(moved['multiscale'] - moved['shipped']).min():+.3f}).")

# enlarge.sh: candidates 2 and 1.5 added, on the validation images at native size
big = []
for name, f in (("group fold 3", "enlarge/fold3"), ("stratified fold 0", "enlarge/indist"),
                ("group fold 1", "enlarge/fold1"), ("group fold 4", "enlarge/fold4")):
    if (runs / f / "magnify.json").exists():
        big.append(paired([f]).assign(set=name))
if big:
    e = pd.concat(big)
    out = {}
    for name, sub in [*e.groupby("set", sort=False), ("all", e)]:
        out[name] = {"images": str(len(sub)), "shrink only": round(sub["multiscale"].mean(), 3),
                     "also 2, 1.5": round(sub["enlarge"].mean(), 3),
                     "difference": format_mean_se(sub["enlarge"] - sub["multiscale"]),
                     "enlarged": str(int((sub["enlarge_scale"] > 1).sum())),
                     "s per image": f"{sub['multiscale_s'].mean():.2f} / {sub['enlarge_s'].mean():.2f}"}
    print("\nenlarge.sh (native size; candidates 1, 0.67, 0.5, 0.33 against 2, 1.5 added):\n")
    print(markdown_table(pd.DataFrame(out).T, index_name="held-out images"))

# explore.py: what the selector (most certain, cover >= 0.5 of scale 1's) chose on its own images
rows = []
for f in ("fold3.json", "fold1.json"):
    if (runs / f).exists():
        rows += json.loads((runs / f).read_text())
if rows:
    e = pd.DataFrame(rows).dropna(subset=["median_area"])
    out = {}
    for (kind, factor), g in e.groupby(["type", "factor"]):
        s1, oracle, picked = [], [], []
        for _, im in g.groupby("image_id"):
            base = im[im.scale == 1].iloc[0]
            # the cover proxy of explore.py: instances x median area, in the original frame
            cover = im.n_inst * im.median_area / im.scale ** 2
            ok = im[cover >= 0.5 * base.n_inst * base.median_area]
            s1.append(base.score)
            oracle.append(im.score.max())
            picked.append(ok.loc[ok.certainty.idxmax()].score)
        out[f"{kind}, x{factor:g}"] = {"images": str(len(s1)), "scale 1": round(sum(s1) / len(s1), 3),
                                      "most certain": round(sum(picked) / len(picked), 3),
                                      "best candidate (oracle)": round(sum(oracle) / len(oracle), 3)}
    print("\nexplore.py (no TTA; where the criterion was chosen):\n")
    print(markdown_table(pd.DataFrame(out).T, index_name="kind, magnification"))
