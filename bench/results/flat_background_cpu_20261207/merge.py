"""Join the shipped arm of run.sh (first_fit/probe_gF.json) with the flatten arm of run2.sh.

    python merge.py RUN2_OUTDIR    # writes probe_g{1,2,3,4}.json here
"""
import json
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
for f in (1, 2, 3, 4):
    first = json.loads((here / "first_fit" / f"probe_g{f}.json").read_text())
    second = json.loads((Path(sys.argv[1]) / f"probe_g{f}.json").read_text())
    assert first["run"] == second["run"] and first["ids"] == second["ids"]
    rows = [r for r in first["rows"] if r["arm"] == "shipped"] + second["rows"]
    assert {r["arm"] for r in second["rows"]} == {"flatten"}
    (here / f"probe_g{f}.json").write_text(json.dumps({**first, "rows": rows}))
