"""Are two ``run_all`` work folders' results byte-identical? (refactor check)

    .venv/bin/python scripts/compare_work.py WORK_BEFORE WORK_AFTER

Compares the submission CSVs byte for byte (sha256), the score columns of
``reports/scores.csv`` and the ``labels`` of every prediction file under ``predictions/``.
Prints each comparison and ``RESULT: BYTE-IDENTICAL`` (exit status 0) or
``RESULT: DIFFERENT`` (exit status 1). Timing columns are not compared.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compare(a: Path, b: Path) -> bool:
    """Print the comparisons of work folders ``a`` and ``b``; True when all are identical."""
    subs_a, subs_b = sorted((a / "submissions").glob("*.csv")), sorted((b / "submissions").glob("*.csv"))
    ok = [p.name for p in subs_a] == [p.name for p in subs_b] and bool(subs_a)
    for pa, pb in zip(subs_a, subs_b):
        same = _sha(pa) == _sha(pb)
        print(f"submission {pa.name}: sha256 {_sha(pa)[:16]} vs {_sha(pb)[:16]}: {'identical' if same else 'DIFFERENT'}")
        ok &= same
    ta, tb = (pd.read_csv(w / "reports" / "scores.csv", index_col=0) for w in (a, b))
    cols = [c for c in ta.columns if c.endswith("score")]
    same = ta[cols].equals(tb[cols])
    print(ta[cols].to_string(), f"\nscores ({', '.join(cols)}): {'identical' if same else 'DIFFERENT'}")
    ok &= same
    files_a = sorted(p.relative_to(a) for p in (a / "predictions").rglob("*.npz"))
    files_b = sorted(p.relative_to(b) for p in (b / "predictions").rglob("*.npz"))
    differ = [str(r) for r in files_a if r in set(files_b)
              and not np.array_equal(np.load(a / r)["labels"], np.load(b / r)["labels"])]
    print(f"prediction files: {len(files_a)} vs {len(files_b)}, labels differing in {len(differ)} {differ[:5]}")
    ok &= files_a == files_b and not differ
    print("RESULT:", "BYTE-IDENTICAL" if ok else "DIFFERENT")
    return ok


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(0 if compare(Path(sys.argv[1]), Path(sys.argv[2])) else 1)
