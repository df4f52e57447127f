"""Average the probability maps of several trained cpu30 networks on the same OOF images.

Usage (from the repo root)::

    .venv/bin/python bench/results/aug30_cpu_20261203/net_ensemble.py --fold K --out OUT_DIR DIR [DIR ...]

Each ``DIR`` is an OOF predictions folder (``<id>.npz`` with ``prob``) of a network trained on
fold ``K``. For every image all of them hold, the maps are averaged with equal weights
(``ensemble.pixel.pixel_merge``) and post-processed with the first folder's recorded
parameters (default thresholds in these runs), and written to ``OUT_DIR/<id>.npz``, so
``bench/bench_paired.py`` can score it against any one network. What an ensemble of N networks (N times
the training time, the same architecture) gives over one.
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from common.predictions import list_predictions, load_prediction, save_prediction  # noqa: E402
from ensemble.pixel import load_threshold_params, pixel_merge  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fold", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("dirs", type=Path, nargs="+")
    a = p.parse_args()
    listed = [list_predictions(d) for d in a.dirs]
    ids = sorted(set.intersection(*(set(x) for x in listed)))
    params = load_threshold_params(a.dirs[0], fold=a.fold)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in ids:
        probs = [load_prediction(x[i]).prob for x in listed]
        labels, scores = pixel_merge(probs, None, params)
        save_prediction(a.out / f"{i}.npz", labels, scores)
    print(f"{len(ids)} images, {len(a.dirs)} networks, post-processing {time.perf_counter() - t0:.1f} s, params {params}")


if __name__ == "__main__":
    main()
